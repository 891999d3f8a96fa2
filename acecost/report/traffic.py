"""Memory traffic in bits: what a contraction reads and writes, at the widths its values hold.

Bits, not bytes, so that sub-byte widths are exact (a 4-bit weight moves
4 bits per element). Two pure functions of shapes and widths, so the engine
and anything that re-prices a record's widths compute traffic the same way
(see docs/metrics.md, "Memory traffic").
"""
from __future__ import annotations

import functools
from math import prod
from typing import Sequence

import numpy as np

from acecost.engine.values.levels import dtype_bits
from acecost.report.model import BitsOrigin


def elements(shape: Sequence[int]) -> int:
    """How many elements a shape holds (its dimensions may be numpy integers)."""
    return prod(map(int, shape))


def memory_traffic(lhs_shape: Sequence[int], rhs_shape: Sequence[int], out_shape: Sequence[int],
                   lhs_bits: int, rhs_bits: int, out_bits: int) -> tuple[int, int]:
    """``(read_bits, write_bits)`` of one execution of a contraction: each operand read once
    at its held width, the output written once at its own."""
    return (elements(lhs_shape) * lhs_bits + elements(rhs_shape) * rhs_bits,
            elements(out_shape) * out_bits)


def held_width(origin: BitsOrigin, priced: int, storage: int, proven: int | None = None) -> int:
    """The width an operand holds in memory, from the width it is multiplied at.

    Proven levels, a declared width (``acecost.tag``) and an override (``--bits``)
    are held at that width, as size counts them. An operand multiplied as a float for
    lack of evidence is held at its dtype's ``storage`` width (float32 32, bfloat16 16),
    whatever ``--float-bits`` says. One whose proven levels need more bits than a float
    (FLOAT_WIDTH) holds those ``proven`` bits.
    """
    if origin is BitsOrigin.FLOAT_FALLBACK:
        return storage
    if origin is BitsOrigin.FLOAT_WIDTH and proven is not None:
        return proven
    return priced


@functools.lru_cache(maxsize=64)
def storage_bits(dtype) -> int:
    """Bits one element of ``dtype`` occupies in memory: its width (int4 4, bfloat16 16), but a
    bool takes the byte XLA stores it in."""
    try:
        return 8 if np.dtype(dtype) == np.bool_ else dtype_bits(dtype)
    except TypeError:  # an extended dtype (a PRNG key): what its representation occupies
        return 8 * int(getattr(dtype, "itemsize", 0) or 0)


def equation_bits(eqn) -> int:
    """Bits an equation's operands and results occupy, each at its storage width (tokens and
    other values without a shape: 0). Called for every equation of a walk: plain loops, a
    per-dtype cache."""
    total = 0
    widths = _WIDTHS
    for group in (eqn.invars, eqn.outvars):
        for var in group:
            aval = var.aval
            try:
                total += prod(aval.shape) * widths[aval.dtype]
            except KeyError:
                total += _first_bits(aval)
            except AttributeError:  # a token, or another value without a shape
                pass
    return total


def _first_bits(aval) -> int:
    widths = _WIDTHS[aval.dtype] = storage_bits(aval.dtype)
    return prod(aval.shape) * widths


_WIDTHS: dict = {}


def memory_totals(records, moved_bits: int) -> dict:
    """``memory_bits``: what the contraction records read and write (elementwise work fused
    into them); ``memory_bits_unfused``: that and ``moved_bits``, every other equation's operands
    and results. None if a record does not know its traffic (loaded from older JSON)."""
    if any(r.read_bits is None or r.write_bits is None for r in records):
        return {"memory_bits": None, "memory_bits_unfused": None}
    fused = sum(r.read_bits + r.write_bits for r in records)
    return {"memory_bits": fused, "memory_bits_unfused": fused + moved_bits}
