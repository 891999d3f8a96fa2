"""A weight computed with a constant table of the program is still that weight.

NF4 fake quantization (Qwix QAT) snaps the float kernel to a 16-entry
codebook: ``codebook[argmin |w / s - codebook|] * s``. The codebook is a
constant array, neither a parameter nor an activation; the operand of the
dot is the kernel, stored at the width of its 16 levels: size = K N x 4.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import acecost

S = jax.ShapeDtypeStruct
F32 = jnp.float32
M, K, N = 4, 64, 32
CODEBOOK = np.linspace(-1.0, 1.0, 16, dtype=np.float32) ** 3  # 16 distinct values


def nf4_like(w):
    s = jnp.max(jnp.abs(w), axis=0, keepdims=True)
    idx = jnp.argmin(jnp.abs((w / s)[..., None] - CODEBOOK), axis=-1)
    return jnp.asarray(CODEBOOK)[idx] * s


def test_kernel_snapped_to_a_constant_codebook_is_the_kernel():
    rep = acecost.analyze(lambda p, x: x @ nf4_like(p["w"]), {"w": S((K, N), F32)}, S((M, K), F32))
    assert rep.totals.complete
    assert rep.totals.macs == M * K * N
    assert rep.totals.ace == M * K * N * 16 * 4
    assert rep.totals.size_bits == K * N * 4  # was K N x 32: the kernel taken for an unused leaf
    (layer,) = rep.layers
    assert layer.weight_operand == "rhs"


def test_a_constant_table_alone_is_no_weight():
    # a constant matrix times an activation: no parameter, nothing stored, the table is no weight
    table = np.arange(K * N, dtype=np.float32).reshape(K, N)
    rep = acecost.analyze(lambda p, x: x @ jnp.asarray(table) + p["b"], {"b": S((N,), F32)}, S((M, K), F32))
    assert rep.totals.macs == M * K * N
    assert rep.totals.size_bits == N * 32
