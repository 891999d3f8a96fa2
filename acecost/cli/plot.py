"""``acecost plot``: accuracy-versus-cost Pareto figures with the PokeBNN reference.

Every input is checked (names, accuracies, output path) before anything is
analysed, so a typo costs a second, not a minute of tracing. User errors are
one ``acecost: error: ...`` line on stderr and exit code 2.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from acecost.cli.contract import AcecostCommand
from acecost.cli.common import stderr, user_errors
from acecost.errors import AcecostError

OUT_FORMATS = (".png", ".svg", ".pdf")


def warn(message: str) -> None:
    click.echo(f"acecost: warning: {message}", err=True)


# ------------------------------------------------------------------ inputs


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


def parse_inputs(args: tuple[str, ...]) -> list[Input]:
    """Read JSON inputs now (cheap); targets are analysed later."""
    from acecost.diff import load_report

    if not args:
        raise AcecostError(
            "give at least one model: an analysis JSON (acecost analyze --format json) or a target"
        )
    out: list[Input] = []
    for arg in args:
        name, spec = _split_named(arg)
        if spec.lower().endswith(".json"):
            data = load_report(spec)
            meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
            default = meta.get("target") or Path(spec).stem
            out.append(Input(name or str(default), spec, True, data))
        else:
            out.append(Input(name or spec, spec, False))
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
    text = str(raw).strip() if raw is not None else ""
    number = text[:-1].strip() if text.endswith("%") else text
    try:
        value = float(number)
    except ValueError:
        raise AcecostError(f"{where}: accuracy {text!r} is not a number") from None
    if not math.isfinite(value):
        raise AcecostError(f"{where}: accuracy {text!r} is not a finite number")
    return value


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
    for i, row in enumerate(rows, start=2):
        name = (row.get(name_column) or "").strip()
        if not name:
            raise AcecostError(f"{path}, line {i}: empty {name_column!r}")
        if name in out:
            raise AcecostError(f"{path}, line {i}: model {name!r} appears twice")
        out[name] = parse_accuracy_value(row.get(column), f"{path}, line {i} ({name})")
    return out


def parse_accuracy_options(values: tuple[str, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in values:
        name, sep, value = item.rpartition("=")
        if not sep or not name.strip():
            raise AcecostError(f"bad --accuracy {item!r}: expected NAME=VALUE, e.g. mynet=70.5")
        out[name.strip()] = parse_accuracy_value(value, f"--accuracy {item!r}")
    return out


def match_accuracies(
    inputs: list[Input], from_file: dict[str, float], from_options: dict[str, float], file: str | None
) -> dict[str, float]:
    """Every model needs one accuracy and every accuracy needs a model."""
    names = [i.name for i in inputs]
    known = ", ".join(repr(n) for n in names)
    for name in from_file:
        if name not in names:
            raise AcecostError(
                f"{file} has an accuracy for {name!r}, which is not among the models analysed "
                f"({known}); add it as an input or remove the row"
            )
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
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise AcecostError(f"cannot write {path}: directory {str(parent)!r} does not exist")
    if p.is_dir():
        raise AcecostError(f"cannot write {path}: it is a directory")
    if (p.exists() and not os.access(p, os.W_OK)) or not os.access(parent, os.W_OK):
        raise AcecostError(f"cannot write {path}: permission denied")
    return path


def parse_panels(x: str | None, panels: str | None) -> list[str]:
    from acecost.plot_points import METRICS

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


# ---------------------------------------------------------------- analysis


def analyse_targets(inputs: list[Input]) -> None:
    """Resolve and analyse the inputs that are targets (spinner on a terminal)."""
    from acecost.cli.common import analyse

    for inp in inputs:
        if not inp.is_json:
            _, report = analyse(inp.spec)
            inp.data = report.to_dict()


def compute_reference(name: str):
    """The overlay, with a progress bar while the bundled widths are analysed."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from acecost.plot_points import resolve_reference

    if name == "none":
        return None
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
        disable=not stderr.is_terminal,
    )
    task = None

    def report(model: str, i: int, total: int) -> None:
        nonlocal task
        if task is None:
            progress.start()
            task = progress.add_task("reference", total=total)
        desc = f"analysing reference {model}" if model else "reference done"
        progress.update(task, completed=i, description=desc)

    try:
        return resolve_reference(name, report)
    finally:
        progress.stop()


# ------------------------------------------------------------------ output


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 0.1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def _ratio(r: float) -> str:
    if math.isinf(r):
        return "inf"
    return f"{r:.1f}x" if r < 10 else f"{r:.0f}x"


def render_text(summaries, panels: list[str], y: str, has_reference: bool) -> list[str]:
    """The table of user models and the dominance lines."""
    from acecost.plot_points import METRICS

    metrics = [METRICS[k] for k in panels]
    header = ["model"] + [m.label_text for m in metrics] + [y, "frontier"]
    rows = []
    for s in summaries:
        on = [m.name for m in metrics if s.on_frontier[m.key]]
        name = s.name if s.complete else f"{s.name} (lower bound)"
        rows.append(
            [name]
            + [_fmt(s.costs[m.key] / m.scale) for m in metrics]
            + [f"{s.accuracy:g}", ("yes" if len(metrics) == 1 else ", ".join(on)) if on else "no"]
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]
    if has_reference:
        lines.append("")
        any_dom = False
        for s in summaries:
            for m in metrics:
                d = s.dominance.get(m.key)
                if d is None:
                    continue
                any_dom = True
                lines.append(
                    f"{s.name}: {_ratio(d.ratio)} the {m.name} of {d.by.name} at equal-or-better "
                    f"accuracy ({m.label_text} {_fmt(d.by.cost / m.scale)} vs {_fmt(s.costs[m.key] / m.scale)}; "
                    f"{y} {d.by.accuracy:g} vs {s.accuracy:g})"
                )
        if not any_dom:
            lines.append("no model is dominated by a reference point")
    return lines


