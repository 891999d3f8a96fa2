"""A fully cached sweep is answered from its plan: no jax, no model import, the same table.

Each run is a fresh process (the CLI run in-process, unsupervised, so its
``sys.modules`` can be read). The model records every import of itself in a
marker file; it multiplies a (1, 8) input by an (8, WIDTH) weight through a
helper module beside it, so its MACs are 8 * WIDTH.
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODEL = '''
import os
import jax
import jax.numpy as jnp
from helper import matmul

with open(os.path.join(os.path.dirname(__file__), "imports.log"), "a") as fh:
    fh.write("imported\\n")


def acecost_model(width=4):
    return matmul, (jax.ShapeDtypeStruct((1, 8), jnp.float32), jax.ShapeDtypeStruct((8, width), jnp.float32))
'''
HELPER = '''
def matmul(x, w):
    return x @ w
'''
DRIVER = '''
import sys
from acecost.cli import main
sys.argv = ["acecost", *sys.argv[1:]]
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code
print("JAX", "jax" in sys.modules, file=sys.stderr)
print("HEAVY", sorted(m for m in ("pandas", "numpy", "acecost.cli.analyze", "acecost.cli.plot") if m in sys.modules),
      file=sys.stderr)
sys.exit(code)
'''
GRID = ["--grid", "width=2,4", "--grid", "float_bits=8,16"]
#: the last run's stderr (what it imported)
LAST: dict = {}


@pytest.fixture
def model(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "qmodel.py").write_text(MODEL)
    (tmp_path / "m" / "helper.py").write_text(HELPER)
    return tmp_path / "m" / "qmodel.py"


def sweep(model: Path, out: str, *grid: str) -> tuple[list[dict], str, bool]:
    """Run ``acecost sweep`` in a fresh process: (rows, its summary line, whether it imported jax)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ACECOST_SUPERVISE": "0"}
    cache = model.parent.parent / "cache"
    proc = subprocess.run([sys.executable, "-c", DRIVER, "sweep", str(model), *(grid or GRID), "-j", "1", "-q",
                           "--cache-dir", str(cache), "-o", out], capture_output=True, text=True, env=env,
                          cwd=model.parent.parent, timeout=300)
    assert proc.returncode == 0, proc.stderr
    LAST["stderr"] = proc.stderr
    summary = next(line for line in proc.stderr.splitlines() if line.startswith("acecost: "))
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return rows, summary, "JAX True" in proc.stderr


def imports(model: Path) -> int:
    log = model.parent / "imports.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def without(rows: list[dict], *columns: str) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in columns} for r in rows]


def test_all_cached_imports_neither_jax_nor_the_model(model, tmp_path):
    first, summary, jax_first = sweep(model, str(tmp_path / "a.csv"))
    assert "4 priced" in summary and jax_first
    seen = imports(model)
    assert seen >= 1
    again, summary, jax_again = sweep(model, str(tmp_path / "b.csv"))
    assert "0 priced" in summary and "4 from cache" in summary
    assert not jax_again
    # nor pandas, numpy or the other commands: the table is plain rows, the commands load on use
    assert "HEAVY []" in LAST["stderr"]
    assert imports(model) == seen  # the model file was not imported
    # the same table: every column but whether the row came from the cache
    assert without(again, "cached") == without(first, "cached")
    assert [r["cached"] for r in first] == ["False"] * 4 and [r["cached"] for r in again] == ["True"] * 4
    # MACs from the shapes: (1, 8) @ (8, width)
    assert [(r["width"], r["float_bits"], int(r["macs"])) for r in again] == [
        ("2", "8", 16), ("2", "16", 16), ("4", "8", 32), ("4", "16", 32)]


def test_cached_csv_bytes_equal_a_slow_cached_run(model, tmp_path):
    """The plan's table is byte for byte what the full path builds from the same entries."""
    sweep(model, str(tmp_path / "a.csv"))
    sweep(model, str(tmp_path / "fast.csv"))
    for plan in (model.parent.parent / "cache" / "plans").iterdir():
        plan.unlink()  # no plan: the full path serves the entries (and writes the plan again)
    _, summary, jax_used = sweep(model, str(tmp_path / "slow.csv"))
    assert "4 from cache" in summary and jax_used
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "slow.csv").read_bytes()


@pytest.mark.parametrize("edited", ["qmodel.py", "helper.py"])
def test_an_edited_model_or_helper_prices_again(model, tmp_path, edited):
    sweep(model, str(tmp_path / "a.csv"))
    path = model.parent / edited
    path.write_text(path.read_text() + "\n# edited\n")
    rows, summary, jax_used = sweep(model, str(tmp_path / "b.csv"))
    assert "4 priced" in summary and jax_used
    assert [int(r["macs"]) for r in rows] == [16, 16, 32, 32]
    _, summary, jax_used = sweep(model, str(tmp_path / "c.csv"))  # the plan was written again
    assert "4 from cache" in summary and not jax_used


def test_a_changed_grid_is_a_miss(model, tmp_path):
    sweep(model, str(tmp_path / "a.csv"))
    rows, summary, jax_used = sweep(model, str(tmp_path / "b.csv"), "--grid", "width=2,4,8", "--grid",
                                    "float_bits=8,16")
    assert "2 priced" in summary and "4 from cache" in summary and jax_used
    assert [int(r["macs"]) for r in rows] == [16, 16, 32, 32, 64, 64]
