"""A model's own parameter wins over an option axis of the same name, and the cache knows its defaults.

The model here takes ``bits`` and ``width``; ``bits`` is also the name of the
``--bits`` option axis, whose values split at ``;``. Each point's MACs are a
closed form of its parameters (``x [4, 16] @ w [16, width]``: 64 x width).
"""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

import acecost
from acecost.sweeps.space import make_space

ACECOST = str(Path(sys.executable).with_name("acecost"))

MODEL = '''
import jax
import jax.numpy as jnp
import acecost


def acecost_model(bits=8, width=64):
    assert isinstance(bits, int), f"bits came as {type(bits).__name__} {bits!r}"
    levels = 2 ** (bits - 1)

    def fn(w, x):
        q = jnp.clip(jnp.round(w * levels), -levels, levels - 1)
        return x @ q

    return acecost.Target(fn, (jax.ShapeDtypeStruct((16, width), jnp.float32),
                               jax.ShapeDtypeStruct((4, 16), jnp.float32)))
'''


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(MODEL)
    return path


def test_a_model_parameter_named_like_an_option_takes_comma_separated_values(model, tmp_path):
    out = tmp_path / "out.csv"
    r = subprocess.run([ACECOST, "sweep", str(model), "--grid", "bits=1,2,4,8", "--no-cache", "-j", "1",
                        "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(row["bits"]) for row in rows] == [1, 2, 4, 8]
    assert all(row["error"] == "" for row in rows), rows
    assert [int(row["macs"]) for row in rows] == [4 * 16 * 64] * 4
    # the weight's levels: 2**bits codes -> ``bits`` bits (1 bit: {-1, 0} is 2 levels)
    assert [int(row["ace"]) for row in rows] == [4 * 16 * 64 * 16 * b for b in (1, 2, 4, 8)]


def test_the_option_axis_still_splits_at_semicolons_where_no_parameter_has_its_name():
    space = make_space(["bits=fc=1,1;fc=2,2"])
    assert space.axes == {"bits": ["fc=1,1", "fc=2,2"]}
    space.as_parameters([])
    assert space.axes == {"bits": ["fc=1,1", "fc=2,2"]}
    space.as_parameters(["bits"])
    assert space.axes == {"bits": ["fc=1", "1;fc=2", 2]}  # read as parameter values


def test_spelling_out_a_default_does_not_price_the_point_again(model, tmp_path):
    cache = str(tmp_path / "cache")
    first = acecost.sweep(str(model), {"bits": [4]}, jobs=1, cache_dir=cache)
    assert (first.attrs["computed"], first.attrs["cached"]) == (1, 0)
    again = acecost.sweep(str(model), {"bits": [4], "width": [64]}, jobs=1, cache_dir=cache)
    assert (again.attrs["computed"], again.attrs["cached"]) == (0, 1)
    other = acecost.sweep(str(model), {"bits": [4], "width": [32]}, jobs=1, cache_dir=cache)
    assert (other.attrs["computed"], other.attrs["cached"]) == (1, 0)
    assert list(other["macs"]) == [4 * 16 * 32]


@pytest.mark.parametrize("columns", [80, 120])
def test_the_printed_table_fits_the_terminal_with_no_cell_cut_short(model, columns):
    """Piped, at ``COLUMNS`` wide: every line fits, no cell ends in an ellipsis, the parameters and
    ACE are shown in full; what is left out is named."""
    import os

    grid = ["--grid", "width=16,32", "--grid", "float-bits=8,16", "--grid", "scales=strict,codes",
            "--grid", "cond=max,quantized"]
    r = subprocess.run([ACECOST, "sweep", str(model), *grid, "--no-cache", "-j", "1"], capture_output=True,
                       text=True, timeout=600, env={**os.environ, "COLUMNS": str(columns)})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].endswith(": 16 points")
    assert all(len(line) <= columns for line in lines[1:]), r.stdout
    assert "…" not in r.stdout and "..." not in r.stdout
    header = next(line for line in lines if "ACE" in line).split()
    assert header[:4] == ["width", "float_bits", "scales", "cond"]
    rows = [line.split() for line in lines if line.strip().startswith(("16 ", "32 "))]
    assert len(rows) == 16 and {row[2] for row in rows} == {"strict", "codes"}
    if columns == 80:
        assert any(line.startswith("not shown at 80 columns: ") for line in lines)


def test_one_bits_axis_per_layer_group_is_a_product_of_overrides(tmp_path):
    """``bits[REGEX]=A,W;A,W``: each axis overrides the layers its regex picks; two axes, four points.

    examples/binary_mlp.py: fc1 784x512, fc2 512x512 (binarized), fc3 512x10, one input row."""
    out = tmp_path / "out.csv"
    example = Path(__file__).resolve().parent.parent / "examples" / "binary_mlp.py"
    r = subprocess.run([ACECOST, "sweep", str(example), "--grid", "bits[^fc1$]=1,1;2,2",
                        "--grid", "bits[^fc3$]=4,4;8,8", "--no-cache", "-j", "1", "-o", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    fc1, fc2, fc3 = 784 * 512, 512 * 512, 512 * 10
    got = {(row["bits[^fc1$]"], row["bits[^fc3$]"]): int(row["ace"]) for row in rows}
    assert got == {(a, b): fc1 * int(a[0]) ** 2 + fc2 * 1 + fc3 * int(b[0]) ** 2
                   for a in ("1,1", "2,2") for b in ("4,4", "8,8")}


def test_a_points_bits_may_be_a_list_of_overrides():
    df = acecost.sweep(str(Path(__file__).resolve().parent.parent / "examples" / "binary_mlp.py"),
                       points=[{"bits": ["^fc1$=1,1", "^fc3$=2,4"]}], jobs=1, cache=False)
    assert int(df["ace"][0]) == 784 * 512 * 1 + 512 * 512 * 1 + 512 * 10 * 2 * 4


def test_a_group_axis_keeps_its_regex_as_written():
    space = make_space(["bits[conv-1/.*]=1,1;2,2"])
    assert space.axes == {"bits[conv-1/.*]": ["1,1", "2,2"]}
