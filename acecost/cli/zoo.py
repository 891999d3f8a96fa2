"""``acecost zoo``: the bundled reference models.

``zoo list`` reads the costs stored with the package (:mod:`acecost.zoo.costs`)
at the default input, so it imports neither jax nor flax; another
``--resolution`` or ``--batch`` analyses every model now. The table keeps the
numbers on one line per model and lists the descriptions below it, so it
reads at 80 columns.
"""
from __future__ import annotations

from typing import Any

import click

from acecost import zoo as models
from acecost.cli.contract import AcecostCommand, AcecostGroup
from acecost.cli.common import stderr, user_errors
from acecost.metrics import TABLE

#: the costs ``zoo list`` shows, from the table of metrics
COLUMNS = tuple(TABLE[k] for k in ("macs", "bops", "ace", "cpu64", "size"))


@click.group("zoo", cls=AcecostGroup)
def zoo():
    """Bundled reference models (analyse one with `acecost analyze zoo:NAME`)."""


@zoo.command("list", cls=AcecostCommand)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="A table to read, or JSON with every stored field.")
@click.option("--no-costs", is_flag=True, help="Only names and descriptions.")
@click.option("--resolution", type=click.IntRange(8), default=models.RESOLUTION, show_default=True,
              help=f"Input height and width; other than {models.RESOLUTION} analyses every model now "
                   "(the stored costs are at the default input).")
@click.option("--batch", type=click.IntRange(1), default=models.BATCH, show_default=True,
              help=f"Images per input; other than {models.BATCH} analyses every model now.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar while models are analysed.")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def list_models(fmt, no_costs, resolution, batch, quiet, debug):
    """Each bundled model with its MACs, BOPs, ACE, CPU64 and size as acecost computes them."""
    with user_errors():
        stored = (resolution, batch) == (models.RESOLUTION, models.BATCH)
        if no_costs:
            found: dict[str, dict[str, Any]] = {}
        elif stored:
            from acecost.zoo import costs

            found = {name: costs.stored(name) for name in models.MODELS}
        else:
            found = _analyse_all(resolution, batch, quiet)
        rows = [_row(name, entry, found.get(name)) for name, entry in models.MODELS.items()]
        if fmt == "json":
            from acecost.report.safe_text import to_json

            doc = {"resolution": resolution, "batch": batch, "models": rows}
            if not no_costs:
                doc["costs"] = "stored" if stored else "analysed"
            click.echo(to_json(doc), nl=False)
            return
        _print_table(rows, resolution, batch, None if no_costs else ("stored" if stored else "analysed now"))


def _analyse_all(resolution: int, batch: int, quiet: bool = False) -> dict[str, dict[str, Any]]:
    """Every model analysed at an input the stored costs are not for, with a progress bar."""
    from rich.progress import Progress

    from acecost.zoo import costs

    found = {}
    with Progress(console=stderr, transient=True, disable=quiet or not stderr.is_terminal) as progress:
        task = progress.add_task("Analysing the zoo", total=len(models.MODELS))
        for name in models.MODELS:
            progress.update(task, description=f"Analysing {name} at {resolution}x{resolution}, batch {batch}")
            found[name] = costs.analyse(name, resolution, batch)
            progress.advance(task)
    return found


def _row(name: str, entry: models.ZooModel, found: dict[str, Any] | None) -> dict[str, Any]:
    row: dict[str, Any] = {"name": f"zoo:{name}", "family": entry.family, "variant": entry.variant,
                           "description": entry.description}
    if found is not None:
        row.update(found["totals"])
        row["elementwise_by_category"] = dict(found["elementwise"])
    return row


def _print_table(rows: list[dict[str, Any]], resolution: int, batch: int, costs: str | None) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if costs is not None:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False,
                      title=f"acecost zoo ({resolution}x{resolution}, batch {batch}, {costs})")
        table.add_column("Name", no_wrap=True)
        for m in COLUMNS:
            table.add_column(m.name, justify="right", no_wrap=True)
        for row in rows:
            table.add_row(row["name"], *(m.format(row[m.totals_key]) for m in COLUMNS))
        console.print(table)
    about = Table(box=None, show_header=costs is None, padding=(0, 1), title=None if costs else "acecost zoo")
    about.add_column("Name", no_wrap=True)
    about.add_column("Description", overflow="fold")
    for row in rows:
        about.add_row(row["name"], row["description"])
    console.print(about)
    console.print("Analyse one with `acecost analyze zoo:NAME`.", style="dim", highlight=False)
