"""Cost against a sweep parameter: one panel per metric, a line per value of the other parameters.

:func:`plot_sweep` draws :class:`acecost.sweeps.lines.SweepLines` (``acecost plot
sweep.csv --x L --y ace``) on an Agg canvas, as the other figures do. The lines'
data are the table's raw values (one MAC, one bit); each axis writes them in its
metric's paper unit while they read well there (``ACE (G)``), else with SI
prefixes as the table of metrics writes them (:mod:`acecost.figures.numbers`).

An axis is logarithmic when its values are positive and span at least
:data:`LOG_SPAN` (a context length of 512 to 8192, not a width of 0.5 to 2);
a linear cost axis starts at 0, so a slope reads as a share of the cost.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

from acecost.errors import AcecostError
from acecost.figures.labels import log_locator, thin_ticks
from acecost.figures.layout import LEGEND_PLACES, Footer, Geometry, legend_inside
from acecost.figures.numbers import fits_paper_unit, paper_text
from acecost.figures.style import DPI, OKABE_ITO, fmt_tick, fonts_for
from acecost.metrics import Metric

#: an axis whose positive values span this ratio or more is drawn on a log scale
LOG_SPAN = 10.0
#: an x axis with at most this many distinct values has a tick at each
MAX_VALUE_TICKS = 10
GID_LINE = "sweep-line"  # + ":" + the line's label
# Line colours and markers, Okabe & Ito's, in an order that keeps neighbours apart.
_STYLES = [(OKABE_ITO[c], mk) for c, mk in (("vermillion", "o"), ("blue", "s"), ("bluish_green", "^"),
                                            ("orange", "D"), ("reddish_purple", "v"), ("sky_blue", "P"),
                                            ("black", "X"))]
_PANEL_W, _PANEL_H, _MIN_WIDTH = 4.2, 3.4, 6.0
_WIDE = Geometry(0.95, 0.25, 0.95, 0.5, 0.55, 1.2)
_COLUMN = Geometry(0.62, 0.12, 0.62, 0.3, 0.42, 1.0)


def is_log(values: Sequence[float]) -> bool:
    """Positive values spanning at least :data:`LOG_SPAN`: drawn on a log axis."""
    return bool(values) and min(values) > 0 and max(values) / min(values) >= LOG_SPAN


def metric_axis(m: Metric, values: Sequence[float]) -> tuple[str, FuncFormatter]:
    """The label and tick text of an axis of ``m``'s raw ``values``: the paper unit while they
    read well in it, else the metric's own format (``4k``, ``6.87Mbit``, ``139 µs``)."""
    if m.scale is not None and fits_paper_unit([v / m.scale for v in values]):
        return m.axis_label, FuncFormatter(lambda v, _pos=None: paper_text(v / m.scale))
    return m.name, FuncFormatter(lambda v, _pos=None: m.format(v) if v else "0")


def param_text(v: float, _pos: object = None) -> str:
    """A parameter value as it was swept: ``512``, ``8192``, ``0.75`` (no exponent for an integer)."""
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else fmt_tick(v) if v > 0 else f"{v:g}"


def _x_axis(ax: object, xs: list[float], log: bool) -> None:
    """Ticks at the swept values while they are few (512, 1024 ... not 500, 1e3); else a locator."""
    values = sorted(set(xs))
    if log:
        ax.set_xscale("log")
        lo, hi = values[0], values[-1]
        f = (hi / lo) ** 0.06
        ax.set_xlim(lo / f, hi * f)
        ax.xaxis.set_major_locator(log_locator(lo / f, hi * f))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_minor_formatter(NullFormatter())
    if len(values) <= MAX_VALUE_TICKS:
        ax.xaxis.set_major_locator(FixedLocator(values))
    ax.xaxis.set_major_formatter(FuncFormatter(param_text))


def _y_axis(ax: object, m: Metric, ys: list[float], fontsize: float) -> None:
    label, fmt = metric_axis(m, ys)
    ax.set_ylabel(label, fontsize=fontsize)
    if is_log(ys):
        ax.set_yscale("log")
        lo, hi = min(ys), max(ys)
        f = (hi / lo) ** 0.06
        ax.set_ylim(lo / f, hi * f)
        ax.yaxis.set_major_locator(log_locator(lo / f, hi * f))
        ax.yaxis.set_minor_formatter(NullFormatter())
    elif min(ys) >= 0:
        ax.set_ylim(0, max(ys) * 1.08 if max(ys) > 0 else 1.0)
    ax.yaxis.set_major_formatter(fmt)


def caption_lines(sl: object) -> list[str]:
    """Where the numbers come from, what is held fixed, and what is not drawn."""
    out = [f"Costs by acecost, from the sweep table {sl.source}."]
    if sl.fixed:
        out.append("Fixed: " + ", ".join(f"{p}={v:g}" if isinstance(v, float) else f"{p}={v}"
                                          for p, v in sl.fixed.items()) + ".")
    if sl.failed:
        out.append(f"{sl.failed} of {sl.rows} points failed and are not drawn.")
    for key, n in sl.unknown.items():
        out.append(f"{n} point{'s' * (n > 1)} with no {key} value (unknown) not drawn.")
    if sl.incomplete:
        out.append(f"{sl.incomplete} point{'s' * (sl.incomplete > 1)} not fully analysed: lower bounds.")
    return out


