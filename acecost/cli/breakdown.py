"""``acecost plot --breakdown``: where each model's cost goes, as a figure and a table.

Costs only: the options that feed the accuracy axis are refused rather than
silently ignored.
"""

from __future__ import annotations

import click
from click.core import ParameterSource

from acecost.cli.common import warn
from acecost.cli.plot_inputs import after_save, analyse_targets, check_out, note, parse_inputs
from acecost.errors import AcecostError
from acecost.report.safe_text import unsurrogate

# Options of ``acecost plot`` that have no meaning for a breakdown.
_PARETO_ONLY = {
    "accuracy_file": "--accuracy-file",
    "accuracies": "--accuracy",
    "accuracy_column": "--accuracy-column",
    "name_column": "--name-column",
    "panels": "--panels",
    "linear_x": "--linear-x",
    "reference": "--reference",
    "dataset": "--dataset",
}


def run_breakdown(inputs, x, depth, out, title, caption, size, *, legend="below", normalize=False) -> None:
    """Analyse (or read) every input, draw the bars, print the numbers drawn."""
    from acecost.figures.breakdown import breakdown
    from acecost.figures.points import METRICS
    from acecost.sweeps.plotting import is_sweep_table

    ctx = click.get_current_context()
    for param, flag in _PARETO_ONLY.items():
        if ctx.get_parameter_source(param) == ParameterSource.COMMANDLINE:
            raise AcecostError(f"--breakdown draws costs only; {flag} does not apply to it")
    if legend == "inside":
        raise AcecostError("--legend inside applies to the Pareto figure; a breakdown's bars fill "
                           "its axes (use below or none)")
    key = (x or "ace").strip().lower()
    if key not in METRICS:
        raise AcecostError(f"unknown --x {x!r}; use one of {', '.join(METRICS)}")
    check_out(out)
    tables = [i for i in inputs if is_sweep_table(i)]
    if tables:
        raise AcecostError(f"--breakdown needs per-layer analyses; {tables[0]} is a sweep table "
                           "(give analysis JSON files or targets)")
    parsed = parse_inputs(tuple(inputs))
    analyse_targets(parsed)
    bds = [breakdown(i.name, i.data, key, depth, source=i.spec if i.is_json else i.name) for i in parsed]
    for b in bds:
        if b.total is not None and not b.unknown and abs(float(b.known) - b.total) > 1e-9 * max(1.0, b.total):
            warn(f"{b.name}: its records sum to {_exact(b.known)} but its "
                 f"totals say {_exact(b.total)}; the bar shows the records")
        if b.unknown:
            warn(f"{b.name}: part of its work is not priced "
                 f"({'; '.join(u.why for u in b.unknown)}); its total is a lower bound")

    from acecost.figures.breakdown_plot import plot_breakdown, zero_bars
    from acecost.figures.style import save

    empty = zero_bars(bds)
    if empty:
        note(f"no {bds[0].metric.name} in {', '.join(empty)}: "
             f"{'its bar is' if len(empty) == 1 else 'their bars are'} drawn as 0")

    fig = plot_breakdown(bds, title=title, caption=caption, size=size, legend=legend, normalize=normalize)
    save(fig, out)

    after_save(fig, out)
    for line in render_breakdown(bds):
        click.echo(line)
    click.echo(f"wrote {unsurrogate(out)}")  # a file name that is not UTF-8, escaped


def _exact(value) -> str:
    """A sum that disagrees with a total, in full (``191,365,121``): three figures could read alike."""
    text = f"{float(value):,.6f}".rstrip("0").rstrip(".")
    return text


def render_breakdown(bds) -> list[str]:
    """One row per bar segment: model, group, bits, value (as the table of metrics writes it) and its
    share of the model's known total."""
    m = bds[0].metric
    header = ["model", "group", "bits", m.name, "share"]
    rows = []
    for b in bds:
        whole = b.known or 1
        for s in b.segments:
            rows.append([b.name, s.group, s.bits, m.format(s.value),
                         f"{100 * float(s.value / whole):.1f}%"])
        for u in b.unknown:
            rows.append([b.name, u.group, "?", "?", "?"])
        total = m.format(b.known)
        rows.append([b.name, "total", "", f">= {total}" if b.unknown else total, ""])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]
