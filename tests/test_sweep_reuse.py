"""A sweep traces each distinct graph once and re-prices the points of one walk.

The model is a quantized MLP (int4 x int2 hidden layers, float first and last
layers); it logs each build, so the tests count traces. Every row must equal a
separate ``acecost.analyze`` of the point with the same options (totals and
warning count), whether the point was re-priced, re-walked or traced.
"""
from __future__ import annotations

import pytest

import acecost
from acecost.api import analyze_target
from acecost.load.resolve import resolve
from acecost.options import OPTION, OPTIONS, REPRICE, RETRACE, REWALK, Option, by_reuse, parse_int
from acecost.sweeps.worker import Task, graph_count

MODEL = '''
import os
import jax
import jax.numpy as jnp


def q(x, bits):
    n = 2 ** (bits - 1) - 1
    return jnp.clip(jnp.round(x), -n, n)


def acecost_model(width=16, gate=False):
    with open(os.path.join(os.path.dirname(__file__), "calls.log"), "a") as fh:
        fh.write(f"{width}\\n")
    params = {"w1": jax.ShapeDtypeStruct((32, width), jnp.float32),
              "w2": jax.ShapeDtypeStruct((width, width), jnp.float32),
              "w3": jax.ShapeDtypeStruct((width, 10), jnp.float32)}
    x = jax.ShapeDtypeStruct((2, 32), jnp.float32)

    def forward(p, x):
        h = jax.nn.relu(x @ p["w1"])
        h = jax.nn.relu(q(h, 4) @ q(p["w2"], 2))
        if gate:  # a cond on the input: its branch is chosen by cost
            h = jax.lax.cond(x[0, 0] > 0, lambda h: q(h, 2) @ q(p["w2"], 2), lambda h: h @ p["w2"], h)
        return h @ p["w3"]

    return forward, (params, x)
'''
TOTALS = ["macs", "binary_macs", "ace", "cpu64", "size_bits", "params", "elementwise_ops"]


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "qmlp.py"
    path.write_text(MODEL)
    return path


def builds(model) -> int:
    log = model.parent / "calls.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def expected(model, row, **options):
    params = {"width": int(row["width"])} if "width" in row else {}
    report = analyze_target(resolve(str(model), params=params), **options)
    return [getattr(report.totals, k) for k in TOTALS] + [len(report.warnings)]


def got(row):
    return [row[k] for k in TOTALS] + [row["warnings"]]


def test_bits_and_float_bits_points_share_one_trace_per_graph(model):
    grid = {"width": [8, 16], "bits[w2]": ["1,1", "4,8", ",3"], "float_bits": [16, 8, "dtype"]}
    df = acecost.sweep(str(model), grid, jobs=1, cache=False)
    assert len(df) == 18 and not df["error"].notna().any()
    assert builds(model) == 2  # one per width
    for _, row in df.iterrows():
        opts = {"overrides": [f"w2={row['bits[w2]']}"], "float_bits": row["float_bits"]}
        assert got(row) == expected(model, row, **opts), row.to_dict()
    # the overrides are seen: 1x1 makes the hidden layer binary, float_bits the float layers
    first = df[(df["width"] == 8) & (df["float_bits"] == 16)]
    assert list(first["binary_macs"]) == [2 * 8 * 8, 0, 0]


def test_walk_options_are_walked_again_not_traced(model):
    df = acecost.sweep(str(model), {"scales": ["strict", "codes"], "cond": ["max", "quantized"],
                                    "bits": [".*=2,2", "nothing=1,1"]}, jobs=1, cache=False)
    assert builds(model) == 1 and len(df) == 8 and not df["error"].notna().any()
    for _, row in df.iterrows():
        opts = {"scales": row["scales"], "cond": row["cond"], "overrides": [row["bits"]]}
        assert got(row) == expected(model, row, **opts)


def test_a_cond_chosen_by_cost_is_walked_again_and_exact(model):
    df = acecost.sweep(str(model), {"gate": [True], "bits": [".*=1,1", ".*=8,8", "w2=2,"]}, jobs=1, cache=False)
    assert builds(model) == 1 and not df["error"].notna().any()
    for _, row in df.iterrows():
        report = analyze_target(resolve(str(model), params={"gate": True}), overrides=[row["bits"]])
        assert [row[k] for k in TOTALS] == [getattr(report.totals, k) for k in TOTALS]
    assert df["ace"].nunique() == 3


