"""One attention layer over 8192 positions whose additive mask is a numpy 8192x8192 float32
constant (256 MB) the model closes over: the constant lands in the jaxpr as a literal array."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

SEQ, D, HEADS = 8192, 256, 4
#: a banded causal mask (window 1024): 0 where attended, -1e9 elsewhere
_i = np.arange(SEQ)
MASK = np.where((_i[None, :] <= _i[:, None]) & (_i[:, None] - _i[None, :] < 1024), 0.0, -1e9).astype(np.float32)
del _i


class MaskedAttention(nn.Module):
    @nn.compact
    def __call__(self, x):
        b, t, _ = x.shape
        hd = D // HEADS
        q, k, v = (nn.Dense(D, use_bias=False, name=n)(x).reshape(b, t, HEADS, hd) for n in ("q", "k", "v"))
        s = jnp.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(hd) + MASK
        o = jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(s, axis=-1), v).reshape(b, t, D)
        return nn.Dense(D, use_bias=False, name="o")(o)


def acecost_model():
    model = MaskedAttention()
    x = jax.ShapeDtypeStruct((1, SEQ, D), jnp.float32)
    return model.apply, (jax.eval_shape(model.init, jax.random.key(0), x), x)
