"""What ``acecost plot`` reads: its inputs, their names, accuracies and options.

Every input is checked (names, accuracies, output path, sizes) before
anything is analysed, so a typo costs a second, not a minute of tracing.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from acecost.cli.common import check_writable, warn
from acecost.errors import AcecostError
from acecost.report.safe_text import unsurrogate

OUT_FORMATS = (".png", ".svg", ".pdf")


def note(message: str) -> None:
    from acecost.cli.common import quiet_enabled

    if not quiet_enabled():
        click.echo(f"acecost: note: {message}", err=True)


@dataclass
class Input:
    """One model to plot: where it comes from and what it is called."""

    name: str
    spec: str  # path to a JSON file or a target spec
    is_json: bool
    data: dict[str, Any] | None = None  # the analysis, once loaded


def _split_named(arg: str) -> tuple[str | None, str]:
    """``NAME=path.json`` -> (NAME, path); a bare path or spec -> (None, arg)."""
    if "=" in arg and not Path(arg).exists():
        name, _, rest = arg.partition("=")
        if name and rest and "/" not in name and os.sep not in name:
            return name.strip(), rest
    return None, arg


def json_name(data: dict[str, Any], path: str) -> str:
    """An analysis file's model name: its ``meta.name``, else the file's stem.

    Not ``meta.target``: that is where the model came from (a path, often the
    same file for every variant), not what the figure should call it.
    """
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    name = meta.get("name")
    return name.strip() if isinstance(name, str) and name.strip() else Path(path).stem


def parse_inputs(args: tuple[str, ...]) -> list[Input]:
    """Read JSON inputs now (cheap); targets are analysed later."""
    from acecost.ci.diff import load_report

    if not args:
        raise AcecostError(
            "give at least one model: an analysis JSON (acecost analyze --format json) or a target"
        )
    out: list[Input] = []
    for arg in args:
        name, spec = _split_named(arg)
        if spec.lower().endswith(".json"):
            data = load_report(spec)
            out.append(Input(unsurrogate(name or json_name(data, spec)), spec, True, data))
        else:  # a file name that is not UTF-8 is drawn and printed escaped (matplotlib cannot draw U+DCFF)
            out.append(Input(unsurrogate(name or spec), spec, False))
    seen: dict[str, str] = {}
    for inp in out:
        if inp.name in seen:
            raise AcecostError(
                f"two inputs are named {inp.name!r} ({seen[inp.name]} and {inp.spec}); "
                "name them with NAME=path.json"
            )
        seen[inp.name] = inp.spec
    return out


def parse_accuracy_value(raw: object, where: str) -> float:
    """``70.5``, ``70.5%`` -> 70.5; anything else is a one-line error."""
    return accuracy_and_unit(raw, where)[0]


def accuracy_and_unit(raw: object, where: str) -> tuple[float, str | None]:
    """The value and its unit: ``"%"`` (a ``%`` suffix or above 1), ``"fraction"`` (0 < v <= 1), or
    None for 0, which is either. Out of [0, 1] as a fraction or [0, 100] as a percent is an error."""
    text = str(raw).strip() if raw is not None else ""
    percent = text.endswith("%")
    number = text[:-1].strip() if percent else text
    try:
        value = float(number)
    except ValueError:
        raise AcecostError(f"{where}: accuracy {text!r} is not a number") from None
    if not math.isfinite(value):
        raise AcecostError(f"{where}: accuracy {text!r} is not a finite number")
    if not 0 <= value <= 100 or (percent and value > 100):
        raise AcecostError(f"{where}: accuracy {text!r} is out of range (a fraction from 0 to 1 "
                           "or a percent from 0 to 100)")
    unit = "%" if percent or value > 1 else ("fraction" if value > 0 else None)
    return value, unit


def one_unit(entries: list[tuple[str, str, str | None]]) -> None:
    """Refuse accuracies written in two units (0.7 beside 70): one of them would be plotted 100x off.

    ``entries`` are (where, text, unit) in the order given.
    """
    def unit_name(unit: str) -> str:
        return "a percent" if unit == "%" else "a fraction"

    first = next((e for e in entries if e[2] is not None), None)
    for where, text, unit in entries:
        if unit is not None and unit != first[2]:
            raise AcecostError(
                f"{where}: accuracy {text!r} is {unit_name(unit)} but {first[0]} ({first[1]!r}) is "
                f"{unit_name(first[2])}; write every accuracy in one unit (a percent below 1 as '0.5%')")


def read_accuracy_file(path: str, name_column: str, column: str) -> dict[str, float]:
    """``name,top1`` rows (any columns; two are used) -> {name: accuracy}."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
            header = list(rows[0].keys()) if rows else []
    except OSError as e:
        raise AcecostError(f"cannot read {path}: {e.strerror or e}") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise AcecostError(f"{path}: not a readable CSV file ({e})") from None
    if not rows:
        raise AcecostError(f"{path}: no rows (expected a header like 'name,{column}' and one row per model)")
    for col, flag in ((name_column, "--name-column"), (column, "--accuracy-column")):
        if col not in header:
            cols = ", ".join(c for c in header if c is not None)
            raise AcecostError(f"{path}: no column {col!r} (columns: {cols}); choose one with {flag}")
    out: dict[str, float] = {}
    units = []
    for i, row in enumerate(rows, start=2):
        name = (row.get(name_column) or "").strip()
        if not name:
            raise AcecostError(f"{path}, line {i}: empty {name_column!r}")
        if name in out:
            raise AcecostError(f"{path}, line {i}: model {name!r} appears twice")
        where = f"{path}, line {i} ({name})"
        out[name], unit = accuracy_and_unit(row.get(column), where)
        units.append((where, str(row.get(column)).strip(), unit))
    one_unit(units)
    return out


