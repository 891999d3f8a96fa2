"""Group bounds: along an axis, a value (or a level set) may vary only between groups.

A group-wise scale ``s[k // G, n]`` varies along ``k``, but takes at most
``K / G`` values along it: it is one number per group. A *group bound*
``(axis, n, block)`` states that the value depends on its coordinate along
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
group (:func:`acecost.engine.scales.group_scales`).

``block`` (or None) says where the groups lie: the group index is a function
of ``i // block``, the value is constant on aligned runs of ``block``
coordinates (a reshape of ``(K // G, G)`` gives ``block = G``: the MX and
NVFP4 block scales, Qwix's tiles). Along an axis of length ``L`` it is then
cut into at most ``ceil(L / block)`` runs. Two values with aligned blocks
``b1`` and ``b2`` take few groups together where arbitrary groups take
``n1 * n2`` pairs: the pair is a function of ``i // gcd(b1, b2)`` (at most
``ceil(L / gcd)`` groups), and their runs' boundaries together cut the axis
into at most ``ceil(L / b1) + ceil(L / b2) - 1`` runs; the smallest of the
bounds that apply holds (:func:`joint`). Two operands scaled per block of 16
along the same contraction thus share ``K / 16`` partial sums, not
``(K / 16) ** 2``.

A *joint* bound ``((a1, a2, ...), n, None)`` states the same of several axes
together: the value depends on its coordinates along them only through a
function of those coordinates with at most ``n`` values. A reshape that
splits a bounded axis makes one (EinsumDense's ``(K, N)`` kernel, grouped
along ``K``, reshaped to ``(H, Dh, N)`` and contracted along ``H`` and ``Dh``):
the split axes' coordinates together are the old coordinate. It states no
block. Only a renumbering keeps it and only :func:`partitions` reads it; every
other rule drops it.

Bounds are written ``((axis, n, block), ...)``, sorted; ``()`` when none is known.
"""
from __future__ import annotations

import functools
import math
from typing import Iterable

from acecost.engine.values.axes import spans

Groups = tuple[tuple[int, int, "int | None"], ...]


def entry(groups: Groups, axis: int) -> tuple[int, int | None] | None:
    """(n, block) along ``axis``, or None when the coordinate is not bounded there."""
    for a, n, b in groups:
        if a == axis:
            return n, b
    return None