# ----------------------------------------------------------------- command


@click.command("plot", cls=AcecostCommand)
@click.argument("inputs", nargs=-1)
@click.option("--accuracy-file", metavar="CSV", help="CSV with one row per model (name and accuracy columns).")
@click.option("--accuracy", "accuracies", multiple=True, metavar="NAME=VALUE",
              help="Accuracy of one model (repeatable); wins over --accuracy-file.")
@click.option("--accuracy-column", default="top1", show_default=True,
              help="Accuracy column of the CSV (also the y-axis label).")
@click.option("--name-column", default="name", show_default=True, help="Model-name column of the CSV.")
@click.option("--x", "x", default=None, metavar="METRIC",
              help="Cost axis: ace, cpu64, size, macs or bops.  [default: ace]")
@click.option("--linear-x", is_flag=True, help="Linear cost axis (default: log).")
@click.option("--panels", default=None, metavar="LIST", help="A row of panels, e.g. ace,cpu64,size.")
@click.option("--reference", default="pokebnn", show_default=True, metavar="pokebnn|none",
              help="Overlay the bundled PokeBNN widths and the published BNN points.")
@click.option("--out", default="pareto.png", show_default=True, metavar="FILE",
              help="Figure file: .png, .svg or .pdf.")
@click.option("--title", default=None, help="Figure title.")
def plot(inputs, accuracy_file, accuracies, accuracy_column, name_column, x,
         linear_x, panels, reference, out, title) -> None:
    """Plot accuracy against cost (Pareto frontier) beside the PokeBNN reference.

    INPUTS are analysis JSON files (from 'acecost analyze --format json'; named
    by their meta.target or file stem, or NAME=path.json) or targets to analyse
    (model.py, pkg.mod:attr, zoo:NAME; NAME=target names one), or sweep tables
    (.csv, .jsonl, .parquet from 'acecost sweep -o'), whose accuracies the
    --accuracy-file gives in columns named after the sweep's parameters.

    \b
    acecost plot a.json b.json --accuracy-file results.csv
    acecost plot mine=model.py --accuracy mine=68.2 --panels ace,cpu64,size
    """
    with user_errors():
        _run(inputs, accuracy_file, accuracies, accuracy_column, name_column, x, linear_x,
             panels, reference, out, title)


def _report_points(inputs, accuracy_file, accuracies, accuracy_column, name_column) -> list:
    """One point per analysis JSON or target, with its accuracy by name."""
    from acecost.plot_points import ModelPoint

    parsed = parse_inputs(tuple(inputs))
    if accuracy_file is None and not accuracies:
        raise AcecostError("no accuracies: give --accuracy-file results.csv or --accuracy NAME=VALUE")
    from_file = read_accuracy_file(accuracy_file, name_column, accuracy_column) if accuracy_file else {}
    acc = match_accuracies(parsed, from_file, parse_accuracy_options(tuple(accuracies)), accuracy_file)

    analyse_targets(parsed)
    return [ModelPoint.from_report(i.name, i.data, acc[i.name]) for i in parsed]


def _run(inputs, accuracy_file, accuracies, accuracy_column, name_column, x, linear_x, panels,
         reference, out, title) -> None:
    from acecost.plot import plot_pareto
    from acecost.plot_points import is_top1, summarize
    from acecost.plot_style import save

    keys = parse_panels(x, panels)
    ref_name = (reference or "").strip().lower()
    if ref_name not in ("pokebnn", "none"):
        raise AcecostError(f"unknown --reference {reference!r}; use pokebnn or none")
    check_out(out)
    from acecost.sweeps.plotting import sweep_points

    points = sweep_points(inputs, accuracy_file, accuracies, accuracy_column, warn)
    if points is None:
        points = _report_points(inputs, accuracy_file, accuracies, accuracy_column, name_column)
    for p in points:
        if not p.complete:
            warn(f"{p.name}: the analysis is incomplete (unsupported operations); its costs are lower bounds")
    ref = compute_reference(ref_name)
    if ref is not None and is_top1(accuracy_column) and all(p.accuracy <= 1 for p in points):
        warn("every accuracy is <= 1: the reference is in percent (write 70.5, not 0.705)")
    if ref is not None and not is_top1(accuracy_column):
        warn(f"the reference publishes ImageNet top-1; its accuracies are not drawn on {accuracy_column!r}")

    fig = plot_pareto(points, panels=keys, reference=ref, title=title, y=accuracy_column,
                      log_x=not linear_x)
    save(fig, out)
    for line in render_text(summarize(points, keys, ref, accuracy_column), keys, accuracy_column,
                            ref is not None and is_top1(accuracy_column)):
        click.echo(line)
    click.echo(f"wrote {out}")
