"""Where an operand's scale varies along the contraction: the two conventions.

A quantized operand ``q * s`` costs the width of its codes ``q`` when its
scale ``s`` is constant along the contracting dimensions (it factors out of
the sum). When ``s`` varies along them the sum cannot be done on the codes
alone, and the default, ``scales="strict"``, prices the operand as float,
except where the scale can be applied to the other operand first at no
loss: that operand is float anyway (:func:`fold_scale`, the input gradient
``dy @ (q * s)^T`` of a per-output-channel quantized weight).
``scales="codes"`` prices every quantized operand by its codes, the
convention of tools that read widths from quantizer configs (AQT's reference
cost code, QKeras).
"""
from __future__ import annotations

import math

from acecost.engine.values.groups import along_entry, joint, partitions
from acecost.engine.values.levels import ceil_log2
from acecost.engine.values.value import Value, nontrivial_axes


def codes_bits(value: Value, contracting: frozenset[int], how: str) -> tuple[int, str, None]:
    """An operand priced by the levels of its codes, its scale along the contraction set aside."""
    lv = value.levels
    return (ceil_log2(lv.count), f"{lv.count} levels of its codes, its scale along contracting "
            f"dimension(s) {sorted(lv.axes & contracting)} {how}: {lv.why}", None)


def foldable_axes(eqn) -> tuple[frozenset[int], frozenset[int]]:
    """Axes of each operand along which a scale can move onto the other operand.

    A dot's contracting and batch dimensions pair element for element with
    the other operand's; a conv's feature dimensions do, its spatial ones do
    not (a tap meets a different input element at every output position).
    """
    if eqn.primitive.name == "dot_general":
        (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
        return frozenset(lc) | frozenset(lb), frozenset(rc) | frozenset(rb)
    if eqn.primitive.name == "conv_general_dilated":
        dn = eqn.params["dimension_numbers"]
        return frozenset([dn.lhs_spec[1]]), frozenset([dn.rhs_spec[1]])
    return frozenset(), frozenset()


def fold_scale(eqn, ins, c, bits):
    """Strict mode: a scale along the contraction folds into the other operand when that one is float.

    ``dy @ (q * s[k])^T`` is ``(dy * s[k]) @ q^T``: applying the scale to the
    float operand first is elementwise work, not width, so the quantized
    operand is priced by its codes. Only a scale on axes that pair element
    for element with the other operand (:func:`foldable_axes`) folds; when
    both operands could, the one with fewer levels does. ``bits`` are the
    two ``(bits, source, fallback reason)`` of ``Interpreter.operand_bits``.
    """
    if bits[0][2] is None or bits[1][2] is None:
        return bits  # an operand is not float: there is nothing to fold into
    if not (ins[0].levels.scaled or ins[1].levels.scaled):
        return bits  # neither holds codes times a scale (a float model: the common case)
    folds = [i for i, (value, axes) in enumerate(zip(ins, foldable_axes(eqn)))
             if value.levels.known and value.levels.tag is None and value.levels.scaled
             and value.levels.axes <= axes]
    if not folds:
        return bits
    i = min(folds, key=lambda k: ins[k].levels.count)
    out = list(bits)
    out[i] = codes_bits(ins[i], (c.lhs_contracting, c.rhs_contracting)[i],
                        "folded into the float other operand")
    return tuple(out)


def group_scales(eqn, ins, c, bits):
    """A level set that varies along the contraction only by groups is priced by its codes.

    ``x @ w`` with ``w[k, n] = q[k, n] * s[k // G, n]`` is
    ``sum_g s[g, n] * (sum_{k in g} x[m, k] q[k, n])``: each group's partial sum
    runs over one level set, and its scale (or zero point) is applied to it
    after the sum, as a per-channel scale is to the whole sum. The operands'
    sets together may take at most ``p`` sets along the contraction (the
    product of each one's groups, :func:`acecost.engine.values.groups.partitions`;
    fewer when both are cut into aligned blocks along a dimension,
    :func:`acecost.engine.values.groups.joint`),
    so there are at most ``p`` partial sums per output; this holds when
    they have at least 2 terms each on average (``2 p <= K``): a scale that
    differs at every ``k`` is a float operand. Under either ``--scales``;
    only for ``dot_general``, whose contracting dimensions pair one for one.
    """
    if eqn.primitive.name != "dot_general":
        return bits
    (lc, rc), _ = eqn.params["dimension_numbers"]
    terms = math.prod(ins[0].shape[a] for a in lc)
    found = []
    for i, (value, contracting) in enumerate(zip(ins, (c.lhs_contracting, c.rhs_contracting))):
        lv = value.levels
        if lv.count is None or lv.tag is not None or not lv.groups:
            continue
        along = lv.axes & contracting & nontrivial_axes(value.shape)
        if not along or ceil_log2(lv.count) >= bits[i][0]:
            continue
        found.append((i, partitions(value.shape, along, lv.groups), along))
    if not found:
        return bits
    if 2 * _together(ins, found, (lc, rc)) > terms:  # together too many: the one with fewer groups
        found = [min(found, key=lambda f: f[1])]
        if 2 * found[0][1] > terms:
            return bits
    out = list(bits)
    for i, n, along in found:
        lv = ins[i].levels
        out[i] = (ceil_log2(lv.count), f"{lv.count} levels of its codes in each of at most {n} groups "
                  f"along contracting dimension(s) {sorted(along)}, whose scale factors out of each "
                  f"group's partial sum: {lv.why}", None)
    return tuple(out)


def _together(ins, found, dims) -> int:
    """Partial sums of the found operands together: per pair of contracting dimensions the joint
    count of their groups there (:func:`acecost.engine.values.groups.joint`: one set of groups when both
    are cut into the same aligned blocks), multiplied over the pairs."""
    total = 1
    for pair in zip(*dims):
        entries = [along_entry(ins[i].shape, ins[i].levels.groups, pair[i])
                   for i, _, along in found if pair[i] in along]
        total *= joint(entries, ins[0].shape[pair[0]])[0] if entries else 1
    return total
