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
    mine = Rows(names, rows)
    df = table.frame(rows, names)
    assert mine.csv() == df.to_csv(index=False, lineterminator="\n")
    expected = "".join(table.json_line(r) for r in table.records(df))
    assert mine.jsonl() == expected


def test_a_frame_is_written_as_before(tmp_path):
    """A DataFrame (from acecost.sweep) still writes through table.write, as pandas wrote it."""
    rows = rows_of([{"width": 8}, {"width": 0.5}], failed=(1,))
    df = table.frame(rows, ["width"])
    table.write(df, str(tmp_path / "t.csv"))
    assert (tmp_path / "t.csv").read_text() == df.to_csv(index=False, lineterminator="\n")
    table.write(df, str(tmp_path / "t.jsonl"))
    assert [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()] == table.records(df)


def test_a_parameter_some_points_lack_keeps_its_integers():
    """pandas would make a column of integers with a hole floats (16.0); the rows keep 16."""
    rows = rows_of([{"width": 16, "depth": 2}, {"width": 32}])
    text = Rows(["width", "depth"], rows).csv().splitlines()
    assert text[1].startswith("16,2,") and text[2].startswith("32,,")
    assert pd.read_csv(io.StringIO(Rows(["width", "depth"], rows).csv()))["depth"].isna().tolist() == [False, True]


values = st.one_of(st.none(), st.integers(-5, 5), st.sampled_from([0.5, 1.5, -2.0]))


@settings(max_examples=60, deadline=None)
@given(st.lists(values, min_size=1, max_size=9), st.booleans())
def test_sort_is_pandas_stable_sort_with_empty_cells_last(column, descending):
    rows = [{**table.row({"k": v, "i": i}, report(8, 1), False)} for i, v in enumerate(column)]
    mine = Rows(["k", "i"], rows).sorted_by(("k", descending))
    df = table.frame(rows, ["k", "i"])
    theirs = df.sort_values("k", ascending=not descending, na_position="last", kind="stable")
    assert [r["i"] for r in mine.rows] == list(theirs["i"])


def test_sort_of_numbers_and_text_is_by_text():
    rows = [table.row({"k": v}, report(8, 1), False) for v in (10, "9", 2)]
    assert [r["k"] for r in Rows(["k"], rows).sorted_by(("k", False)).rows] == [10, 2, "9"]


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
    assert [r["i"] for r in Rows(["i"], rows).pareto("ace", "size_bits").rows] == brute
    assert list(table.pareto(table.frame(rows, ["i"]), "ace", "size_bits")["i"]) == brute


def test_nan_from_a_table_read_back_is_an_empty_cell():
    rows = rows_of([{"width": 8}])
    rows[0]["time_s"] = math.nan
    assert Rows(["width"], rows).rows[0]["time_s"] is None
