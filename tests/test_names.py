"""Layer names: AQT internals dropped only where unambiguous; exact --bits patterns."""
from __future__ import annotations

import re

from acecost.engine.contraction import exact_pattern
from acecost.engine.names import UserNames, user_layer_name

FWD = "AqtDotGeneral_0/AqtDotGeneral_0.shared_forward_fn/aqt_fwd"


def test_aqt_parts_are_dropped():
    assert user_layer_name(f"ConvNet/fc/{FWD}") == "ConvNet/fc"
    assert user_layer_name("ConvNet/fc/AqtDotGeneral_0.make_aqt_dg") == "ConvNet/fc"
    assert user_layer_name("ConvNet/fc") == "ConvNet/fc"
    assert user_layer_name(FWD) == FWD  # nothing would be left: the name stays


def test_names_that_would_collide_stay_full():
    names = [f"Enc/fc/{FWD}", f"Txt/fc/{FWD}", f"Txt/fc/{FWD.replace('_0', '_1')}"]
    user = UserNames(names)
    assert [user(n) for n in names] == ["Enc/fc", names[1], names[2]]
    # an elementwise scope of the ambiguous layer is not merged into it either
    assert user("Txt/fc/AqtDotGeneral_0") == "Txt/fc/AqtDotGeneral_0"
    assert user("Enc/fc/AqtDotGeneral_0") == "Enc/fc"


def test_text_renames_whole_names_only():
    long_enc, long_txt = f"Encoder/fc/{FWD}", f"TextEncoder/fc/{FWD}"
    user = UserNames([long_enc, long_txt])
    assert user(long_enc) == "Encoder/fc" and user(long_txt) == "TextEncoder/fc"
    text = f"{long_txt}: lhs ... at {long_enc}. Pass --bits '^{long_enc}$=A,W'."
    assert user.text(text) == "TextEncoder/fc: lhs ... at Encoder/fc. Pass --bits '^Encoder/fc$=A,W'."


def test_exact_pattern_picks_one_layer():
    layers = ["fc", "fc1", "Net/fc", "Attn/bqd,bkd->bqk", "a(b)/c", "x.y"]
    for layer in layers:
        pattern = re.compile(exact_pattern(layer))
        assert [n for n in layers if pattern.search(n)] == [layer]


# ------------------------------------------------ every contraction its own name

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import flax.linen as nn  # noqa: E402

import acecost  # noqa: E402
from acecost.engine.names import einsum_spec  # noqa: E402

T, D = 8, 16


class _Attention(nn.Module):
    """One module making five contractions: three projections, q @ k.T and p @ v."""

    @nn.compact
    def __call__(self, x):
        w = [self.param(n, nn.initializers.lecun_normal(), (D, D)) for n in "qkv"]
        q, k, v = (x @ wi for wi in w)
        p = jax.nn.softmax(q @ k.swapaxes(-1, -2))
        return p @ v


def _attention_report(**kw):
    m = _Attention()
    x = jax.ShapeDtypeStruct((2, T, D), jnp.float32)
    variables = jax.eval_shape(m.init, jax.random.key(0), x)
    return acecost.analyze(m.apply, variables, x, **kw)


def test_contractions_of_one_scope_get_distinct_names():
    rep = _attention_report()
    names = [r.name for r in rep.layers]
    assert len(names) == 5 and len(set(names)) == 5
    # the spec tells the projections from the batched products, the ordinal
    # tells apart those that share one (k.T is its own transpose equation, so
    # q @ k.T and p @ v are both batched matmuls)
    assert names[:3] == ["_Attention[abc,cd->abd]#1", "_Attention[abc,cd->abd]#2",
                         "_Attention[abc,cd->abd]#3"]
    assert names[3:] == ["_Attention[abc,acd->abd]#1", "_Attention[abc,acd->abd]#2"]
    assert [r.name for r in _attention_report().layers] == names  # stable between runs


