"""Pallas's grid and BlockSpecs: what a grid point sees of the call's arrays, and back.

A ``pallas_call`` runs its kernel once per grid point on blocks of its
operands (``grid_mapping``'s block mappings). Here are the grid's sizes
counted, each reference's element type, the block a grid point reads from
an operand, and the output array rebuilt from what its block holds, each
keeping only the level-set claims that survive the move between the two.
:mod:`acecost.engine.rules.kernels` walks the kernel itself.
"""
from __future__ import annotations

import numpy as np

from acecost.engine.values.levels import normalize
from acecost.engine.values.value import Value, make_value, nontrivial_axes


def ref_dtype(aval) -> np.dtype:
    """A reference's element type; a semaphore (TPU ``dma_sem``, GPU barrier) has none numpy
    knows: it holds a count, an int32 as ``semaphore_read`` returns it."""
    try:
        return np.dtype(aval.dtype)
    except TypeError:
        return np.dtype(np.int32)


def grid_sizes(grid, bounds: list[Value]) -> tuple[tuple[int, ...], tuple[int | None, ...]]:
    """The grid counted (1 along a size that is not static) and its sizes (None there).

    A dynamic size is read from its operand when the value model proves it
    one number.
    """
    known, k = [], 0
    for d in grid:
        if isinstance(d, (int, np.integer)):
            known.append(int(d))
            continue
        lv = bounds[k].levels if k < len(bounds) else None
        k += 1
        known.append(int(lv.lo) if lv is not None and lv.lo is not None and lv.lo == lv.hi else None)
    return tuple(1 if n is None else n for n in known), tuple(known)


def kept_dims(bm, rank: int) -> list[int] | None:
    """The array dimensions a block keeps, in order; None if the block is not plain slices."""
    from jax.experimental import pallas as pl

    if getattr(bm, "transforms", ()):
        return None
    squeezed, sliced = block_kinds(pl, "Squeezed"), block_kinds(pl, "Blocked", "BoundedSlice")
    element = block_kinds(pl, "Element")
    kept = []
    for d, b in enumerate(getattr(bm, "block_shape", ())):
        if isinstance(b, squeezed):
            continue
        if not isinstance(b, sliced) and not (isinstance(b, element) and tuple(b.padding) == (0, 0)):
            return None  # gathered (Indirect), padded, or a form this jax spells otherwise
        kept.append(d)
    return kept if len(kept) == rank else None


def block_kinds(module, *names: str) -> tuple:
    """The block-dimension classes of these names that this jax has."""
    return tuple(c for c in (getattr(module, n, None) for n in names) if isinstance(c, type))


def operand_block(interp, value: Value, bm, aval) -> Value:
    """The block a grid point reads: elements of the operand at shifted positions.

    Within one grid point every element moves by the same offset, so the
    level set still varies only along the same axes (a squeezed dimension
    is a fixed coordinate and drops out); a whole-tensor bound holds for a
    part of the tensor.
    """
    shape, dtype = tuple(aval.shape), aval.dtype
    kept = kept_dims(bm, len(shape))
    lv = value.levels
    if kept is None:
        return coarse(interp, value, shape, dtype, keep_flat=True)
    where = {d: j for j, d in enumerate(kept)}
    lv = lv.with_(axes=frozenset(where[a] for a in lv.axes if a in where))
    vary = frozenset(where[a] for a in value.vary if a in where)
    return interp.register(make_value(shape, dtype, normalize(lv, dtype), vary, value.origins, value.name))


def output_array(interp, content: Value, bm, aval) -> Value:
    """A call's output from what its output block holds.

    Each block of the array is what one grid point last wrote into it, so a
    level set holds within a block; between blocks it may differ (a scale
    per block). The set therefore also varies along every dimension split
    into several blocks, and no whole-tensor bound survives a split.
    """
    shape, dtype = tuple(aval.shape), aval.dtype
    kept = kept_dims(bm, len(content.shape))
    if kept is None:
        return coarse(interp, content, shape, dtype, keep_flat=False)
    split = frozenset(d for d in range(len(shape)) if shape[d] > 1 and (
        d not in kept or content.shape[kept.index(d)] < shape[d]))
    lv = content.levels
    if lv.known and not lv.const:
        lv = lv.with_(axes=frozenset(kept[a] for a in lv.axes) | split, flat=None if split else lv.flat)
    vary = frozenset(kept[a] for a in content.vary) | split
    return interp.register(make_value(shape, dtype, normalize(lv, dtype), vary, content.origins))


def coarse(interp, value: Value, shape, dtype, keep_flat: bool) -> Value:
    """``value``'s elements at positions that do not follow its own: only per-element claims stay."""
    lv = value.levels
    if lv.known and not lv.const:
        lv = lv.with_(axes=nontrivial_axes(shape), flat=lv.flat if keep_flat else None)
    return interp.register(make_value(shape, dtype, normalize(lv, dtype), None, value.origins))
