"""Two operands grouped along one contraction by aligned blocks of different sizes.

The partial sums of ``x @ w`` are one per pair of groups. For aligned blocks
``b1`` and ``b2`` along ``K`` there are at most ``ceil(K / gcd)`` pairs (the
pair is a function of ``k // gcd``) and at most ``K/b1 + K/b2 - 1`` (the two
partitions into runs cut ``K`` at their boundaries together); whichever is
fewer holds. Priced by codes on both sides when ``2 p <= K``.

Expected numbers from the shapes alone: MACs = M K N, ACE = MACs x the two
operand widths (8 for int8 codes, 16 for a float operand).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import acecost
from tiled_quant import fake_quant

S = jax.ShapeDtypeStruct
F32 = jnp.float32
M, N = 8, 64


@pytest.mark.parametrize("k, tile_x, tile_w, bits", [
    # blocks of 8 and 5 along 80: gcd 1 allows 80 pairs, the product 160, but the boundaries
    # together make 10 + 16 - 1 = 25 runs, 2 * 25 <= 80: codes x codes
    (80, 8, 5, (8, 8)),
    # blocks of 2 and 4 along 64: gcd 2 gives 32 pairs, 2 * 32 <= 64 (the runs' boundaries
    # allow 32 + 16 - 1 = 47, the product 512): codes x codes
    (64, 2, 4, (8, 8)),
    # blocks of 3 and 4 along 48: 48 pairs by gcd, 16 + 12 - 1 = 27 runs, 2 * 27 > 48: only the
    # operand with fewer groups (w, 12) by its codes, x stays float
    (48, 3, 4, (16, 8)),
])
def test_operands_in_unequal_aligned_blocks_share_their_runs(k, tile_x, tile_w, bits):
    def fn(w, x):
        return fake_quant(x, tile_x, 1) @ fake_quant(w, tile_w, 0)

    rep = acecost.analyze(fn, S((k, N), F32), S((M, k), F32))
    assert rep.totals.complete and rep.totals.macs == M * k * N
    (layer,) = [r for r in rep.layers if r.macs == M * k * N]
    assert (layer.bits_a, layer.bits_w) == bits
    assert rep.totals.ace == M * k * N * bits[0] * bits[1]
