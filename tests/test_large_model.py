"""A 7B-parameter transformer shape analyses from ShapeDtypeStructs alone.

Its float32 weights would take 27 GB, more than this machine has: the test
can only pass if nothing is allocated. Costs are checked against the
closed-form count of a LLaMA-style decoder.
"""
from __future__ import annotations

import resource
import time

import jax
import jax.numpy as jnp
from jax import lax

import acecost

S = jax.ShapeDtypeStruct
F32 = jnp.float32
L, D, FF, VOCAB, SEQ, HEADS = 32, 4096, 11008, 32000, 2048, 32
HD = D // HEADS


def rmsnorm(x, g):
    return x * lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + 1e-6) * g


def block(x, p):
    h = rmsnorm(x, p["attn_norm"])
    q = (h @ p["wq"]).reshape(SEQ, HEADS, HD)
    k = (h @ p["wk"]).reshape(SEQ, HEADS, HD)
    v = (h @ p["wv"]).reshape(SEQ, HEADS, HD)
    s = jnp.einsum("qhd,khd->hqk", q, k) / jnp.sqrt(HD).astype(F32)
    mask = jnp.tril(jnp.ones((SEQ, SEQ), bool))
    a = jax.nn.softmax(jnp.where(mask, s, -1e9), axis=-1)
    o = jnp.einsum("hqk,khd->qhd", a, v).reshape(SEQ, D)
    x = x + o @ p["wo"]
    h = rmsnorm(x, p["mlp_norm"])
    return x + (jax.nn.silu(h @ p["w_gate"]) * (h @ p["w_up"])) @ p["w_down"], None


def forward(params, tokens):
    x = params["embed"][tokens]
    x, _ = lax.scan(block, x, params["layers"])
    return rmsnorm(x, params["norm"]) @ params["lm_head"]


def stacked(*shape):
    return S((L, *shape), F32)


PARAMS = {
    "embed": S((VOCAB, D), F32),
    "layers": {
        "attn_norm": stacked(D), "mlp_norm": stacked(D),
        "wq": stacked(D, D), "wk": stacked(D, D), "wv": stacked(D, D), "wo": stacked(D, D),
        "w_gate": stacked(D, FF), "w_up": stacked(D, FF), "w_down": stacked(FF, D),
    },
    "norm": S((D,), F32),
    "lm_head": S((D, VOCAB), F32),
}
TOKENS = S((SEQ,), jnp.int32)

DOT_WEIGHTS = L * (4 * D * D + 3 * D * FF) + D * VOCAB  # enter a dot: priced at 16 bits
OTHER_WEIGHTS = VOCAB * D + L * 2 * D + D  # embedding (a gather) and norms: f32 width
LAYER_MACS = SEQ * (4 * D * D + 3 * D * FF) + 2 * HEADS * SEQ * SEQ * HD
MACS = L * LAYER_MACS + SEQ * D * VOCAB


def test_seven_billion_parameter_transformer_from_shapes():
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    start = time.perf_counter()
    rep = acecost.analyze(forward, PARAMS, TOKENS)
    elapsed = time.perf_counter() - start
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    assert DOT_WEIGHTS + OTHER_WEIGHTS == 6_738_415_616  # the published LLaMA-7B count
    assert rep.totals.params == DOT_WEIGHTS + OTHER_WEIGHTS
    assert rep.totals.macs == MACS
    assert rep.totals.ace == MACS * 16 * 16
    assert rep.totals.size_bits == DOT_WEIGHTS * 16 + OTHER_WEIGHTS * 32
    assert rep.totals.complete
    scanned = [r for r in rep.layers if r.multiplier == L]
    assert len(scanned) == 9  # q, k, v, o, scores, values, gate, up, down
    assert elapsed < 60, f"analysis took {elapsed:.1f}s"
    assert peak_after - peak_before < 1_000_000, "analysis allocated over 1 GB"
