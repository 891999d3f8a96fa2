"""Group bounds: along an axis, a value (or a level set) may vary only between groups.

A group-wise scale ``s[k // G, n]`` varies along ``k``, but takes at most
``K / G`` values along it: it is one number per group. A *group bound*
``(axis, n)`` states that the value depends on its coordinate along
``axis`` only through some function of that coordinate alone with at most
``n`` values (its group index), whatever the other coordinates are. The same
holds for a level set (``Levels.groups``): the set at a position depends on
the coordinate along ``axis`` only through a group index of ``n`` values.

Because the group index of each axis depends on that axis alone, bounds
compose: an elementwise function of values bounded by ``n1`` and ``n2``
along an axis is bounded by ``n1 * n2`` (its group is the pair), a
reduction over other axes keeps the bound, and over several axes the
number of groups is at most the product. An axis with no bound varies
freely (at most its length). A contraction whose operand's level set takes
few sets along the contracting dimensions splits into one partial sum per
group (:func:`acecost.scales.group_scales`).

Bounds are written ``((axis, n, block), ...)``, sorted; ``()`` when none is
known. ``block`` (or None) says more: the group index is ``i // block``, the
groups are aligned runs of ``block`` coordinates (a reshape of ``(K // G, G)``
gives ``block = G``). Two operands grouped by aligned blocks ``b1`` and ``b2``
along one contraction share their groups: the pair of indices is a function of
``i // gcd(b1, b2)``, so they take ``ceil(K / gcd)`` groups together, not
``n1 * n2`` (Qwix quantizes both sides of a dot by tiles of the same size).
"""
from __future__ import annotations

import functools
import math
from typing import Iterable

Groups = tuple[tuple[int, int, "int | None"], ...]


def bound(groups: Groups, axis: int) -> int | None:
    for a, n, _ in groups:
        if a == axis:
            return n
    return None


def block(groups: Groups, axis: int) -> int | None:
    """The aligned block size of the group index along ``axis``, when known."""
    for a, _, b in groups:
        if a == axis:
            return b
    return None


def _gcd_blocks(blocks) -> int | None:
    return None if any(b is None for b in blocks) else math.gcd(*blocks)


def product(parts: Iterable[tuple[frozenset[int], Groups]], axes: frozenset[int]) -> Groups:
    """Bounds of a function of several parts, each (axes it varies along, its bounds):
    along an axis, the product of the bounds of the parts varying along it, where all have one."""
    parts = list(parts)
    out = []
    for a in sorted(axes):
        n, blocks = 1, []
        for along, groups in parts:
            if a in along:
                b = bound(groups, a)
                if b is None:
                    break
                n *= b
                blocks.append(block(groups, a))
        else:
            out.append((a, n, _gcd_blocks(blocks) if blocks else None))
    return tuple(out)


def level_groups(evidence, factors, axes: frozenset[int]) -> Groups:
    """Bounds of an elementwise result's level set: it depends on each coordinate through the
    level sets of the operands counted by their levels (``evidence``) and the values of those
    read as one value at each position (``factors``), so through all their group indices."""
    if not any(v.levels.groups for v in evidence) and not any(v.groups for v in factors):
        return ()
    return product([(v.levels.axes, v.levels.groups) for v in evidence]
                   + [(v.vary, v.groups) for v in factors], axes)


def moved(groups: Groups, move) -> Groups:
    """Bounds after an axis renumbering ``move`` (a dict or function of an axis; None: dropped)."""
    get = move.get if isinstance(move, dict) else move
    return tuple(sorted((get(a), n, b) for a, n, b in groups if get(a) is not None))


def unaligned(groups: Groups, axes) -> Groups:
    """Bounds after the coordinates along ``axes`` were shifted or reversed: the groups keep
    their number, not their alignment."""
    return tuple((a, n, None if a in axes else b) for a, n, b in groups)


def reshaped(in_shape: tuple, out_shape: tuple, along: frozenset[int], groups: Groups) -> Groups:
    """Bounds after a reshape of a value (or level set) varying along ``along``.

    An output axis that is a run of whole input axes (a merge) depends on its
    coordinate only through theirs: its bound is the product of the bounds
    (or lengths) of those that vary. ``q.reshape(K // G, G, N) * s[:, None, :]``
    reshaped to ``(K, N)`` is bounded by ``K / G`` along ``K``. An output axis
    that splits an input axis is left unbounded.
    """
    return _reshaped(tuple(in_shape), tuple(out_shape), along, groups)


@functools.lru_cache(maxsize=4096)
def _reshaped(in_shape, out_shape, along, groups) -> Groups:
    ins, outs = _spans(in_shape), _spans(out_shape)
    out = []
    for b, (t0, t1) in outs.items():
        touching = [a for a, (s0, s1) in ins.items() if s0 < t1 and t0 < s1]
        if any(not (t0 <= ins[a][0] and ins[a][1] <= t1) for a in touching):
            continue  # an input axis split across output axes: no bound
        varying = [a for a in touching if a in along]
        if not varying:
            continue
        n = math.prod(bound(groups, a) or in_shape[a] for a in varying)
        if n < out_shape[b]:
            out.append((b, n, _merged_block(in_shape, touching, max(varying), groups)))
    return tuple(out)


def _merged_block(in_shape, touching, inner, groups) -> int:
    """The merged coordinate depends on the input ones only down to the innermost varying axis
    (the trailing ones are constant): aligned blocks of the trailing lengths, times the inner
    axis's own block where it tiles that axis exactly."""
    trailing = math.prod(in_shape[a] for a in touching if a > inner)
    b = block(groups, inner) if bound(groups, inner) is not None else 1
    return trailing * (b if b and in_shape[inner] % b == 0 else 1)


