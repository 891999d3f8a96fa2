"""``acecost plot``: accuracy-versus-cost Pareto figures with the PokeBNN reference,
or (``--breakdown``) where each model's cost goes.

Inputs are read and checked by :mod:`acecost.cli.plot_inputs` before anything
is analysed. User errors are one ``acecost: error: ...`` line on stderr and
exit code 2.
"""

from __future__ import annotations

import math

import click
from click.core import ParameterSource

from acecost.figures.breakdown import DEFAULT_DEPTH
from acecost.cli.common import DefaultShown, user_errors, warn
from acecost.cli.contract import AcecostCommand
from acecost.cli.plot_inputs import (
    analyse_targets,
    check_out,
    after_save,
    match_accuracies,
    parse_accuracy_options,
    parse_inputs,
    parse_panels,
    parse_size,
    read_accuracy_file,
)
from acecost.errors import AcecostError
from acecost.metrics import AXES
from acecost.report.safe_text import unsurrogate
from acecost.units import SPAN, format_count


# ------------------------------------------------------------------ output


def _ratio(r: float) -> str:
    """``1.2x``, ``15x``; from a thousand on as the table of metrics writes counts (``191k times``);
    past the SI prefixes (only a cost no model has) in the exponent form kept there (``7.09e+190x``)."""
    if math.isinf(r):
        return "inf times"
    if r >= 10.0 ** SPAN[1]:
        return f"{r:.4g}x"
    if r >= 999.5:
        return f"{format_count(r)} times"
    return f"{r:.1f}x" if r < 10 else f"{r:.0f}x"


def render_text(summaries, panels: list[str], y: str, has_reference: bool, withheld=None,
                caveat: str | None = None) -> list[str]:
    """The table of user models and the dominance lines; with ``withheld``
    (:class:`acecost.figures.comparable.Withheld`) one line saying why there are none. ``caveat``
    follows the dominance lines (what they assume)."""
    from acecost.figures.points import METRICS

    metrics = [METRICS[k] for k in panels]
    header = ["model"] + [m.name for m in metrics] + [y, "frontier"]
    rows = []
    for s in summaries:
        on = [m.name for m in metrics if s.on_frontier[m.key]]
        name = s.name if s.complete else f"{s.name} (lower bound)"
        rows.append(
            [name]
            + [m.format(s.costs[m.key]) for m in metrics]
            + [f"{s.accuracy:g}", ("yes" if len(metrics) == 1 else ", ".join(on)) if on else "no"]
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]
    if has_reference and withheld is not None:
        lines += ["", withheld.verdict]
    elif has_reference:
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
                    f"accuracy ({m.name} {m.format(d.by.cost)} vs {m.format(s.costs[m.key])}; "
                    f"{y} {d.by.accuracy:g} vs {s.accuracy:g})"
                )
        if not any_dom:
            lines.append("no model is dominated by a reference point")
        if caveat:
            lines.append(caveat)
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
@click.option("--x", "x", default=None, metavar="METRIC", cls=DefaultShown, show_default="ace",
              help=f"Cost axis: {', '.join(AXES)}. With --y, the sweep parameter on the "
                   "horizontal axis instead (default: the only one that varies).")
@click.option("--y", "y", default=None, metavar="METRICS",
              help="Draw a sweep table's metrics (e.g. ace or ace,size; one panel each) against the "
                   "parameter --x: cost against context length, width, bits.")
@click.option("--by", "by", default=None, metavar="PARAMS", cls=DefaultShown,
              show_default="every other parameter that varies",
              help="With --y: a line per value of these sweep parameters.")
@click.option("--linear-x", is_flag=True,
              help="Linear cost axis (default: log). With --y, a linear parameter axis (default: log "
                   "when its values span a factor of 10 or more).")
@click.option("--panels", default=None, metavar="LIST", help="A row of panels, e.g. ace,cpu64,size.")
@click.option("--reference", default="pokebnn", show_default=True, metavar="pokebnn|none",
              help="Overlay the bundled PokeBNN widths and the published BNN points.")
