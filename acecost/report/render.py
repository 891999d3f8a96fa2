"""Reports for people: rich table, CSV, markdown, and the grouping behind them.

JSON is :meth:`Report.to_dict`; everything here is presentation only.
"""
from __future__ import annotations

import csv
import io
import re

from rich.cells import cell_len
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from acecost.metrics import LAYER_METRICS, TABLE, TOTALS, format_count
from acecost.report.model import BitsOrigin, FallbackCause, Report
from acecost.report.safe_text import printable

# the rows, their grouping and the default table's choice of rows live in acecost.report.rows
from acecost.report.rows import (  # noqa: F401 - re-exported: the table's rows are asked for here
    COMPACT_ROWS, OP_SHORT, Compact, Row, compact_rows, group_rows, phase_of, row_names, training,
)


def human(n: float) -> str:
    """3 significant figures with an SI prefix (``191M``): :func:`acecost.metrics.format_count`."""
    return format_count(n)


def _mult(row: Row) -> str:
    ms = sorted(m for m in row.multiplier if m > 1)
    return f" x{ms[0]}" if len(ms) == 1 else (" xN" if ms else "")


def wrap_name(name: str, width: int) -> str:
    """``name`` broken after a ``/`` into lines of at most ``width``, continuations
    indented: a layer name never wraps letter by letter while its parts fit (a
    longer part is folded)."""
    if cell_len(name) <= width:
        return name
    lines, line = [], ""
    for part in re.split(r"(?<=/)", name):
        while part:
            room = width - cell_len(line)
            if cell_len(part) <= room:
                line, part = line + part, ""
            elif line.strip():
                lines.append(line)
                line = "  "
            else:  # one part longer than a line
                lines.append(line + part[:room])
                line, part = "  ", part[room:]
    return "\n".join(lines + ([line] if line.strip() else []))


#: the per-layer metrics of the 80-column table and the markdown (the CSV has every one of LAYER_METRICS)
SHOWN_METRICS = tuple(TABLE[k] for k in ("macs", "ace"))
HEADERS = ("Layer", "Op", "Out", "a x w", *(m.label for m in SHOWN_METRICS), "ACE%")
#: the headers of a training step's table: each row's phase after its name
TRAIN_HEADERS = (HEADERS[0], "Phase", *HEADERS[1:])


def table_text(cells: list[list[str]], width: int = 80, headers: tuple[str, ...] = HEADERS) -> Text:
    """The layer table, laid out here rather than by rich.Table (which measures, pads and
    wraps every cell: half a second for 700 rows): numbers are never cut, every column is
    as wide as its widest cell, and the layer names are broken after a ``/`` to fit ``width``."""
    chrome = 2 + 3 * (len(headers) - 1)  # two edges, one rule and two pads per gap between columns
    left = headers.index("a x w")  # the name, (phase,) op and shape columns are text, the rest numbers
    widths = [max([len(h)] + [cell_len(c[i]) for c in cells]) for i, h in enumerate(headers)]
    name_width = max(12, width - sum(widths[1:]) - chrome)
    names = [wrap_name(c[0], name_width).split("\n") for c in cells]
    widths[0] = max([12, len(headers[0])] + [cell_len(line) for lines in names for line in lines])
    total = sum(widths) + chrome

    def line(values) -> str:
        out = [v + " " * (w - cell_len(v)) if i < left else " " * (w - cell_len(v)) + v
               for i, (v, w) in enumerate(zip(values, widths))]
        return " " + "   ".join(out) + " "

    text = Text(no_wrap=True, overflow="ignore")
    text.append(" " * total + "\n")
    text.append(line(headers) + "\n", style="bold")
    text.append(" " + "─" * (total - 2) + " \n")
    blank = [""] * (len(headers) - 1)
    for c, lines in zip(cells, names):
        text.append(line([lines[0], *c[1:]]) + "\n")
        for more in lines[1:]:
            text.append(line([more, *blank]) + "\n")
    text.append(" " * total)
    return text