def plot_sweep(sl: object, *, title: str | None = None, caption: bool = True,
               size: tuple[float, float] | None = None, legend: str = "below", log_x: bool | None = None) -> Figure:
    """Draw ``sl`` (:class:`acecost.sweeps.lines.SweepLines`): a row of panels, one per metric.

    ``log_x`` None decides by the values (:func:`is_log`); False forces a linear x axis.
    ``legend`` (shown when there is more than one line): ``"below"``, ``"inside"`` the first
    panel, or ``"none"``. ``size`` is (width, height) in inches.
    """
    if legend not in LEGEND_PLACES:
        raise AcecostError(f"unknown legend place {legend!r}; use {', '.join(LEGEND_PLACES)}")
    n = len(sl.metrics)
    g = _WIDE
    fig_w = max(_MIN_WIDTH, g.left + g.right + n * _PANEL_W + (n - 1) * g.gap)
    if size is not None:
        fig_w = float(size[0])
    fonts = fonts_for(fig_w, n)
    g = _COLUMN if fonts.compact else _WIDE
    fig = Figure(figsize=(fig_w, _PANEL_H + 1.0), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, n, squeeze=False)[0]
    all_x = [x for line in sl.lines for m in sl.metrics for x in line.points[m.key][0]]
    log = is_log(all_x) if log_x is None else bool(log_x) and min(all_x) > 0
    handles = []
    for ax, m in zip(axes, sl.metrics):
        ys = []
        for i, line in enumerate(sl.lines):
            xs, vs = line.points[m.key]
            if not xs:
                continue
            color, marker = _STYLES[i % len(_STYLES)]
            (h,) = ax.plot(xs, vs, color=color, marker=marker, ms=5 if fonts.compact else 6, lw=1.6,
                           label=line.label or m.name)
            h.set_gid(f"{GID_LINE}:{line.label}")
            if ax is axes[0]:
                handles.append(h)
            ys += vs
        _x_axis(ax, all_x, log)
        _y_axis(ax, m, ys, fonts.axis)
        ax.set_xlabel(sl.x, fontsize=fonts.axis)
        ax.tick_params(labelsize=fonts.axis)
        ax.grid(True, which="major", color="0.88", lw=0.6)
        ax.set_axisbelow(True)
    g = _margins(fig, axes, g, fonts)
    if (fig_w - g.left - g.right - (n - 1) * g.gap) / n < g.min_panel:
        need = g.left + g.right + (n - 1) * g.gap + n * g.min_panel
        raise AcecostError(f"a figure {fig_w:g} in wide leaves too little room for {n} panel"
                           f"{'s' * (n > 1)}; make it at least {need:.1f} in wide")
    many = len(sl.lines) > 1
    what = sl.metrics[0].name if n == 1 else "Cost"
    _layout(fig, n, handles if many and legend == "below" else [], caption_lines(sl) if caption else [],
            title or f"{what} vs {sl.x}", size[1] if size is not None else None, fonts, g)
    if many and legend == "inside":
        legend_inside(axes[0], handles, [h.get_label() for h in handles], fonts)
    fig.canvas.draw()
    for ax in axes:
        thin_ticks(ax, fig.canvas.get_renderer())
    return fig


def _margins(fig: Figure, axes: Sequence[object], g: Geometry, fonts: object) -> Geometry:
    """Room left of each panel for its own y tick labels and label (``1.02kbit`` is wider than ``500``)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ticks = max((t.get_window_extent(renderer).width for ax in axes for t in ax.get_yticklabels()
                 if t.get_text()), default=0.0) / fig.dpi
    side = ticks + 1.4 * fonts.axis / 72 + 0.15  # tick labels, the axis label, pads
    return replace(g, left=max(g.left, side), gap=max(g.gap, side + 0.15))


def _layout(fig: Figure, n: int, handles: list, caption: list[str], title: str, height: float | None,
            fonts: object, g: Geometry) -> None:
    """Measure legend and caption, then size the figure so that nothing overlaps."""
    fig_w = fig.get_figwidth()
    panel_w = (fig_w - g.left - g.right - (n - 1) * g.gap) / n
    foot = Footer(fig, handles, [h.get_label() for h in handles], caption, max_cols=max(3 * n, 4),
                  below_axes=g.below_axes, fonts=fonts, handlelength=2.2)
    panel_h = _PANEL_H if height is None else foot.fit(height, g.top, g.min_panel, 0.4 * height)
    if panel_h < g.min_panel:
        raise AcecostError(f"a figure {height:g} in high leaves {max(panel_h, 0):.1f} in for the axes after "
                           f"{foot.drawn()}; " + foot.taller(g.top + foot.height + g.min_panel))
    fig_h = g.top + panel_h + foot.height
    fig.set_size_inches(fig_w, fig_h)
    fig.subplots_adjust(left=g.left / fig_w, right=1 - g.right / fig_w, top=1 - g.top / fig_h,
                        bottom=foot.height / fig_h, wspace=g.gap / panel_w)
    foot.place(fig_h, title, top=0.12 if not fonts.compact else 0.06)
