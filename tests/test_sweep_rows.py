"""The sweep table without pandas writes what pandas wrote from the same rows.

A sweep's table is plain rows (``acecost.sweeps.rows``) so a cached sweep never
imports pandas. pandas is the oracle here: ``DataFrame.to_csv`` of
``table.frame(rows)`` and the JSON of its records, byte for byte, for rows of
every kind a sweep makes (integer, float, mixed, text and list parameters;
failed points; fractional and whole CPU64; seconds present and absent; text
that CSV must quote). Sorting and the Pareto filter are checked against
pandas' stable sort and a brute-force dominance test.
"""
from __future__ import annotations

import datetime
import io
import json
import math

import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from acecost.sweeps import table
from acecost.sweeps.rows import Rows


def report(macs: int, cpu64, time_s=None, warnings: int = 0) -> dict:
    totals = {"macs": macs, "binary_macs": macs // 2, "ace": macs * 4, "cpu64": cpu64, "size_bits": 3 * macs,
              "params": macs // 3, "elementwise_ops": 7, "memory_bits": 11 * macs, "memory_bits_unfused": 13 * macs,
              "time_s": time_s, "complete": True, "weight_prep": {"elementwise_ops": 5}}
    return {"report": {"totals": totals, "warnings": ["w"] * warnings}, "seconds": 0.25 * macs, "error": None}


FAILED = {"error": 'model raised ValueError: "bad", really\nsecond line', "seconds": 0.5}


def rows_of(params: list[dict], cpu=lambda m: m // 64, time_s=None, failed=()) -> list[dict]:
    return [table.row(p, FAILED if i in failed else report(8 * (i + 1), cpu(8 * (i + 1)), time_s), i % 2 == 0)
            for i, p in enumerate(params)]


CASES = {
    "ints": ([{"width": w, "bits": b} for w in (8, 16) for b in (1, 4)], {}),
    "floats": ([{"width": w} for w in (0.5, 1.0, 1e-05, 1e16, 2.5)], {}),
    "mixed": ([{"width": 16}, {"width": 0.5}, {"width": "wide"}], {}),
    "text that CSV quotes": ([{"bits": ".*=1,1"}, {"bits": 'a "b"'}, {"bits": "x\ny"}], {}),
    "lists": ([{"bits": ["s1/.*=1,1", "s2/.*=2,4"]}, {"bits": ["s1/.*=4,4"]}], {}),
    "bools and dates": ([{"flag": True, "day": datetime.date(2026, 12, 7)},
                         {"flag": False, "day": datetime.date(2026, 1, 2)}], {}),
    "date-times at midnight": ([{"when": datetime.datetime(1979, 5, 27)}, {"when": datetime.datetime(1980, 1, 1)}], {}),
    "date-times": ([{"when": datetime.datetime(1979, 5, 27, 12, 30)}, {"when": datetime.datetime(1980, 1, 1)}], {}),
    "times": ([{"at": datetime.time(12, 30)}, {"at": datetime.time(7, 0, 0, 5)}], {}),
    "failed points": ([{"width": w} for w in (8, 16, 24)], {"failed": (1,)}),
    "all failed": ([{"width": w} for w in (8, 16)], {"failed": (0, 1)}),
    "fractional cpu64": ([{"width": w} for w in (8, 16)], {"cpu": lambda m: m / 3}),
    "whole cpu64 as floats": ([{"width": w} for w in (8, 16)], {"cpu": lambda m: float(m)}),
    "seconds": ([{"width": w} for w in (8, 16)], {"time_s": 1.389e-4}),
}


@pytest.mark.parametrize("case", CASES)
def test_csv_and_json_lines_are_what_pandas_wrote(case):
    params, kw = CASES[case]
    rows = rows_of(params, **kw)
    names = list(dict.fromkeys(k for p in params for k in p))
    mine = Rows.of(names, rows)
    df = table.frame(rows, names)
    assert mine.csv() == df.to_csv(index=False, lineterminator="\n")
    expected = "".join(table.json_line(r) for r in table.records(df))
    assert mine.jsonl() == expected


def test_the_pareto_front_keeps_its_columns_types():
    """cpu64 with a fraction somewhere is a float column: the rows the front keeps stay floats
    (3.0), as pandas' filtered frame writes them, even where each kept value is whole."""
    rows = rows_of([{"w": 1}, {"w": 2}], cpu=lambda m: 1.5 if m == 8 else 3.0)
    rows[0]["ace"], rows[0]["size_bits"] = 10, 10  # the first (cpu64 1.5) is dominated by the second
    rows[1]["ace"], rows[1]["size_bits"] = 5, 5
    mine = Rows.of(["w"], rows).pareto("ace", "size_bits")
    theirs = table.pareto(table.frame(rows, ["w"]), "ace", "size_bits")
    assert [r["w"] for r in mine.rows] == [2] and mine.rows[0]["cpu64"] == 3.0
    assert mine.csv() == theirs.to_csv(index=False, lineterminator="\n")
    assert mine.jsonl() == "".join(table.json_line(r) for r in table.records(theirs))


def test_a_frame_is_written_as_before(tmp_path):
    """A DataFrame (from acecost.sweep) is written by pandas, every column it has."""
    rows = rows_of([{"width": 8}, {"width": 0.5}], failed=(1,))
    df = table.frame(rows, ["width"])
    df["accuracy"] = [0.5, None]  # a column the user added
    table.write(df, str(tmp_path / "t.csv"))
    assert (tmp_path / "t.csv").read_text() == df.to_csv(index=False, lineterminator="\n")
    table.write(df, str(tmp_path / "t.jsonl"))
    assert [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()] == table.records(df)


def test_a_parameter_some_points_lack_keeps_its_integers():
    """pandas would make a column of integers with a hole floats (16.0); the rows keep 16."""
    rows = rows_of([{"width": 16, "depth": 2}, {"width": 32}])
    text = Rows.of(["width", "depth"], rows).csv().splitlines()
    assert text[1].startswith("16,2,") and text[2].startswith("32,,")
    assert pd.read_csv(io.StringIO(Rows.of(["width", "depth"], rows).csv()))["depth"].isna().tolist() == [False, True]


values = st.one_of(st.none(), st.integers(-5, 5), st.sampled_from([0.5, 1.5, -2.0]))


@settings(max_examples=60, deadline=None)
@given(st.lists(values, min_size=1, max_size=9), st.booleans())
def test_sort_is_pandas_stable_sort_with_empty_cells_last(column, descending):
    rows = [{**table.row({"k": v, "i": i}, report(8, 1), False)} for i, v in enumerate(column)]
    mine = Rows.of(["k", "i"], rows).sorted_by(("k", descending))
    df = table.frame(rows, ["k", "i"])
    theirs = df.sort_values("k", ascending=not descending, na_position="last", kind="stable")
    assert [r["i"] for r in mine.rows] == list(theirs["i"])


def test_sort_of_numbers_and_text_is_by_text():
    rows = [table.row({"k": v}, report(8, 1), False) for v in (10, "9", 2)]
    assert [r["k"] for r in Rows.of(["k"], rows).sorted_by(("k", False)).rows] == [10, 2, "9"]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.integers(1, 6), st.booleans()), min_size=1, max_size=12))