def test_bits_override_picks_one_of_a_scopes_contractions():
    base = _attention_report()
    qk = base.layers[3]
    rep = _attention_report(overrides=[exact_pattern(qk.name) + "=4,4"])
    changed = [r.name for r, b in zip(rep.layers, base.layers) if (r.bits_a, r.bits_w) != (b.bits_a, b.bits_w)]
    assert changed == [qk.name]
    assert rep.layers[3].bits_a == rep.layers[3].bits_w == 4
    # the warning's own pattern picks the contraction it is about
    hint = next(w for w in base.warnings if w.startswith(qk.name + ":"))
    pattern = re.search(r"--bits '(.*)=A,W'", hint).group(1)
    assert [r.name for r in base.layers if re.search(pattern, r.name)] == [qk.name]


def test_a_layer_applied_twice_is_numbered():
    class Twice(nn.Module):
        @nn.compact
        def __call__(self, x):
            fc = nn.Dense(D, name="fc")
            return fc(jnp.tanh(fc(x)))

    m, x = Twice(), jax.ShapeDtypeStruct((1, D), jnp.float32)
    rep = acecost.analyze(m.apply, jax.eval_shape(m.init, jax.random.key(0), x), x)
    assert [r.name for r in rep.layers] == ["Twice/fc#1", "Twice/fc#2"]
    assert rep.totals.macs == 2 * D * D


def test_einsum_spec_of_dot_general():
    def spec(f, *shapes):
        jaxpr = jax.make_jaxpr(f)(*(jax.ShapeDtypeStruct(s, jnp.float32) for s in shapes))
        (eqn,) = [e for e in jaxpr.eqns if e.primitive.name == "dot_general"]
        return einsum_spec(eqn)

    assert spec(lambda a, b: a @ b, (2, 3), (3, 4)) == "ab,bc->ac"
    assert spec(lambda a, b: jax.lax.dot_general(a, b, (((2,), (1,)), ((0,), (0,)))),
                (5, 2, 3), (5, 3, 4)) == "abc,acd->abd"
    assert spec(lambda a, b: jnp.dot(a, b), (3,), (3,)) == "a,a->"


def test_vmapped_equinox_layers_keep_their_attribute_names():
    import pytest

    eqx = pytest.importorskip("equinox")

    class M(eqx.Module):
        body: eqx.nn.Linear
        head: eqx.nn.Linear

        def __init__(self, key):
            k1, k2 = jax.random.split(key)
            self.body, self.head = eqx.nn.Linear(8, 16, key=k1), eqx.nn.Linear(16, 4, key=k2)

        def __call__(self, x):
            return jax.vmap(self.head)(jax.vmap(self.body)(x))

    model = eqx.filter_eval_shape(M, jax.random.key(0))
    params, static = eqx.partition(model, lambda a: isinstance(a, jax.ShapeDtypeStruct))
    rep = acecost.analyze(lambda p, x: eqx.combine(p, static)(x), params,
                          jax.ShapeDtypeStruct((5, 8), jnp.float32))
    assert [r.name for r in rep.layers] == ["body", "head"]
    assert rep.totals.macs == 5 * 8 * 16 + 5 * 16 * 4


def test_names_in_a_loop_do_not_depend_on_how_often_its_body_was_walked():
    # the carry's levels settle only on a later walk of the body
    def f(x, w):
        def body(i, h):
            y = jnp.round(jnp.clip(h @ w, -7, 7)) + i
            return y @ w / 8

        return jax.lax.fori_loop(0, 4, body, x)

    rep = acecost.analyze(f, jax.ShapeDtypeStruct((2, 8), jnp.float32),
                          jax.ShapeDtypeStruct((8, 8), jnp.float32), params_argnums=())
    assert [r.name for r in rep.layers] == ["dot_general_1", "dot_general_2"]
    assert rep.totals.macs == 4 * 2 * (2 * 8 * 8)


def test_a_replayed_call_warns_under_its_own_name():
    # the same jitted layer applied twice in one scope: the second call is a replay
    @jax.jit
    def layer(x, w):
        return x @ w

    def f(x, w):
        return layer(x, w) + layer(x, w)  # the same abstract inputs: the second call is replayed

    rep = acecost.analyze(f, jax.ShapeDtypeStruct((2, 8), jnp.float32),
                          jax.ShapeDtypeStruct((8, 8), jnp.float32), params_argnums=())
    names = [r.name for r in rep.layers]
    assert len(set(names)) == 2
    for name in names:  # each contraction's float fallback is reported under its own name
        assert any(w.startswith(f"{name}: lhs operand") for w in rep.warnings), (name, rep.warnings)
