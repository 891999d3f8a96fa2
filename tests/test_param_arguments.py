"""Parameters spread over several arguments: leaf names stay unique across them.

``stateless_call(trainable_variables, non_trainable_variables, x)`` takes two
lists, whose leaves both flatten to ``0``, ``1``, ...; named by their paths
alone the second list's weights would stand for the first's.
"""
import jax
import jax.numpy as jnp
import pytest

import acecost

S = jax.ShapeDtypeStruct
F32 = jnp.float32
FLOAT_BITS = 16  # a float operand's default width


def two_lists():
    a = [S((64, 64), F32), S((64, 64), F32)]
    b = [S((2,), jnp.uint32)]  # e.g. a seed generator's state: read by nothing here
    return a, b, S((1, 64), F32)


def matmuls(a, b, x):
    return x @ a[0] @ a[1]


@pytest.mark.parametrize("analyse", [acecost.analyze, acecost.analyze_train], ids=["inference", "train"])
def test_two_parameter_lists_keep_every_weight(analyse):
    rep = analyse(matmuls, *two_lists(), params_argnums=(0, 1))
    assert rep.totals.size_bits == 2 * 64 * 64 * FLOAT_BITS == 131_072
    assert rep.totals.params == 2 * 64 * 64
    assert sorted(p.path for p in rep.params) == ["a/0", "a/1"]
    unused = [w for w in rep.warnings if "never used" in w]
    assert len(unused) == 1 and "b/0" in unused[0] and "a/" not in unused[0]


def test_each_list_entry_is_its_own_layer():
    rep = acecost.analyze(matmuls, *two_lists(), params_argnums=(0, 1))
    assert [r.name for r in rep.layers] == ["a/0", "a/1"]
    assert rep.totals.macs == 2 * 64 * 64


def test_an_override_picks_one_list_entry():
    rep = acecost.analyze(matmuls, *two_lists(), params_argnums=(0, 1), overrides=["^a/1$=8,4"])
    assert [(r.name, r.bits_a, r.bits_w) for r in rep.layers] == [("a/0", 16, 16), ("a/1", 8, 4)]


def test_arguments_without_a_clash_keep_their_paths():
    rep = acecost.analyze(lambda p, q, x: x @ p["w"] @ q["v"], {"w": S((8, 8), F32)}, {"v": S((8, 4), F32)},
                          S((1, 8), F32), params_argnums=(0, 1))
    assert sorted(p.path for p in rep.params) == ["v", "w"]


def test_an_unnamed_function_numbers_its_arguments():
    def call(*args):
        return matmuls(*args)

    rep = acecost.analyze(call, *two_lists(), params_argnums=(0, 1))
    assert sorted(p.path for p in rep.params) == ["arg0/0", "arg0/1"]
    assert any("arg1/0" in w for w in rep.warnings)
