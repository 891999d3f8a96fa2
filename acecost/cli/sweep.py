"""``acecost sweep TARGET --grid NAME=V1,V2``: one row of costs per point of a design space."""
from __future__ import annotations

import sys

import click

from acecost.cli.common import check_writable, stderr, target_options, user_errors
from acecost.cli.child import in_child, phase, probing
from acecost.metrics import TOTALS, format_count
from acecost.sweeps.rows import missing
from acecost.report.safe_text import unsurrogate

#: column headers: a metric's narrow header from the table of metrics, then the sweep's own columns
COLUMN_LABELS = {**{key: m.column for key, m in TOTALS.items()}, "weight_prep_ops": "prep",
                 "warnings": "warn", "seconds": "s", "complete": "complete", "cached": "cached"}
#: the metrics the terminal table shows (the written table has every total)
SHOWN_TOTALS = tuple(key for key in TOTALS if key != "params")


@click.command("sweep")
@click.argument("target")
@target_options
@click.option("--grid", "grids", multiple=True, metavar="NAME=V1,V2,...",
              help="An axis of the space (repeatable): a parameter of the model or an option such as "
                   "float_bits, bits (values split on ';'), mode, batch.")
@click.option("--space", "space_file", metavar="FILE", help="A TOML or JSON space: [grid] axes and/or [[points]].")
@click.option("--sample", type=click.IntRange(1), metavar="N", help="Price N points drawn from the space.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --sample.")
@click.option("--jobs", "-j", type=click.IntRange(1), metavar="N",
              help="Processes pricing points (default: the CPU count).")
@click.option("--executor", metavar="local|dask://HOST:PORT", help="Run the points on a Dask cluster.")
@click.option("--no-cache", is_flag=True, help="Price every point, read and write no cache.")
@click.option("--cache-dir", metavar="DIR",
              help="Where point reports are kept [default: $ACECOST_CACHE_DIR or ~/.cache/acecost/sweep].")
@click.option("--output", "-o", metavar="FILE", help="Write the table: .csv, .jsonl or .parquet.")
@click.option("--sort", metavar="[-]COLUMN", help="Sort rows by a column; --sort=-COLUMN sorts descending.")
@click.option("--pareto", is_flag=False, flag_value="ace,size_bits", default=None, metavar="[X,Y]",
              help="Keep only points not dominated in X and Y (lower is better) [default pair: ace,size_bits].")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar, no table on stdout.")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def sweep(target, grids, space_file, sample, seed, jobs, executor, no_cache, cache_dir, output, sort,
          pareto, quiet, debug, entry, **options):
    """Price every point of a design space of TARGET, cached and in parallel.

    \b
    acecost sweep model.py --grid width=0.5,0.75,1.0 --grid abits=1,2,4
    acecost sweep zoo:pokebnn --grid width=0.5,1.0,2.0 -o pokebnn.csv
    acecost sweep model.py --space space.toml --sample 100 --pareto

    TARGET's acecost_model(**config) takes the parameters as keywords. A
    failed point is a row with its error; the exit code is then 1.
    """
    from acecost.sweeps import table
    from acecost.sweeps.cache import Cache
    from acecost.sweeps.executors import make_executor
    from acecost.sweeps.model import ModelSpec
    from acecost.sweeps.run import run_sweep
    from acecost.sweeps.space import make_space

    with user_errors():
        if output:
            table.output_format(output)
            check_writable(output)  # a directory, or a file that cannot be written: before the first point
        space = make_space(grids, space_file)
        if output:
            table.check_values(space.values(), output)
        columns = [*space.names(), *table.RESULT_COLUMNS]
        sort_key = table.parse_sort(sort, columns)
        pair = table.parse_pair(pareto, columns) if pareto else None
        cache = None if no_cache else Cache(cache_dir)
        def model_ahead() -> None:  # the supervisor's error names this (a probe hands off here)
            phase(f"sweeping {target}")

        if probing() and (no_cache or executor not in (None, "", "local")):  # model code ahead: in a child
            model_ahead()  # (before connecting to a cluster twice)
        # isolated: a point's crash is its own row (the supervisor's own process names the same executor)
        runner = make_executor(executor, jobs, isolated=in_child() or probing())
        progress = _Progress(quiet)
        try:
            outcome = run_sweep(ModelSpec.of(target, entry), space, fixed=options, sample=sample, seed=seed,
                                executor=runner, cache=cache, on_start=progress.start, on_result=progress.advance,
                                on_model=model_ahead)
        finally:
            progress.stop()
        rows = outcome.rows
        if pair:
            rows = rows.pareto(*pair)
        rows = rows.sorted_by(sort_key)
        if output:
            table.write(rows, output)
        shown = not quiet and (not output or sys.stdout.isatty())
        if shown:
            _print_table(rows, target)
    _summary(outcome, output, len(rows) if pair else None, failures_shown=shown)
    if outcome.failed:
        raise click.exceptions.Exit(1)