def rich_report(report: Report, rows: list[Row], *, title: str | None = None, max_warnings: int = 8,
                note: str | None = None, width: int = 80) -> Group:
    """The table for ``width`` columns; ``note`` is a dim line under it (how to see more)."""
    total_ace = report.totals.ace or 1
    phased = training(report)
    # names come from the user's model: printed as written (without control characters),
    # never read as rich markup
    cells = [[printable((row.table_cells[0] if phased else row.name) + _mult(row)),
              *([row.table_cells[1]] if phased else []), row.op, row.out_shape, row.bits,
              *(m.format(getattr(row, m.totals_key)) for m in SHOWN_METRICS),
              f"{100 * row.ace / total_ace:.1f}"] for row in rows]
    # the title on a line of its own: a long path is folded, never cut
    heading = [Text(printable(title), overflow="fold")] if title is not None else []
    footer = [Text(note, style="dim", overflow="fold")] if note else []
    return Group(*heading, table_text(cells, width, TRAIN_HEADERS if phased else HEADERS), *footer,
                 totals_panel(report), *warnings_panel(report, max_warnings))


def totals_panel(report: Report) -> Panel:
    t = report.totals
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(justify="right")
    grid.add_column(style="dim")
    for label, value, note in total_lines(t):
        grid.add_row(label, value, note)
    hw = report.meta.get("hardware")
    if isinstance(hw, dict) and t.time_s is not None:
        grid.add_row("  on", printable(hw.get("name")), "roofline: a lower bound")
    for label, value, note in [*prep_lines(t.weight_prep), *measuring_lines(report.meta)]:
        grid.add_row(label, value, note)
    for phase, pt in report.phases.items():
        grid.add_row(f"  {phase}", f"ACE {pt['ace']:,}", f"MACs {pt['macs']:,}")
    title = "Totals" if t.complete else "Totals (INCOMPLETE: see warnings)"
    return Panel(grid, title=title, title_align="left", expand=False,
                 border_style="green" if t.complete and not report.fallbacks else "yellow")


def exact(value: int | float) -> str:
    """A total in full: ``191,365,120``; a fraction (CPU64) to two decimals."""
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


def total_lines(t) -> list[tuple[str, str, str]]:
    """The totals as (heading, exact value, readable value), one per metric of the table in the
    report's order; the parameter count is said beside the size, the BOPs' share of the MACs beside them."""
    lines = []
    for m, value in shown_totals(t):
        if value is None:
            lines.append((m.heading, "unknown", "not counted in this report"))
            continue
        text, note = exact_total(m, value), m.format(value)
        if m.key == "bops":
            note += f", {100 * t.binary_fraction:.1f}% of MACs"
        if m.key == "size":
            note += f", {t.params:,} params"
        lines.append((m.heading, text, note))
    return lines


def shown_totals(t) -> list[tuple]:
    """(metric, value) of the totals people are shown, in the report's order: not the parameter
    count (said beside the size), nor a time when no --hardware was given. A value None is unknown
    (a report saved before the metric was counted)."""
    return [(m, getattr(t, m.totals_key, None)) for m in TOTALS.values()
            if m.key != "params" and not (m.kind == "time" and getattr(t, m.totals_key, None) is None)]


def exact_total(m, value) -> str:
    """A total in full, with its unit: ``191,365,120``, ``6,870,000 bits``, ``0.0001389 s``."""
    if m.kind == "time":
        return f"{value:.4g} s"
    return exact(value) + (" bits" if m.kind == "size" else "")


def prep_lines(prep) -> list[tuple[str, str, str]]:
    """The weight-preparation lines of the totals: (label, number, note); none if there is none."""
    if not prep.found:
        return []
    where = "every step, in the totals" if prep.in_totals else "once, not in the totals"
    lines = [("Weight prep ops", f"{prep.elementwise_ops:,}", where)]
    if prep.macs:
        lines.append(("Weight prep MACs", f"{prep.macs:,}", f"ACE {prep.ace:,}, {where.split(', ')[1]}"))
    return lines


