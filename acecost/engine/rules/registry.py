"""Every rule table of the engine, keyed by primitive name, and one way to fill them.

A primitive family module (``elementwise``, ``movement``, ``loops``...) files
its rules here with the decorators below, so a primitive with a shared rule
is one line and a new family is one new module imported by
``acecost/engine/rules/__init__.py``. The tables:

- ``BIT_RULES``: the output's levels from the inputs' values (``@rule``);
- ``HIGHER_ORDER``: how an equation carrying sub-jaxprs is walked
  (``@higher_order``);
- ``USED_INPUTS``: which inputs an equation reads, for dead code
  (``@used_rule``); a primitive with none reads all its inputs;
- ``MAC_RULES`` (``contractions``) and the elementwise categories
  (``counts``) hold the costs.
"""
from __future__ import annotations

from typing import Callable, Sequence, TypeVar

from acecost.engine.values.folding import fold
from acecost.engine.values.levels import Levels, unknown
from acecost.report.model import FallbackCause
from acecost.engine.values.value import Value

F = TypeVar("F", bound=Callable)


def registrar(table: dict[str, F]) -> Callable[..., Callable[[F], F]]:
    """``@deco("name", ...)`` putting the decorated function in ``table`` under every name."""

    def decorator(*names: str) -> Callable[[F], F]:
        def register(fn: F) -> F:
            for name in names:
                table[name] = fn
            return fn

        return register

    return decorator


Rule = Callable[[object, Sequence[Value], str], Levels]
BIT_RULES: dict[str, Rule] = {}
rule = registrar(BIT_RULES)

HigherOrderRule = Callable[..., list[Value]]
HIGHER_ORDER: dict[str, HigherOrderRule] = {}
higher_order = registrar(HIGHER_ORDER)

#: Registered contractions whose operands are not inputs 0 and 1: name -> (lhs, rhs) input positions.
CONTRACTION_OPERANDS: dict[str, tuple[int, int]] = {}

Counter = Callable[[object], int]
#: Elementwise work: name -> (category, operations of one execution), filed by ``count_as``.
ELEMENTWISE: dict[str, tuple[str, Counter]] = {}
#: Free but known: data movement and markers, filed by ``free``.
FREE: set[str] = set()


def count_as(category: str, counter: Counter, names: str) -> None:
    """File every primitive in ``names`` (space-separated) as ``counter(eqn)`` operations of ``category``."""
    for name in names.split():
        ELEMENTWISE[name] = (category, counter)


def free(names: str) -> None:
    """File every primitive in ``names`` as known and free (data movement, markers)."""
    FREE.update(names.split())


# A liveness rule: (liveness, eqn, used outputs) -> (used inputs, sub-jaxpr masks)
UsedRule = Callable[[object, object, tuple], tuple[tuple, tuple]]
USED_INPUTS: dict[str, UsedRule] = {}
used_rule = registrar(USED_INPUTS)


def levels_of(eqn, ins: Sequence[Value], scope: str) -> Levels:
    """The output's levels: folded when every input is a known number, else by the primitive's bit rule."""
    if ins and ins[0].levels.const:  # every input of a foldable equation is a known number
        folded = fold(eqn, ins)
        if folded is not None:
            return folded
    fn = BIT_RULES.get(eqn.primitive.name)
    if fn is None:
        return unknown(f"no bit rule for `{eqn.primitive.name}` at {scope or 'top level'}",
                       cause=FallbackCause.NO_BIT_RULE)
    return fn(eqn, ins, scope)
