"""Operands quantized by tiles of the contraction, as Qwix and AQT do it.

Both operands of a dot fake-quantized along the contraction by tiles
(``x.reshape(..., K // t, t)`` scaled per tile, then merged back) have
their groups cut at the same places: the sum splits into ``K / t`` partial
sums of codes x codes, not ``(K / t) ** 2``. And int8 codes of a masked
softmax, whose values also have a finer proof (two levels per position: the
mask's), are still 256 codes under a per-tile or per-row scale.

Expected numbers from the shapes alone: MACs = M K N, ACE = MACs x the two
code widths (8 x 8), or x 16 for a float operand.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import acecost
from tiled_quant import fake_quant

S = jax.ShapeDtypeStruct
F32 = jnp.float32
M, K, N = 8, 512, 64
MACS = M * K * N


def ace_of(fn, *args):
    rep = acecost.analyze(fn, *args)
    assert rep.totals.complete and rep.totals.macs == MACS
    return rep.totals.ace


@pytest.mark.parametrize("tile_x,tile_w", [(16, 16), (32, 16), (2, 2), (128, 4)])
def test_both_operands_tiled_alike_share_their_groups(tile_x, tile_w):
    # K / gcd(tiles) partial sums (32, 32, 256, 128) with 2 terms or more each: codes x codes.
    # Counted as the product of the two group counts (1024, 512, 65536, 512) they would be
    # too many for K = 512, and one operand would stay float (8 x 16).
    def fn(w, x):
        return fake_quant(x, tile_x, 1) @ fake_quant(w, tile_w, 0)

    assert ace_of(fn, S((K, N), F32), S((M, K), F32)) == MACS * 8 * 8


def test_tiles_against_an_index_of_unknown_alignment_count_as_a_product():
    # w scaled by s[g_idx] (g_idx any stored index: its groups need not be aligned runs) against
    # x in tiles of 16: 32 x 32 = 1024 partial sums are not excluded, 2 * 1024 > 512 terms, so only
    # one operand is read by its codes and the other stays float
    def fn(p, x, g_idx):
        w = jnp.clip(jnp.round(p["w"] / p["s"][g_idx]), -128, 127).astype(jnp.int8).astype(F32) * p["s"][g_idx]
        return fake_quant(x, 16, 1) @ w

    params = {"w": S((K, N), F32), "s": S((K // 16, N), F32)}
    assert ace_of(fn, params, S((M, K), F32), S((K,), jnp.int32)) == MACS * 8 * 16


def masked_probabilities(q, k, mask):
    scores = q @ k.T  # [M, K]: M queries against K keys
    return jax.nn.softmax(scores + jnp.where(mask, 0.0, -1e9), axis=-1)


@pytest.mark.parametrize("tile", [16, K])
def test_codes_of_a_masked_softmax_keep_their_256_levels_under_the_scale(tile):
    # p = softmax(scores + mask bias) has two levels per position (the mask's, offset by the
    # scores): a finer proof that varies along every axis. Its int8 codes are 256 levels for the
    # whole tensor; under a scale per tile (or per row) of the keys, p @ v is 8 x 8.
    # (the queries are a model input: q @ k.T of two parameters would be weight preparation,
    # priced apart from the totals)
    def fn(k, q, v, mask):
        p = masked_probabilities(q, k, mask)
        return fake_quant(p, tile, 1) @ fake_quant(v, tile, 0)

    rep = acecost.analyze(fn, S((K, 16), F32), S((M, 16), F32), S((K, N), F32), S((M, K), jnp.bool_))
    assert rep.totals.complete
    pv = [r for r in rep.layers if r.macs == MACS]
    assert len(pv) == 1 and (pv[0].bits_a, pv[0].bits_w) == (8, 8)
    assert rep.totals.ace == M * K * 16 * 16 * 16 + MACS * 8 * 8  # q @ k.T float, p @ v 8 x 8


@pytest.mark.parametrize("in_shape,along,groups,expected", [
    ((4, 8), {0}, (), ((0, 4, 8),)),                # (k // 8): 4 groups, aligned blocks of 8
    ((4, 2, 8), {0, 1}, (), ((0, 8, 8),)),          # (k // 16, k // 8 % 2): blocks of 8
    ((4, 8), {0, 1}, ((0, 2, 2),), ((0, 16, 1),)),  # the inner axis varies freely: no block
    ((4, 8), {0, 1}, ((0, 2, 2), (1, 2, 4)), ((0, 4, 4),)),  # inner bounded in blocks of 4 of its 8
    ((4, 6), {0, 1}, ((0, 2, 2), (1, 2, 4)), ((0, 4, 1),)),  # blocks of 4 do not tile 6: none
])
def test_merged_axes_record_their_aligned_block(in_shape, along, groups, expected):
    # the merged coordinate k determines every input coordinate; the value depends on it only
    # down to the innermost varying axis (and that axis's own aligned block, where it tiles it)
    from acecost.engine.values.groups import reshaped

    out = (in_shape[0] * in_shape[1] * (in_shape[2] if len(in_shape) > 2 else 1),)
    assert reshaped(in_shape, out, frozenset(along), groups) == expected
