"""The one table of metrics (acecost.metrics): every command reads it, and its number formatter.

Consumers are checked against the table's own fields (which metric is
budgetable, drawn, summed per layer), so a metric added to the table shows up
everywhere or a test here says where it does not. Formatter cases are
written out by hand from the rule (three significant figures, an SI prefix
of a power of 1000, bytes for sizes).
"""
import json
import re
from dataclasses import FrozenInstanceError, fields
from fractions import Fraction

import click
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import acecost.cli.check as C
import acecost.cli.diff as D
from acecost.ci import budget as B
from acecost import metrics
from acecost.ci import diff
from acecost.figures import points as plot_points
from acecost.report import render
from acecost.cli import sweep as cli_sweep
from acecost.cli import zoo as cli_zoo
from acecost.metrics import TABLE, format_count, format_energy, format_size
from acecost.units import parse_size_bits
from acecost.report.model import Totals
from acecost.sweeps import table as sweep_table


# ------------------------------------------------------------------ the table


def test_one_metric_class():
    assert B.Metric is metrics.Metric and plot_points.Metric is metrics.Metric
    assert all(isinstance(m, metrics.Metric) for m in TABLE.values())
    with pytest.raises(FrozenInstanceError):
        TABLE["ace"].label = "x"  # type: ignore[misc]


def test_table_declares_the_metrics_and_their_totals_keys():
    assert {k: m.totals_key for k, m in TABLE.items()} == {
        "macs": "macs", "bops": "binary_macs", "ace": "ace", "cpu64": "cpu64", "size": "size_bits",
        "params": "params", "elementwise": "elementwise_ops", "memory_bits": "memory_bits",
        "memory_bits_unfused": "memory_bits_unfused", "time_s": "time_s", "energy": ""}
    totals_fields = [f.name for f in fields(Totals) if f.name not in ("complete", "weight_prep")]
    assert list(metrics.TOTALS) == totals_fields  # the report's own order
    for m in TABLE.values():
        assert m.description and m.unit and m.kind in metrics.KINDS and m.label and m.name
    assert sorted(metrics.CHOICE_ORDER) == sorted(TABLE)  # every metric is offered in one order


def test_report_summary_reads_the_table():
    t = Totals(macs=1000, binary_macs=64, ace=5, cpu64=937.5, size_bits=80, params=3, elementwise_ops=2)
    from acecost.report.model import Report

    assert Report(totals=t).summary() == ("MACs 1,000  BOPs 64  ACE 5  CPU64 937.5  size 80 bits  elementwise 2"
                                          "  memory unknown  memory (unfused) unknown")  # not counted: not 0
    t.memory_bits, t.memory_bits_unfused, t.time_s = 640, 900, 1.5e-4
    assert Report(totals=t).summary().endswith("memory 640 bits  memory (unfused) 900 bits  time 0.00015 s")


def test_check_budget_keys_are_the_budgetable_metrics():
    budgetable = {m.budget_key for m in TABLE.values() if m.budget}
    assert set(B.BUDGET_KEYS) == budgetable
    assert {f"max_{k}" for k in B.METRICS} == budgetable
    assert all(m.budget_key is None for m in TABLE.values() if not m.budget)
    flags = {p.name for p in C.check.params if p.name.startswith("max_") and p.name != "max_increase"}
    assert flags == budgetable
    assert set(B.REGRESSION_METRICS) == {k for k, m in TABLE.items() if m.regression}
    for m in B.METRICS.values():  # the config parses each with its kind's parser
        if m.kind == "time":
            assert m.parse("1ms", "x") == 0.001 and m.parse("150us", "x") == 150e-6
            continue
        assert m.parse("1kB" if m.kind == "size" else "1k", "x") == (8000 if m.kind == "size" else 1000)


def test_check_help_gives_the_table_example():
    text = CliRunner().invoke(C.check, ["--help"], terminal_width=200).output
    for m in B.METRICS.values():
        assert m.budget_flag == f"--max-{m.key}".replace("_", "-") and m.budget_flag in text
        assert f"Budget for {m.label} (e.g. {m.budget_example})" in text


def test_diff_totals_follow_the_table():
    assert diff.TOTAL_KEYS == tuple(metrics.TOTALS)
    assert diff.TOTAL_LABELS == {k: m.label for k, m in metrics.TOTALS.items()}