class _Progress:
    """A progress bar on stderr while points complete (only on a terminal)."""

    def __init__(self, quiet: bool):
        self.bar, self.task = None, None
        if quiet or not stderr.is_terminal:  # nothing to draw: rich.progress is not even imported
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("pricing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=stderr, transient=True)

    def start(self, total: int, cached: int) -> None:
        if self.bar is not None:
            self.bar.start()
            self.task = self.bar.add_task("points", total=total, completed=cached)

    def advance(self, result: dict) -> None:
        if self.bar is not None:
            self.bar.advance(self.task)

    def stop(self) -> None:
        if self.task is not None:  # started: rich prints a newline on a dumb terminal even unstarted
            self.bar.stop()


def _cell(name, value) -> str:
    if missing(value):
        return ""
    if name in TOTALS:
        return TOTALS[name].format(value)
    if name == "weight_prep_ops":
        return format_count(value)
    if name == "seconds":
        return f"{value:.2f}"
    if name in ("complete", "cached"):
        return "yes" if value else "no"
    return str(value)


#: Columns the terminal table gives up first when it is wider than the terminal (the parameters
#: and ACE always stay; every column is in the file ``-o`` writes).
DROP_ORDER = ("seconds", "elementwise_ops", "warnings", "cpu64", "binary_macs", "cached", "size_bits", "macs",
              "complete")


def _print_table(rows, title) -> None:
    """The table fits the terminal (80 columns when piped): no cell is cut short; columns the width
    cannot hold are left out, least telling first (``DROP_ORDER``), and named under the table."""
    from rich import box
    from rich.cells import cell_len
    from rich.console import Console
    from rich.markup import escape
    from rich.measure import Measurement
    from rich.table import Table

    from acecost.report.safe_text import printable

    def text(value) -> str:  # the user's file names, values and errors are shown as written, never as markup
        return escape(printable(value))

    parameters, records = rows.parameters, rows.rows
    shown = [*parameters, *(k for k in SHOWN_TOTALS
                            if not (TOTALS[k].kind == "time" and all(missing(v) for v in rows.column(k)))),
             "warnings", "seconds"]  # a time column only where --hardware gave one
    if any(v is False for v in rows.column("complete")):
        shown.append("complete")
    if any(rows.column("cached")):
        shown.append("cached")
    plain = {n: [printable(_cell(n, rec[n])) for rec in records] for n in shown}
    cells = {n: [escape(c) for c in column] for n, column in plain.items()}
    console = Console()
    # A table is as wide as each column's widest cell, so the rows holding them (and one failed row,
    # for its "failed" mark) measure as the whole table does for any choice of columns: measuring a
    # thousand rows takes a second, and the choice below may measure ten times.
    probe: set[int] = set()
    for column in plain.values():
        if column:
            probe.add(max(range(len(column)), key=lambda i: cell_len(column[i])))
    probe.update([i for i, rec in enumerate(records) if rec["error"]][:1])
    probe_rows = sorted(probe)

    def table(names: list[str], fold: bool = False, rows=None) -> Table:
        t = Table(box=box.SIMPLE_HEAD, padding=(0, 1))
        for name in names:
            param = name in parameters
            t.add_column(COLUMN_LABELS.get(name, name), justify="left" if param else "right",
                         no_wrap=not (fold and param), overflow="fold" if fold and param else "ellipsis")
        first_total = next((i for i, n in enumerate(names) if n not in parameters), None)
        for i in range(len(records)) if rows is None else rows:
            rec = records[i]
            row = [cells[n][i] for n in names]
            if rec["error"] and first_total is not None:
                row[first_total] = "failed"
            t.add_row(*row, style="red" if rec["error"] else None)
        return t

    def width(t: Table) -> int:
        return Measurement.get(console, console.options.update_width(100_000), t).maximum

    names, hidden = list(shown), []
    for name in DROP_ORDER:
        if width(table(names, rows=probe_rows)) <= console.width:
            break
        if name in names:
            names.remove(name)
            hidden.append(COLUMN_LABELS.get(name, name))
    fold = width(table(names, rows=probe_rows)) > console.width  # the parameters alone are wider: wrapped, never cut
    failures = [" ".join(f"{p}={rec[p]}" for p in parameters if rec[p] is not None) + f": {rec['error']}"
                for rec in records if rec["error"]]
    # the title on a line of its own: a table's title wraps at the table's width, mid-phrase
    console.print(f"{text(title)}: {len(rows)} points", soft_wrap=True, highlight=False)
    console.print(table(names, fold))
    if hidden:
        console.print(f"[dim]not shown at {console.width} columns: {', '.join(hidden)} "
                      "(every column is in -o FILE)[/]", highlight=False)
    for line in failures:
        console.print(f"[red]failed[/] {text(line)}", overflow="ellipsis", no_wrap=True, highlight=False,
                      markup=True)


def _summary(outcome, output, kept, failures_shown: bool) -> None:
    n = len(outcome.rows)
    parts = [f"{n} point{'s' if n != 1 else ''}: {outcome.computed} priced ({outcome.executor}), {outcome.cached} from cache"]
    if outcome.failed:
        parts.append(f"{outcome.failed} failed")
    if kept is not None:
        parts.append(f"{kept} on the Pareto front")
    line = ", ".join(parts) + f" in {outcome.seconds:.1f} s"
    if output:
        line += f"; wrote {output}"
    click.echo(f"acecost: {unsurrogate(line)}", err=True)
    if outcome.failed and not failures_shown:
        first = outcome.rows.failed[0]
        where = ", ".join(f"{p}={first[p]}" for p in outcome.parameters if first[p] is not None)
        click.echo(f"acecost: first failure ({where}): {first['error']}", err=True)


__all__ = ["sweep"]