def joint(entries, length: int | None = None) -> tuple[int, int | None]:
    """(n, block) of the tuple of several group indices along one axis (of ``length``, when
    known): at most the product of their counts, and the length; where all have aligned
    blocks, a function of ``i // gcd`` (at most ``ceil(length / gcd)`` values) cut into at
    most ``sum(ceil(length / b)) - (parts - 1)`` runs (their boundaries together)."""
    entries = list(entries)
    n = math.prod(e[0] for e in entries)
    if length is not None:
        n = min(n, length)
    blocks = [e[1] for e in entries]
    if not entries or not all(blocks):  # a block not known (None)
        return n, None
    gcd = math.gcd(*blocks)
    if length is not None:
        runs = sum(-(-length // b) for b in blocks) - (len(blocks) - 1)
        n = min(n, -(-length // gcd), runs)
    return n, gcd


def product(parts: Iterable[tuple[frozenset[int], Groups]], axes: frozenset[int],
            shape: tuple | None = None) -> Groups:
    """Bounds of a function of several parts, each (axes it varies along, its bounds):
    along an axis, the joint bound (:func:`joint`) of the parts varying along it, where all
    have one. ``shape`` (the result's) lets the joint count use the axis length."""
    parts = list(parts)
    out = []
    for a in sorted(axes):
        entries = []
        for along, groups in parts:
            if a in along:
                e = entry(groups, a)
                if e is None:
                    break
                entries.append(e)
        else:
            n, b = joint(entries, shape[a] if shape is not None and a < len(shape) else None)
            out.append((a, n, b if entries else None))
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
    """Bounds after an axis renumbering ``move`` (a dict or function of an axis; None: dropped).
    A joint bound is kept only when all its axes are."""
    get = move.get if isinstance(move, dict) else move
    out = []
    for a, n, b in groups:
        to = tuple(map(get, a)) if isinstance(a, tuple) else get(a)
        if isinstance(to, tuple):
            to = None if None in to else tuple(sorted(to))
        if to is not None:
            out.append((to, n, b))
    return tuple(sorted(out, key=_key))


def _key(item) -> tuple:
    return item[0] if isinstance(item[0], tuple) else (item[0],)


def reshaped(in_shape: tuple, out_shape: tuple, along: frozenset[int], groups: Groups) -> Groups:
    """Bounds after a reshape of a value (or level set) varying along ``along``.

    An output axis that is a run of whole input axes (a merge) depends on its
    coordinate only through theirs: its bound is the product of the bounds
    (or lengths) of those that vary. ``q.reshape(K // G, G, N) * s[:, None, :]``
    reshaped to ``(K, N)`` is bounded by ``K / G`` along ``K``, in aligned
    blocks of ``G``: the merged coordinate matters only down to the innermost
    varying axis (:func:`_merged_block`). An output axis that splits an input
    axis is left unbounded.
    """
    return _reshaped(tuple(in_shape), tuple(out_shape), along, groups)


@functools.lru_cache(maxsize=4096)
def _reshaped(in_shape, out_shape, along, groups) -> Groups:
    ins, outs = spans(in_shape), spans(out_shape)
    out = []
    for b, (t0, t1) in outs.items():
        touching = [a for a, (s0, s1) in ins.items() if s0 < t1 and t0 < s1]
        if any(not (t0 <= ins[a][0] and ins[a][1] <= t1) for a in touching):
            continue  # an input axis split across output axes: no bound
        varying = [a for a in touching if a in along]
        if not varying:
            continue
        n = math.prod((entry(groups, a) or (None,))[0] or in_shape[a] for a in varying)
        if n < out_shape[b]:
            out.append((b, n, _merged_block(in_shape, touching, max(varying), groups)))
    for a, (s0, s1) in ins.items():  # a bounded axis split across output axes: a joint bound on them
        e = entry(groups, a) if a in along else None
        parts = sorted(b for b, (t0, t1) in outs.items() if s0 < t1 and t0 < s1)
        if e and len(parts) > 1 and all(s0 <= outs[b][0] and outs[b][1] <= s1 for b in parts) \
                and e[0] < math.prod(out_shape[b] for b in parts):
            out.append((tuple(parts), e[0], None))
    return tuple(out)


def _merged_block(in_shape, touching, inner, groups) -> int:
    """The merged coordinate depends on the input ones only down to the innermost varying axis
    (the trailing ones are constant): aligned blocks of the trailing lengths, times the inner
    axis's own block where it tiles that axis exactly."""
    trailing = math.prod(in_shape[a] for a in touching if a > inner)
    e = entry(groups, inner)
    b = e[1] if e is not None else 1
    return trailing * (b if b and in_shape[inner] % b == 0 else 1)


#: Shape primitives that keep every axis where it is, with the same elements.
_SAME_AXES = frozenset(("copy", "copy_p", "stop_gradient", "reduce_precision", "sharding_constraint",
                        "device_put", "mesh_cast", "reshard", "optimization_barrier", "pvary"))
#: Shape primitives that keep every axis where it is, a part of it or reversed.
_PART_AXES = frozenset(("slice", "dynamic_slice", "rev", "split"))


def _part_groups(eqn, in_shape: tuple, groups: Groups) -> Groups:
    """Bounds after ``slice``/``dynamic_slice``/``rev``/``split``: a part of the coordinates
    takes no more groups; their blocks stay aligned only where the part starts on a block
    boundary (and a stride divides the block), or a reversal of whole blocks."""
    name, p = eqn.primitive.name, eqn.params

    def aligned(a, b):
        if not b:
            return None
        if name == "rev":
            return b if a not in p["dimensions"] or in_shape[a] % b == 0 else None
        if name == "split":  # one bound for every piece: each must start on a block boundary
            starts = [sum(p["sizes"][:i]) for i in range(len(p["sizes"]))]
            return b if a != p["axis"] or all(o % b == 0 for o in starts) else None
        if name == "dynamic_slice":  # a start not known: aligned only where the whole axis is kept
            return b if p["slice_sizes"][a] == in_shape[a] else None
        start, stride = p["start_indices"][a], (p.get("strides") or (1,) * len(in_shape))[a]
        return b // stride if start % b == 0 and b % stride == 0 else None
    return tuple((a, n, aligned(a, b)) for a, n, b in groups)


def shape_groups(eqn, in_shape: tuple, along: frozenset[int], groups: Groups) -> Groups:
    """Bounds of the output of a shape primitive whose input varies along ``along``."""
    name = eqn.primitive.name
    if name in _SAME_AXES:
        return groups
    if name in _PART_AXES:
        return _part_groups(eqn, in_shape, groups)
    if name == "reshape":
        return reshaped(in_shape, tuple(eqn.outvars[0].aval.shape), along, groups)
    if name == "tile":
        return _tiled(in_shape, eqn.params["reps"], along, groups)
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


def _tiled(in_shape, reps, along, groups) -> Groups:
    """``jnp.tile``: along a repeated axis the output at ``i`` is the input at ``i mod L``, a
    function of ``i`` with at most ``L`` values (or the input's bound); its aligned blocks stay
    aligned where they tile ``L``."""
    out = []
    for a in sorted(along):
        e = entry(groups, a)
        if reps[a] == 1:
            out += [(a, *e)] if e else []
            continue
        n, b = e or (in_shape[a], None)
        out.append((a, n, b if b and in_shape[a] % b == 0 else None))
    return tuple(out)


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


def along_entry(shape: tuple, groups: Groups, axis: int) -> tuple[int, int]:
    """(n, block) along ``axis`` of a set varying along it: a freely varying axis is ``length``
    groups in aligned blocks of one coordinate."""
    return entry(groups, axis) or (shape[axis], 1)


def count(shape: tuple, axis: int, groups: Groups) -> int:
    """Groups along one axis: its bound, or the aligned blocks it is cut into, or its length."""
    return joint([along_entry(shape, groups, axis)], shape[axis])[0]


def partitions(shape: tuple, along: frozenset[int], groups: Groups) -> int:
    """Groups over the axes ``along`` together: the product of their counts, where a joint
    bound on axes all in ``along`` counts for those axes at once."""
    left, total = set(along), 1
    for a, n, _ in groups:
        if isinstance(a, tuple) and left.issuperset(a):
            each = math.prod(count(shape, b, groups) for b in a)
            left.difference_update(a)
            total *= min(n, each)
    return total * math.prod(count(shape, a, groups) for a in left)
