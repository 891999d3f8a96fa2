"""``acecost zoo list`` and the plot reference read the stored zoo costs.

The stored numbers themselves are checked against a fresh analysis and the
reference figures in test_zoo_costs.py; here: nothing heavy is imported to
read them, the table reads at 80 columns, JSON keeps every field, and another
input is analysed now.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from fractions import Fraction

import pytest
from click.testing import CliRunner

from acecost import zoo
from acecost.cli import main
from acecost.zoo import costs

HEAVY = ("jax", "flax", "matplotlib", "pandas")

# A fresh interpreter runs the command, then reports which heavy modules it loaded.
PROBE = """
import json, sys
code = 0
try:
    if sys.argv[1] == "reference":
        from acecost.figures.reference import pokebnn_reference
        print(json.dumps([w.totals["ace"] for w in pokebnn_reference().widths]))
    else:
        from acecost.cli import main
        main(sys.argv[1:], prog_name="acecost")
except SystemExit as e:
    code = e.code
print(json.dumps({"code": code, "loaded": sorted(m for m in %r if m in sys.modules)}), file=sys.stderr)
""" % (HEAVY,)


def probe(*args: str) -> tuple[str, dict]:
    out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120)
    return out.stdout, json.loads(out.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [["zoo", "list"], ["zoo", "list", "--format", "json"],
                                  ["zoo", "list", "--no-costs"], ["reference"]])
def test_stored_costs_are_read_without_jax_flax_matplotlib_or_pandas(args):
    stdout, seen = probe(*args)
    assert seen == {"code": 0, "loaded": []}, seen
    if args == ["reference"]:  # the PokeBNN widths, narrowest first
        assert json.loads(stdout) == [costs.stored(f"pokebnn-{w}")["totals"]["ace"]
                                      for w in ("0.5x", "0.75x", "1.0x", "2.0x")]


def run(*args: str, columns: int = 80):
    result = CliRunner().invoke(main, list(args), env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.output


def si_value(text: str) -> Fraction:
    """``1.41G`` -> 1410000000, ``21.9Mbit`` -> 21900000: the number an SI-prefixed cell says."""
    text = text.removesuffix("bit")
    prefixes = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    if text[-1] in prefixes:
        return Fraction(text[:-1]) * prefixes[text[-1]]
    return Fraction(text)


def sig3(value) -> Fraction:
    """``value`` rounded to three significant figures (exact below 1000, as the table writes it)."""
    value = Fraction(value)
    if value < 1000 and value.denominator == 1:
        return value
    return Fraction(f"{float(value):.2e}")


def words(text: str) -> list[str]:
    return text.split()


@pytest.mark.parametrize("columns", [80, 200])
def test_table_reads_at_the_terminal_width(columns):
    out = run("zoo", "list", columns=columns)
    lines = out.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= columns
    for name, entry in zoo.MODELS.items():
        t = costs.stored(name)["totals"]
        (row,) = [line for line in lines if line.split()[:1] == [f"zoo:{name}"] and len(line.split()) == 6
                  and all(re.fullmatch(r"[\d.]+[kMGT]?(bit)?", c) for c in line.split()[1:])]
        # MACs, BOPs, ACE, CPU64 (counts) and size (bits), each at three significant figures
        assert [si_value(c) for c in row.split()[1:]] == \
            [sig3(t[k]) for k in ("macs", "binary_macs", "ace", "cpu64", "size_bits")]
        assert row.split()[-1].endswith("bit") and not any("e" in c for c in row.split()[1:])
        # the description, whole, after the table (on one line when there is room)
        (start,) = [i for i, line in enumerate(lines) if line.split()[:1] == [f"zoo:{name}"]
                    and line is not row]
        text = words(lines[start])[1:]
        for line in lines[start + 1:]:
            if not line.startswith(" " * 10):
                break
            text += words(line)
        assert text == words(entry.description)
        if columns == 200:
            assert lines[start].split()[1:] == words(entry.description)


def test_json_has_every_stored_field():
    doc = json.loads(run("zoo", "list", "--format", "json"))
    assert (doc["resolution"], doc["batch"], doc["costs"]) == (224, 1, "stored")
    assert [m["name"] for m in doc["models"]] == [f"zoo:{n}" for n in zoo.MODELS]
    for m in doc["models"]:
        name = m["name"][4:]
        entry, stored = zoo.get(name), costs.stored(name)
        assert (m["family"], m["variant"], m["description"]) == (entry.family, entry.variant, entry.description)
        assert {k: m[k] for k in stored["totals"]} == stored["totals"]
        assert m["elementwise_by_category"] == stored["elementwise"]
        assert set(stored["totals"]) == {"macs", "binary_macs", "ace", "cpu64", "size_bits", "params",
                                         "elementwise_ops", "complete", "weight_prep", "memory_bits",
                                         "memory_bits_unfused", "time_s"}
        assert stored["totals"]["time_s"] is None  # no --hardware
        assert m["weight_prep"]["in_totals"] is False and m["weight_prep"]["elementwise_ops"] > 0  # sign(w) etc.
    names_only = json.loads(run("zoo", "list", "--format", "json", "--no-costs"))
    assert "costs" not in names_only
    assert set(names_only["models"][0]) == {"name", "family", "variant", "description"}


def test_another_input_is_analysed_now(monkeypatch):
    """Batch 2: every MAC is done twice, the weights are the same (PokeBNN 0.5x's 1.41 G ACE, test_zoo_costs)."""
    monkeypatch.setattr(zoo, "MODELS", {"pokebnn-0.5x": zoo.MODELS["pokebnn-0.5x"]})
    doc = json.loads(run("zoo", "list", "--format", "json", "--batch", "2"))
    assert (doc["batch"], doc["costs"]) == (2, "analysed")
    (m,) = doc["models"]
    one = costs.stored("pokebnn-0.5x")["totals"]
    assert m["ace"] == 2 * 1_409_538_048
    assert (m["macs"], m["binary_macs"], m["cpu64"]) == (2 * one["macs"], 2 * one["binary_macs"], 2 * one["cpu64"])
    assert (m["size_bits"], m["params"]) == (one["size_bits"], one["params"])
    assert "analysed now" in run("zoo", "list", "--batch", "2")
