"""The frame of a Pareto figure: its size in inches, its margins, and its axes' limits.

Drawing (:mod:`acecost.figures.pareto_plot`) puts the points and lines on the
axes; this module decides how large the figure is and where the axes end:
the panel size and margins (narrower at one column), the check of a
requested size, the figure sized around the measured legend and caption
(:class:`acecost.figures.layout.Footer`), and each axis's limits and tick
numbers, in the paper unit while they read well in it
(:mod:`acecost.figures.numbers`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from acecost.errors import AcecostError
from acecost.figures.labels import log_locator
from acecost.figures.layout import Footer, Geometry
from acecost.figures.numbers import axis_label, fits_paper_unit, tick_formatter
from acecost.figures.points import Metric
from acecost.figures.style import Fonts, fonts_for

# Figure geometry, inches.
PANEL_W, PANEL_H = 4.6, 3.7
MIN_WIDTH = 7.0
WIDE_GEOMETRY = Geometry(0.75, 0.25, 0.3, 0.5, 0.55, 1.2)
COLUMN_GEOMETRY = Geometry(0.5, 0.12, 0.15, 0.3, 0.42, 1.0)  # 8 pt text


def geometry(width: float, n: int) -> Geometry:
    """The margins of a figure ``width`` inches wide with ``n`` panels: narrower at one column."""
    return COLUMN_GEOMETRY if fonts_for(width, n).compact else WIDE_GEOMETRY


def size_figure(
    fig: Figure, n: int, entries: dict[str, tuple[float, object]], fonts: Fonts, caption: list[str], title: str,
    height: float | None, legend: str,
) -> None:
    """Measure legend and caption, then size the figure so that nothing overlaps.

    ``entries`` are the legend's, label -> (order, handle); ``fonts`` the figure's text sizes.
    With a fixed ``height`` the axes get what the legend and caption leave;
    a caption that alone would squeeze them is left off (see :class:`Footer`).
    """
    fig_w = fig.get_figwidth()
    g = geometry(fig_w, n)
    panel_w = (fig_w - g.left - g.right - (n - 1) * g.gap) / n
    ordered = sorted(entries.items(), key=lambda kv: kv[1][0])
    foot = Footer(fig, [h for _, (_, h) in ordered], [k for k, _ in ordered], caption,
                  max_cols=3 * n, below_axes=g.below_axes, fonts=fonts, legend=legend,
                  handlelength=2.2 if not fonts.compact else 1.8,
                  columnspacing=2.0 if not fonts.compact else 1.0)
    # A caption that would leave the plot under 40% of a fixed height goes to the paper's caption.
    panel_h = PANEL_H if height is None else foot.fit(height, g.top, g.min_panel, 0.4 * height)
    below = foot.height
    if panel_h < g.min_panel:
        raise AcecostError(
            f"a figure {height:g} in high leaves {panel_h:.1f} in for the axes after {foot.drawn()}; "
            + foot.taller(g.top + below + g.min_panel)
        )
    fig_h = g.top + panel_h + below
    fig.set_size_inches(fig_w, fig_h)
    fig.subplots_adjust(left=g.left / fig_w, right=1 - g.right / fig_w, top=1 - g.top / fig_h,
                        bottom=(fig_h - g.top - panel_h) / fig_h, wspace=g.gap / panel_w)
    foot.place(fig_h, title, top=0.12 if not fonts.compact else 0.06)


def figure_width(size: tuple[float, float] | None, n: int) -> float:
    """The width of a figure of ``n`` panels: the given ``size``'s, once checked, else wide
    enough for the panels."""
    g = WIDE_GEOMETRY
    fig_w = max(MIN_WIDTH, g.left + g.right + n * PANEL_W + (n - 1) * g.gap)
    if size is not None:
        fig_w = check_size(size, n)
    return fig_w


def check_size(size: tuple[float, float], n: int) -> float:
    """The figure width, once a (width, height) in inches is known to leave room for the axes."""
    w, h = (float(v) for v in size)
    if not (math.isfinite(w) and math.isfinite(h) and w > 0 and h > 0):
        raise AcecostError(f"figure size {w:g}x{h:g}: width and height must be positive inches")
    g = geometry(w, n)
    panel_w = (w - g.left - g.right - (n - 1) * g.gap) / n
    if panel_w < g.min_panel:
        need = g.left + g.right + (n - 1) * g.gap + n * g.min_panel
        raise AcecostError(f"a figure {w:g} in wide leaves {max(panel_w, 0):.1f} in per panel; "
                           f"make it at least {need:.1f} in wide for {n} panel{'s' * (n > 1)}")
    return w


def set_limits(axes: Sequence[object], metrics: Sequence[Metric], accuracies: Sequence[float],
               xs_per_panel: Sequence[Sequence[float]], has_rug: bool, log_x: bool) -> None:
    """Shared y with room for the tick row at the bottom; x per panel with margins, its numbers
    in the paper unit while they read well in it, else in raw SI (:mod:`acecost.figures.numbers`)."""
    if accuracies:
        lo, hi = min(accuracies), max(accuracies)
        span = max(hi - lo, 2.0)
        axes[0].set_ylim(lo - (0.22 if has_rug else 0.1) * span, hi + 0.12 * span)
    for ax, m, xs in zip(axes, metrics, xs_per_panel):
        paper = fits_paper_unit(xs)
        if not paper:
            ax.set_xlabel(axis_label(m, paper), fontsize=ax.xaxis.label.get_fontsize())
        if not log_x:
            hi = max(xs, default=1.0)
            ax.set_xlim(0, hi * 1.12 if hi > 0 else 1.0)
            ax.xaxis.set_major_formatter(tick_formatter(m, paper))
            continue
        ax.set_xscale("log")
        pos = [v for v in xs if v > 0]
        if not pos:
            continue
        lo, hi = min(pos), max(pos)
        if hi / lo < 1.5:
            lo, hi = lo / 1.25, hi * 1.25
        f = (hi / lo) ** 0.12
        ax.set_xlim(lo / f, hi * f)
        ax.xaxis.set_major_locator(log_locator(lo / f, hi * f))
        ax.xaxis.set_major_formatter(tick_formatter(m, paper))
        ax.xaxis.set_minor_formatter(NullFormatter())
