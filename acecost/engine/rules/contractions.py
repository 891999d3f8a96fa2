"""The contraction family: dot_general, ragged dots and convolutions.

Their MAC counts (``MAC_RULES``) and their outputs' bit rule sit here; the
walker prices each contraction's operands in :mod:`acecost.engine.contraction`.

``dot_general``, ``ragged_dot_general`` and ``conv_general_dilated``
produce MACs (metrics.md). Padded taps of a convolution are counted: every
output position does a full kernel's work, the PokeBNN reference convention
(XLA's cost analysis skips padded taps). The zeros an input dilation inserts
are not counted. A MAC of complex operands is 4 real MACs. A ``dot_general``
with no contracting dimension is no contraction: its rule returns None and
the walker prices it as elementwise products.
"""
from __future__ import annotations

import functools
from math import prod
from typing import Callable, NamedTuple

import numpy as np

from acecost.engine.rules.common import MUL, bounds_of, interval_of
from acecost.engine.rules.counts import out_elements
from acecost.engine.rules.elementwise import mul_rule
from acecost.engine.rules.reductions import sum_range
from acecost.engine.rules.registry import count_as, rule
from acecost.engine.values.axes import product_axes
from acecost.engine.values.groups import moved as moved_groups
from acecost.engine.values.levels import Levels, is_integer_dtype, unknown
from acecost.report.model import FallbackCause


class Contraction(NamedTuple):
    """What a contracting primitive does, in the terms cost and bits need."""

    macs: int
    lhs_contracting: frozenset[int]
    rhs_contracting: frozenset[int]


def real_products(eqn) -> int:
    return _real_products(eqn.invars[0].aval.dtype, eqn.invars[1].aval.dtype)


@functools.lru_cache(maxsize=None)
def _real_products(lhs_dtype, rhs_dtype) -> int:
    """Real multiplies per MAC: 4 for complex operands ((a+bi)(c+di) has four)."""
    complex_ = np.issubdtype(lhs_dtype, np.complexfloating) or np.issubdtype(rhs_dtype, np.complexfloating)
    return 4 if complex_ else 1


def _lhs_times_rhs_free(eqn, dimension_numbers, rhs_group=()) -> Contraction | None:
    """Every lhs element meets every free rhs element of its batch (and of its group, if ragged)."""
    lhs, rhs = eqn.invars[0].aval, eqn.invars[1].aval
    return _products(tuple(lhs.shape), tuple(rhs.shape), dimension_numbers, tuple(rhs_group),
                     lhs.dtype, rhs.dtype)


@functools.lru_cache(maxsize=4096)
def _products(lhs, rhs, dimension_numbers, rhs_group, lhs_dtype, rhs_dtype) -> Contraction | None:
    """Of shapes alone: a model repeats the same few contractions, so each is worked out once."""
    (lc, rc), (_, rb) = dimension_numbers
    if not lc:
        return None  # products only: elementwise work
    rhs_fixed = set(rc) | set(rb) | set(rhs_group)
    rhs_free = prod([d for i, d in enumerate(rhs) if i not in rhs_fixed])
    return Contraction(prod(lhs) * rhs_free * _real_products(lhs_dtype, rhs_dtype), frozenset(lc), frozenset(rc))


def dot_general(eqn) -> Contraction | None:
    return _lhs_times_rhs_free(eqn, eqn.params["dimension_numbers"])


def ragged_dot_general(eqn) -> Contraction | None:
    """MoE grouped matmul: each lhs row meets one group's matrix, so M x K rows on E K x N experts is M*K*N.

    The same holds when the ragged dimension is the contracting one (each k
    belongs to one group's output) or a batch dimension.
    """
    dn = eqn.params.get("ragged_dot_dimension_numbers")
    if dn is None:  # ``ragged_dot``: lhs [m, k], rhs [groups, k, n]
        return _lhs_times_rhs_free(eqn, (((1,), (1,)), ((), ())), rhs_group=(0,))
    return _lhs_times_rhs_free(eqn, dn.dot_dimension_numbers, rhs_group=dn.rhs_group_dimensions)


