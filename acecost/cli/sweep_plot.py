"""``acecost plot SWEEP --x PARAM --y METRIC``: costs against a sweep parameter, as a figure and a table.

Costs only: the options that feed the accuracy axis or the breakdown are
refused rather than silently ignored. Failed points are left out with one
warning that counts them.
"""

from __future__ import annotations

import click
from click.core import ParameterSource

from acecost.cli.common import warn
from acecost.cli.plot_inputs import after_save, check_out
from acecost.errors import AcecostError
from acecost.report.safe_text import unsurrogate

# Options of ``acecost plot`` that have no meaning for a cost-against-parameter figure.
_NOT_HERE = {
    "accuracy_file": "--accuracy-file",
    "accuracies": "--accuracy",
    "accuracy_column": "--accuracy-column",
    "name_column": "--name-column",
    "panels": "--panels",
    "reference": "--reference",
    "dataset": "--dataset",
    "breakdown": "--breakdown",
    "depth": "--depth",
    "normalize": "--normalize",
}


def split_list(text: str | None, flag: str) -> list[str] | None:
    """``ace,memory_bits`` -> ["ace", "memory_bits"]; None stays None."""
    if text is None:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise AcecostError(f"{flag} is empty; give a comma-separated list")
    return items


def run_sweep_plot(inputs, x, y, by, linear_x, out, title, caption, size, *, legend="below") -> None:
    """Read the one sweep table, draw its metrics against ``x``, print the numbers drawn."""
    from acecost.sweeps import table
    from acecost.sweeps.lines import sweep_lines
    from acecost.sweeps.plotting import is_sweep_table

    ctx = click.get_current_context()
    for param, flag in _NOT_HERE.items():
        if ctx.get_parameter_source(param) == ParameterSource.COMMANDLINE:
            raise AcecostError(f"--y draws costs against a sweep parameter; {flag} does not apply to it")
    ys = split_list(y, "--y")
    groups = split_list(by, "--by")
    if len(inputs) != 1 or not is_sweep_table(inputs[0]):
        given = ", ".join(inputs) or "none"
        raise AcecostError(f"--y draws one sweep table (.csv, .jsonl or .parquet from 'acecost sweep -o'); "
                           f"given: {given}")
    check_out(out)
    path = inputs[0]
    sl = sweep_lines(table.read(path), unsurrogate(path), x, ys, groups)
    if sl.failed:
        warn(f"{sl.failed} of {sl.rows} sweep points failed and are not drawn (see the table's error column)")
    for key, n in sl.unknown.items():
        warn(f"{n} sweep point{'s have' if n > 1 else ' has'} no {key} value (unknown) and "
             f"{'are' if n > 1 else 'is'} not drawn on it")
    if sl.incomplete:
        warn(f"{sl.incomplete} sweep point{'s are' if sl.incomplete > 1 else ' is'} not fully analysed "
             "(unsupported operations); their costs are lower bounds")

    from acecost.figures.style import save
    from acecost.figures.sweep_plot import plot_sweep

    fig = plot_sweep(sl, title=title, caption=caption, size=size, legend=legend,
                     log_x=False if linear_x else None)
    save(fig, out)
    after_save(fig, out)
    for line in render_lines(sl):
        click.echo(line)
    click.echo(f"wrote {unsurrogate(out)}")  # a file name that is not UTF-8, escaped


def render_lines(sl) -> list[str]:
    """The numbers drawn: a row per point (line, x), a column per metric in its own format."""
    header = [*sl.by, sl.x, *(m.name for m in sl.metrics)]
    rows = []
    for line in sl.lines:
        cells: dict[float, dict[str, str]] = {}
        for m in sl.metrics:
            for xv, yv in zip(*line.points[m.key]):
                cells.setdefault(xv, {})[m.key] = m.format(yv)
        for xv in sorted(cells):
            rows.append([*(_text(v) for v in line.values), _text(xv),
                         *(cells[xv].get(m.key, "unknown") for m in sl.metrics)])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]


def _text(v) -> str:
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 2 ** 53 else f"{v:g}"
    return str(v)