def test_weights_levels_sparsity_and_device_points_share_one_trace(model, tmp_path):
    """Two checkpoints (w2 ternary with half of it zero, or of 5 levels; the float layer w3 of 4
    levels, zero among them), measured or not,
    discounted or not, on two devices: 16 points, one trace, each row a fresh analysis."""
    import numpy as np

    rng = np.random.default_rng(0)
    dense = {"w1": rng.standard_normal((32, 16)), "w3": rng.choice([-1.0, 0.0, 1.0, 2.0], (16, 10))}
    ternary = np.where(np.arange(16 * 16).reshape(16, 16) % 2 == 0, 0.0, rng.choice([-1.0, 1.0], (16, 16)))
    five = rng.choice([-2.0, -1.0, 0.0, 1.0, 2.0], (16, 16))
    paths = []
    for name, w2 in (("t", ternary), ("f", five)):
        np.savez(tmp_path / f"{name}.npz", **{k: v.astype(np.float32) for k, v in {**dense, "w2": w2}.items()})
        paths.append(str(tmp_path / f"{name}.npz"))
    grid = {"weights": paths, "levels": [None, "measured"], "sparsity": [None, "discount"],
            "hardware": ["h100-sxm", "tpu-v5e"]}
    df = acecost.sweep(str(model), grid, jobs=1, cache=False)
    assert len(df) == 16 and not df["error"].notna().any(), df["error"].tolist()
    assert builds(model) == 1
    for _, row in df.iterrows():
        opts = {k: (None if row[k] is None or row[k] != row[k] else row[k]) for k in grid}
        report = analyze_target(resolve(str(model)), **opts)
        assert got(row) + [row["time_s"]] == [getattr(report.totals, k) for k in TOTALS] + [
            len(report.warnings), report.totals.time_s], opts
    # the options are seen: measured, w3 (4 levels) is priced at 2 bits, not 16; discounted, only w3's
    # nonzero weights count (w2 reaches its product through round and clip, which the count does
    # not follow: dense, with a warning)
    measured = df[(df["levels"] == "measured") & df["sparsity"].isna() & (df["hardware"] == "h100-sxm")]
    unmeasured = df[df["levels"].isna() & df["sparsity"].isna() & (df["hardware"] == "h100-sxm")]
    assert list(measured["ace"]) != list(unmeasured["ace"])
    discounted = df[df["levels"].isna() & (df["sparsity"] == "discount") & (df["hardware"] == "h100-sxm")]
    assert int(discounted["macs"].iloc[0]) == 2 * 32 * 16 + 2 * 16 * 16 + 2 * int(np.count_nonzero(dense["w3"]))
    assert np.count_nonzero(dense["w3"]) < 16 * 10
    assert df["time_s"].nunique() > 1


def test_cached_points_are_served_whatever_priced_them(model, tmp_path):
    grid = {"bits": ["w2=1,1", "w2=2,2"], "float_bits": [16, 8]}
    first = acecost.sweep(str(model), grid, jobs=1, cache_dir=str(tmp_path / "c"))
    again = acecost.sweep(str(model), grid, jobs=1, cache_dir=str(tmp_path / "c"))
    assert builds(model) == 1 and again.attrs["cached"] == 4
    assert list(again["ace"]) == list(first["ace"])


def test_every_option_declares_its_reuse_and_a_new_one_is_traced_again():
    assert {o.name: o.reuse for o in OPTIONS} == {
        "float_bits": REPRICE, "bits": REPRICE, "while_trips": REWALK, "mode": RETRACE, "cond": REWALK,
        "scales": REWALK,
        # the concrete weights leave the jaxpr as it is: the trace is walked again; a device only
        # times the records: re-priced
        "levels": REWALK, "sparsity": REWALK, "weights": REWALK, "hardware": REPRICE}
    assert Option("a_future_option", parse_int, None, help="").reuse == RETRACE
    assert by_reuse({"bits": [], "scales": "codes", "a_future_option": 0.5}) == {
        REPRICE: {"bits": []}, REWALK: {"scales": "codes"}, RETRACE: {"a_future_option": 0.5}}
    assert OPTION["mode"].reuse == RETRACE


def test_graph_count_ignores_repriced_and_rewalked_options():
    tasks = [Task(0, {"w": 1}, {}, {"bits": ["a=1,1"], "float_bits": 8, "mode": "inference"}),
             Task(1, {"w": 1}, {}, {"bits": ["a=2,2"], "scales": "codes", "mode": "inference"}),
             Task(2, {"w": 1}, {}, {"bits": [], "mode": "train"}),
             Task(3, {"w": 2}, {}, {"mode": "inference"}),
             Task(4, {"w": 1}, {"batch": 2}, {"mode": "inference"})]
    assert graph_count(tasks) == 4
