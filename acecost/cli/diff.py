"""``acecost diff BASE.json NEW.json``: what changed in cost, and where.

It reports and never judges: exit 0, or 2 when a file cannot be read. Two
reports of different models (another target, no layer in common) are
compared as asked, with a warning that says so.
"""

from __future__ import annotations

import traceback
from typing import Any

import click
from rich.text import Text

from acecost.cli.contract import AcecostCommand
from acecost.ci.verdict_words import fmt_pct
from acecost.cli.common import DefaultShown, debug_enabled, fail
from acecost.ci.diff import LayerDelta, ReportDiff, diff_reports, load_report, model_mismatch, priced_apart
from acecost.errors import AcecostError
from acecost.metrics import format_count, format_value
from acecost.report.safe_text import to_json

DIFF_FORMATS = ("table", "json", "markdown")
DEFAULT_TOP = 20  # layer rows shown by table/markdown diffs when --top is not given


def _delta(key: str, value: Any) -> str:
    """A change in the total ``key``, signed: ``+191M``, ``-2kB``, ``0``."""
    text = _total(key, value)
    return text if text.startswith("-") or value == 0 else "+" + text


def _total(key: str, value: Any) -> str:
    return format_value(key, value)


def _diff_rows(d: ReportDiff, top: int) -> list[tuple[str, list[LayerDelta], int]]:
    """(section, rows shown, rows in total) for the three layer sections."""
    return [(title, rows[:top], len(rows))
            for title, rows in (("changed", d.changed), ("added", d.added), ("removed", d.removed))]


def _bits(r: LayerDelta, arrow: str = "->") -> str:
    return r.new_bits if r.base_bits == r.new_bits else f"{r.base_bits} {arrow} {r.new_bits}"


def render_diff_table(d: ReportDiff, base: str, new: str, top: int) -> None:
    """Tables when they fit the terminal (80 columns when piped), else one layer per line.

    A layer name is never cut: a CI log is 80 columns wide and the name is
    what the reader needs; a table too wide for the width becomes a list.
    """
    from rich.console import Console
    from rich.measure import Measurement
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=False)
    unbounded = console.options.update_width(1 << 20)
    console.print(Text(f"totals: {base} -> {new}"), soft_wrap=True)  # a path is not cut either
    totals = Table()
    for col in ("metric", "base", "new", "delta", "change"):
        totals.add_column(col, justify="left" if col == "metric" else "right")
    for t in d.totals:
        totals.add_row(t.label, _total(t.key, t.base), _total(t.key, t.new),
                       _delta(t.key, t.delta), fmt_pct(t.pct))
    console.print(totals)
    for title, rows, total in _diff_rows(d, top):
        if not total:
            continue
        shown = f" (top {len(rows)} of {total})" if total > len(rows) else ""
        table = Table(title=f"{title} layers{shown}", title_justify="left")
        for col in ("layer", "bits", "MACs delta", "base ACE", "new ACE", "ACE delta", "change"):
            table.add_column(col, justify="left" if col in ("layer", "bits") else "right", no_wrap=True)
        for r in rows:
            table.add_row(Text(r.name), Text(_bits(r)), _delta("macs", r.delta_macs), format_count(r.base_ace),
                          format_count(r.new_ace), _delta("ace", r.delta_ace), fmt_pct(r.pct_ace))
        if Measurement.get(console, unbounded, table).maximum <= console.width:
            console.print(table)
            continue
        console.print(Text(f"{title} layers{shown}:"), soft_wrap=True)
        for r in rows:
            console.print(Text(f"  {r.name}"), soft_wrap=True)
            console.print(Text(f"      bits {_bits(r)}, MACs {_delta('macs', r.delta_macs)}, ACE "
                               f"{format_count(r.base_ace)} -> {format_count(r.new_ace)} "
                               f"({_delta('ace', r.delta_ace)}, {fmt_pct(r.pct_ace)})"), soft_wrap=True)
    console.print(f"{len(d.changed)} changed, {len(d.added)} added, {len(d.removed)} removed, "
                  f"{d.unchanged} unchanged layers")


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def render_diff_markdown(d: ReportDiff, base: str, new: str, top: int) -> str:
    lines = [f"### acecost diff: `{_md(base)}` → `{_md(new)}`", "",
             "| metric | base | new | delta | change |", "|---|---:|---:|---:|---:|"]
    for t in d.totals:
        lines.append(f"| {t.label} | {_total(t.key, t.base)} | {_total(t.key, t.new)} "
                     f"| {_delta(t.key, t.delta)} | {fmt_pct(t.pct)} |")
    for title, rows, total in _diff_rows(d, top):
        if not total:
            continue
        shown = f" (top {len(rows)} of {total})" if total > len(rows) else ""
        lines += ["", f"**{title} layers{shown}**", "",
                  "| layer | bits | base ACE | new ACE | ACE delta | change |",
                  "|---|---|---:|---:|---:|---:|"]
        for r in rows:
            lines.append(f"| `{_md(r.name)}` | {_bits(r, '→')} | {format_count(r.base_ace)} "
                         f"| {format_count(r.new_ace)} | {_delta('ace', r.delta_ace)} "
                         f"| {fmt_pct(r.pct_ace)} |")
    lines += ["", f"{len(d.changed)} changed, {len(d.added)} added, {len(d.removed)} removed, "
              f"{d.unchanged} unchanged layers"]
    return "\n".join(lines)


@click.command("diff", cls=AcecostCommand)
@click.argument("base", metavar="BASE.json")
@click.argument("new", metavar="NEW.json")
@click.option("--format", "fmt", type=click.Choice(DIFF_FORMATS), default="table", show_default=True,
              help="A table to read (a list where names would not fit), JSON, or markdown for a PR comment.")
@click.option("--top", type=click.IntRange(min=0), default=None, cls=DefaultShown,
              show_default=f"{DEFAULT_TOP}, all for json", help="Layer rows per section.")
@click.option("--quiet", "-q", is_flag=True, help="No warning on stderr when the reports are of different models or priced with different options.")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def diff(ctx: click.Context, base: str, new: str, fmt: str, top: int | None, quiet: bool, debug: bool) -> None:
    """Compare two JSON reports: totals, per-layer deltas, added and removed layers.

    Reports come from 'acecost analyze --format json'. Layers are sorted by
    the size of their ACE change. Always exits 0 (it reports, it does not
    judge) unless a file cannot be read (2).
    """
    try:
        base_report, new_report = load_report(base), load_report(new)
        d = diff_reports(base_report, new_report)
    except AcecostError as e:
        if debug_enabled(ctx):
            traceback.print_exc()
        fail(e)
    mismatch = model_mismatch(base_report, new_report)
    apart = priced_apart(base_report, new_report, base, new)
    if not quiet:
        if mismatch is not None:
            click.echo(f"acecost: warning: {base} {mismatch[1].replace('the report', new)}", err=True)
        for note in apart:
            click.echo(f"acecost: warning: {note}", err=True)
    if fmt == "json":
        data = d.to_dict(top)
        data["warnings"] = ([] if mismatch is None else [mismatch[1]]) + apart
        click.echo(to_json(data), nl=False)
    elif fmt == "markdown":
        click.echo(render_diff_markdown(d, base, new, DEFAULT_TOP if top is None else top))
    else:
        render_diff_table(d, base, new, DEFAULT_TOP if top is None else top)
