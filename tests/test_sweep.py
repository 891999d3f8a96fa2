"""``acecost sweep`` and ``acecost.sweep``: the space, the numbers, the cache, the executors.

The model is a float MLP 32 -> width x depth -> 10 (no biases), so every
total is a closed form of its parameters: MACs = params =
32*w + (d-1)*w^2 + 10*w; with float operands priced at F bits, ACE =
MACs*F*F and size = params*F. The model appends a line to a log file each
time it is built, which counts the points really computed.
"""
from __future__ import annotations

import json
import textwrap

import pandas as pd
import pytest
from click.testing import CliRunner

import acecost
from acecost.cli import main
from acecost.errors import AcecostError
from acecost.sweeps import space as sp
from acecost.sweeps import table

MLP = '''
import os, sys
sys.path.insert(0, os.path.dirname(__file__))
import jax
import jax.numpy as jnp
from helper import IN, OUT


def acecost_model(width=16, depth=1, batch=1):
    with open(os.path.join(os.path.dirname(__file__), "calls.log"), "a") as fh:
        fh.write(f"{width},{depth},{os.getpid()}\\n")
    if not isinstance(width, int):
        raise ValueError(f"width must be an integer, got {width!r}")
    sizes = [IN] + [width] * depth + [OUT]
    params = [jax.ShapeDtypeStruct((a, b), jnp.float32) for a, b in zip(sizes[:-1], sizes[1:])]
    x = jax.ShapeDtypeStruct((batch, IN), jnp.float32)

    def forward(params, x):
        for w in params[:-1]:
            x = jax.nn.relu(x @ w)
        return x @ params[-1]

    return forward, (params, x)
'''


def macs(w, d, batch=1, n_in=32, n_out=10):
    return batch * (n_in * w + (d - 1) * w * w + w * n_out)


def n_params(w, d, n_in=32, n_out=10):
    return n_in * w + (d - 1) * w * w + w * n_out


@pytest.fixture
def model(tmp_path):
    (tmp_path / "helper.py").write_text("IN, OUT = 32, 10\n")
    path = tmp_path / "mlp.py"
    path.write_text(MLP)
    return path


def calls(model) -> list[str]:
    log = model.parent / "calls.log"
    return [line.rpartition(",")[0] for line in log.read_text().splitlines()] if log.exists() else []


def pids(model) -> set[str]:
    return {line.rpartition(",")[2] for line in (model.parent / "calls.log").read_text().splitlines()}


# ------------------------------------------------------------------ space


def test_grid_values_are_typed():
    assert sp.parse_grid("x=1,-2,0.5,1e3,true,False,none,abc") == \
        ("x", [1, -2, 0.5, 1000.0, True, False, None, "abc"])
    assert sp.parse_grid("float-bits=8,dtype") == ("float_bits", [8, "dtype"])
    assert sp.parse_grid("bits=.*=1,1;fc.*=8,8") == ("bits", [".*=1,1", "fc.*=8,8"])
    for bad in ("x=", "x=1,,2", "x", "=1"):
        with pytest.raises(AcecostError):
            sp.parse_grid(bad)


def test_space_order_and_sampling():
    space = sp.make_space({"a": [1, 2, 3], "b": ["x", "y"]}, points=[{"a": 9}])
    assert len(space) == 7
    assert list(space.iter_points()) == sp.product({"a": [1, 2, 3], "b": ["x", "y"]}) + [{"a": 9}]
    drawn = list(space.iter_points(sample=4, seed=3))
    assert len(drawn) == 4 and len({json.dumps(p) for p in drawn}) == 4
    assert drawn == list(space.iter_points(sample=4, seed=3))
    assert all(p in list(space.iter_points()) for p in drawn)
    big = sp.make_space({f"x{i}": list(range(10)) for i in range(9)})  # 10^9 points, never listed
    assert len(list(big.iter_points(sample=5, seed=0))) == 5


