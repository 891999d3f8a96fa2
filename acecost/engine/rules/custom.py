"""``acecost.register_primitive``: price a primitive acecost does not know.

A model may use a primitive of its own (a custom kernel, a library's fused
op) that no rule table names: the walk then lists it as unsupported and the
totals are incomplete. Registering it fills the same tables a built-in
family fills:

- ``macs=fn`` makes it a contraction of two of its operands (``operands``,
  the activation and weight sides are found as for a dot): ``fn(eqn)`` gives
  its MACs, the operands' bits are inferred as for a ``dot_general``, and
  its output is a sum of products (no level structure);
- ``elementwise=fn`` makes it elementwise work: ``fn(eqn)`` operations in
  ``category``, its output levels those of any elementwise function of its
  inputs.

The contracting axes of a registered contraction are unknown to acecost
unless ``contracting=fn`` gives them (``fn(eqn) -> (lhs axes, rhs axes)``);
without it every axis is taken as contracting, so a scale that varies along
any axis falls back to float unless ``--scales codes`` is given: the safe
side (fvcore's ``set_op_handle`` works the same way, one handle per op).
"""
from __future__ import annotations

from typing import Callable

from acecost.engine.rules.common import combine
from acecost.engine.rules.contractions import MAC_RULES, Contraction, sum_of_products
from acecost.engine.rules.counts import register_category
from acecost.engine.rules.registry import BIT_RULES, CONTRACTION_OPERANDS

#: Categories elementwise work is reported in (``elementwise_ops`` by category).
CATEGORIES = ("arithmetic", "transcendental", "compare_select", "quantize", "convert", "integer",
              "reduction", "pooling", "rng", "sort", "scatter")


def _name(primitive) -> str:
    name = getattr(primitive, "name", primitive)
    if not isinstance(name, str) or not name:
        raise TypeError(f"register_primitive expects a jax Primitive or its name, got {primitive!r}")
    return name


def _operands(operands) -> tuple[int, int]:
    if (not isinstance(operands, (tuple, list)) or len(operands) != 2
            or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in operands)
            or operands[0] == operands[1]):
        raise ValueError(f"operands must be two different input positions, e.g. (0, 1); got {operands!r}")
    return int(operands[0]), int(operands[1])


def _macs_rule(name: str, macs: Callable, contracting: Callable | None, operands: tuple[int, int]):
    def rule(eqn) -> Contraction:
        count = macs(eqn)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"the macs function registered for `{name}` returned {count!r}; "
                             "expected a non-negative int")
        if contracting is not None:
            lhs_axes, rhs_axes = contracting(eqn)
        else:  # unknown: every axis, the safe side for scales
            lhs_axes, rhs_axes = (range(len(eqn.invars[i].aval.shape)) for i in operands)
        return Contraction(count, frozenset(lhs_axes), frozenset(rhs_axes))

    return rule


def register_primitive(primitive, *, operands=(0, 1), macs: Callable | None = None,
                       elementwise: Callable | None = None, category: str = "arithmetic",
                       contracting: Callable | None = None) -> None:
    """Price ``primitive`` (a jax Primitive or its name): a contraction (``macs=fn``) or elementwise work.

    ``fn(eqn)`` receives the jaxpr equation (``eqn.invars[i].aval.shape``,
    ``eqn.params``) and returns an int. Registering a name again replaces
    its rules; a built-in primitive cannot be re-registered.
    """
    name = _name(primitive)
    if (macs is None) == (elementwise is None):
        raise ValueError("give exactly one of macs=fn (a contraction) or elementwise=fn (elementwise work)")
    if name in _built_in():
        raise ValueError(f"`{name}` is a built-in primitive acecost already prices")
    fn = macs if macs is not None else elementwise
    if not callable(fn) or (contracting is not None and not callable(contracting)):
        raise TypeError("macs, elementwise and contracting must be functions of the equation")
    if macs is not None:
        pair = _operands(operands)
        MAC_RULES[name] = _macs_rule(name, macs, contracting, pair)
        CONTRACTION_OPERANDS[name] = pair
        BIT_RULES[name] = lambda eqn, ins, scope: sum_of_products(eqn, scope)
        register_category(name, None)
    else:
        if category not in CATEGORIES:
            raise ValueError(f"unknown category {category!r}: use one of {', '.join(CATEGORIES)}")
        MAC_RULES.pop(name, None)
        CONTRACTION_OPERANDS.pop(name, None)
        BIT_RULES[name] = lambda eqn, ins, scope: combine(ins, name, scope)
        register_category(name, (category, elementwise))


_BUILT_IN: list[frozenset[str]] = []


def _built_in() -> frozenset[str]:
    """What acecost prices on its own, as first seen (a registration may not replace these)."""
    if not _BUILT_IN:
        _BUILT_IN.append(frozenset(MAC_RULES) | frozenset(BIT_RULES))
    return _BUILT_IN[0]
