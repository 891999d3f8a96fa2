"""A primitive that carries a jaxpr but has no rule is never silently free."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.extend.core import Primitive

import acecost

call_p = Primitive("acecost_test_call")
call_p.multiple_results = True
call_p.def_abstract_eval(lambda *args, body, extra: [v.aval for v in body.jaxpr.outvars])

W = jax.ShapeDtypeStruct((8, 4), jnp.float32)
X = jax.ShapeDtypeStruct((2, 8), jnp.float32)


def _model(extra: bool):
    def f(w, x):
        body = jax.make_jaxpr(lambda w, x: [x @ w])(w, x)
        return call_p.bind(w, x, body=body, extra=body if extra else None)[0]
    return f


def test_call_shaped_primitive_is_walked_once_with_a_warning():
    rep = acecost.analyze(_model(extra=False), W, X)
    assert rep.totals.macs == 2 * 8 * 4
    assert any("`acecost_test_call` has no rule" in w for w in rep.warnings)
    assert rep.totals.complete is False  # how often such a primitive runs its body is unknown


def test_other_primitive_with_jaxprs_is_unsupported():
    rep = acecost.analyze(_model(extra=True), W, X)  # two sub-jaxprs: not a plain call
    assert rep.totals.macs == 0
    assert [u["primitive"] for u in rep.unsupported] == ["acecost_test_call"]
    assert rep.totals.complete is False
