"""The Report: totals by definition, JSON round-trip, pandas view, errors."""
from __future__ import annotations

import dataclasses
import json
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import acecost

S = jax.ShapeDtypeStruct
F32 = jnp.float32


def binary_mlp(p, x):
    """A float first layer, a binary middle layer, an int4-weight head on float inputs."""
    h = jnp.tanh(x @ p["fc1"]["kernel"] + p["fc1"]["bias"])
    h = jnp.sign(h) @ jnp.sign(p["fc2"]["kernel"])
    return h @ p["head"]["kernel"].astype(F32)


MLP_PARAMS = {
    "fc1": {"kernel": S((10, 6), F32), "bias": S((6,), F32)},
    "fc2": {"kernel": S((6, 5), F32)},
    "head": {"kernel": S((5, 3), jnp.int4)},
}
MLP_X = S((7, 10), F32)


@pytest.fixture(scope="module")
def rep():
    return acecost.analyze(binary_mlp, MLP_PARAMS, MLP_X)


# by formula (metrics.md)
FC1, FC2, HEAD = 7 * 10 * 6, 7 * 6 * 5, 7 * 5 * 3


def test_totals_by_definition(rep):
    t = rep.totals
    assert t.macs == FC1 + FC2 + HEAD
    assert t.binary_macs == FC2
    # fc1 float x float; fc2 binary; head: fc2's (float) sum of products x int4
    assert t.ace == FC1 * 16 * 16 + FC2 * 1 * 1 + HEAD * 16 * 4
    assert t.cpu64 == Fraction(FC2, 64) + FC1 + HEAD
    # fc1 kernel used at 16 bits, its bias elementwise at f32 width, fc2 at 1, head int4 at 4
    assert t.size_bits == 60 * 16 + 6 * 32 + 30 * 1 + 15 * 4
    assert t.params == 60 + 6 + 30 + 15
    assert t.complete


def test_elementwise_ops_by_definition(rep):
    # bias add and tanh on (7, 6); sign on (7, 6)
    assert rep.totals.elementwise_ops == 42 + 42 + 42
    # sign on the (6, 5) kernel and converting the int4 head kernel (15) read parameters
    # alone: weight preparation, done once by a deployed model, reported beside the totals
    prep = rep.totals.weight_prep
    assert (prep.elementwise_ops, prep.macs, prep.in_totals) == (30 + 15, 0, False)
    assert prep.by_category == {"quantize": 30, "convert": 15}


def test_analyze_jaxpr_gives_the_same_report(rep):
    closed = jax.make_jaxpr(binary_mlp)(MLP_PARAMS, MLP_X)
    again = acecost.analyze_jaxpr(closed, MLP_PARAMS, MLP_X)
    strip = lambda d: {k: v for k, v in d.items() if k != "meta"}  # noqa: E731
    assert strip(again.to_dict()) == strip(rep.to_dict())


def test_analyze_jaxpr_rejects_what_is_not_a_traced_jaxpr():
    with pytest.raises(acecost.AcecostError, match="expects a ClosedJaxpr"):
        acecost.analyze_jaxpr(binary_mlp, MLP_PARAMS, MLP_X)
    closed = jax.make_jaxpr(binary_mlp)(MLP_PARAMS, MLP_X)
    with pytest.raises(acecost.AcecostError, match="takes 5 inputs but the arguments given have 1"):
        acecost.analyze_jaxpr(closed, MLP_X)


def test_scatter_add_is_counted_not_unsupported():
    # a scatter carries its combiner as a jaxpr; it is one op per update element
    def f(x, y):
        return x.at[jnp.array([0, 2, 3])].add(y)

    rep = acecost.analyze(f, S((5, 4), F32), S((3, 4), F32), params_argnums=())
    assert rep.unsupported == []
    assert rep.elementwise_by_category["scatter"] == 3 * 4
    assert rep.totals.complete


def test_scatter_with_a_function_of_its_own_is_unsupported_not_free():
    # x.at[i].apply(exp) runs exp on the updated elements inside the scatter's
    # combiner; the scatter tables price a set or one combining op, not that
    rep = acecost.analyze(lambda x: x.at[jnp.array([0, 2])].apply(jnp.exp), S((4, 3), F32), params_argnums=())
    assert [e["primitive"] for e in rep.unsupported] == ["scatter"]
    assert not rep.totals.complete


def test_window_reduction_with_a_custom_combiner_is_unsupported_not_pooling():
    from jax import lax

    def pool(x):
        return lax.reduce_window(x, 0.0, lambda a, b: a + jnp.exp(b), (1, 2), (1, 1), "VALID")

    rep = acecost.analyze(pool, S((4, 3), F32), params_argnums=())
    assert [e["primitive"] for e in rep.unsupported] == ["reduce_window"]
    # a plain max-pool (one op per window tap) is priced: 4 x 2 windows of 2 taps
    rep = acecost.analyze(lambda x: lax.reduce_window(x, -jnp.inf, lax.max, (1, 2), (1, 1), "VALID"),
                          S((4, 3), F32), params_argnums=())
    assert rep.unsupported == [] and rep.elementwise_by_category == {"pooling": 4 * 2 * 2}


