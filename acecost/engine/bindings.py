"""Value bookkeeping of the walker: atoms, linear forms, constants and literals.

A mixin of :class:`acecost.engine.walker.Interpreter`, which holds its state
(``atoms``, ``_literals``, ``_folds``, ``separate_prep``); the walk loop and
the per-equation rules stay there.
"""
from __future__ import annotations

import numpy as np

from acecost.engine.values.levels import from_constant, normalize, np_dtype, unknown
from acecost.engine.values.value import Value, combine_forms, make_value, new_atom_form, nontrivial_axes

#: Atoms a linear form may hold before it is folded into one atom where it is
#: used. Without a bound, an unrolled residual stream's form would grow by one
#: atom per layer and the walk would be quadratic in depth.
MAX_FORM_ATOMS = 64

#: the origin of a constant table: not a parameter (no parameter has an empty path)
CONSTANT_ORIGIN = ""
CONSTANT_ORIGINS: frozenset[str] = frozenset({CONSTANT_ORIGIN})


class ValueBook:
    """The values half of :class:`acecost.engine.walker.Interpreter` (a mixin: it uses its state)."""

    def register(self, value: Value) -> Value:
        """Give a newly computed value its own atom for linear-form tracking."""
        form = value.form
        if len(form) != 1 or form[0][0] in self.atoms:  # not a fresh atom of its own yet
            form = new_atom_form()
            value = value.with_(form=form)
        self.atoms[form[0][0]] = value
        return value

    def _sum_form(self, a: Value, b: Value, sign: float):
        """The form of ``a + sign * b``, kept to at most MAX_FORM_ATOMS atoms.

        A sum that would be longer folds its longer operand (then, if still
        too long, the other) into one atom. The same form always folds to
        the same atom, so ``x + sg(q - x)`` over a long residual sum ``x``
        still cancels: both ``q - x`` and the outer sum fold ``x`` alike.
        """
        fa, fb = a.form, b.form
        form = combine_forms([(fa, 1.0), (fb, sign)])
        for longer in ((a, b) if len(fa) >= len(fb) else (b, a)):
            if len(form) <= MAX_FORM_ATOMS:
                break
            if longer is a:
                fa = self._fold(a)
            else:
                fb = self._fold(b)
            form = combine_forms([(fa, 1.0), (fb, sign)])
        return form

    def _fold(self, value: Value):
        """One atom standing for ``value``'s whole form, up to sign and scale.

        ``r`` and ``-r`` fold to the same atom (with coefficients 1 and -1),
        so a sum and its negation still cancel once folded.
        """
        form = value.form
        if len(form) == 1:
            return form
        scale = form[0][1]
        key = form if scale == 1.0 else tuple((a, c / scale) for a, c in form)
        atom = self._folds.get(key)
        if atom is None:
            atom = self._folds[key] = new_atom_form()[0][0]
            if scale == 1.0:  # the value is the folded sum itself: it is what the atom stands for
                self.atoms[atom] = value._replace(form=((atom, 1.0),))
        return ((atom, scale),)

    def constant(self, val, aval) -> Value:
        lv = normalize(from_constant(val), aval.dtype)
        shape = tuple(getattr(aval, "shape", ()))
        arr = np.asarray(val)
        vary = frozenset() if arr.size <= 1 else None
        # a table of the program (Qwix's nf4 codebook) is no activation: a weight computed with
        # it is still that weight
        origins = CONSTANT_ORIGINS if arr.size > 1 else frozenset()
        return self.register(make_value(shape, aval.dtype, lv, vary, origins, prep=self.separate_prep))

    def literal(self, var) -> Value:
        """A literal's value is the same wherever it appears: made once per (value, dtype)."""
        val = var.val
        if isinstance(val, (int, float, bool)):
            key = (val, var.aval.dtype)
        elif getattr(val, "shape", None) == ():  # a 0-d array (jax's typed scalar literals)
            key = (val.item(), var.aval.dtype)
        else:
            key = id(var)
        value = self._literals.get(key)
        if value is None:
            value = self._literals[key] = self.constant(val, var.aval)
        return value

    def rebind(self, value: Value, aval) -> Value:
        """The same value seen through another variable (a sub-jaxpr's input)."""
        shape = tuple(getattr(aval, "shape", ()))
        dtype = np_dtype(getattr(aval, "dtype", value.dtype))
        if shape == value.shape and dtype == value.dtype:
            return value
        lv = value.levels
        if len(shape) != len(value.shape):
            lv = lv.with_(axes=nontrivial_axes(shape) if lv.axes else frozenset(), groups=())
            vary = None
        else:
            vary = value.vary
        lv = normalize(lv, dtype)
        return self.register(make_value(shape, dtype, lv, vary, value.origins, value.name, prep=value.prep))

    def unused(self, aval) -> Value:
        """Stands for a result dead code would have made: nothing reads its levels."""
        shape = tuple(getattr(aval, "shape", ()))
        dtype = getattr(aval, "dtype", np.float32)
        return self.register(make_value(shape, dtype, unknown("result of code whose output is unused")))
