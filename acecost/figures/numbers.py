"""How the figures write numbers: in the axis' paper unit while it reads well, else as the
table of metrics writes them.

A figure's cost axis is in its metric's paper unit (ACE in G, CPU64 in
10^8, size in Mbit), as BNN papers draw it. Its numbers are written with
three significant figures and never an exponent (:func:`acecost.units.si_digits`).
A small model's values in that unit would read ``0.000004`` (or, written
by ``%g``, ``4e-06 ×10⁹``); an axis whose values fall outside
:data:`PAPER_SPAN` is therefore drawn in raw units with SI prefixes
(``4k``, ``191M``, ``6.87Mbit``: :meth:`acecost.metrics.Metric.format`), its
label naming the metric alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from matplotlib.ticker import FuncFormatter

from acecost.metrics import Metric
from acecost.units import si_digits

#: values (in the paper unit) an axis keeps its paper unit for: 0.01 <= v < 10^5
PAPER_SPAN = (0.01, 1e5)


def fits_paper_unit(values: Iterable[float]) -> bool:
    """Do the positive ``values`` (in the paper unit) all read well in it? (None: yes.)"""
    pos = [float(v) for v in values if v > 0]
    return not pos or (PAPER_SPAN[0] <= min(pos) and max(pos) < PAPER_SPAN[1])


def paper_text(v: float) -> str:
    """A value in the paper unit, three significant figures, no exponent: ``0.104``, ``2.59``, ``15300``."""
    if v == 0:
        return "0"
    sign, d = ("-", Decimal(-v)) if v < 0 else ("", Decimal(v))
    text, _ = si_digits(d, top=0)
    return sign + text


def raw_text(m: Metric, v: float) -> str:
    """A value in the paper unit, written in raw units as the table of metrics writes them (``4k``)."""
    return m.format(v * m.scale) if v else "0"


def value_text(m: Metric, v: float, paper: bool) -> str:
    """A value label (a bar's total): ``0.104 G`` on a paper-unit axis when it reads well there,
    else the raw value (``4k``, ``640bit``)."""
    if paper and (v == 0 or fits_paper_unit([abs(v)])):
        return f"{paper_text(v)} {m.axis_unit}"
    return raw_text(m, v)


def tick_formatter(m: Metric, paper: bool) -> FuncFormatter:
    """Tick labels of a cost axis whose data are in the paper unit."""
    if paper:
        return FuncFormatter(lambda v, _pos=None: paper_text(v))
    return FuncFormatter(lambda v, _pos=None: raw_text(m, v))


def axis_label(m: Metric, paper: bool) -> str:
    """``ACE (G)`` in the paper unit; the metric's name alone when the ticks carry their prefix."""
    return m.axis_label if paper else m.name