def test_plot_and_breakdown_choices_are_the_drawn_metrics():
    drawn = [k for k in metrics.CHOICE_ORDER if TABLE[k].drawn]
    assert list(plot_points.METRICS) == drawn
    from acecost.cli.plot_inputs import parse_panels

    assert parse_panels(None, ",".join(drawn)) == drawn
    with pytest.raises(Exception, match="use one of " + ", ".join(drawn)):
        parse_panels("params", None)
    from acecost.cli.breakdown import run_breakdown

    with click.Context(click.Command("plot")):
        with pytest.raises(Exception, match="use one of " + ", ".join(drawn)):
            run_breakdown([], "params", 2, "x.png", None, True, None)


def test_axis_labels_come_from_the_table():
    assert [plot_points.metric(k).axis_label for k in ("ace", "cpu64", "size")] == \
        ["ACE (G)", "CPU64 (×10⁸)", "Size (Mbit)"]


def test_analyze_csv_columns_follow_the_table():
    layer = [m.totals_key for m in TABLE.values() if m.per_layer]
    assert render.CSV_COLUMNS[3:5] == ["bits_a", "bits_w"]
    assert render.CSV_COLUMNS[5:5 + len(layer)] == layer == ["macs", "binary_macs", "ace", "memory_bits", "time_s"]


def test_sweep_columns_and_pareto_names_follow_the_table():
    assert sweep_table.TOTALS[:len(metrics.TOTALS)] == tuple(metrics.TOTALS)
    columns = ["width", *sweep_table.RESULT_COLUMNS]
    for m in TABLE.values():
        if m.totals_key:
            assert sweep_table.parse_pair(f"{m.key},{m.totals_key}", columns) == (m.totals_key, m.totals_key)
            assert sweep_table.parse_sort(f"-{m.key}", columns) == (m.totals_key, True)
            assert cli_sweep.COLUMN_LABELS[m.totals_key] == m.column
    assert sweep_table.parse_pair("width,ace", columns) == ("width", "ace")


def test_zoo_list_columns_are_table_metrics():
    assert all(m is TABLE[m.key] for m in cli_zoo.COLUMNS)


# ------------------------------------------------------------------ formatter


@pytest.mark.parametrize("value, text", [
    (0, "0"), (7, "7"), (999, "999"), (1000, "1k"), (1001, "1k"), (1500, "1.5k"), (4096, "4.1k"),
    (191_365_120, "191M"), (999_999, "1M"), (999.6, "1k"), (5_000_000_000, "5G"),
    (1_046_831_169_536, "1.05T"), (-2_500_000, "-2.5M"), (Fraction(1, 64), "0.0156"), (15.625, "15.6"),
    (0.5, "0.5"), (1e-7, "0.0000001"), (10**15, "1P"), (10**30, "1Q"), (9 * 10**32, "900Q"),
    (None, "-"), (float("inf"), "inf"),
    # beyond the SI prefixes' span (10**-30 .. 10**33), which no model reaches: short, never 0
    (10**33, "1e33"), (10**200, "1e200"), (5e-324, "4.94e-324"),
])
def test_format_count(value, text):
    assert format_count(value) == text


@pytest.mark.parametrize("bits, text", [
    (0, "0bit"), (1, "1bit"), (3, "3bit"), (8, "8bit"), (999, "999bit"), (8000, "8kbit"), (12_000, "12kbit"),
    (32_000_000, "32Mbit"), (6_865_216, "6.87Mbit"), (10**13, "10Tbit"), (-16_000, "-16kbit"),
    (Fraction(1, 2), "0.5bit"), (None, "-"),
])
def test_format_size_in_bits(bits, text):
    assert format_size(bits) == text


@pytest.mark.parametrize("bits", [3, 640, 8000, 6_865_216, 32_000_000, 10**13])
def test_a_written_size_reads_back(bits):
    """Sizes are written in the units budgets are typed in: the text parses back to the value, rounded."""
    assert abs(parse_size_bits(format_size(bits)) - bits) <= bits * Fraction(5, 1000)


@pytest.mark.parametrize("pj, text", [(0, "0"), (812, "812 pJ"), (999.6, "1 nJ"), (3e15, "3000 J"),
                                      (1e-3, "0.001 pJ")])
def test_format_energy(pj, text):
    assert format_energy(pj) == text


numbers = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.fractions(max_denominator=10**9),
)