@click.option("--dataset", default=None, metavar="NAME",
              help="The dataset of the accuracies. The reference is ImageNet: with another NAME (or models "
                   "whose recorded input is not 224x224x3) the dominance verdict is withheld.")
@click.option("-o", "--output", "--out", "out", default=None, metavar="FILE", cls=DefaultShown,
              show_default="pareto.png, or breakdown.png with --breakdown, sweep.png with --y",
              help="Figure file: .png, .svg or .pdf.")
@click.option("--title", default=None, help="Figure title.")
@click.option("--caption/--no-caption", default=True, show_default=True,
              help="The caption naming the sources (or, with --breakdown, how bars are made).")
@click.option("--size", "size", default=None, metavar="W,H", cls=DefaultShown,
              show_default="fit the panels, legend and caption",
              help="Figure size in inches: 3.4,2.6 for one paper column (8 pt text, compact legend), "
                   "7,4 for two. A caption that would leave the plot under 40% of the height is written "
                   "to FILE.caption.txt instead.")
@click.option("--legend", "legend", type=click.Choice(["below", "inside", "none"]), default="below",
              show_default=True,
              help="Where the legend goes: below the axes, inside the first panel (where it covers "
                   "the fewest points; Pareto figure only) or nowhere.")
@click.option("--breakdown", is_flag=True,
              help="Where the cost goes: per model, a bar split by layer group and operand bits.")
@click.option("--depth", type=click.IntRange(1), default=DEFAULT_DEPTH, metavar="N", show_default=True,
              help="With --breakdown: a layer group is the first N parts of a layer name.")
@click.option("--normalize", is_flag=True,
              help="With --breakdown: every bar at its own scale (shares of its total, 0-100%), so "
                   "models of very different cost compare; the totals stay written at the bars' ends.")
@click.option("--quiet", "-q", is_flag=True, help="No warnings, notes or progress on stderr.")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def plot(inputs, accuracy_file, accuracies, accuracy_column, name_column, x, y, by,
         linear_x, panels, reference, dataset, out, title, caption, size, legend, breakdown, depth,
         normalize, quiet, debug) -> None:
    """Plot accuracy against cost (Pareto frontier) beside the PokeBNN reference.

    INPUTS are analysis JSON files (from 'acecost analyze --format json'; named
    by their meta.name or file stem, or NAME=path.json) or targets to analyse
    (model.py, pkg.mod:attr, zoo:NAME; NAME=target names one), or sweep tables
    (.csv, .jsonl, .parquet from 'acecost sweep -o'), whose accuracies the
    --accuracy-file gives in columns named after the sweep's parameters.

    With --breakdown, draws where each model's cost goes instead: one bar per
    model of its ACE (or --x METRIC) split by layer group (--depth) and
    coloured by operand bits; no accuracies needed.

    With --y METRICS and one sweep table, draws those metrics against the
    sweep parameter --x, a line per value of the other varying parameters
    (or --by); no accuracies needed.

    \b
    acecost plot a.json b.json --accuracy-file results.csv
    acecost plot mine=model.py --accuracy mine=68.2 --panels ace,cpu64,size
    acecost plot --breakdown a.json b.json -o where.pdf
    acecost plot decode.csv --x L --y ace -o per-token.png
    """
    with user_errors():
        fig_size = parse_size(size)
        if y is not None:
            from acecost.cli.sweep_plot import run_sweep_plot

            run_sweep_plot(inputs, x, y, by, linear_x, out or "sweep.png", title, caption, fig_size,
                           legend=legend)
            return
        if by is not None:
            raise AcecostError("--by applies with --y only (a line per value of a sweep parameter)")
        if breakdown:
            from acecost.cli.breakdown import run_breakdown

            run_breakdown(inputs, x, depth, out or "breakdown.png", title, caption, fig_size,
                          legend=legend, normalize=normalize)
            return
        if click.get_current_context().get_parameter_source("depth") == ParameterSource.COMMANDLINE:
            raise AcecostError("--depth applies to --breakdown only")
        if normalize:
            raise AcecostError("--normalize applies to --breakdown only")
        _run(inputs, accuracy_file, accuracies, accuracy_column, name_column, x, linear_x,
             panels, reference, out or "pareto.png", title, caption, fig_size, legend=legend, dataset=dataset)