def conv_general_dilated(eqn) -> Contraction:
    """Output feature work x the taps each spatial dimension does.

    Without input dilation, every output position does a full kernel's taps
    (padded ones included). With it (a transposed conv, the input gradient
    of a strided conv) the zeros the dilation inserts are not work: see
    :func:`dilated_taps`.
    """
    rhs = eqn.invars[1].aval.shape
    out = eqn.outvars[0].aval.shape
    p = eqn.params
    dn = p["dimension_numbers"]
    lhs_spec, rhs_spec, out_spec = dn.lhs_spec, dn.rhs_spec, dn.out_spec
    rhs_spatial = rhs_spec[2:]
    lhs_shape = eqn.invars[0].aval.shape
    taps = 1
    for i, (kd, od, ld) in enumerate(zip(rhs_spatial, out_spec[2:], lhs_spec[2:])):
        k, n_out = rhs[kd], out[od]
        dilation = p["lhs_dilation"][i] if p.get("lhs_dilation") else 1
        if dilation == 1:
            taps *= n_out * k
        else:
            taps *= dilated_taps(lhs_shape[ld], n_out, k, p["window_strides"][i],
                                 p["rhs_dilation"][i] if p.get("rhs_dilation") else 1,
                                 dilation, p["padding"][i][0])
    # batch x output features of the output, times the input features each reads
    macs = out[out_spec[0]] * out[out_spec[1]] * taps * rhs[rhs_spec[1]] * real_products(eqn)
    return Contraction(
        macs,
        lhs_contracting=frozenset([lhs_spec[1], *lhs_spec[2:]]),
        rhs_contracting=frozenset([rhs_spec[1], *rhs_spatial]),
    )


def dilated_taps(n_in: int, n_out: int, k: int, stride: int, rhs_dil: int, lhs_dil: int, pad_lo: int) -> int:
    """(position, tap) products of one input-dilated spatial dimension: the fewer of two forms.

    Scatter form: each real input element times each tap whose product lands
    on the output grid, also where the padding crops it (the Keras
    convention: a transposed conv is ``inputs x taps``). Direct form: each
    output position times each tap that falls on the dilation lattice,
    padding included (today's padded-tap count, minus the inserted zeros).
    Both count every real product; a transposed conv's scatter form is the
    smaller, the weight gradient of one (whose "kernel" is the large output
    cotangent, mostly cropped) has the smaller direct form.
    """
    scatter = sum(_on_grid(n_in, lhs_dil, pad_lo - t * rhs_dil, stride) for t in range(k))
    direct = sum(_on_grid(n_out, stride, t * rhs_dil - pad_lo, lhs_dil) for t in range(k))
    return min(scatter, direct)


def _on_grid(n: int, step: int, offset: int, modulus: int) -> int:
    """How many ``j`` in ``[0, n)`` have ``offset + j * step`` divisible by ``modulus``."""
    return sum((n - r + modulus - 1) // modulus
               for r in range(min(n, modulus)) if (offset + r * step) % modulus == 0)


MAC_RULES: dict[str, Callable[[object], Contraction | None]] = {
    "dot_general": dot_general,
    "ragged_dot_general": ragged_dot_general,
    "ragged_dot": ragged_dot_general,
    "conv_general_dilated": conv_general_dilated,
}


# ---------------------------------------------------------------- bits and costs

def sum_of_products(eqn, scope: str) -> Levels:
    """The output of a contraction of operands that are not both bounded integers: no level structure."""
    return unknown(f"output of `{eqn.primitive.name}` at {scope or 'top level'} "
                   "(a sum of products has no level structure)", cause=FallbackCause.DOT_OUTPUT)


@rule("dot_general", "conv_general_dilated", "ragged_dot_general", "ragged_dot")
def _contraction(eqn, ins, scope):
    maps = product_axes(eqn)
    if maps is not None:  # products only: combined like ``mul``, each operand's axes moved to the output's
        moved = [v.with_(levels=v.levels.with_(axes=frozenset(m[a] for a in v.levels.axes),
                                               groups=moved_groups(v.levels.groups, m)),
                         vary=frozenset(m[a] for a in v.vary), groups=moved_groups(v.groups, m))
                 for m, v in zip(maps, ins)]
        return mul_rule(eqn, moved, scope)
    lhs, rhs = ins[0], ins[1]
    if not (is_integer_dtype(eqn.outvars[0].aval.dtype) and lhs.levels.integral and rhs.levels.integral):
        return sum_of_products(eqn, scope)
    lo, hi = interval_of(MUL, bounds_of(lhs), bounds_of(rhs))
    out = eqn.outvars[0].aval
    if eqn.primitive.name == "dot_general":
        terms = MAC_RULES["dot_general"](eqn).macs // max(1, prod(out.shape))
    else:  # at most the kernel's taps x input features of a group per output
        terms = rhs.size // rhs.shape[eqn.params["dimension_numbers"].rhs_spec[0]]
    return sum_of_products(eqn, scope).with_(**sum_range(lo, hi, terms, out.dtype))


# reached only by a dot_general that contracts nothing: one multiply per output element
count_as("arithmetic", out_elements, "dot_general")
