"""GPT-2 (124M shape: 12 layers, d 768, 12 heads) generating 64 tokens greedily with a KV cache
in a ``lax.fori_loop``: the whole decode loop is one traced program."""
import flax.linen as nn
import jax
import jax.numpy as jnp

VOCAB, D, LAYERS, HEADS, CTX, STEPS = 50257, 768, 12, 12, 1024, 64


class Block(nn.Module):
    @nn.compact
    def __call__(self, x, k_cache, v_cache, pos):
        b, hd = x.shape[0], D // HEADS
        h = nn.LayerNorm(name="ln_1")(x)
        q, k, v = jnp.split(nn.Dense(3 * D, name="c_attn")(h).reshape(b, 3, HEADS, hd), 3, axis=1)
        k_cache = jax.lax.dynamic_update_slice(k_cache, k, (0, pos, 0, 0))
        v_cache = jax.lax.dynamic_update_slice(v_cache, v, (0, pos, 0, 0))
        s = jnp.einsum("bqhd,bkhd->bhqk", q, k_cache) / jnp.sqrt(hd)
        s = jnp.where(jnp.arange(CTX)[None, None, None, :] <= pos, s, -1e9)
        o = jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(s, axis=-1), v_cache).reshape(b, D)
        x = x + nn.Dense(D, name="c_proj")(o)
        h = nn.LayerNorm(name="ln_2")(x)
        x = x + nn.Dense(D, name="mlp_c_proj")(nn.gelu(nn.Dense(4 * D, name="mlp_c_fc")(h)))
        return x, k_cache, v_cache


class GPT2Step(nn.Module):
    """One decode step: the next token's logits from one token and the caches."""

    @nn.compact
    def __call__(self, token, pos, k_caches, v_caches):
        wte = nn.Embed(VOCAB, D, name="wte")
        x = wte(token) + nn.Embed(CTX, D, name="wpe")(pos)[None]
        ks, vs = [], []
        for i in range(LAYERS):
            x, k, v = Block(name=f"h_{i}")(x, k_caches[i], v_caches[i], pos)
            ks.append(k)
            vs.append(v)
        logits = wte.attend(nn.LayerNorm(name="ln_f")(x))
        return logits, jnp.stack(ks), jnp.stack(vs)


def acecost_model():
    model, batch = GPT2Step(), 1
    cache = jax.ShapeDtypeStruct((LAYERS, batch, CTX, HEADS, D // HEADS), jnp.float32)
    token = jax.ShapeDtypeStruct((batch,), jnp.int32)
    pos = jax.ShapeDtypeStruct((), jnp.int32)
    variables = jax.eval_shape(lambda k: model.init(k, jnp.zeros(token.shape, jnp.int32), jnp.int32(0),
                                                    jnp.zeros(cache.shape), jnp.zeros(cache.shape)),
                               jax.random.key(0))

    def generate(variables, first):
        def step(i, carry):
            token, ks, vs, out = carry
            logits, ks, vs = model.apply(variables, token, i, ks, vs)
            token = jnp.argmax(logits, axis=-1).astype(jnp.int32)
            return token, ks, vs, out.at[:, i].set(token)

        zeros = jnp.zeros(cache.shape, cache.dtype)
        init = (first, zeros, zeros, jnp.zeros((batch, STEPS), jnp.int32))
        return jax.lax.fori_loop(0, STEPS, step, init)[3]

    return generate, (variables, token)
