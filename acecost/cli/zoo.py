"""``acecost zoo``: the bundled reference models."""
from __future__ import annotations

import click
from rich import box
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from acecost.cli.contract import AcecostCommand, AcecostGroup
from acecost.cli.common import stderr, user_errors
from acecost.render import human
from acecost.report import to_json


@click.group("zoo", cls=AcecostGroup)
def zoo():
    """Bundled reference models (analyse one with `acecost analyze zoo:NAME`)."""


@zoo.command("list", cls=AcecostCommand)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--no-costs", is_flag=True, help="Only names and descriptions (no analysis).")
@click.option("--resolution", type=click.IntRange(8), default=224, show_default=True)
@click.option("--batch", type=click.IntRange(1), default=1, show_default=True)
def list_models(fmt, no_costs, resolution, batch):
    """Each bundled model with its MACs, ACE, CPU64 and size as acecost computes them."""
    from acecost import analyze_target
    from acecost import zoo as models

    with user_errors():
        rows = []
        with Progress(console=stderr, transient=True, disable=no_costs or not stderr.is_terminal) as progress:
            task = progress.add_task("Analysing the zoo", total=len(models.MODELS))
            for name, entry in models.MODELS.items():
                progress.update(task, description=f"Analysing {name}")
                row = {"name": f"zoo:{name}", "family": entry.family, "description": entry.description}
                if not no_costs:
                    t = analyze_target(entry.build(resolution=resolution, batch=batch)).totals
                    row.update(macs=t.macs, binary_macs=t.binary_macs, ace=t.ace, cpu64=t.cpu64,
                               size_bits=t.size_bits)
                rows.append(row)
                progress.advance(task)
        if fmt == "json":
            click.echo(to_json({"resolution": resolution, "batch": batch, "models": rows}), nl=False)
            return
        table = Table(box=box.SIMPLE_HEAD, title=f"acecost zoo ({resolution}x{resolution}, batch {batch})")
        table.add_column("Name", no_wrap=True)
        table.add_column("Description", overflow="fold", ratio=1)
        if not no_costs:
            for col in ("MACs", "ACE (G)", "CPU64 (1e8)", "Size (MB)"):
                table.add_column(col, justify="right", no_wrap=True)
        for row in rows:
            cells = [row["name"], row["description"]]
            if not no_costs:
                cells += [human(row["macs"]), f"{row['ace'] / 1e9:.3f}", f"{row['cpu64'] / 1e8:.3f}",
                          f"{row['size_bits'] / 8e6:.2f}"]
            table.add_row(*cells)
        Console().print(table)