def test_space_files(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text('[grid]\nwidth = [8, 16]\n\n[[points]]\nwidth = 24\ndepth = 2\n')
    s = sp.make_space(space_file=str(toml))
    assert list(s.iter_points()) == [{"width": 8}, {"width": 16}, {"width": 24, "depth": 2}]
    js = tmp_path / "s.json"
    js.write_text(json.dumps([{"width": 8}, {"width": 8, "depth": 3}]))
    assert len(sp.make_space(space_file=str(js))) == 2
    for text, suffix in (("[grid\n", ".toml"), ('{"grid": 3}', ".json"), ("{}", ".json"), ("x", ".yaml")):
        bad = tmp_path / f"bad{suffix}"
        bad.write_text(text)
        with pytest.raises(AcecostError):
            sp.make_space(space_file=str(bad))


# ---------------------------------------------------------------- numbers


def test_totals_are_closed_forms_of_the_parameters(model, tmp_path):
    df = acecost.sweep(str(model), {"width": [8, 24], "depth": [1, 3], "float_bits": [8, 16]}, jobs=1,
                       cache=False)
    assert len(df) == 8 and df["error"].isna().all()
    for r in df.itertuples():
        m, p, f = macs(r.width, r.depth), n_params(r.width, r.depth), r.float_bits
        assert (r.macs, r.params, r.binary_macs) == (m, p, 0)
        assert r.ace == m * f * f
        assert r.size_bits == p * f
        assert r.cpu64 == m and bool(r.complete)
    assert df.attrs["parameters"] == ["width", "depth", "float_bits"]


def test_bits_and_batch_axes(model):
    # a bits override on every layer makes every MAC binary; batch is the model's own parameter
    df = acecost.sweep(str(model), {"width": [16], "bits": [".*=1,1", ".*=4,2"], "batch": [1, 3]},
                       jobs=1, cache=False)
    by = {(r.bits, r.batch): r for r in df.itertuples()}
    m1, m3 = macs(16, 1), macs(16, 1, batch=3)
    assert (by[".*=1,1", 1].binary_macs, by[".*=1,1", 1].ace) == (m1, m1)
    assert by[".*=1,1", 3].ace == m3
    assert by[".*=4,2", 3].ace == m3 * 4 * 2 and by[".*=4,2", 3].binary_macs == 0
    assert by[".*=4,2", 1].size_bits == n_params(16, 1) * 2


def test_zoo_family_parameter():
    """zoo:pokebnn at width 1.0 is the reference PokeBNN-1.0x (reference code's ACE)."""
    df = acecost.sweep("zoo:pokebnn", {"width": [1.0]}, jobs=1, cache=False)
    assert df["ace"].iloc[0] == 4_222_541_824
    assert df["binary_macs"].iloc[0] == 3_609_460_736


def test_a_failed_point_is_a_row(model):
    df = acecost.sweep(str(model), {"width": [8, 0.5, 16]}, jobs=1, cache=False)
    assert list(df["error"].isna()) == [True, False, True]
    assert "acecost_model() raised ValueError: width must be an integer, got 0.5" in df["error"].iloc[1]
    assert pd.isna(df["macs"].iloc[1]) and df["macs"].iloc[2] == macs(16, 1)
    assert df.attrs["failed"] == 1


def test_a_callable_model():
    import jax
    import jax.numpy as jnp

    def build(n=4):
        return (lambda w, x: x @ w), (jax.ShapeDtypeStruct((n, 3), jnp.float32),
                                      jax.ShapeDtypeStruct((2, n), jnp.float32))

    df = acecost.sweep(build, {"n": [4, 7]}, cache=False)
    assert list(df["macs"]) == [2 * 4 * 3, 2 * 7 * 3]
    # a nested function cannot reach a worker process: it is priced here, not refused
    assert list(acecost.sweep(build, {"n": [5]}, jobs=2, cache=False)["macs"]) == [2 * 5 * 3]


# ------------------------------------------------------------------- cache


def test_cache_prices_only_new_points(model, tmp_path):
    cache = tmp_path / "cache"
    first = acecost.sweep(str(model), {"width": [8, 16], "depth": [1, 2]}, jobs=1, cache_dir=str(cache))
    assert len(calls(model)) == 4 and first.attrs["computed"] == 4
    second = acecost.sweep(str(model), {"width": [8, 16, 32], "depth": [1, 2]}, jobs=1, cache_dir=str(cache))
    assert len(calls(model)) == 6 and calls(model)[4:] == ["32,1", "32,2"]
    assert (second.attrs["computed"], second.attrs["cached"]) == (2, 4)
    assert list(second["cached"]) == [True, True, True, True, False, False]
    cols = ["width", "depth", "macs", "ace", "size_bits"]
    pd.testing.assert_frame_equal(second[cols].iloc[:4], first[cols])
    # an option is part of the key
    acecost.sweep(str(model), {"width": [8]}, float_bits=8, jobs=1, cache_dir=str(cache))
    assert len(calls(model)) == 7
    # editing a file the model imports from its directory invalidates every point
    (model.parent / "helper.py").write_text("IN, OUT = 32, 100\n")  # a new size: Python re-reads it
    third = acecost.sweep(str(model), {"width": [8]}, jobs=1, cache_dir=str(cache))
    assert len(calls(model)) == 8 and third["macs"].iloc[0] == macs(8, 1, n_out=100)
    acecost.sweep(str(model), {"width": [8]}, jobs=1, cache=False)
    assert len(calls(model)) == 9


def test_what_identifies_a_model(model):
    from acecost.sweeps.cache import local_sources, model_identity
    from acecost.sweeps.model import ModelSpec

    assert [p.name for p in local_sources(model)] == ["mlp.py", "helper.py"]
    assert set(model_identity(ModelSpec(str(model)))["files"]) == {"mlp.py", "helper.py"}

    def build():
        pass

    assert model_identity(ModelSpec(fn=build))["callable"].endswith("build")
    build.__module__ = "__main__"
    assert model_identity(ModelSpec(fn=build)) is None


def test_cache_dir_default_follows_the_environment(monkeypatch, tmp_path):
    from acecost.sweeps.cache import default_cache_dir

    monkeypatch.delenv("ACECOST_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "acecost" / "sweep"
    monkeypatch.setenv("ACECOST_CACHE_DIR", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"


# ---------------------------------------------------------------- parallel


@pytest.mark.parametrize("knob", ["STARTUP_SECONDS", "EAGER_POINTS"])
def test_parallel_equals_serial(model, tmp_path, monkeypatch, knob):
    from acecost.sweeps import executors

    grid = {"width": [8, 16, 24], "depth": [1, 2], "float_bits": [4, 16]}
    serial = acecost.sweep(str(model), grid, jobs=1, cache=False)
    assert len(pids(model)) == 1
    # cheap points are priced in this process unless starting workers pays: make it always pay,
    # either after the first point or before this process imports the model
    monkeypatch.setattr(executors, knob, 0)
    parallel = acecost.sweep(str(model), grid, jobs=3, cache=False)
    drop = ["seconds"]
    pd.testing.assert_frame_equal(serial.drop(columns=drop), parallel.drop(columns=drop))
    # 12 points each, 6 graphs: the two float_bits of a (width, depth) share one build and trace
    # (docs/sweep.md, "Reuse"); in parallel each process builds a graph it prices at most once
    assert len(calls(model)) - 6 in range(6, 13) and len(set(calls(model)[:6])) == 6


def test_a_worker_process_prices_like_this_one(model):
    from acecost.sweeps.executors import _Worker
    from acecost.sweeps.model import ModelSpec
    from acecost.sweeps.worker import Task, price

    spec = ModelSpec(str(model))
    tasks = [Task(i, {"width": w}, {}, {"float_bits": 8, "mode": "inference"}) for i, w in enumerate((8, 0.5, 16))]
    here = [price(spec, t) for t in tasks]
    w = _Worker(spec)
    try:
        while not w.ready:
            assert w.conn.poll(60) and w.poll() == []
        for task in tasks:
            w.send(task)
        got = []
        while w.tasks:
            w.conn.poll(60)
            got.extend(w.poll())
    finally:
        w.stop()
    assert [g["index"] for g in got] == [0, 1, 2]
    assert [g["report"] for g in got] == [h["report"] for h in here]
    assert [g["error"] for g in got] == [h["error"] for h in here] and got[1]["error"]
    assert len(pids(model)) == 2  # the worker built the model in its own process


def test_dask_cluster(model, tmp_path):
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    grid = {"width": [8, 16], "depth": [1, 2]}
    serial = acecost.sweep(str(model), grid, jobs=1, cache=False)
    cache = tmp_path / "cache"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster:
        address = cluster.scheduler_address.replace("tcp://", "dask://")
        remote = acecost.sweep(str(model), grid, executor=address, cache_dir=str(cache))
        result = CliRunner().invoke(main, ["sweep", str(model), "--grid", "width=8,16,32", "--grid", "depth=1,2",
                                           "--executor", address, "--cache-dir", str(cache), "-q",
                                           "-o", str(tmp_path / "t.csv")])
    assert result.exit_code == 0, result.output
    drop = ["seconds"]
    pd.testing.assert_frame_equal(serial.drop(columns=drop), remote.drop(columns=drop))
    assert remote.attrs["computed"] == 4
    out = pd.read_csv(tmp_path / "t.csv")
    assert list(out["cached"]) == [True, True, True, True, False, False]
    assert list(out["macs"]) == [macs(w, d) for w in (8, 16, 32) for d in (1, 2)]


# --------------------------------------------------------------------- CLI


@pytest.mark.parametrize("args, message", [
    (["--grid", "widht=1,2"], "unknown parameter 'widht'"),
    (["--grid", "width="], "empty grid"),
    ([], "empty grid"),
    (["--space", "missing.toml"], "cannot read space file"),
    (["--grid", "width=8", "--executor", "dask://127.0.0.1:9"], "cannot reach the Dask scheduler"),
    (["--grid", "width=8", "--sort", "nope"], "unknown --sort column"),
    (["--grid", "width=8", "--pareto", "ace"], "bad --pareto"),
    (["--grid", "width=8", "-o", "t.xlsx"], "unknown format"),
    (["--grid", "float_bits=0"], "invalid float_bits 0"),
    (["--grid", "cond=max,sometimes"], "invalid cond 'sometimes'"),
    (["--grid", "width=8", "--input-shape", "1,8"], "input_shape does not apply"),
    (["--grid", "width=8", "--resolution", "64"], "resolution does not apply"),
])
def test_bad_input_is_one_line_before_any_point(model, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["sweep", str(model), *args, "--no-cache"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("acecost: error:") and message in lines[0]
    assert calls(model) == []


def test_cli_outputs_sort_and_exit_code(model, tmp_path):
    runner = CliRunner()
    out = tmp_path / "t.jsonl"
    result = runner.invoke(main, ["sweep", str(model), "--grid", "width=8,32,16", "--grid", "depth=1,2",
                                  "--sort=-macs", "-o", str(out), "--no-cache", "-j", "1"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    expected = sorted((macs(w, d) for w in (8, 32, 16) for d in (1, 2)), reverse=True)
    assert [r["macs"] for r in rows] == expected
    assert rows[0]["error"] is None and rows[0]["complete"] is True
    back = table.read(str(out))
    assert back.attrs["parameters"] == ["width", "depth"]
    result = runner.invoke(main, ["sweep", str(model), "--grid", "width=8,0.5", "--no-cache", "-j", "1",
                                  "-o", str(tmp_path / "t.csv")])
    assert result.exit_code == 1
    assert "1 failed" in result.output and "first failure (width=0.5)" in result.output
    assert pd.read_csv(tmp_path / "t.csv")["error"].notna().tolist() == [False, True]


def test_parquet(model, tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pyarrow(name, *a, **k):
        if name == "pyarrow":
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with pytest.raises(AcecostError, match="needs pyarrow"):
        table.output_format(str(tmp_path / "t.parquet"))
    monkeypatch.setattr(builtins, "__import__", real_import)
    pytest.importorskip("pyarrow")
    df = acecost.sweep(str(model), {"width": [8, 16]}, jobs=1, cache=False)
    table.write(df, str(tmp_path / "t.parquet"))
    back = table.read(str(tmp_path / "t.parquet"))
    assert list(back["macs"]) == [macs(8, 1), macs(16, 1)]


def test_pareto_matches_brute_force(model):
    df = acecost.sweep(str(model), {"width": [8, 16, 24], "float_bits": [4, 8, 16]}, jobs=1, cache=False)
    for x, y in (("ace", "size_bits"), ("macs", "ace")):
        kept = table.pareto(df, x, y)
        pts = list(zip(df[x], df[y]))
        brute = [i for i, (a, b) in enumerate(pts)
                 if not any(c <= a and d <= b and (c < a or d < b) for c, d in pts)]
        assert list(kept.index) == brute
    # ace and size both grow with width and float_bits: only the smallest point survives
    assert list(table.pareto(df, "ace", "size_bits")[["width", "float_bits"]].itertuples(index=False)) == [(8, 4)]


def test_plot_joins_accuracies_on_parameter_columns(model, tmp_path):
    sweep_csv, acc_csv, fig = tmp_path / "s.csv", tmp_path / "acc.csv", tmp_path / "f.png"
    runner = CliRunner()
    assert runner.invoke(main, ["sweep", str(model), "--grid", "width=8,16,24", "--grid", "depth=1,2",
                                "--no-cache", "-j", "1", "-q", "-o", str(sweep_csv)]).exit_code == 0
    acc_csv.write_text(textwrap.dedent("""\
        width,depth,top1
        8,1,50.0
        16,1,60.0
        24,2,59.0
        """))
    result = runner.invoke(main, ["plot", str(sweep_csv), "--accuracy-file", str(acc_csv), "--reference", "none",
                                  "--out", str(fig)])
    assert result.exit_code == 0, result.output
    assert fig.exists()
    lines = result.output.splitlines()
    assert any(line.startswith("width=24 depth=2") and line.rstrip().endswith("no") for line in lines)
    assert any(line.startswith("width=16 depth=1") and "yes" in line for line in lines)
    assert "3 of 6 sweep points have an accuracy" in result.output
    acc_csv.write_text("model,top1\nx,1\n")
    result = runner.invoke(main, ["plot", str(sweep_csv), "--accuracy-file", str(acc_csv), "--reference", "none",
                                  "--out", str(fig)])
    assert result.exit_code == 2 and "no parameter column" in result.output


def test_what_the_model_prints_goes_to_stderr(model, tmp_path):
    noisy = model.parent / "noisy.py"
    noisy.write_text('print("hello at import")\n' + MLP.replace(
        "def acecost_model(width=16, depth=1, batch=1):\n",
        "def acecost_model(width=16, depth=1, batch=1):\n    print('building', width)\n"))
    result = CliRunner().invoke(main, ["sweep", str(noisy), "--grid", "width=4,8", "--no-cache", "-j", "1",
                                       "--sort", "macs"])
    assert result.exit_code == 0, result.output
    assert "hello" not in result.stdout and "building" not in result.stdout
    assert "building 4" in result.stderr and "width" in result.stdout