def measuring_lines(meta) -> list[tuple[str, str, str]]:
    """How the concrete weights were priced, when they were measured (``levels``, ``sparsity``)."""
    notes = [note for key, on, note in (("levels", "measured", "widths at most their values' levels"),
                                        ("sparsity", "discount", "only MACs by nonzero weights counted"))
             if meta.get(key) == on]
    return [("Weights", "measured", "; ".join(notes))] if notes else []


#: What to call each cause of a float fallback (:class:`acecost.report.model.FallbackCause`).
FALLBACK_CAUSES = {
    FallbackCause.FLOAT_PARAMETER: "float parameter used without a quantizer",
    FallbackCause.DOT_OUTPUT: "output of a previous dot/conv, not requantized",
    FallbackCause.MODEL_INPUT: "model input used without a quantizer",
    FallbackCause.SCALE_VARIES: "scale varies along a contracting dimension",
    FallbackCause.UNBOUNDED_ROUNDING: "round/floor/ceil with no clip to a range",
    FallbackCause.NO_BIT_RULE: "passes through a primitive with no bit rule",
    FallbackCause.SUM: "output of a sum or reduction, not requantized",
}


def fallback_cause(cause: FallbackCause | None, source: str) -> str:
    """What to call a fallback's cause; OTHER (or none: a record loaded from JSON keeps no cause)
    is named by the account in its source, the text in the brackets after the opening."""
    if cause in FALLBACK_CAUSES:
        return FALLBACK_CAUSES[cause]
    return "other: " + source.split("(", 1)[-1].rstrip(")")


def fallback_summary(report: Report) -> list[tuple[str, int, str]]:
    """(cause, operands, first example) for every operand counted as float for lack of evidence."""
    found: dict[str, list] = {}
    for r in report.fallbacks:
        for role, side, source in (("activation", "a", r.bits_a_source), ("weight", "w", r.bits_w_source)):
            if r.origin(side) is BitsOrigin.FLOAT_FALLBACK:
                entry = found.setdefault(fallback_cause(r.cause(side), source), [0, f"{r.name} ({role})"])
                entry[0] += 1
    return sorted(((cause, n, example) for cause, (n, example) in found.items()), key=lambda e: -e[1])


def warnings_panel(report: Report, limit: int) -> list[Panel]:
    """Float fallbacks grouped by cause, then the other warnings one by one."""
    if not report.warnings or limit <= 0:
        return []
    lines: list = []
    summary = fallback_summary(report)
    if summary:
        n_operands = sum(n for _, n, _ in summary)
        lines.append(Text(f"{n_operands} operand(s) in {len(report.fallbacks)} contraction(s) count as float "
                          "for lack of evidence:", style="bold"))
        grid = Table.grid(padding=(0, 1))
        grid.add_column(justify="right", min_width=5)
        grid.add_column(overflow="fold")  # a long cause wraps under itself, not under the count
        for cause, n, example in summary:
            grid.add_row(str(n), Text.assemble(cause, (f"  e.g. {example}", "dim")))
        lines.append(grid)
        lines.append(Text("Expected in layers meant to be float. For a quantized layer, tag the operand "
                          "with acecost.tag(x, bits=N) or pass --bits 'REGEX=A,W'.", style="dim"))
        if any(cause == FALLBACK_CAUSES[FallbackCause.SCALE_VARIES] for cause, _, _ in summary):
            lines.append(Text("A scale that varies along the contraction (XNOR-Net's per-position activation "
                              "scale): --scales codes prices such operands by their codes.", style="dim"))
    others = [w for w in report.warnings if w not in report.fallback_warnings]
    lines.extend(Text(f"- {w}") for w in others[:limit])
    hidden = max(0, len(others) - limit)
    lines.append(Text(f"{f'... and {hidden} more. ' if hidden else ''}Every warning is in --format json.",
                      style="dim"))
    return [Panel(Group(*lines), title=f"Warnings ({len(report.warnings)})", title_align="left",
                  border_style="yellow")]


