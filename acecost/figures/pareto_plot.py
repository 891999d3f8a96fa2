"""Accuracy-versus-cost figures, the way BNN papers draw them.

:func:`plot_pareto` returns a :class:`matplotlib.figure.Figure` drawn on an
Agg canvas (no pyplot, no global backend switch, so it is safe in scripts,
servers and notebooks alike). Costs are kept in raw units (one MAC, one bit)
and divided by each metric's paper unit only when drawn.

What a figure shows, per panel (one cost metric each):

- the user's models (vermillion circles) and their Pareto frontier as a
  step line; a model off that frontier (a dominated sweep point) is a
  hollow circle;
- with ``reference="pokebnn"``: the published points of the shipped CSV
  (filled markers, one colour and marker per family, numbered source), the
  bundled PokeBNN widths as cost-only ticks along the x axis, a bundled width
  as a point only when a published accuracy belongs to it, and the frontier
  of the reference points as a dashed step line;
- a caption listing the sources.

Labels are placed by a small deterministic search (eight directions, growing
distance) that avoids markers, other labels and the axes edges (:mod:`acecost.figures.labels`).
The figure's size, margins and axis limits are :mod:`acecost.figures.pareto_geometry`.

Text is sized for print by the figure's width (:func:`acecost.figures.style.fonts_for`):
a one-column figure (narrower than 5 in) is set at 8 pt, with a compact
legend (short entries, the user's frontier and points in one) and reference
labels wrapped to two lines. The legend goes below the axes, inside them
(where it covers the fewest points) or nowhere (``legend=``).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from acecost.errors import AcecostError
from acecost.figures.pareto import Point, frontier, frontier_mask
from acecost.figures.labels import (
    GID_LABEL,
    Label,
    marker_box,
    place_labels,
    stagger,
    step_boxes,
    thin_ticks,
)
from acecost.figures.comparable import Withheld, reference_mismatch
from acecost.figures.layout import (  # noqa: F401
    CAPTION_ATTR, GID_CAPTION, LEGEND_PLACES, legend_inside,
)
from acecost.figures.pareto_geometry import PANEL_H, figure_width, set_limits, size_figure
from acecost.figures.points import (
    METRICS,
    Metric,
    ModelPoint,
    ModelSummary,
    RefPoint,
    as_points,
    caption_lines,
    is_top1,
    metric,
    reference_points,
    resolve_reference,
    summarize,
    totals_of,
    y_label,
)
from acecost.figures.style import (  # noqa: F401
    DPI, OKABE_ITO, REF_COLOR, USER_COLOR, WIDE, Fonts, family_style, fmt_tick, fonts_for, save,
)
from acecost.figures.reference import Reference

__all__ = [
    "METRICS", "Metric", "ModelPoint", "ModelSummary", "RefPoint", "is_top1", "metric", "plot_pareto",
    "reference_points", "resolve_reference", "save", "summarize", "totals_of", "y_label",
]

# Artist ids, so callers and tests can find what was drawn.
GID_USER = "user-points"  # the user's models on their own frontier (filled)
GID_USER_DOMINATED = "user-dominated"  # the user's models off it (hollow)
GID_USER_FRONTIER = "user-frontier"
GID_REF_FRONTIER = "reference-frontier"
GID_REF_COMPUTED = "reference-computed"
GID_REF_PUBLISHED = "reference-published"  # + ":" + family
GID_REF_RUG = "reference-rug"
GID_RUG_LABEL = "rug-label"
#: the Figure attribute naming the point labels no free spot could hold (else [])
LABELS_ATTR = "acecost_labels_left_off"



@dataclass
class _Drawn:
    """What drawing collected, for the limits, the legend and the labels."""

    legend: dict[str, tuple[float, object]] = field(default_factory=dict)  # label -> (order, handle)
    labels: list[Label] = field(default_factory=list)
    markers: list[tuple[object, float, float, float]] = field(default_factory=list)  # ax, x, y, pt
    rug_labels: list[object] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)
    xs: list[list[float]] = field(default_factory=list)  # per panel, display units
    fonts: Fonts = WIDE

    @property
    def scale(self) -> float:
        """Marker sizes at one column are three quarters of the wide ones."""
        return 0.75 if self.fonts.compact else 1.0

    def entry(self, wide: str, compact: str, order: float, handle: object) -> None:
        self.legend.setdefault(compact if self.fonts.compact else wide, (order, handle))

    def label_text(self, text: str) -> str:
        """A reference label, wrapped to short lines in a one-column figure."""
        if not self.fonts.compact:
            return text
        return "\n".join(textwrap.fill(part, 18, break_on_hyphens=False) for part in text.split("\n"))


def _draw_rug(ax: object, m: Metric, ref: Reference, d: _Drawn, xs: list[float]) -> None:
    """Every bundled width as a tick on the x axis: its cost is a fact, its accuracy may not be."""
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    for w in ref.widths:
        rx = w.totals[m.totals_key] / m.scale
        xs.append(rx)
        (line,) = ax.plot([rx, rx], [0.0, 0.045], transform=trans, color=REF_COLOR, lw=2.0,
                          solid_capstyle="butt", clip_on=False)
        line.set_gid(GID_REF_RUG)
        d.entry(f"bundled {ref.name} widths (ticks): cost by acecost", "widths (ticks)", 9, line)
        t = ax.text(rx, 0.055, w.width, transform=trans, ha="center", va="bottom", fontsize=d.fonts.ref_label,
                    color=REF_COLOR)
        t.set_gid(GID_RUG_LABEL)
        d.rug_labels.append(t)


def _draw_reference_points(
    ax: object, panel: int, m: Metric, ref: Reference, d: _Drawn, xs: list[float]
) -> None:
    refs = reference_points(ref, m)
    families = [p.family for p in ref.published]
    # A published point drawn on top of the width that carries its accuracy
    # shares one label with it instead of fighting it for space.
    merged = {
        r.paired_with: r
        for r in refs
        if r.kind == "computed" and r.paired_with is not None
    }
    twin = {}
    for r in refs:
        c = merged.get(r.point.name) if r.kind == "published" else None
        if c is not None and r.point.accuracy == c.point.accuracy and (
            abs(math.log(r.point.cost / c.point.cost)) < 0.02
        ):
            twin[c.point.name] = r
    for r in refs:
        cx, acc = r.point.cost / m.scale, r.point.accuracy
        xs.append(cx)
        d.accuracies.append(acc)
        if r.kind == "computed":
            ms = 11 * d.scale
            (h,) = ax.plot([cx], [acc], ls="none", marker="s", ms=ms, mfc="none", mec=REF_COLOR,
                           mew=1.6 * d.scale, zorder=4)
            h.set_gid(GID_REF_COMPUTED)
            d.entry(f"{ref.name} width: cost by acecost, top-1 published [{r.source_number}]",
                    f"{ref.name} (acecost)", 2, h)
            d.markers.append((ax, cx, acc, ms))
            text = r.label
            if d.fonts.compact:  # "PokeBNN 0.75x [1]": the legend says acecost, the caption the pairing
                text = f"{r.point.name} [{r.source_number}]"
            elif r.point.name in twin:
                text += f"\n= {twin[r.point.name].label}"
            d.labels.append(Label(ax, panel, d.label_text(text), cx, acc, REF_COLOR, d.fonts.ref_label, ms))
        else:
            color, marker = family_style(r.family, families)
            ms = 7 * d.scale
            (h,) = ax.plot([cx], [acc], ls="none", marker=marker, ms=ms, color=color, mec="white",
                           mew=0.6, zorder=3)
            h.set_gid(f"{GID_REF_PUBLISHED}:{r.family}")
            d.entry(f"{r.family}, published", r.family, 3 + len(d.legend) / 100, h)
            d.markers.append((ax, cx, acc, ms))
            if not any(t is r for t in twin.values()):
                d.labels.append(Label(ax, panel, d.label_text(r.label), cx, acc, color,
                                      min(7.0, d.fonts.ref_label), ms))
    if refs:
        fr = frontier([r.point for r in refs])
        (h,) = ax.plot([p.cost / m.scale for p in fr], [p.accuracy for p in fr],
                       drawstyle="steps-post", ls="--", lw=1.2, color=REF_COLOR, zorder=2)
        h.set_gid(GID_REF_FRONTIER)
        d.entry("reference frontier", "ref. frontier", 8, h)


def _draw_user(
    ax: object, panel: int, m: Metric, pts: Sequence[ModelPoint], d: _Drawn, xs: list[float]
) -> None:
    ux = [p.cost(m) / m.scale for p in pts]
    uy = [p.accuracy for p in pts]
    xs += ux
    d.accuracies += uy
    raw = [Point(p.name, p.cost(m), p.accuracy) for p in pts]
    fr = frontier(raw)
    on = frontier_mask(raw)
    ms = 8 * d.scale
    (line,) = ax.plot([p.cost / m.scale for p in fr], [p.accuracy for p in fr],
                      drawstyle="steps-post", lw=1.8 * d.scale, color=USER_COLOR, zorder=5)
    line.set_gid(GID_USER_FRONTIER)
    (h,) = ax.plot([x for x, o in zip(ux, on) if o], [y for y, o in zip(uy, on) if o], ls="none",
                   marker="o", ms=ms, color=USER_COLOR, mec="white", mew=0.8, zorder=6)
    h.set_gid(GID_USER)
    if d.fonts.compact:  # one entry for the points and their frontier
        d.entry("", "yours", 0, (line, h))
    else:
        d.entry("frontier of your models", "", 1, line)
        d.entry("your models", "", 0, h)
    if not all(on):  # off the frontier: hollow, so a sweep's frontier reads at a glance
        (hd,) = ax.plot([x for x, o in zip(ux, on) if not o], [y for y, o in zip(uy, on) if not o],
                        ls="none", marker="o", ms=ms * 0.85, mfc="white", mec=USER_COLOR, mew=1.2,
                        zorder=6)
        hd.set_gid(GID_USER_DOMINATED)
        d.entry("your models off their frontier", "dominated", 0.5, hd)
    for p, x, y in zip(pts, ux, uy):
        d.markers.append((ax, x, y, ms))
        text = p.name if p.complete else f"{p.name} (≥, incomplete)"
        d.labels.append(Label(ax, panel, text, x, y, USER_COLOR, d.fonts.label, ms, "bold"))


MAX_COST = 1e200  # the largest cost a figure draws


def plot_pareto(
    points: object,
    *,
    x: str = "ace",
    panels: Sequence[str] | None = None,
    reference: object = "pokebnn",
    title: str | None = None,
    y: str = "top1",
    log_x: bool = True,
    caption: bool = True,
    size: tuple[float, float] | None = None,
    legend: str = "below",
    dataset: str | None = None,
) -> Figure:
    """Draw accuracy against cost for ``points`` beside the PokeBNN reference.

    ``points``: ``ModelPoint`` objects, ``(name, report, accuracy)`` tuples
    (``report`` an ``acecost.Report``, its ``to_dict()`` or a totals dict), or
    a mapping ``name -> (report, accuracy)``. ``panels`` (metric keys) draws a
    row of panels and overrides ``x``. ``reference``: ``"pokebnn"``, ``None``
    or a precomputed :class:`~acecost.figures.reference.Reference`. ``y`` names the
    accuracy; the reference's published accuracies are ImageNet top-1 and are
    drawn only when ``y`` is top-1. ``caption=False`` leaves the sources
    out; ``size`` is the figure's (width, height) in inches, by default wide
    enough for the panels and as high as the legend and caption need; a
    width under 5 in is a one-column figure (8 pt text, compact legend).
    ``legend``: ``"below"`` the axes, ``"inside"`` the first panel, or
    ``"none"``. A caption that would leave the plot under 40% of a fixed
    height is left off and kept in
    ``fig.acecost_caption_left_off``; a point label with no free spot (none
    ever covers another) is left off and named in ``fig.acecost_labels_left_off``.
    ``dataset`` names the dataset of the accuracies; when it is not the
    reference's, or a model's recorded input is not the reference's image
    size, the caption says that no dominance verdict is given
    (:func:`acecost.figures.comparable.reference_mismatch`).
    """
    if legend not in LEGEND_PLACES:
        raise AcecostError(f"unknown legend place {legend!r}; use {', '.join(LEGEND_PLACES)}")
    pts = as_points(points)
    keys = list(panels) if panels else [x]
    metrics = [metric(k) for k in keys]
    if len(set(keys)) != len(keys):
        raise AcecostError(f"a panel is repeated in {','.join(keys)}")
    for p in pts:
        for m in metrics:
            if p.cost(m) > MAX_COST:  # no model costs this; matplotlib's axis ticks overflow near 1e308
                raise AcecostError(f"{p.name}: {m.name} is {m.format(p.cost(m))}, more than a figure axis can "
                                   f"draw (at most {m.format(MAX_COST)}); a report's costs must be real counts")
    if log_x:
        for p in pts:
            for m in metrics:
                if p.cost(m) <= 0:
                    raise AcecostError(
                        f"{p.name}: {m.name} is {m.format(p.cost(m))}, which a log axis cannot show; "
                        "use a linear axis (--linear-x) or another metric"
                    )
    ref = resolve_reference(reference)
    ref_acc = ref is not None and is_top1(y)
    withheld = reference_mismatch(pts, ref, dataset)

    n = len(metrics)
    fig_w = figure_width(size, n)
    fonts = fonts_for(fig_w, n)
    # Labels are placed by measuring text at this dpi, so files use it too.
    fig = Figure(figsize=(fig_w, PANEL_H + 1.0), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, n, sharey=True, squeeze=False)[0]
    d = _Drawn(fonts=fonts)
    for panel, (ax, m) in enumerate(zip(axes, metrics)):
        xs: list[float] = []
        if ref is not None:
            _draw_rug(ax, m, ref, d, xs)
            if ref_acc:
                _draw_reference_points(ax, panel, m, ref, d, xs)
        if pts:
            _draw_user(ax, panel, m, pts, d, xs)
        d.xs.append(xs)
        ax.set_xlabel(m.axis_label, fontsize=fonts.axis)
        ax.tick_params(labelsize=fonts.axis)
        ax.grid(True, which="major", color="0.88", lw=0.6)
        ax.set_axisbelow(True)
    axes[0].set_ylabel(y_label(y), fontsize=fonts.axis)
    set_limits(axes, metrics, d.accuracies, d.xs, ref is not None and bool(ref.widths), log_x)
    size_figure(fig, n, d.legend, d.fonts, _caption(ref, ref_acc, metrics, withheld) if caption else [],
                title or _default_title(y, metrics), size[1] if size is not None else None, legend)
    fig.canvas.draw()
    for ax in axes:
        thin_ticks(ax, fig.canvas.get_renderer())

    # Now the geometry is final: place point labels clear of everything.
    fig.canvas.draw()
    px = fig.dpi / 72.0
    hard = [marker_box(ax, x_, y_, s, px) for ax, x_, y_, s in d.markers]
    stagger(d.rug_labels, fig.canvas.get_renderer())
    texts = [t.get_window_extent(fig.canvas.get_renderer()) for t in d.rug_labels]
    if legend == "inside" and d.legend:
        ordered = sorted(d.legend.items(), key=lambda kv: kv[1][0])
        leg = legend_inside(axes[0], [h for _, (_, h) in ordered], [k for k, _ in ordered], fonts)
        texts.append(leg.get_window_extent(fig.canvas.get_renderer()))
    lines = [
        box
        for ax in axes
        for line in ax.get_lines()
        if line.get_gid() in (GID_USER_FRONTIER, GID_REF_FRONTIER)
        for box in step_boxes(line)
    ]
    left_off = place_labels(fig, d.labels, hard, lines, texts)
    setattr(fig, LABELS_ATTR, [lab.text.replace("\n", " ") for lab in left_off])
    return fig


def _caption(ref: Reference | None, ref_acc: bool, metrics: Sequence[Metric],
             withheld: Withheld | None) -> list[str]:
    """The sources, after the note that the reference cannot judge these models, if it cannot."""
    return ([withheld.caption] if withheld is not None else []) + caption_lines(ref, ref_acc, metrics)


def _default_title(y: str, metrics: Sequence[Metric]) -> str:
    what = "Top-1 accuracy" if is_top1(y) else y
    cost = metrics[0].name if len(metrics) == 1 else "cost"
    return f"{what} vs {cost}"