def parse_accuracy_options(values: tuple[str, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    units = []
    for item in values:
        name, sep, value = item.rpartition("=")
        if not sep or not name.strip():
            raise AcecostError(f"bad --accuracy {item!r}: expected NAME=VALUE, e.g. mynet=70.5")
        name = unsurrogate(name.strip())  # as the inputs' names are
        out[name], unit = accuracy_and_unit(value, f"--accuracy {unsurrogate(item)!r}")
        units.append((f"--accuracy {unsurrogate(item)!r}", value.strip(), unit))
    one_unit(units)
    return out


def match_accuracies(
    inputs: list[Input], from_file: dict[str, float], from_options: dict[str, float], file: str | None
) -> dict[str, float]:
    """Every model needs one accuracy; every --accuracy needs a model.

    A results file usually lists more models than one figure shows, so its
    other rows are left out with a note, not refused.
    """
    names = [i.name for i in inputs]
    known = ", ".join(repr(n) for n in names)
    unused = [name for name in from_file if name not in names]
    if unused:
        shown = ", ".join(repr(n) for n in unused[:5]) + (", ..." if len(unused) > 5 else "")
        rows = "row" if len(unused) == 1 else "rows"
        note(f"{file}: ignored {len(unused)} {rows} for models not plotted ({shown})")
    from_file = {k: v for k, v in from_file.items() if k in names}
    for name in from_options:
        if name not in names:
            raise AcecostError(
                f"--accuracy {name}=... names no model analysed (models: {known})"
            )
    acc = {**from_file, **from_options}
    for inp in inputs:
        if inp.name not in acc:
            raise AcecostError(
                f"no accuracy for model {inp.name!r}; give --accuracy '{inp.name}=VALUE'"
                + (f" or a row in {file}" if file else " or --accuracy-file")
            )
    return acc


def check_out(path: str) -> str:
    """Fail before any work if the figure could not be written."""
    p = Path(path)
    if p.suffix.lower() not in OUT_FORMATS:
        raise AcecostError(
            f"cannot write {path}: unsupported format {p.suffix or '(none)'!r}; use .png, .svg or .pdf"
        )
    check_writable(path)
    return path


def parse_size(text: str | None) -> tuple[float, float] | None:
    """``--size 7,4`` -> (7.0, 4.0) inches."""
    if text is None:
        return None
    parts = text.replace("x", ",").split(",")
    try:
        w, h = (float(p) for p in parts)
    except ValueError:
        raise AcecostError(f"bad --size {text!r}: expected W,H in inches, e.g. 7,4") from None
    if not (math.isfinite(w) and math.isfinite(h) and w > 0 and h > 0):
        raise AcecostError(f"bad --size {text!r}: width and height must be positive inches")
    return w, h


def parse_panels(x: str | None, panels: str | None) -> list[str]:
    from acecost.figures.points import METRICS

    valid = ", ".join(METRICS)
    if x is not None and panels is not None:
        raise AcecostError("give --x or --panels, not both")
    if panels is None:
        key = (x or "ace").strip().lower()
        if key not in METRICS:
            raise AcecostError(f"unknown --x {x!r}; use one of {valid}")
        return [key]
    keys = [k.strip().lower() for k in panels.split(",") if k.strip()]
    if not keys:
        raise AcecostError(f"--panels is empty; give a comma-separated list from {valid}")
    for k in keys:
        if k not in METRICS:
            raise AcecostError(f"unknown panel {k!r} in --panels; use {valid}")
    if len(set(keys)) != len(keys):
        raise AcecostError(f"--panels {panels!r} repeats a metric")
    return keys


def analyse_targets(inputs: list[Input]) -> None:
    """Resolve and analyse the inputs that are targets (spinner on a terminal)."""
    from acecost.cli.common import analyse, quiet_enabled

    for inp in inputs:
        if not inp.is_json:
            _, report = analyse(inp.spec, quiet=quiet_enabled())
            inp.data = report.to_dict()


def after_save(fig, out: str) -> None:
    """Say what a small figure left off: its caption (written beside it) and any point label."""
    from pathlib import Path

    from acecost.figures.layout import CAPTION_ATTR
    from acecost.figures.pareto_plot import LABELS_ATTR

    w, h = fig.get_size_inches()
    left_off = getattr(fig, CAPTION_ATTR, [])
    if left_off:
        path = Path(out).with_suffix(".caption.txt")
        try:
            path.write_text("\n".join(left_off) + "\n", encoding="utf-8")
        except OSError as e:
            raise AcecostError(f"cannot write {path}: {e.strerror or e}") from None
        note(f"the caption does not fit a {w:g}x{h:g} in figure; wrote it to "
             f"{unsurrogate(str(path))} for the paper's caption (--no-caption leaves it out)")
    for text in getattr(fig, LABELS_ATTR, []):
        warn(f"no room for the label {text!r} at {w:g}x{h:g} in; its point is drawn unlabelled")
