"""One generated token of a Llama-style decoder: W4A16 weights, an int8 KV cache of L slots.

The decode step of a served LLM, traced abstractly (nothing is allocated):

* **weights** are int4 codes with one bfloat16 scale per group of ``group``
  input rows and output column (the GPTQ/AWQ layout), dequantized in the
  graph: ``(q.reshape(K // G, G, N) * s[:, None, :]).reshape(K, N)``, then a
  bfloat16 matmul. acecost prices each projection 16 x 4: the group's scale
  factors out of its partial sum.
* **the KV cache** holds int8 codes and one bfloat16 scale per (token, kv head).
  The new token's key and value are quantized to int8 (round, clip to
  +-127), written at slot ``pos`` with ``dynamic_update_slice``, and the
  whole cache of ``L`` slots is dequantized and attended (grouped-query: a
  kv head serves ``heads // kv_heads`` query heads without being copied);
  slots after ``pos`` are masked. ``q @ k`` and ``p @ v`` are 16 x 8.
* the layers run under ``lax.scan`` over stacked parameters and the stacked
  cache, as MaxText does: one body, counted ``layers`` times.

``experts > 0`` swaps the SwiGLU feed-forward for a mixture of experts:
a bfloat16 router, then ``top_k`` experts per token by a **fixed routing**
(``routing="0,1;0,2;..."``: each token's experts; default round-robin).
Which experts a token reaches depends on the data, which acecost never
sees, so the routing is the pricing assumption, as ``--while-trips`` is for
a loop. Each expert is its own contraction on the tokens routed to it: its
records (``ffn/expert_3/up``) count those tokens' MACs, and ``size`` counts
the codes of every expert. ``batch`` tokens are decoded together (one per
sequence); the report is for the batch.

    acecost analyze examples/llama_decode.py --param L=4096
    acecost sweep examples/llama_decode.py --grid L=512,1024,2048,4096,8192 -o decode.csv
    acecost analyze examples/llama_decode.py --param experts=8 --param batch=6 \\
        --param routing='0,1;0,2;0,3;4,5;6,7;1,4'
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

BF16 = jnp.bfloat16
QMAX = 127  # int8 KV cache: symmetric codes in [-127, 127]


# ------------------------------------------------------------------ config

def config(L=1024, dim=4096, layers=32, heads=32, kv_heads=32, ffn=11008, vocab=32000, group=128,
           experts=0, top_k=2, batch=1, routing=None) -> dict:
    """The shapes, checked; defaults are Llama-2-7B's with a 1024-slot cache."""
    hd, rest = divmod(dim, heads)
    if rest or heads % kv_heads:
        raise ValueError(f"heads ({heads}) must divide dim ({dim}) and be a multiple of kv_heads ({kv_heads})")
    for k in (dim, ffn):
        if k % group:
            raise ValueError(f"group ({group}) must divide dim ({dim}) and ffn ({ffn})")
    return dict(L=L, dim=dim, layers=layers, heads=heads, kv_heads=kv_heads, head_dim=hd, ffn=ffn,
                vocab=vocab, group=group, experts=experts, top_k=top_k, batch=batch,
                routing=parse_routing(routing, batch, experts, top_k) if experts else None)


def parse_routing(routing, batch: int, experts: int, top_k: int) -> tuple[tuple[int, ...], ...]:
    """Each token's ``top_k`` experts: ``"0,1;0,2"`` (token 0 -> experts 0 and 1, ...), or
    round-robin (token t -> t*k, ..., t*k + k - 1, mod experts) when None."""
    if routing is None:
        return tuple(tuple((t * top_k + j) % experts for j in range(top_k)) for t in range(batch))
    table = tuple(tuple(int(e) for e in tok.split(",")) for tok in str(routing).split(";"))
    if len(table) != batch or any(len(set(t)) != top_k or len(t) != top_k for t in table) \
            or any(not 0 <= e < experts for t in table for e in t):
        raise ValueError(f"routing {routing!r}: need {batch} tokens of {top_k} distinct experts in [0, {experts})")
    return table


def tokens_per_expert(cfg: dict) -> list[list[int]]:
    """For each expert, the tokens routed to it (in token order)."""
    return [[t for t, chosen in enumerate(cfg["routing"]) if e in chosen] for e in range(cfg["experts"])]


