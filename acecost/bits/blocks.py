"""Scale factors: a quantized factor read as a scale, and block scales (a level set that varies
along an axis only from one aligned block to the next).

MX and NVFP4 operands are fp4 codes times one scale per block of 32 (16)
consecutive elements of the contraction. JAX code writes them as
``(q.reshape(..., K // 32, 32) * s[..., None]).reshape(..., K)``: at the
product the scale varies along the ``K // 32`` axis only, and the reshape
merges it with the block axis. ``Levels.blocks`` records what the merge
would otherwise lose: ``(axis, g)`` says the level set changes along
``axis`` only between aligned blocks of ``g`` elements (the entry means
something only while ``axis`` is in ``Levels.axes``).

Why it prices the codes: ``sum_k a[k] w[k] = sum_b s[b] sum_{k in b} q[k] w[k]``;
each block's partial sum runs on the codes and one multiply per block
applies the scale (:func:`blocked_contracting`). It is the same argument as
a per-output-channel scale, one block at a time.

Only the primitives in :data:`BLOCK_RULES` carry entries; any other
equation's output drops them (:func:`propagate`), so an entry is never
read against axes that moved under it.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

from acecost.bits.axes import axis_map
from acecost.bits.levels import Levels, with_flat
from acecost.bits.value import Value

Blocks = tuple[tuple[int, int], ...]


def granule_of(axes, blocks: Blocks, axis: int, length: int) -> int:
    """Elements along ``axis`` over which a set (levels, or the value itself) is constant: the
    axis's length if it does not vary along it, its block size if blocked, else 1."""
    if axis not in axes:
        return length
    for a, g in blocks:
        if a == axis:
            return g
    return 1


def granule(lv: Levels, axis: int, length: int) -> int:
    return granule_of(lv.axes, lv.blocks, axis, length)


def vary_granule(v: Value, axis: int) -> int:
    return granule_of(v.vary, v.vary_blocks, axis, v.shape[axis])


def _entries(axes, entries) -> Blocks:
    """The entries that say something: 1 < g, on an axis that varies."""
    return tuple(sorted((a, g) for a, g in entries if g > 1 and a in axes))


def _keep(lv: Levels, entries) -> Levels:
    blocks = _entries(lv.axes, entries)
    return lv if blocks == lv.blocks else lv._replace(blocks=blocks)


def _same_shape(eqn, ins, lv):
    same = ins and ins[0].shape == tuple(eqn.outvars[0].aval.shape)
    return _keep(lv, ins[0].levels.blocks if same else ())


def _moved_entries(eqn, axes, blocks) -> list:
    """transpose / broadcast_in_dim / squeeze / expand_dims: each entry follows its axis."""
    move = axis_map(eqn)
    entries = []
    for a, g in blocks:
        if a in axes:
            dst = move(frozenset([a]))
            if len(dst) == 1:
                entries.append((next(iter(dst)), g))
    return entries


def _moved(eqn, ins, lv):
    return _keep(lv, _moved_entries(eqn, ins[0].levels.axes, ins[0].levels.blocks))


def is_scale_factor(v: Value, spread: frozenset) -> bool:
    """A factor that is constant where the others vary: along some axis it does not vary at all,
    or only from block to block (``jnp.repeat(s, 32, axis=-1)``)."""
    return v.vary != spread or bool(v.vary_blocks)


def scale_reading(ins: Sequence[Value], evidence: Sequence[Value], whole: int, scope: str) -> Levels | None:
    """A product whose quantized factors include one constant along some axes the others vary
    along (an fp8 block scale broadcast over its block, a power-of-two per-channel scale): that
    factor is also a scale, one value at each position. Per position the product then takes the
    other factors' levels, a set varying along the scale's ``vary``; the product of all counts
    (``whole``, one set everywhere) stays as the whole-tensor bound."""
    spread = frozenset().union(*(v.vary for v in ins))
    codes = [v for v in evidence if not is_scale_factor(v, spread)]
    scales = [v for v in evidence if is_scale_factor(v, spread)]
    if not codes or not scales:
        return None
    count = math.prod(v.levels.count for v in codes)
    axes = frozenset().union(*(v.levels.axes for v in codes), *(v.vary for v in scales),
                             *(v.vary for v in ins if not v.levels.known))
    why = codes[0].levels.why if len(codes) == 1 else f"product of {len(codes)} quantized values"
    lv = Levels(count=count, axes=axes, why=f"{why}, scaled at {scope or 'top level'}",
                scaled=all(v.levels.scaled or not v.levels.axes for v in codes))
    return with_flat(lv, whole)


def _elementwise(eqn, ins: Sequence[Value], lv):
    """An elementwise op's level set varies along an axis where some operand's level set does, or
    the value of an operand read as a scale (no proven levels, or ``combine``'s scale reading):
    constant on the blocks common to all of them (gcd)."""
    out_shape = tuple(eqn.outvars[0].aval.shape)
    spread = frozenset().union(*(v.vary for v in ins))
    entries = []
    for o in lv.axes:
        g = out_shape[o]
        for v in ins:
            if v.levels.const or not v.vary:
                continue  # one value everywhere: no constraint
            if v.shape != out_shape:
                g = 1
            elif v.levels.known and o in v.levels.axes:
                g = math.gcd(g, granule(v.levels, o, out_shape[o]))
            elif o in v.vary and (not v.levels.known or is_scale_factor(v, spread)):
                g = math.gcd(g, vary_granule(v, o))
        entries.append((o, g))
    return _keep(lv, entries)