def test_per_layer_records(rep):
    by_name = {r.name: r for r in rep.layers}
    assert sorted(by_name) == ["fc1", "fc2", "head"]
    head = by_name["head"]
    assert (head.lhs_shape, head.rhs_shape, head.out_shape) == ([7, 5], [5, 3], [7, 3])
    assert (head.bits_a, head.bits_w, head.macs, head.ace, head.multiplier) == (16, 4, HEAD, HEAD * 64, 1)
    assert by_name["fc2"].binary and not head.binary


def test_cpu64_is_an_int_when_exact():
    rep = acecost.analyze(lambda p, x: jnp.sign(x) @ jnp.sign(p["w"]), {"w": S((8, 8), F32)}, S((8, 8), F32))
    assert rep.totals.cpu64 == 8 and isinstance(rep.totals.cpu64, int)


def test_json_round_trip(rep):
    d = rep.to_dict()
    text = json.dumps(d)
    back = acecost.Report.from_dict(json.loads(text))
    assert back.totals == rep.totals
    assert back.layers == rep.layers
    assert back.params == rep.params
    assert back.warnings == rep.warnings
    assert back.to_dict() == json.loads(text)


def test_json_schema_keys(rep):
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["schema_version"] == 1
    assert d["meta"]["float_bits"] == 16
    assert set(d["totals"]) >= {"macs", "binary_macs", "ace", "cpu64", "size_bits", "params",
                                "elementwise_ops", "complete"}
    assert set(d["layers"][0]) >= {"name", "primitive", "lhs_shape", "rhs_shape", "out_shape", "bits_a",
                                   "bits_w", "bits_a_source", "bits_w_source", "multiplier", "macs",
                                   "ace", "binary"}
    assert {"by_category"} <= set(d["elementwise"])
    assert isinstance(d["warnings"], list) and isinstance(d["unsupported"], list)
    for key in ("macs", "binary_macs", "ace", "size_bits", "params", "elementwise_ops"):
        assert type(d["totals"][key]) is int


def test_huge_integers_stay_exact_through_json():
    # odd MAC count above 2**53: a float would round it
    m, k, n = 1_000_003, 999_983, 1_000_033
    rep = acecost.analyze(lambda a, b: a @ b, S((m, k), F32), S((k, n), F32), params_argnums=())
    assert rep.totals.macs == m * k * n and rep.totals.macs > 2 ** 53
    back = json.loads(json.dumps(rep.to_dict()))
    assert back["totals"]["macs"] == m * k * n and type(back["totals"]["macs"]) is int
    assert back["totals"]["ace"] == m * k * n * 256
    assert acecost.Report.from_dict(back).totals.ace == m * k * n * 256


def test_fractional_cpu64_survives_json():
    rep = acecost.analyze(lambda p, x: jnp.sign(x) @ jnp.sign(p["w"]), {"w": S((3, 5), F32)},
                          S((2, 3), F32))
    assert rep.totals.cpu64 == 30 / 64
    assert json.loads(json.dumps(rep.to_dict()))["totals"]["cpu64"] == 30 / 64


def test_from_dict_rejects_non_reports():
    with pytest.raises(ValueError):
        acecost.Report.from_dict({"layers": []})


def test_to_pandas(rep):
    df = rep.to_pandas()
    assert list(df.columns) == [f.name for f in dataclasses.fields(acecost.OpRecord) if f.name not in ("site", "sides")]
    assert len(df) == len(rep.layers) == 3
    assert int(df["macs"].sum()) == rep.totals.macs
    assert int(df["ace"].sum()) == rep.totals.ace


def test_real_arrays_are_accepted_and_not_needed_concretely():
    w = np.zeros((10, 6), np.float32)
    rep = acecost.analyze(lambda p, x: x @ p, w, MLP_X)
    assert rep.totals.macs == FC1


def test_params_argnums_selects_the_parameters():
    rep = acecost.analyze(lambda x, p: x @ p["w"], S((7, 10), F32), {"w": S((10, 6), jnp.int8)},
                          params_argnums=(1,))
    assert [p.path for p in rep.params] == ["w"]
    assert rep.totals.size_bits == 60 * 8 and rep.totals.params == 60


def test_a_model_that_fails_to_trace_is_a_target_error():
    def broken(p, x):
        return x @ p["w"]  # shapes do not match

    with pytest.raises(acecost.TargetError):
        acecost.analyze(broken, {"w": S((3, 3), F32)}, S((2, 5), F32))


def test_non_callable_is_a_target_error():
    with pytest.raises(acecost.TargetError):
        acecost.analyze(42, S((2,), F32))


def test_analyze_target_passes_options():
    target = acecost.Target(binary_mlp, (MLP_PARAMS, MLP_X), name="mlp")
    rep = acecost.analyze_target(target, float_bits=8)
    assert rep.meta["target"] == "mlp" and rep.meta["float_bits"] == 8
    assert rep.totals.ace == FC1 * 8 * 8 + FC2 + HEAD * 8 * 4
    assert rep.totals.size_bits == 60 * 8 + 6 * 32 + 30 * 1 + 15 * 4