def test_pareto_is_the_brute_force_front(points):
    rows = []
    for i, (x, y, bad) in enumerate(points):
        r = table.row({"i": i}, FAILED if bad else report(8, 1), False)
        if not bad:
            r["ace"], r["size_bits"] = x, y
        rows.append(r)
    ok = [(i, x, y) for i, (x, y, bad) in enumerate(points) if not bad]
    brute = [i for i, x, y in ok if not any(c <= x and d <= y and (c < x or d < y) for _, c, d in ok)]
    assert [r["i"] for r in Rows.of(["i"], rows).pareto("ace", "size_bits").rows] == brute
    assert list(table.pareto(table.frame(rows, ["i"]), "ace", "size_bits")["i"]) == brute


def test_nan_from_a_table_read_back_is_an_empty_cell():
    rows = rows_of([{"width": 8}])
    rows[0]["time_s"] = math.nan
    assert Rows.of(["width"], rows).rows[0]["time_s"] is None


MODEL = '''
import jax, jax.numpy as jnp


def acecost_model(when=None, width=4):
    return (lambda p, x: x @ p), (jax.ShapeDtypeStruct((8, width), jnp.float32),
                                  jax.ShapeDtypeStruct((1, 8), jnp.float32))
'''


def test_a_space_files_date_times_are_cached_and_written(tmp_path):
    """A TOML date-time parameter: the point is cached (its report's parameters kept as ISO text), and
    the table's CSV writes the column as pandas does."""
    import acecost
    from acecost.cli.group import main
    from click.testing import CliRunner

    (tmp_path / "m.py").write_text(MODEL)
    (tmp_path / "s.toml").write_text("[grid]\nwhen = [1979-05-27T00:00:00, 1980-01-01T12:30:00]\nwidth = [2]\n")
    args = ["sweep", str(tmp_path / "m.py"), "--space", str(tmp_path / "s.toml"), "-j", "1", "-q",
            "--cache-dir", str(tmp_path / "cache")]
    first = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "a.csv")])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "b.csv")])
    assert again.exit_code == 0 and "2 from cache" in again.output, again.output
    text = (tmp_path / "b.csv").read_text().splitlines()
    assert [line.split(",")[:3] for line in text[1:]] == [["1979-05-27 00:00:00", "2", "16"],
                                                         ["1980-01-01 12:30:00", "2", "16"]]
    df = acecost.sweep(str(tmp_path / "m.py"), space=str(tmp_path / "s.toml"), jobs=1,
                       cache_dir=str(tmp_path / "cache"))
    assert df.attrs["cached"] == 2 and list(df["macs"]) == [8 * 2, 8 * 2]
