"""The sweep cache serves only what it stored, for the files the model actually loaded.

A damaged entry is a miss and is written again; an entry whose model loaded
a helper from outside its directory (through ``sys.path`` or ``importlib``)
that has changed since is a miss. The model is ``x @ w`` with x (1, N) and w
(N, N): N*N MACs, N from the helper (16 -> 256, 32 -> 1024).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import acecost
from acecost.sweeps.cache import Cache, valid_entry

ACECOST = str(Path(sys.executable).with_name("acecost"))

SDS = "jax.ShapeDtypeStruct"
SYS_PATH_MODEL = f"""import os, sys
import jax, jax.numpy as jnp
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import bc_helper_a as helper

def acecost_model(k=1):
    n = helper.N
    return (lambda w, x: x @ w), ({SDS}((n, n), jnp.float32), {SDS}((1, n), jnp.float32))
"""
LAZY_MODEL = f"""import importlib, os, sys
import jax, jax.numpy as jnp

def acecost_model(k=1):
    sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
    n = importlib.import_module("bc_helper_b").N  # imported while the model is built
    return (lambda w, x: x @ w), ({SDS}((n, n), jnp.float32), {SDS}((1, n), jnp.float32))
"""


def sweep_cli(args, cwd):
    r = subprocess.run([ACECOST, "sweep", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def table(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("model, helper", [(SYS_PATH_MODEL, "bc_helper_a"), (LAZY_MODEL, "bc_helper_b")])
def test_a_helper_outside_the_models_folder_keys_the_cache(tmp_path, model, helper):
    (tmp_path / "m").mkdir()
    (tmp_path / "lib").mkdir()
    (tmp_path / "m" / "model.py").write_text(model)
    (tmp_path / "lib" / f"{helper}.py").write_text("N = 16\n")
    args = ["m/model.py", "--grid", "k=1", "-j", "1", "--cache-dir", "cache", "-q", "-o", "out.jsonl"]
    runs = []
    for n in (16, 32, 32):
        (tmp_path / "lib" / f"{helper}.py").write_text(f"N = {n}\n")
        r = sweep_cli(args, tmp_path)
        assert r.returncode == 0, r.stderr
        (row,) = table(tmp_path / "out.jsonl")
        runs.append((row["macs"], row["cached"]))
    assert runs == [(16 * 16, False), (32 * 32, False), (32 * 32, True)]


def test_a_helper_changed_between_two_sweeps_of_one_process(tmp_path):
    """The module is imported anew, not only missed in the cache: the fresh numbers are the new ones."""
    (tmp_path / "m").mkdir()
    (tmp_path / "lib").mkdir()
    (tmp_path / "m" / "model.py").write_text(SYS_PATH_MODEL.replace("bc_helper_a", "bc_helper_c"))
    helper = tmp_path / "lib" / "bc_helper_c.py"
    helper.write_text("N = 16\n")
    model, cache = str(tmp_path / "m" / "model.py"), str(tmp_path / "cache")
    first = acecost.sweep(model, {"k": [1]}, jobs=1, cache_dir=cache)
    helper.write_text("N = 32\n")
    second = acecost.sweep(model, {"k": [1]}, jobs=1, cache_dir=cache)
    third = acecost.sweep(model, {"k": [1]}, jobs=1, cache_dir=cache)
    assert [(int(d["macs"][0]), bool(d["cached"][0])) for d in (first, second, third)] == \
        [(256, False), (1024, False), (1024, True)]


def test_a_helper_the_caller_imported_before_the_model_keys_the_cache_too(tmp_path, monkeypatch):
    (tmp_path / "m").mkdir()
    (tmp_path / "lib").mkdir()
    (tmp_path / "m" / "model.py").write_text(SYS_PATH_MODEL.replace("bc_helper_a", "bc_helper_d"))
    helper = tmp_path / "lib" / "bc_helper_d.py"
    helper.write_text("N = 16\n")
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    import bc_helper_d  # noqa: F401  (imported here first: importing the model does not show it)

    cache = tmp_path / "cache"
    first = acecost.sweep(str(tmp_path / "m" / "model.py"), {"k": [1]}, jobs=1, cache_dir=str(cache))
    assert int(first["macs"][0]) == 256
    (entry,) = cache.rglob("*.json")
    assert str(helper.resolve()) in json.loads(entry.read_text())["sources"]
    helper.write_text("N = 32\n")
    args = ["m/model.py", "--grid", "k=1", "-j", "1", "--cache-dir", "cache", "-q", "-o", "out.jsonl"]
    assert sweep_cli(args, tmp_path).returncode == 0
    assert [(r["macs"], r["cached"]) for r in table(tmp_path / "out.jsonl")] == [(1024, False)]
    # the entry is for the files as they are now: served here too
    again = acecost.sweep(str(tmp_path / "m" / "model.py"), {"k": [1]}, jobs=1, cache_dir=str(cache))
    assert (int(again["macs"][0]), bool(again["cached"][0])) == (1024, True)
    # priced here, where the helper in memory is the one imported before its edit: not stored
    entry.unlink()
    stale = acecost.sweep(str(tmp_path / "m" / "model.py"), {"k": [1]}, jobs=1, cache_dir=str(cache))
    assert (int(stale["macs"][0]), bool(stale["cached"][0])) == (256, False)
    assert not list(cache.rglob("*.json"))
    assert sweep_cli(args, tmp_path).returncode == 0
    assert [(r["macs"], r["cached"]) for r in table(tmp_path / "out.jsonl")] == [(1024, False)]


def test_a_helper_first_imported_by_a_failing_point_keys_the_next_points(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "lib").mkdir()
    model = LAZY_MODEL.replace("bc_helper_b", "bc_helper_e").replace(
        "    return (lambda", "    if k == 0:\n        raise ValueError('k = 0')\n    return (lambda")
    (tmp_path / "m" / "model.py").write_text(model)
    helper = tmp_path / "lib" / "bc_helper_e.py"
    helper.write_text("N = 16\n")
    cache = tmp_path / "cache"
    df = acecost.sweep(str(tmp_path / "m" / "model.py"), {"k": [0, 1]}, jobs=1, cache_dir=str(cache))
    assert "ValueError: k = 0" in df["error"][0] and int(df["macs"][1]) == 256
    (entry,) = cache.rglob("*.json")  # the failed point is not stored
    assert str(helper.resolve()) in json.loads(entry.read_text())["sources"]


# --------------------------------------------------------------- damaged entries


SIMPLE = f"""import jax, jax.numpy as jnp

