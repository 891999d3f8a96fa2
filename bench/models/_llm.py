"""Shared Flax linen building blocks of the bench's LLM shapes (Llama-style decoders, MoE, GPT-2).

Everything is built abstractly: variables come from ``jax.eval_shape`` of
``init``, so a 70B-parameter shape costs no memory for weights.
"""
from __future__ import annotations

from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp


@dataclass(frozen=True)
class Config:
    vocab: int
    d_model: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    d_ff: int
    n_experts: int = 0  # 0: a dense SwiGLU feed-forward
    top_k: int = 2


LLAMA2_7B = Config(vocab=32000, d_model=4096, n_layers=32, n_heads=32, n_kv_heads=32, d_ff=11008)
LLAMA3_70B = Config(vocab=128256, d_model=8192, n_layers=80, n_heads=64, n_kv_heads=8, d_ff=28672)
#: Mixtral-8x7B's shape with fewer layers (the per-layer work is the same)
MIXTRAL = Config(vocab=32000, d_model=4096, n_layers=8, n_heads=32, n_kv_heads=8, d_ff=14336,
                 n_experts=8, top_k=2)

BATCH, SEQ = 1, 128


def rope(x):
    """Rotary position embedding of (B, T, H, D)."""
    _, t, _, d = x.shape
    freq = 1.0 / (10000.0 ** (jnp.arange(0, d, 2, dtype=jnp.float32) / d))
    angle = jnp.arange(t, dtype=jnp.float32)[:, None] * freq[None, :]
    cos, sin = jnp.cos(angle)[None, :, None, :], jnp.sin(angle)[None, :, None, :]
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return jnp.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)


class Attention(nn.Module):
    cfg: Config

    @nn.compact
    def __call__(self, x):
        c = self.cfg
        hd = c.d_model // c.n_heads
        b, t, _ = x.shape
        q = nn.Dense(c.n_heads * hd, use_bias=False, name="q_proj")(x).reshape(b, t, c.n_heads, hd)
        k = nn.Dense(c.n_kv_heads * hd, use_bias=False, name="k_proj")(x).reshape(b, t, c.n_kv_heads, hd)
        v = nn.Dense(c.n_kv_heads * hd, use_bias=False, name="v_proj")(x).reshape(b, t, c.n_kv_heads, hd)
        q, k = rope(q), rope(k)
        rep = c.n_heads // c.n_kv_heads
        k, v = jnp.repeat(k, rep, axis=2), jnp.repeat(v, rep, axis=2)
        s = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(hd).astype(x.dtype)
        mask = jnp.tril(jnp.ones((t, t), bool))
        s = jnp.where(mask, s, jnp.finfo(s.dtype).min)
        o = jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(s, axis=-1), v).reshape(b, t, c.n_heads * hd)
        return nn.Dense(c.d_model, use_bias=False, name="o_proj")(o)


class SwiGLU(nn.Module):
    d_ff: int
    d_model: int

    @nn.compact
    def __call__(self, x):
        g = nn.Dense(self.d_ff, use_bias=False, name="gate_proj")(x)
        u = nn.Dense(self.d_ff, use_bias=False, name="up_proj")(x)
        return nn.Dense(self.d_model, use_bias=False, name="down_proj")(nn.silu(g) * u)


class MoE(nn.Module):
    """Top-k routed experts, computed densely and combined by the router weights (as Mixtral's reference)."""
    cfg: Config

    @nn.compact
    def __call__(self, x):
        c = self.cfg
        logits = nn.Dense(c.n_experts, use_bias=False, name="router")(x)
        weights, idx = jax.lax.top_k(logits, c.top_k)
        weights = jax.nn.softmax(weights, axis=-1)
        gate = jnp.sum(jax.nn.one_hot(idx, c.n_experts, dtype=x.dtype) * weights[..., None], axis=-2)
        experts = nn.vmap(SwiGLU, variable_axes={"params": 0}, split_rngs={"params": True},
                          in_axes=None, out_axes=-2, axis_size=c.n_experts)(c.d_ff, c.d_model, name="experts")
        return jnp.einsum("bte,bted->btd", gate, experts(x))


class Block(nn.Module):
    cfg: Config

    @nn.compact
    def __call__(self, x, _=None):
        c = self.cfg
        x = x + Attention(c, name="self_attn")(nn.RMSNorm(name="input_norm")(x))
        h = nn.RMSNorm(name="post_attention_norm")(x)
        x = x + (MoE(c, name="moe")(h) if c.n_experts else SwiGLU(c.d_ff, c.d_model, name="mlp")(h))
        return x, None


class Decoder(nn.Module):
    cfg: Config
    scan: bool = False

    @nn.compact
    def __call__(self, tokens):
        c = self.cfg
        x = nn.Embed(c.vocab, c.d_model, name="embed_tokens")(tokens)
        if self.scan:
            layers = nn.scan(Block, variable_axes={"params": 0}, split_rngs={"params": True},
                             length=c.n_layers)(c, name="layers")
            x, _ = layers(x, None)
        else:
            for i in range(c.n_layers):
                x, _ = Block(c, name=f"layers_{i}")(x)
        x = nn.RMSNorm(name="norm")(x)
        return nn.Dense(c.vocab, use_bias=False, name="lm_head")(x)


def target(module: nn.Module, batch: int = BATCH, seq: int = SEQ):
    """``(apply, (variables, tokens))`` with abstract variables."""
    tokens = jax.ShapeDtypeStruct((batch, seq), jnp.int32)
    variables = jax.eval_shape(module.init, jax.random.key(0), tokens)
    return module.apply, (variables, tokens)
