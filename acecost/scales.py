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

from acecost.bits.levels import ceil_log2
from acecost.bits.value import Value


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
