"""The energy estimate as a terminal table and as markdown.

Kept apart from :mod:`acecost.report.energy`, which loads tables and
estimates; this is the reporting edge, like :mod:`acecost.report.render` for costs.
"""
from __future__ import annotations

from acecost.metrics import format_energy  # noqa: F401  (pJ for people: the table of metrics writes it)
from acecost.report.energy import EnergyReport, EnergyRow, EnergyTotals


_COLUMNS = ("Layer", "Compute", "Elementwise", "Weights SRAM", "On-chip total", "Weights DRAM (alt.)")


def _cells(row: EnergyRow | EnergyTotals) -> list[str]:
    return [format_energy(v) for v in
            (row.compute_pj, row.elementwise_pj, row.sram_pj, row.total_pj, row.dram_pj)]


#: Narrow headers so the terminal table fits 80 columns; the caption explains them.
_SHORT_COLUMNS = ("Layer", "Compute", "Elementw.", "SRAM wts", "On-chip", "DRAM wts*")


def _caption(er: EnergyReport) -> str:
    return (f"energy table {er.table.name}: on-chip = compute + elementwise + weight reads from "
            "SRAM; *DRAM wts = reading the weights from off-chip memory instead")


def energy_rich_table(er: EnergyReport, title: str | None = "Energy estimate"):
    """A rich Table with one row per layer and a totals footer."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, caption=_caption(er), box=box.SIMPLE_HEAD, pad_edge=False,
                  header_style="bold", show_footer=True, footer_style="bold")
    footer = ["Total", *_cells(er.totals)]
    for i, (name, foot) in enumerate(zip(_SHORT_COLUMNS, footer)):
        if i == 0:
            table.add_column(name, footer=foot, overflow="ellipsis", no_wrap=True, ratio=1, min_width=12)
        else:
            table.add_column(name, footer=foot, justify="right", no_wrap=True)
    for row in er.rows:
        table.add_row(Text(row.layer), *_cells(row))  # a layer name is printed as written, never as markup
    return table


def energy_markdown(er: EnergyReport) -> str:
    """The energy table as GitHub markdown, totals row last."""
    head = "| " + " | ".join(_COLUMNS) + " |\n|---|" + "---:|" * (len(_COLUMNS) - 1) + "\n"
    body = "".join(f"| `{r.layer}` | " + " | ".join(_cells(r)) + " |\n" for r in er.rows)
    foot = "| **Total** | " + " | ".join(f"**{c}**" for c in _cells(er.totals)) + " |\n"
    text = head + body + foot + f"\n{_caption(er)[0].upper()}{_caption(er)[1:]}.\n"
    if er.warnings:
        text += "".join(f"\n- {w}" for w in er.warnings) + "\n"
    return text