def _reshape_entries(in_shape, out_shape, axes, blocks, out_axes) -> list:
    """Where a reshape puts a set's blocks: an output axis that merges consecutive input axes is
    constant over the constant fastest ones times the first varying one's block; one split out of
    a single input axis is constant over the part of that axis's block it spans."""
    in_spans, out_spans = _spans(in_shape), _spans(out_shape)
    entries = []
    for o in out_axes:
        if o not in out_spans:
            continue
        t0, t1 = out_spans[o]
        inside = [a for a, (s0, s1) in in_spans.items() if t0 <= s0 and s1 <= t1]
        covering = [a for a, (s0, s1) in in_spans.items() if s0 <= t0 and t1 <= s1]
        if inside and _covers(inside, in_spans, t0, t1):  # a merge of consecutive input axes
            g = 1
            for a in sorted(inside, reverse=True):  # from the fastest
                ga = granule_of(axes, blocks, a, in_shape[a])
                g *= ga
                if ga != in_shape[a]:
                    break
            entries.append((o, g))
        elif len(covering) == 1:  # a split of one input axis
            a = covering[0]
            ga = granule_of(axes, blocks, a, in_shape[a])
            stride = t0 // in_spans[a][0]  # o's stride in units of a's elements
            if ga % (stride * out_shape[o]) == 0:
                entries.append((o, out_shape[o]))  # constant along o
            elif ga % stride == 0 and out_shape[o] % (ga // stride) == 0:
                entries.append((o, ga // stride))
    return entries


def _reshape(eqn, ins, lv):
    src = ins[0].levels
    return _keep(lv, _reshape_entries(tuple(eqn.invars[0].aval.shape), tuple(eqn.outvars[0].aval.shape),
                                      src.axes, src.blocks, lv.axes))


def _spans(shape) -> dict[int, tuple[int, int]]:
    out, stride = {}, 1
    for i in reversed(range(len(shape))):
        if shape[i] != 1:
            out[i] = (stride, stride * shape[i])
        stride *= shape[i]
    return out


def _covers(axes, spans, t0, t1) -> bool:
    """The input axes' spans tile exactly [t0, t1) (consecutive, no gap)."""
    edge = t0
    for a in sorted(axes, reverse=True):
        s0, s1 = spans[a]
        if s0 != edge:
            return False
        edge = s1
    return edge == t1


_MOVES = ("transpose", "broadcast_in_dim", "squeeze", "expand_dims")
_SAME = ("convert_element_type", "copy", "copy_p", "stop_gradient", "reduce_precision", "optimization_barrier",
         "neg")
_ELEMENTWISE = ("mul", "div", "add", "sub")

BLOCK_RULES: dict[str, Callable] = {
    "reshape": _reshape, **{n: _moved for n in _MOVES}, **{n: _same_shape for n in _SAME},
    **{n: _elementwise for n in _ELEMENTWISE},
}


def propagate(eqn, ins: Sequence[Value], lv: Levels) -> Levels:
    """The output's block entries: by :data:`BLOCK_RULES`, or none."""
    fn = BLOCK_RULES.get(eqn.primitive.name)
    if fn is None or not lv.axes:
        return lv._replace(blocks=()) if lv.blocks else lv
    return fn(eqn, ins, lv)


def vary_blocks(eqn, ins: Sequence[Value], out_shape, vary) -> Blocks:
    """The output value's own blocks (``Value.vary_blocks``): a scale repeated over blocks
    (``jnp.repeat(s, 32, axis=-1)``: a broadcast, then a reshape merging it) is constant on them."""
    name = eqn.primitive.name
    if not ins or not vary:
        return ()
    src = ins[0]
    if name == "reshape":
        return _entries(vary, _reshape_entries(src.shape, tuple(out_shape), src.vary, src.vary_blocks, vary))
    if name in _MOVES:
        return _entries(vary, _moved_entries(eqn, src.vary, src.vary_blocks))
    if name in _SAME or name in _ELEMENTWISE:
        entries = []
        for o in vary:
            g = out_shape[o]
            for v in ins:
                if o in v.vary:
                    g = math.gcd(g, vary_granule(v, o)) if v.shape == tuple(out_shape) else 1
            entries.append((o, g))
        return _entries(vary, entries)
    return ()


def blocked_contracting(lv: Levels, contracting: frozenset[int], shape) -> bool:
    """Whether every contracting axis the level set varies along varies only between blocks:
    the contraction is then a sum of per-block partial sums, each on the codes."""
    varying = lv.axes & contracting
    return bool(varying) and all(1 < granule(lv, a, shape[a]) for a in varying)