# ------------------------------------------------------------------ parameters

def int4_weight(k: int, n: int, group: int, lead=()) -> dict:
    """Codes [.., k, n] int4 and one bfloat16 scale per group of ``group`` rows and column."""
    return {"q": jax.ShapeDtypeStruct((*lead, k, n), jnp.int4),
            "s": jax.ShapeDtypeStruct((*lead, k // group, n), BF16)}


def param_shapes(cfg: dict) -> dict:
    d, hd, g, nl = cfg["dim"], cfg["head_dim"], cfg["group"], (cfg["layers"],)
    layer = {"attn_norm": jax.ShapeDtypeStruct((*nl, d), BF16),
             "wq": int4_weight(d, cfg["heads"] * hd, g, nl),
             "wk": int4_weight(d, cfg["kv_heads"] * hd, g, nl),
             "wv": int4_weight(d, cfg["kv_heads"] * hd, g, nl),
             "wo": int4_weight(cfg["heads"] * hd, d, g, nl),
             "ffn_norm": jax.ShapeDtypeStruct((*nl, d), BF16)}
    if cfg["experts"]:
        layer["router"] = jax.ShapeDtypeStruct((*nl, d, cfg["experts"]), BF16)
        layer["experts"] = [{"gate": int4_weight(d, cfg["ffn"], g, nl), "up": int4_weight(d, cfg["ffn"], g, nl),
                             "down": int4_weight(cfg["ffn"], d, g, nl)} for _ in range(cfg["experts"])]
    else:
        layer |= {"gate": int4_weight(d, cfg["ffn"], g, nl), "up": int4_weight(d, cfg["ffn"], g, nl),
                  "down": int4_weight(cfg["ffn"], d, g, nl)}
    return {"embed": jax.ShapeDtypeStruct((cfg["vocab"], d), BF16), "layers": layer,
            "norm": jax.ShapeDtypeStruct((d,), BF16), "lm_head": int4_weight(d, cfg["vocab"], g)}


def cache_shapes(cfg: dict) -> dict:
    """The int8 codes and bfloat16 scales of every layer's keys and values."""
    codes = (cfg["layers"], cfg["batch"], cfg["L"], cfg["kv_heads"], cfg["head_dim"])
    return {"k": jax.ShapeDtypeStruct(codes, jnp.int8), "v": jax.ShapeDtypeStruct(codes, jnp.int8),
            "k_scale": jax.ShapeDtypeStruct(codes[:-1], BF16), "v_scale": jax.ShapeDtypeStruct(codes[:-1], BF16)}


# ------------------------------------------------------------------ the step

def dequant(w: dict) -> jax.Array:
    """Group-wise int4 -> bfloat16, as GPTQ/AWQ kernels' reference code writes it."""
    q, s = w["q"], w["s"]
    k, n = q.shape
    groups = s.shape[0]
    return (q.astype(BF16).reshape(groups, k // groups, n) * s[:, None, :]).reshape(k, n)


def linear(x: jax.Array, w: dict, name: str) -> jax.Array:
    with jax.named_scope(name):
        return x @ dequant(w)


def rmsnorm(x: jax.Array, w: jax.Array) -> jax.Array:
    x32 = x.astype(jnp.float32)
    return (x32 * lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + 1e-5)).astype(BF16) * w


def rope(x: jax.Array, pos: jax.Array) -> jax.Array:
    """Rotary embedding of the one position ``pos`` on the last axis (the half-split form)."""
    half = x.shape[-1] // 2
    angle = pos.astype(jnp.float32) * 10000.0 ** (-jnp.arange(half, dtype=jnp.float32) / half)
    cos, sin = jnp.cos(angle).astype(BF16), jnp.sin(angle).astype(BF16)
    x1, x2 = x[..., :half], x[..., half:]
    return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


def quantize_int8(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One scale per vector of the last axis: int8 codes in [-127, 127] and the bfloat16 scale."""
    scale = jnp.maximum(jnp.max(jnp.abs(x.astype(jnp.float32)), axis=-1), 1e-6) / QMAX
    codes = jnp.clip(jnp.round(x.astype(jnp.float32) / scale[..., None]), -QMAX, QMAX).astype(jnp.int8)
    return codes, scale.astype(BF16)


def attention(x: jax.Array, p: dict, cache: dict, pos: jax.Array, cfg: dict):
    b, hkv, hd = x.shape[0], cfg["kv_heads"], cfg["head_dim"]
    rep = cfg["heads"] // hkv
    with jax.named_scope("attn"):
        q = rope(linear(x, p["wq"], "q").reshape(b, hkv, rep, hd), pos)
        k = rope(linear(x, p["wk"], "k").reshape(b, hkv, hd), pos)
        v = linear(x, p["wv"], "v").reshape(b, hkv, hd)
        new = {}
        for name, t in (("k", k), ("v", v)):  # write the new token into its slot
            codes, scale = quantize_int8(t)
            new[name] = lax.dynamic_update_slice(cache[name], codes[:, None], (0, pos, 0, 0))
            new[f"{name}_scale"] = lax.dynamic_update_slice(cache[f"{name}_scale"], scale[:, None], (0, pos, 0))
        keys = new["k"].astype(BF16) * new["k_scale"][..., None]      # [b, L, hkv, hd]
        values = new["v"].astype(BF16) * new["v_scale"][..., None]
        with jax.named_scope("scores"):
            scores = jnp.einsum("bgrd,blgd->bgrl", q, keys, preferred_element_type=jnp.float32) / np.sqrt(hd)
        scores = jnp.where(jnp.arange(cfg["L"]) <= pos, scores, -jnp.inf)
        probs = jax.nn.softmax(scores, axis=-1).astype(BF16)
        with jax.named_scope("mix"):
            out = jnp.einsum("bgrl,blgd->bgrd", probs, values).reshape(b, cfg["heads"] * hd)
        return linear(out, p["wo"], "o"), new


def swiglu(x: jax.Array, w: dict) -> jax.Array:
    g, u = linear(x, w["gate"], "gate"), linear(x, w["up"], "up")
    return linear(jax.nn.silu(g) * u, w["down"], "down")


def moe(x: jax.Array, p: dict, cfg: dict) -> jax.Array:
    """Router, then each expert on the tokens the fixed routing sends it, weighted and summed back."""
    with jax.named_scope("router"):
        probs = jax.nn.softmax((x @ p["router"]).astype(jnp.float32), axis=-1)
    chosen = np.array(cfg["routing"])                                  # [batch, top_k], fixed
    weights = jnp.take_along_axis(probs, jnp.asarray(chosen), axis=-1)
    weights = (weights / jnp.sum(weights, axis=-1, keepdims=True)).astype(BF16)
    out = jnp.zeros_like(x)
    for e, tokens in enumerate(tokens_per_expert(cfg)):
        if not tokens:  # nobody is routed here: nothing runs
            continue
        rows = np.array(tokens)
        slot = np.array([list(cfg["routing"][t]).index(e) for t in tokens])
        with jax.named_scope(f"expert_{e}"):
            y = swiglu(x[rows], p["experts"][e])
        out = out.at[rows].add(y * weights[rows, slot][:, None])
    return out


def decode_step(params: dict, token: jax.Array, cache: dict, pos: jax.Array, cfg: dict):
    """Logits of the next token and the cache with this token written at slot ``pos``."""
    x = params["embed"][token]                                          # [batch, dim]

    def block(x, layer):
        p, c = layer
        h, c = attention(rmsnorm(x, p["attn_norm"]), p, c, pos, cfg)
        x = x + h
        with jax.named_scope("ffn"):
            h = rmsnorm(x, p["ffn_norm"])
            x = x + (moe(h, p, cfg) if cfg["experts"] else swiglu(h, p))
        return x, c

    x, cache = lax.scan(block, x, (params["layers"], cache))
    logits = linear(rmsnorm(x, params["norm"]), params["lm_head"], "lm_head")
    return logits, cache


def acecost_model(L=1024, dim=4096, layers=32, heads=32, kv_heads=32, ffn=11008, vocab=32000, group=128,
                  experts=0, top_k=2, batch=1, routing=None):
    cfg = config(L, dim, layers, heads, kv_heads, ffn, vocab, group, experts, top_k, batch, routing)

    def step(params, token, cache, pos):
        return decode_step(params, token, cache, pos, cfg)

    return step, (param_shapes(cfg), jax.ShapeDtypeStruct((batch,), jnp.int32), cache_shapes(cfg),
                  jax.ShapeDtypeStruct((), jnp.int32))
