"""What a contraction's operand widths decide, in one place for the walk and for re-pricing.

The walk (:mod:`acecost.engine.contraction`) proves each operand's *natural*
width, the one it has before ``--float-bits`` caps it and ``--bits``
overrides it. Everything that follows from the widths is computed here, by
the same functions when the walk prices a contraction and when
:mod:`acecost.report.reprice` prices a walked report again under other
overrides or another ``float_bits``: the cap (:func:`capped`), the overrides
(:func:`overridden`), the record's width fields (:func:`price_record`), its
warnings (:func:`side_warnings`) and the parameter widths it implies
(:func:`param_use`). Imports no jax (numpy only).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

from acecost.engine.names import LayerText, Site, aliases, user_layer_name
from acecost.engine.values.levels import STORAGE_WIDTH
from acecost.report.traffic import held_width, memory_traffic
from acecost.report.model import FLOAT_WIDTH_SOURCE, OVERRIDE_SOURCE, BitsOrigin, FallbackCause, OpRecord


class Width(NamedTuple):
    """An operand's width and the facts behind it.

    Its first three items are the ``(bits, source, fallback reason or None)``
    that :mod:`acecost.engine.scales` reads and writes; a plain triple from
    there prices an operand by its codes (``ContractionPricing.facts``).
    """

    bits: int
    source: str
    reason: str | None
    origin: BitsOrigin
    cause: FallbackCause | None = None
    #: the source's account is an integer parameter's storage width (a warning says so)
    stored: bool = False
    #: one level per row of the contraction (``contraction.ZERO_POINT_SOURCE``)
    zero_point: bool = False


@dataclass(frozen=True)
class Side:
    """One operand of a walked contraction, as re-pricing needs it (kept out of JSON).

    ``natural`` is its width before the float cap and any override, at the
    walk's ``float_bits``; the rest says how ``float_bits`` and the width
    reach the report: the operand's dtype (a fallback's width), a declared
    tag (never capped), the parameter it reads (size) and its warnings' text.
    """

    side: str  #: "lhs" or "rhs"
    natural: Width
    dtype_bits: int
    complex: bool
    tagged: bool
    #: the parameter the operand is (size: ``use_param(param, bits)``), or None
    param: str | None
    #: (parameter, k, storage bits) of an integer parameter unpacked k values per element, or None
    packed: tuple[str, int, int] | None
    shape: tuple[int, ...]
    #: the natural width was decided by comparing a width with a float's (group-wise scales
    #: against a fallback): another ``float_bits`` needs a new walk, not a re-price
    float_decided: bool = False
    #: bits one element occupies in memory (its dtype's storage width): a float operand's held width
    storage: int = 0


def float_width(float_bits: int | str, dtype_bits: int, complex_: bool) -> int:
    """The width of a float operand of ``dtype_bits`` under ``--float-bits``."""
    if float_bits != "dtype":
        return int(float_bits)
    return dtype_bits // 2 if complex_ else dtype_bits  # complex: the real multiplies on each part


def cap(bits: Width, width: int, tagged: bool) -> Width:
    """An operand is never priced wider than a float (``width``); a declared width stays
    (see ``ContractionPricing.no_wider_than_float``)."""
    b, src, reason = bits[:3]
    if b <= width or reason is not None or tagged:
        return bits
    return Width(width, f"{FLOAT_WIDTH_SOURCE} {width}, fewer than the {b} bits of its {src}", None,
                 BitsOrigin.FLOAT_WIDTH, stored=bits.stored)


def natural_at(side: Side, float_bits: int | str) -> Width:
    """``side``'s natural width under ``float_bits``: a fallback is as wide as a float."""
    nat = side.natural
    if nat.origin is BitsOrigin.FLOAT_FALLBACK:
        width = float_width(float_bits, side.dtype_bits, side.complex)
        return nat if width == nat.bits else nat._replace(bits=width)
    return nat


def capped(side: Side, float_bits: int | str) -> Width:
    """``side``'s width under ``float_bits``, before any override."""
    return cap(natural_at(side, float_bits), float_width(float_bits, side.dtype_bits, side.complex), side.tagged)