def _report_points(inputs, accuracy_file, accuracies, accuracy_column, name_column) -> list:
    """One point per analysis JSON or target, with its accuracy by name."""
    from acecost.figures.points import ModelPoint

    parsed = parse_inputs(tuple(inputs))
    if accuracy_file is None and not accuracies:
        raise AcecostError("no accuracies: give --accuracy-file results.csv or --accuracy NAME=VALUE")
    from_file = read_accuracy_file(accuracy_file, name_column, accuracy_column) if accuracy_file else {}
    acc = match_accuracies(parsed, from_file, parse_accuracy_options(tuple(accuracies)), accuracy_file)

    analyse_targets(parsed)
    return [ModelPoint.from_report(i.name, i.data, acc[i.name]) for i in parsed]


def _run(inputs, accuracy_file, accuracies, accuracy_column, name_column, x, linear_x, panels,
         reference, out, title, caption, size, legend="below", dataset=None) -> None:
    from acecost.figures.comparable import check_dataset, reference_mismatch, unrecorded, unrecorded_note
    from acecost.figures.pareto_plot import plot_pareto
    from acecost.figures.points import METRICS, is_top1, summarize
    from acecost.figures.style import save

    from acecost.sweeps.plotting import is_sweep_table

    if x is not None and x.strip().lower() not in METRICS and inputs and all(map(is_sweep_table, inputs)):
        raise AcecostError(f"--x {x!r} is not a cost metric; to draw metrics against the sweep parameter "
                           f"{x}, add --y METRICS (e.g. --y ace)")
    keys = parse_panels(x, panels)
    ref_name = (reference or "").strip().lower()
    if ref_name not in ("pokebnn", "none"):
        raise AcecostError(f"unknown --reference {reference!r}; use pokebnn or none")
    dataset = check_dataset(dataset)
    check_out(out)
    from acecost.sweeps.plotting import sweep_points

    points = sweep_points(inputs, accuracy_file, accuracies, accuracy_column, warn)
    if points is None:
        points = _report_points(inputs, accuracy_file, accuracies, accuracy_column, name_column)
    for p in points:
        if not p.complete:
            warn(f"{p.name}: the analysis is incomplete (unsupported operations); its costs are lower bounds")
    from acecost.figures.points import resolve_reference

    ref = resolve_reference(ref_name)  # the stored zoo costs: nothing is analysed
    missing = [k for k in keys if ref is not None and any(
        w.totals.get(AXES[k].totals_key) is None for w in ref.widths)]
    if missing:  # a metric the stored costs do not hold (time_s needs a --hardware): never drawn as 0
        warn(f"the bundled {ref.name} reference has no {', '.join(missing)} in its stored costs: "
             "drawn without the reference")
        ref = None
    if ref is not None and is_top1(accuracy_column) and all(p.accuracy <= 1 for p in points):
        warn("every accuracy is <= 1: the reference is in percent (write 70.5, not 0.705)")
    if ref is not None and not is_top1(accuracy_column):
        warn(f"the reference publishes ImageNet top-1; its accuracies are not drawn on {accuracy_column!r}")
    withheld = reference_mismatch(points, ref, dataset)

    fig = plot_pareto(points, panels=keys, reference=ref, title=title, y=accuracy_column,
                      log_x=not linear_x, caption=caption, size=size, legend=legend, dataset=dataset)
    save(fig, out)
    after_save(fig, out)
    if withheld is not None:  # said once the figure is written, so an error is still the one line on stderr
        warn(withheld.warning)
    caveat = unrecorded_note(unrecorded(points), ref) if ref is not None and unrecorded(points) else None
    for line in render_text(summarize(points, keys, ref, accuracy_column), keys, accuracy_column,
                            ref is not None and is_top1(accuracy_column), withheld, caveat):
        click.echo(line)
    click.echo(f"wrote {unsurrogate(out)}")  # a file name that is not UTF-8, escaped