def acecost_model(n=4):
    return (lambda w, x: x @ w), ({SDS}((n, 3), jnp.float32), {SDS}((2, n), jnp.float32))
"""


def _entry_file(cache: Path) -> Path:
    (entry,) = [p for p in cache.rglob("*.json")]
    return entry


def _damaged(good: dict) -> dict[str, object]:
    def edit(path, value):
        doc = json.loads(json.dumps(good))
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return doc

    return {
        "report-null": {"report": None},
        "empty-object": {},
        "a-string": "macs",
        "a-list": [good],
        "totals-string": edit(("report", "totals"), "256"),
        "macs-string": edit(("report", "totals", "macs"), "24"),
        "macs-negative": edit(("report", "totals", "macs"), -24),
        "macs-bool": edit(("report", "totals", "macs"), True),
        "macs-missing": edit(("report", "totals"), {k: v for k, v in good["report"]["totals"].items()
                                                  if k != "macs"}),
        "macs-edited": edit(("report", "totals", "macs"), 7),  # well-formed, not what was stored
        "warnings-not-list": edit(("report", "warnings"), "none"),
        "seconds-string": edit(("seconds",), "fast"),
        "error-set": edit(("error",), "boom"),
        "sources-list": edit(("sources",), []),
        "sources-bad-digest": edit(("sources",), {"/x.py": "nope"}),
        "extra-key": {**good, "more": 1},
        "sources-nul-path": edit(("sources",), {"/x\x00.py": "0" * 64}),
        "sources-directory": edit(("sources",), {"/": "0" * 64}),
    }


def test_every_damaged_entry_is_a_miss_and_is_written_again(tmp_path):
    model = tmp_path / "simple.py"
    model.write_text(SIMPLE)
    cache = tmp_path / "cache"
    df = acecost.sweep(str(model), {"n": [4]}, jobs=1, cache_dir=str(cache))
    assert int(df["macs"][0]) == 2 * 4 * 3
    path = _entry_file(cache)
    good = json.loads(path.read_text())
    assert valid_entry(good)
    cases = {**_damaged(good), "truncated": None, "not-utf8": None, "deep": None}
    for name, doc in cases.items():
        if name == "truncated":
            path.write_text(json.dumps(good)[:-20])
        elif name == "not-utf8":
            path.write_bytes(b"\xff\xfe{}")
        elif name == "deep":
            path.write_text("[" * 100000 + "]" * 100000)
        else:
            assert not valid_entry(doc), name
            path.write_text(json.dumps(doc))
        again = acecost.sweep(str(model), {"n": [4]}, jobs=1, cache_dir=str(cache))
        assert (int(again["macs"][0]), bool(again["cached"][0]), again["error"][0]) == (24, False, None), name
        rewritten = json.loads(path.read_text())  # written again, as it was but for the time taken
        assert valid_entry(rewritten) and {**rewritten, "seconds": 0} == {**good, "seconds": 0}, name
    served = acecost.sweep(str(model), {"n": [4]}, jobs=1, cache_dir=str(cache))
    assert (int(served["macs"][0]), bool(served["cached"][0])) == (24, True)


@pytest.mark.parametrize("doc", ['{"report": null}', "{}", '"a string"'])
def test_the_command_line_prices_a_damaged_entry_again(tmp_path, doc):
    (tmp_path / "simple.py").write_text(SIMPLE)
    args = ["simple.py", "--grid", "n=4", "-j", "1", "--cache-dir", "cache", "-q", "-o", "out.jsonl"]
    assert sweep_cli(args, tmp_path).returncode == 0
    _entry_file(tmp_path / "cache").write_text(doc)
    r = sweep_cli(args, tmp_path)
    assert r.returncode == 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    (row,) = table(tmp_path / "out.jsonl")
    assert (row["macs"], row["cached"], row["error"]) == (2 * 4 * 3, False, None)


def test_an_entry_is_not_stored_without_the_files_its_model_loaded(tmp_path):
    cache = Cache(tmp_path / "c")
    report = {"totals": {"macs": 1, "binary_macs": 0, "ace": 1, "cpu64": 1, "size_bits": 0, "params": 0,
                         "elementwise_ops": 0, "complete": True}}
    cache.put("ab" * 32, {"report": report, "seconds": 0.1, "error": None, "sources": None})
    assert not list((tmp_path / "c").rglob("*.json"))
    cache.put("ab" * 32, {"report": report, "seconds": 0.1, "error": None, "sources": {}})
    assert cache.get("ab" * 32)["report"] == report
    helper = tmp_path / "h.py"
    helper.write_text("N = 1\n")
    from acecost.sweeps.sources import digest

    files = {str(helper): digest(str(helper))}
    cache.put("cd" * 32, {"report": report, "seconds": 0.1, "error": None, "sources": files})
    assert cache.get("cd" * 32) is not None
    helper.write_text("N = 2\n")
    assert cache.get("cd" * 32) is None  # changed: a miss
    helper.unlink()
    assert cache.get("cd" * 32) is None  # gone: a miss