def names_of(site: Site) -> tuple[str, ...]:
    """Every name a ``--bits`` pattern may pick the contraction at ``site`` by."""
    return (*aliases(site), *aliases(site._replace(base=user_layer_name(site.base))))


@functools.lru_cache(maxsize=4096)
def override_width(pattern, bits: int) -> Width:
    return Width(bits, f"{OVERRIDE_SOURCE} {pattern.pattern}", None, BitsOrigin.OVERRIDE)


def overridden(matches, a: Width, w: Width) -> tuple[Width, Width]:
    """``a``/``w`` after the overrides that match, in order (the last one wins per side).

    ``matches``: the ``(pattern, a_bits, w_bits)`` that pick this contraction.
    """
    for pattern, a_bits, w_bits in matches:
        if a_bits is not None:
            a = override_width(pattern, a_bits)
        if w_bits is not None:
            w = override_width(pattern, w_bits)
    return a, w


def price_record(record: OpRecord, a: Width, w: Width) -> OpRecord:
    """Set every field of ``record`` that follows from its operand widths (in place; returns it).

    The one place for them: the walk and re-pricing both call it, so a new
    width-dependent field is added here alone.
    """
    record.bits_a, record.bits_w = a.bits, w.bits
    record.bits_a_source, record.bits_w_source = a.source, w.source
    record.ace = record.macs * a.bits * w.bits
    record.binary = a.bits == 1 and w.bits == 1
    record.bits_a_origin, record.bits_w_origin = a.origin, w.origin
    record.bits_a_cause, record.bits_w_cause = a.cause, w.cause
    if record.sides is not None:  # memory traffic at the widths the operands hold
        by_side = {side.side: held_width(priced.origin, priced.bits, side.storage, side.natural.bits)
                   for side, priced in zip(record.sides, (a, w))}
        record.held_bits = (by_side["lhs"], by_side["rhs"], record.held_bits[2])
        read, write = memory_traffic(record.lhs_shape, record.rhs_shape, record.out_shape, *record.held_bits)
        record.read_bits, record.write_bits = read * record.multiplier, write * record.multiplier
    return record


def held_bits(priced: Width, side: Side, float_bits: int | str) -> int:
    """The width an operand is stored at: its proven width even where it is multiplied as a float."""
    return natural_at(side, float_bits).bits if priced.origin is BitsOrigin.FLOAT_WIDTH else priced.bits


def param_use(side: Side, b: int) -> tuple[str, int] | None:
    """(parameter, bits it is stored at) when the operand reads one at ``b`` bits."""
    if side.param:
        return side.param, b
    if side.packed is not None:
        path, k, storage = side.packed
        return path, min(storage, b * k)
    return None


def side_warnings(site: Site, phase: str, prim: str, side: Side, priced: Width, b: int,
                  hidden: bool = False) -> list[LayerText]:
    """The warnings about one operand priced at ``priced`` (stored at ``b`` bits).

    ``hidden``: an override replaced the operand; the warnings are kept (so a
    re-price without that override shows them where the walk would) but not shown.
    """
    out = []
    if priced.stored:
        out.append(LayerText(
            site, phase,
            f": {side.side} operand of {prim} is an integer parameter {STORAGE_WIDTH} "
            f"({b} bits); nothing declares fewer. If it holds fewer levels (e.g. AQT "
            f"2- or 3-bit weights frozen in int8), pass --bits '", "=,N'.", side=side.side, hidden=hidden))
    if priced.reason:
        # codes times a scale that varies along the contraction (XNOR-Net's per-position
        # activation scale): --scales codes prices the codes, the fix most users want
        codes = "Price its codes with --scales codes, or tag" \
            if priced.cause is FallbackCause.SCALE_VARIES else "Tag"
        out.append(LayerText(
            site, phase,
            f": {side.side} operand of {prim} {list(side.shape)} counted as {b}-bit float: {priced.reason}. "
            f"{codes} it with acecost.tag(x, bits=N) or pass --bits '", "=A,W'.", kind="float_fallback",
            side=side.side, hidden=hidden))
    return out