def print_table(report: Report, rows: list[Row], console: Console | None = None, **kw) -> None:
    console = console or Console()
    console.print(rich_report(report, rows, width=console.width, **kw))


#: the per-layer metric columns follow the table of metrics (their totals keys, in the report's order);
#: the widths are two numbers, for a spreadsheet (empty where a grouped row's records differ)
CSV_COLUMNS = ["layer", "op", "out_shape", "bits_a", "bits_w", *(m.totals_key for m in LAYER_METRICS.values()),
               "ace_share", "ops", "multiplier"]


def _width(bits: int | None) -> int | str:
    return "" if bits is None else bits


def _records(report: Report, rows: list[Row], phased: bool) -> list[list]:
    total = report.totals.ace or 1
    return [[r.name, *([r.phase] if phased else []), r.op, r.out_shape, _width(r.bits_a), _width(r.bits_w),
             *(getattr(r, m.totals_key) for m in LAYER_METRICS.values()),
             round(r.ace / total, 6), r.ops, max(r.multiplier) if r.multiplier else 1] for r in rows]


def csv_columns(report: Report) -> list[str]:
    """The CSV's header: a training step's rows carry their phase after the layer."""
    return [CSV_COLUMNS[0], "phase", *CSV_COLUMNS[1:]] if training(report) else list(CSV_COLUMNS)


def to_csv(report: Report, rows: list[Row]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(csv_columns(report))
    writer.writerows(_records(report, rows, training(report)))
    return buf.getvalue()


def to_markdown(report: Report, rows: list[Row]) -> str:
    t = report.totals
    phased = training(report)
    shown = " | ".join(m.label for m in SHOWN_METRICS)
    head = (f"| Layer |{' Phase |' if phased else ''} Op | Out | bits_a | bits_w | {shown} | ACE % |\n"
            f"|---|{'---|' if phased else ''}---|---|---:|---:|" + "---:|" * len(SHOWN_METRICS) + "---:|\n")
    total = t.ace or 1
    body = "".join(f"| `{r.name}`{_mult(r)} | {f'{r.phase} | ' if phased else ''}{r.op} | {r.out_shape} | "
                   f"{_width(r.bits_a)} | {_width(r.bits_w)} | "
                   + "".join(f"{getattr(r, m.totals_key):,} | " for m in SHOWN_METRICS)
                   + f"{100 * r.ace / total:.1f} |\n" for r in rows)
    parts = [f"{m.label} unknown" if value is None else f"{m.label} {exact_total(m, value)} ({m.format(value)})"
             for m, value in shown_totals(t)]
    foot = f"\n**Totals**: {' · '.join(parts)}\n"
    prep = t.weight_prep
    if prep.found:
        macs = f", MACs {prep.macs:,}, ACE {prep.ace:,}" if prep.macs else ""
        where = "every step, in the totals" if prep.in_totals else "once, not in the totals"
        foot += f"\n**Weight prep** ({where}): elementwise {prep.elementwise_ops:,}{macs}\n"
    if report.warnings:
        foot += f"\n{len(report.warnings)} warning(s); see `acecost analyze --format json`.\n"
    return head + body + foot


def to_json(report: Report) -> str:
    from acecost.report.safe_text import to_json as dumps

    return dumps(report.to_dict())


def approximate(report: Report) -> str:
    """Why a report is approximate (``''`` if it is exact), as check and the warnings panel say it."""
    parts = []
    if report.fallbacks:
        n = len(report.fallbacks)
        parts.append(f"{n} float fallback{'s' * (n != 1)}")
    if report.unsupported:
        n = len(report.unsupported)
        names = ", ".join(str(u.get("primitive", "?")) for u in report.unsupported[:5])
        parts.append(f"{n} unsupported primitive{'s' * (n != 1)} ({names})")
    if not report.totals.complete:
        parts.append("totals incomplete")
    return "; ".join(parts)
