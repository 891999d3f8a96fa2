"""A vmapped Pallas kernel: ``program_id`` and ``num_programs`` count the grid
without the axes the vmap added (jax's ``GridMapping.vmapped_dims``).

The kernel loops over 16-column slices of its block with a ``fori_loop``
whose trip count comes from the grid. Expected MACs from the shapes:
batch x grid points x trips x (8 x 16 x 16) per trip.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
from jax import lax
from jax.experimental import pallas as pl

import acecost

S = jax.ShapeDtypeStruct
F32 = jnp.float32
R, C, PTS = 8, 64, 4  # block rows, block columns, grid points (along the one grid axis)
DOT = R * 16 * 16


def kernel_call(trips_of):
    def kernel(x_ref, w_ref, o_ref):
        def body(t, acc):
            return acc + jnp.dot(x_ref[:, pl.ds(t * 16, 16)], w_ref[pl.ds(t * 16, 16), :])
        o_ref[...] = lax.fori_loop(0, trips_of(), body, jnp.zeros((R, 16), F32))

    def call(x, w):
        return pl.pallas_call(
            kernel, grid=(PTS,),
            in_specs=[pl.BlockSpec((R, C), lambda i: (i, 0)), pl.BlockSpec((C, 16), lambda i: (0, 0))],
            out_specs=pl.BlockSpec((R, 16), lambda i: (i, 0)),
            out_shape=S((R * PTS, 16), F32), interpret=True)(x, w)
    return call


def test_program_id_ranges_over_the_kernels_own_grid_under_vmap():
    # vmapped over 2: the grid is (2, 4), the vmapped axis first. program_id(0) is the kernel's own
    # axis, in [0, 3]: max(program_id(0), 1) trips are 1, 1, 2, 3, a count that is not static
    # (per-iteration, incomplete). Read off the vmapped axis, [0, 1], it would be 1 trip
    # everywhere: complete, and wrong for two grid points of four.
    call = kernel_call(lambda: jnp.maximum(pl.program_id(0), 1))
    rep = acecost.analyze(jax.vmap(call, in_axes=(0, None)), S((2, R * PTS, C), F32), S((C, 16), F32))
    assert rep.loops[-1]["grid"] == [2, PTS]
    assert not rep.totals.complete
    assert any("trip count is data-dependent" in w for w in rep.warnings)
    assert rep.totals.macs == 2 * PTS * DOT  # the loop body counted once per grid point
    # without the vmap: the same answer
    plain = acecost.analyze(call, S((R * PTS, C), F32), S((C, 16), F32))
    assert not plain.totals.complete and plain.totals.macs == PTS * DOT


@pytest.mark.parametrize("trips", [
    lambda: jnp.minimum(pl.program_id(0), 0) + 2,                    # by its range
    lambda: (pl.program_id(0) + 2) * 3 - pl.program_id(0) * 3 - 4,   # by its affine form: 2
    lambda: (pl.program_id(0) + 1) * 32 - 16 * (2 * pl.program_id(0)) - 30,
])
def test_a_static_trip_count_under_vmap_is_exact(trips):
    # a trip count that is 2 at every grid point, computed from the grid index: interval arithmetic
    # alone finds (j + 2) * 3 - j * 3 - 4 in [-7, 11] for j in [0, 3]; the affine form is exact
    call = kernel_call(trips)
    rep = acecost.analyze(jax.vmap(call, in_axes=(0, None)), S((3, R * PTS, C), F32), S((C, 16), F32))
    assert rep.totals.complete
    assert rep.totals.macs == 3 * PTS * 2 * DOT


def test_affine_forms_of_model_scalars_cancel():
    # outside kernels too: an integer scalar input n, a loop of (n + 1) * 2 - 2 * n = 2 trips,
    # and one of n - n + 3 = 3 (int32 arithmetic: exact modulo 2**32 even where it wraps)
    def fn(w, x, n):
        def body(_, acc):
            return acc @ w
        y = lax.fori_loop(0, (n + 1) * 2 - 2 * n, body, x)
        return lax.fori_loop(0, n - n + 3, body, y)

    rep = acecost.analyze(fn, S((16, 16), F32), S((4, 16), F32), S((), jnp.int32))
    assert rep.totals.complete
    assert rep.totals.macs == (2 + 3) * 4 * 16 * 16


def test_affine_form_is_not_taken_through_a_product_of_unknowns():
    # a product of two unknown scalars is not affine: each `n * n` is a value of its own, so
    # n * n - n * n + 2 is not proven 2 and the loop is reported data-dependent, not guessed
    def fn(w, x, n):
        return lax.fori_loop(0, n * n - n * n + 2, lambda _, acc: acc @ w, x)

    rep = acecost.analyze(fn, S((16, 16), F32), S((4, 16), F32), S((), jnp.int32))
    assert not rep.totals.complete
    assert any("trip count is data-dependent" in w for w in rep.warnings)
