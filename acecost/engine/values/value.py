"""The abstract value the interpreter keeps for every jaxpr variable."""
from __future__ import annotations

import functools
import itertools
import math
from typing import NamedTuple

import numpy as np

from acecost.engine.values.levels import Levels, np_dtype

_atom_ids = itertools.count(1)

#: A linear form over "atoms": ((atom_id, coefficient), ...). Sums and
#: differences of the same atoms cancel, which is how straight-through
#: estimators (``x + stop_gradient(q - x)``) are seen to forward ``q``.
Form = tuple[tuple[int, float], ...]


class Value(NamedTuple):
    """Immutable, and a tuple: one is made per equation output, so it must be cheap."""

    shape: tuple[int, ...]
    dtype: np.dtype
    levels: Levels
    #: axes along which the value itself may vary (what a scale made from it varies along)
    vary: frozenset[int]
    #: parameter leaves (by path) the value is an elementwise/shape function of
    origins: frozenset[str] = frozenset()
    form: Form = ()
    #: the parameter path, for values that *are* a parameter leaf
    name: str | None = None
    #: ((axis, n, block), ...): along such an axis the value depends on the coordinate only through
    #: a group index of at most n values (``s[k // G]``: block G; :mod:`acecost.engine.values.groups`)
    groups: tuple = ()
    #: computed from parameters and constants alone (no model input, no random draw):
    #: work on it is weight preparation, which a deployed model does once
    prep: bool = False

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def with_(self, **changes) -> "Value":
        return self._replace(**changes)


def nontrivial_axes(shape) -> frozenset[int]:
    return _nontrivial(tuple(shape))


@functools.lru_cache(maxsize=8192)
def _nontrivial(shape: tuple) -> frozenset[int]:
    return frozenset(i for i, d in enumerate(shape) if d != 1)


def new_atom_form() -> Form:
    return ((next(_atom_ids), 1.0),)


def make_value(shape, dtype, levels: Levels, vary=None, origins=frozenset(), name=None, groups=(),
               prep: bool = False) -> Value:
    shape = shape if type(shape) is tuple else tuple(map(int, shape))
    spread = _nontrivial(shape)
    vary = spread if vary is None else (vary if type(vary) is frozenset else frozenset(vary)) & spread
    if type(origins) is not frozenset:
        origins = frozenset(origins)
    # tuple.__new__ directly: the named tuple's own __new__ is one more Python call per value
    return _new_tuple(Value, (shape, np_dtype(dtype), levels, vary, origins, ((next(_atom_ids), 1.0),), name,
                               groups, prep))


_new_tuple = tuple.__new__


def combine_forms(forms_and_signs) -> Form:
    acc: dict[int, float] = {}
    for form, sign in forms_and_signs:
        for atom, coeff in form:
            acc[atom] = acc.get(atom, 0.0) + sign * coeff
    return tuple(sorted((a, c) for a, c in acc.items() if c != 0.0))

