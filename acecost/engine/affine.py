"""Exact affine forms of integer scalars: ``(j + 1) * 128 - j * 128`` is 128.

A level set bounds each value by a range, so two expressions of the same
unknown scalar lose their correlation: with ``j`` a grid index in
``[0, 3]``, ``(j + 1) * 128 - j * 128`` is only known to lie in
``[-256, 512]``. jax's decode attention computes a loop's trip count this
way. For scalars of an integer dtype the interpreter also keeps an affine
form ``c + sum(k_i * atom_i)`` with integer coefficients, over atoms that
stand for one value each (a grid index, any other scalar by its identity).
Integer add, subtract, negate and multiply by a constant are ring
operations modulo ``2**bits`` in two's complement, so the form is exact
modulo ``2**bits`` even where the arithmetic wraps; a form whose atoms
cancel is that constant (wrapped into the dtype's range), and the value is
given constant levels. A conversion to another width is not a ring map and
starts a new atom.
"""
from __future__ import annotations

import numpy as np

#: (constant, ((atom, coefficient), ...)) with the atoms sorted; coefficients are never 0
Affine = tuple


def _atom_key(atom):
    return repr(atom)


def _make(const: int, terms: dict) -> Affine:
    return const, tuple(sorted(((a, k) for a, k in terms.items() if k), key=lambda t: _atom_key(t[0])))


def of(interp, value) -> Affine:
    """The affine form of a scalar: recorded, its constant, or the value itself as an atom."""
    known = interp.affine.get(value.form)
    if known is not None:
        return known
    lv = value.levels
    if lv.lo is not None and lv.lo == lv.hi and lv.integral:
        return int(lv.lo), ()
    return 0, ((value.form, 1),)


def _combine(parts) -> Affine:
    const, terms = 0, {}
    for k, (c, ts) in parts:
        const += k * c
        for a, t in ts:
            terms[a] = terms.get(a, 0) + k * t
    return _make(const, terms)


def step(interp, eqn, ins) -> Affine | None:
    """The affine form of a scalar integer equation's result, or None (not affine)."""
    name = eqn.primitive.name
    dtype = np.dtype(eqn.outvars[0].aval.dtype)
    if any(v.shape != () or v.dtype != dtype for v in ins):
        return None
    if name in ("add", "sub") and len(ins) == 2:
        return _combine([(1, of(interp, ins[0])), (1 if name == "add" else -1, of(interp, ins[1]))])
    if name == "neg":
        return _combine([(-1, of(interp, ins[0]))])
    if name == "mul" and len(ins) == 2:
        a, b = of(interp, ins[0]), of(interp, ins[1])
        if not a[1]:
            return _combine([(a[0], b)])
        if not b[1]:
            return _combine([(b[0], a)])
    return None


def wrapped(const: int, dtype) -> int:
    """``const`` modulo ``2**bits``, in the dtype's range."""
    info = np.iinfo(dtype)
    span = int(info.max) - int(info.min) + 1
    return (const - int(info.min)) % span + int(info.min)
