"""``acecost analyze TARGET``: the per-layer cost table of one model."""
from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.text import Text

from acecost.cli.contract import AcecostCommand
from acecost.report import render
from acecost.cli.common import analyse, fail, param_option, target_options, user_errors, warn
from acecost.report.safe_text import to_json
from acecost.report.energy import estimate, load_table
from acecost.report.energy_text import energy_markdown, energy_rich_table


@click.command("analyze", cls=AcecostCommand)
@click.argument("target")
@target_options
@param_option
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "markdown"]), default="table",
              show_default=True, help="table for people; json every record (what check, diff and plot read); "
                                      "csv and markdown the table's rows.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="Write to FILE instead of stdout.")
@click.option("--depth", type=click.IntRange(1),
              help="Group layers by the first N parts of their names (table, csv, markdown; --by layer).")
@click.option("--full", is_flag=True, show_default=True,
              help="Every layer in the table. By default a table longer than 8 rows is grouped by name to fit "
                   "an 80x24 terminal (csv and markdown always list every layer).")
@click.option("--by", type=click.Choice(["layer", "primitive", "bits"]), default="layer", show_default=True,
              help="One row per layer, per primitive, or per activation x weight bit pair.")
@click.option("--strict", is_flag=True, help="Exit 1 on any float fallback, unsupported primitive or incomplete total.")
@click.option("--quiet", "-q", is_flag=True, help="No progress indicator and no warnings panel.")
@click.option("--energy", metavar="horowitz45|FILE",
              help="Add an energy estimate (pJ) from a built-in table or a JSON/TOML override file.")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def analyze(target, fmt, output, depth, full, by, strict, quiet, energy, debug, **options):
    """Per-layer MACs, ACE, BOPs, CPU64, size and elementwise work of TARGET.

    TARGET is a model file (model.py), an importable pkg.module:attr, or
    zoo:NAME for a bundled model (see `acecost zoo list`).
    """
    with user_errors():
        if output == "":
            fail("--output is empty: give a file name")
        if energy is not None and fmt == "csv":
            fail("--energy has no CSV form: use --format json, markdown or table")
        _check_grouping(fmt, depth, full, by)
        table = load_table(energy) if energy is not None else None
        _, report = analyse(target, quiet=quiet, **options)  # the shared options of target_options
        compact = render.compact_rows(report) if fmt == "table" and by == "layer" and not (full or depth) \
            else None
        rows = compact.rows if compact else render.group_rows(report, by=by, depth=depth)
        note = compact.note if compact else None
        estimate_ = estimate(report, table) if table is not None else None
        if fmt == "table":
            text = None
        elif fmt == "json":
            data = report.to_dict()
            if estimate_ is not None:
                data["energy"] = estimate_.to_dict()
            text = to_json(data)
        elif fmt == "csv":
            text = render.to_csv(report, rows)
        else:
            text = render.to_markdown(report, rows)
            if estimate_ is not None:
                text += "\n## Energy\n\n" + energy_markdown(estimate_)
        if fmt in ("csv", "markdown") and render.approximate(report) and not quiet:
            warn(f"approximate report: {render.approximate(report)}")
        if output is not None:
            try:
                if text is None:
                    with open(output, "w", encoding="utf-8") as fh:
                        print_table(report, rows, estimate_, Console(file=fh, width=120), quiet, note=note)
                else:
                    Path(output).write_text(text, encoding="utf-8")
            except OSError as exc:
                fail(f"cannot write {output}: {exc.strerror or exc}")
        elif text is None:
            print_table(report, rows, estimate_, Console(), quiet, title=target, note=note)
        else:
            click.echo(text, nl=False)
    if strict and (report.fallbacks or report.unsupported or not report.totals.complete):
        click.echo(f"acecost: strict: {len(report.fallbacks)} float fallback(s), "
                   f"{len(report.unsupported)} unsupported primitive(s), totals "
                   f"{'complete' if report.totals.complete else 'incomplete'}", err=True)
        raise click.exceptions.Exit(1)


def _check_grouping(fmt: str, depth: int | None, full: bool, by: str) -> None:
    """A grouping option the output would not use is an error, not silently dropped."""
    if full and depth:
        fail("--full and --depth exclude each other: --full lists every layer, --depth N groups them")
    if fmt == "json" and (depth or by != "layer"):
        fail(f"--format json lists every layer record; {'--depth' if depth else '--by'} groups the rows of "
             "--format table, csv or markdown")
    if depth and by != "layer":
        fail(f"--depth groups layers by name; it does not apply to --by {by}")
    if full and by != "layer":
        fail(f"--full lists every layer; --by {by} has one row per {'bit pair' if by == 'bits' else by}")


def print_table(report, rows, estimate_, console: Console, quiet: bool, title: str | None = None,
                note: str | None = None) -> None:
    """The cost table, then the energy table if one was asked for, on ``console``."""
    render.print_table(report, rows, console, title=title, max_warnings=0 if quiet else 8, note=note)
    if estimate_ is not None:
        console.print(energy_rich_table(estimate_))
        for warning in estimate_.warnings:
            console.print(Text.assemble(("energy:", "yellow"), f" {warning}"))