def _spans(shape) -> dict[int, tuple[int, int]]:
    out, stride = {}, 1
    for i in reversed(range(len(shape))):
        if shape[i] != 1:
            out[i] = (stride, stride * shape[i])
        stride *= shape[i]
    return out


#: Shape primitives that keep every axis where it is, with the same elements.
_SAME_AXES = frozenset(("copy", "copy_p", "stop_gradient", "reduce_precision", "sharding_constraint",
                        "device_put", "mesh_cast", "reshard", "optimization_barrier", "pvary"))
#: Shape primitives that keep every axis where it is, a part of it or reversed.
_PART_AXES = frozenset(("slice", "dynamic_slice", "rev", "split"))


def _moved_coordinates(eqn, in_shape: tuple) -> set:
    """Axes along which ``slice``/``dynamic_slice``/``rev``/``split`` shift or reverse the coordinates."""
    name, p = eqn.primitive.name, eqn.params
    if name == "rev":
        return set(p["dimensions"])
    if name == "split":
        return {p["axis"]}
    if name == "dynamic_slice":
        return {a for a, s in enumerate(p["slice_sizes"]) if s != in_shape[a]}
    strides = p.get("strides") or (1,) * len(in_shape)
    return {a for a, (s, t) in enumerate(zip(p["start_indices"], strides)) if s != 0 or t != 1}


def shape_groups(eqn, in_shape: tuple, along: frozenset[int], groups: Groups) -> Groups:
    """Bounds of the output of a shape primitive whose input varies along ``along``."""
    name = eqn.primitive.name
    if name in _SAME_AXES:
        return groups
    if name in _PART_AXES:
        return unaligned(groups, _moved_coordinates(eqn, in_shape))
    if name == "reshape":
        return reshaped(in_shape, tuple(eqn.outvars[0].aval.shape), along, groups)
    if not groups:
        return ()
    if name == "broadcast_in_dim":
        dims = eqn.params["broadcast_dimensions"]
        return moved(groups, lambda a: dims[a] if a < len(dims) else None)
    if name == "transpose":
        perm = eqn.params["permutation"]
        return moved(groups, {src: dst for dst, src in enumerate(perm)})
    if name == "squeeze" or name.startswith("reduce_") or name in ("argmax", "argmin"):
        dropped = sorted(eqn.params["dimensions"] if name == "squeeze" else eqn.params["axes"])
        return moved(groups, lambda a: None if a in dropped else a - sum(d < a for d in dropped))
    if name == "expand_dims":
        dims = sorted(eqn.params["dimensions"])

        def shift(a):
            for d in dims:
                a = a + 1 if a >= d else a
            return a
        return moved(groups, shift)
    return ()


def gather_groups(eqn, operand, indices) -> Groups:
    """Bounds of a lookup ``operand[indices]`` along the output axes the indices vary along.

    When the indices vary along one of their batch axes only, an output element
    along the matching output axis is the operand at a start position that
    depends on that coordinate alone, and there are at most as many start
    positions as the operand has (one more for an out-of-bounds fill):
    ``s[g_idx]`` with ``s`` of ``K / G`` rows has at most ``K / G`` values
    along ``K``, whatever ``g_idx`` holds.
    """
    dn = eqn.params["dimension_numbers"]
    if getattr(dn, "operand_batching_dims", ()) or len(indices.shape) == 0:
        return ()
    slice_sizes = eqn.params["slice_sizes"]
    starts = math.prod(operand.shape[d] - slice_sizes[d] + 1 for d in dn.start_index_map)
    if "FILL" in str(eqn.params.get("mode", "")):
        starts += 1
    index_batch = list(range(len(indices.shape) - 1))  # jax keeps the index vector last
    varying = [d for d in index_batch if d in indices.vary]
    if len(varying) != 1:
        return ()
    out_rank = len(eqn.outvars[0].aval.shape)
    batch_out = [d for d in range(out_rank) if d not in dn.offset_dims]
    if len(batch_out) != len(index_batch):
        return ()
    axis = batch_out[varying[0]]
    return ((axis, starts, None),) if starts < eqn.outvars[0].aval.shape[axis] else ()


def count(shape: tuple, axis: int, groups: Groups) -> int:
    """Groups along one axis: its bound, or the aligned blocks it is cut into, or its length."""
    n, b = bound(groups, axis), block(groups, axis)
    return min(n or shape[axis], -(-shape[axis] // b) if b else shape[axis])


def partitions(shape: tuple, along: frozenset[int], groups: Groups) -> int:
    """Groups over the axes ``along`` together: the product of their counts."""
    return math.prod(count(shape, a, groups) for a in along)


def shared(length: int, a: Groups, axis_a: int, b: Groups, axis_b: int) -> int | None:
    """Groups of two operands along one contracted axis together: the product of their
    counts, or, both aligned blocks, ``ceil(length / gcd)`` (the pair is a function of
    ``k // gcd``). None where one of them varies freely there."""
    na, nb = bound(a, axis_a), bound(b, axis_b)
    if na is None or nb is None:
        return None
    blocks = (block(a, axis_a), block(b, axis_b))
    joint = na * nb
    if None not in blocks:
        joint = min(joint, -(-length // math.gcd(*blocks)))
    return min(joint, length)
