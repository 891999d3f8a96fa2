"""Multiply-accumulate counts of the contracting primitives.

Only ``dot_general`` and ``conv_general_dilated`` produce MACs (metrics.md).
Padded and dilated-in taps of a convolution are counted: every output
position does a full kernel's work, the PokeBNN reference convention.
XLA's cost analysis skips padded taps instead.
"""
from __future__ import annotations

from math import prod
from typing import Callable, NamedTuple


class Contraction(NamedTuple):
    """What a contracting primitive does, in the terms cost and bits need."""

    macs: int
    lhs_contracting: frozenset[int]
    rhs_contracting: frozenset[int]


def dot_general(eqn) -> Contraction:
    lhs, rhs = eqn.invars[0].aval.shape, eqn.invars[1].aval.shape
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    # every lhs element meets every free rhs element of its batch: lhs size x rhs free size
    rhs_fixed = set(rc) | set(rb)
    rhs_free = prod([d for i, d in enumerate(rhs) if i not in rhs_fixed])
    return Contraction(prod(lhs) * rhs_free, frozenset(lc), frozenset(rc))


def conv_general_dilated(eqn) -> Contraction:
    """Output elements x kernel taps x input features per group."""
    rhs = eqn.invars[1].aval.shape
    out = eqn.outvars[0].aval.shape
    dn = eqn.params["dimension_numbers"]
    lhs_spec, rhs_spec = dn.lhs_spec, dn.rhs_spec
    rhs_spatial = rhs_spec[2:]
    taps = prod(rhs[d] for d in rhs_spatial)
    macs = prod(out) * taps * rhs[rhs_spec[1]]
    return Contraction(
        macs,
        lhs_contracting=frozenset([lhs_spec[1], *lhs_spec[2:]]),
        rhs_contracting=frozenset([rhs_spec[1], *rhs_spatial]),
    )


MAC_RULES: dict[str, Callable[[object], Contraction]] = {
    "dot_general": dot_general,
    "conv_general_dilated": conv_general_dilated,
}