@settings(max_examples=400, deadline=None)
@given(numbers)
def test_formatter_never_writes_an_exponent_or_a_zero_for_a_nonzero_value(x):
    in_span = x == 0 or Fraction(1, 10**30) <= abs(Fraction(x)) < 999 * 10**30
    for text in (format_count(x), format_size(x), format_energy(x)):
        digits = re.sub(r"e-?\d+", "", text)
        assert (x == 0) == (set(re.sub(r"[^\d]", "", digits)) == {"0"}), (x, text)
        assert text.startswith("-") == (x < 0), (x, text)
        assert len(text) < 45, text  # a line stays readable, whatever the value
        if in_span:
            assert "e" not in text, text
            assert re.fullmatch(r"-?\d+(\.\d+)?[kMGTPEZYRQ]?(bit)?( [pnum]?J)?", text), text


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=10**30))
def test_formatter_is_within_a_rounding_of_the_value(n):
    text = format_count(n)
    prefix = text[-1] if text[-1].isalpha() else ""
    shown = Fraction(text.rstrip("kMGTPEZYRQ")) * 1000 ** metrics.PREFIXES.index(prefix)
    assert abs(shown - n) <= Fraction(5, 1000) * n  # 3 significant figures round by at most 0.5%
    if n < 1000:
        assert text == str(n)  # exact below 1000


# ------------------------------------------------------------------ commands


def report(macs, ace, size_bits, bops=0):
    return {"schema_version": 1, "meta": {},
            "totals": {"macs": macs, "binary_macs": bops, "ace": ace, "cpu64": bops / 64 + macs - bops,
                       "size_bits": size_bits, "params": 0, "elementwise_ops": 7, "complete": True},
            "layers": [], "params": [], "warnings": [], "unsupported": []}


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(C, "analyze_spec", lambda spec: report(10**6, 191_365_120, 40 * 10**6))


def test_check_echoes_the_budget_as_typed(fake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(C.check, ["m.py", "--max-ace", "1.5e8", "--max-size", "4.5MB", "--format", "github"])
    assert r.exit_code == 1
    assert "ACE 191M exceeds budget 1.5e8 (+27.6%25)" in r.stdout
    assert "size 40Mbit exceeds budget 4.5MB (+11.1%25)" in r.stdout  # the budget as typed
    (tmp_path / "acecost.toml").write_text('[[models]]\nname = "m"\ntarget = "m.py"\nmax_ace = "1.5G"\n'
                                           'max_macs = 2000000\n')
    r = CliRunner().invoke(C.check, ["--format", "markdown"])
    assert r.exit_code == 0, r.output
    assert "| m | ACE | 191M | 1.5G | 87.2% | ok |" in r.stdout
    assert "| m | MACs | 1M | 2000000 | 50.0% | ok |" in r.stdout  # a TOML integer as written


def test_check_json_keeps_exact_numbers(fake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(C.check, ["m.py", "--max-ace", "1.5G", "--format", "json"])
    (row,) = json.loads(r.stdout)["models"][0]["budgets"]
    assert row == {"metric": "ace", "label": "ACE", "value": 191_365_120, "budget": 1_500_000_000,
                   "headroom_pct": round((1.5e9 - 191_365_120) / 1.5e9 * 100, 6), "passed": True}


def test_diff_text_uses_the_formatter(tmp_path):
    base, new = tmp_path / "a.json", tmp_path / "b.json"
    base.write_text(json.dumps(report(10**6, 191_365_120, 8000)))
    new.write_text(json.dumps(report(2 * 10**6, 191_365_120 + 12, 16000)))
    r = CliRunner().invoke(D.diff, [str(base), str(new), "--format", "markdown"])
    assert "| ACE | 191M | 191M | +12 | +0.0% |" in r.stdout
    assert "| size | 8kbit | 16kbit | +8kbit | +100.0% |" in r.stdout
    assert "| MACs | 1M | 2M | +1M | +100.0% |" in r.stdout
    assert not re.search(r"\d e\d|\de\d", r.stdout)


def test_analyze_totals_never_write_zero_for_a_small_model():
    t = Totals(macs=10, binary_macs=0, ace=640, cpu64=10, size_bits=24, params=3, elementwise_ops=0)
    lines = {label: note for label, _, note in render.total_lines(t)}
    assert lines["ACE"] == "640" and lines["CPU64"] == "10" and lines["Size"] == "24bit, 3 params"
    assert not any(re.search(r"0\.000", n) for n in lines.values())


def test_check_writes_a_value_in_full_only_when_three_figures_would_read_like_its_budget():
    from acecost.ci.verdict import fmt_against

    assert fmt_against("ace", 262_400, 262_399) == "262400"
    assert fmt_against("ace", 262_400, 262_400) == "262k"
    assert fmt_against("ace", 262_400, 200_000) == "262k"
    assert fmt_against("size", 32_000_001, 32_000_000) == "32000001bit"
    assert fmt_against("cpu64", 1000.5, 1000.25) == "1k"  # a fraction has no full integer form
