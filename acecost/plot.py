"""Accuracy-versus-cost figures, the way BNN papers draw them.

:func:`plot_pareto` returns a :class:`matplotlib.figure.Figure` drawn on an
Agg canvas (no pyplot, no global backend switch, so it is safe in scripts,
servers and notebooks alike). Costs are kept in raw units (one MAC, one bit)
and divided by each metric's paper unit only when drawn.

What a figure shows, per panel (one cost metric each):

- the user's models (vermillion circles) and their Pareto frontier as a
  step line;
- with ``reference="pokebnn"``: the published points of the shipped CSV
  (filled markers, one colour and marker per family, numbered source), the
  bundled PokeBNN widths as cost-only ticks along the x axis, a bundled width
  as a point only when a published accuracy belongs to it, and the frontier
  of the reference points as a dashed step line;
- a caption listing the sources.

Labels are placed by a small deterministic search (eight directions, growing
distance) that avoids markers, other labels and the axes edges.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from matplotlib.transforms import Bbox, blended_transform_factory

from acecost.errors import AcecostError
from acecost.pareto import Dominance, Point, dominated_by, frontier, frontier_mask
from acecost.reference import Progress, Reference, pokebnn_reference

# Okabe & Ito (2008), "Color Universal Design": distinguishable with any
# common colour-vision deficiency.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
USER_COLOR = OKABE_ITO["vermillion"]
REF_COLOR = OKABE_ITO["blue"]
# Published families: fixed styles for the shipped ones, then a cycle.
_FAMILY_STYLES = {
    "PokeBNN": (OKABE_ITO["sky_blue"], "D"),
    "ReActNet": (OKABE_ITO["orange"], "^"),
    "Real-to-Binary": (OKABE_ITO["bluish_green"], "v"),
    "Bi-Real": (OKABE_ITO["reddish_purple"], "P"),
    "XNOR-Net": (OKABE_ITO["black"], "X"),
}
_CYCLE = [
    (OKABE_ITO["orange"], "<"),
    (OKABE_ITO["bluish_green"], ">"),
    (OKABE_ITO["reddish_purple"], "h"),
    (OKABE_ITO["black"], "*"),
    (OKABE_ITO["sky_blue"], "p"),
]

# Artist ids, so callers and tests can find what was drawn.
GID_USER = "user-points"
GID_USER_FRONTIER = "user-frontier"
GID_REF_FRONTIER = "reference-frontier"
GID_REF_COMPUTED = "reference-computed"
GID_REF_PUBLISHED = "reference-published"  # + ":" + family
GID_REF_RUG = "reference-rug"
GID_LABEL = "point-label"
GID_RUG_LABEL = "rug-label"
GID_CAPTION = "caption"


@dataclass(frozen=True)
class Metric:
    """A cost axis: where its value comes from and the unit papers print it in."""

    key: str
    name: str
    unit: str  # as drawn
    unit_text: str  # as printed in a terminal
    scale: float  # raw units per display unit
    totals_key: str  # field of the report's totals
    published_column: str | None  # column of the shipped CSV, if any

    @property
    def label(self) -> str:
        return f"{self.name} ({self.unit})"

    @property
    def label_text(self) -> str:
        return f"{self.name} ({self.unit_text})"


METRICS: dict[str, Metric] = {
    "ace": Metric("ace", "ACE", "G", "G", 1e9, "ace", "ace_g"),
    "cpu64": Metric("cpu64", "CPU64", "×10⁸", "1e8", 1e8, "cpu64", "cpu64_1e8"),
    "size": Metric("size", "Size", "Mbit", "Mbit", 1e6, "size_bits", None),
    "macs": Metric("macs", "MACs", "G", "G", 1e9, "macs", None),
    "bops": Metric("bops", "BOPs", "×10⁹", "1e9", 1e9, "binary_macs", "bops_1e9"),
}

DPI = 150

TOP1_NAMES = {"top1", "top-1", "top_1", "acc", "accuracy", "acc1", "acc@1"}


def metric(key: str) -> Metric:
    """Look up a metric by key, with a message listing the valid ones."""
    try:
        return METRICS[key]
    except KeyError:
        raise AcecostError(
            f"unknown cost metric {key!r}; use one of {', '.join(METRICS)}"
        ) from None


def is_top1(y: str) -> bool:
    """Is the accuracy column ImageNet top-1 (what the reference publishes)?"""
    return y.strip().lower() in TOP1_NAMES


def y_label(y: str) -> str:
    return "Top-1 accuracy (%)" if is_top1(y) else y


@dataclass(frozen=True)
class ModelPoint:
    """A user's model: its name, accuracy and the totals of its analysis."""

    name: str
    accuracy: float
    totals: Mapping[str, float]
    complete: bool = True

    def cost(self, m: Metric) -> float:
        try:
            value = self.totals[m.totals_key]
        except KeyError:
            raise AcecostError(
                f"{self.name}: the analysis has no totals.{m.totals_key} (needed for {m.name})"
            ) from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise AcecostError(f"{self.name}: totals.{m.totals_key} is not a number: {value!r}")
        return float(value)

    @classmethod
    def from_report(cls, name: str, report: object, accuracy: float) -> ModelPoint:
        """From an ``acecost.Report``, its ``to_dict()`` or a bare totals dict."""
        totals = totals_of(report)
        return cls(name, float(accuracy), totals, bool(totals.get("complete", True)))


def totals_of(report: object) -> dict[str, float]:
    if isinstance(report, Mapping):
        totals = report.get("totals", report)
        if not isinstance(totals, Mapping):
            raise AcecostError("the analysis 'totals' is not an object")
        return dict(totals)
    if hasattr(report, "to_dict"):
        return dict(report.to_dict()["totals"])
    raise AcecostError(f"cannot read costs from {type(report).__name__}")


@dataclass(frozen=True)
class RefPoint:
    """A reference point with an accuracy, on one metric."""

    point: Point  # raw cost
    kind: str  # "computed" (bundled width, published top-1) or "published"
    family: str
    source_number: int
    label: str
    paired_with: str | None = None  # computed: the published model whose top-1 it carries


def reference_points(ref: Reference, m: Metric) -> list[RefPoint]:
    """Reference points that have both a cost on ``m`` and a published accuracy."""
    out: list[RefPoint] = []
    for w in ref.widths:
        if w.top1 is None or w.source is None:
            continue
        name = f"{ref.name} {w.width}"
        out.append(
            RefPoint(
                Point(name, float(w.totals[m.totals_key]), w.top1),
                "computed",
                ref.name,
                ref.source_number(w.source),
                f"{name} (acecost)",
                w.paired_with,
            )
        )
    for p in ref.published:
        col = m.published_column
        if col is None or col not in p.costs:
            continue
        n = ref.source_number(p.source)
        out.append(
            RefPoint(
                Point(p.model, p.costs[col] * m.scale, p.top1),
                "published",
                p.family,
                n,
                f"{p.model} [{n}]",
            )
        )
    return out


@dataclass
class ModelSummary:
    """What the text output says about one user model."""

    name: str
    accuracy: float
    complete: bool
    costs: dict[str, float] = field(default_factory=dict)  # metric key -> raw
    on_frontier: dict[str, bool] = field(default_factory=dict)
    dominance: dict[str, Dominance] = field(default_factory=dict)


def summarize(
    points: Sequence[ModelPoint], panels: Sequence[str], reference: Reference | None, y: str = "top1"
) -> list[ModelSummary]:
    """Costs, frontier membership and dominance by the reference, per metric."""
    out = [ModelSummary(p.name, p.accuracy, p.complete) for p in points]
    for key in panels:
        m = metric(key)
        pts = [Point(p.name, p.cost(m), p.accuracy) for p in points]
        refs = (
            [r.point for r in reference_points(reference, m)]
            if reference is not None and is_top1(y)
            else []
        )
        for s, pt, on in zip(out, pts, frontier_mask(pts)):
            s.costs[key] = pt.cost
            s.on_frontier[key] = on
            d = dominated_by(pt, refs)
            if d is not None:
                s.dominance[key] = d
    return out


def _family_style(family: str, families: Sequence[str]) -> tuple[str, str]:
    if family in _FAMILY_STYLES:
        return _FAMILY_STYLES[family]
    others = sorted(f for f in set(families) if f not in _FAMILY_STYLES)
    return _CYCLE[others.index(family) % len(_CYCLE)]


def _fmt_tick(v: float, _pos: object = None) -> str:
    if v <= 0:
        return "0"
    text = f"{v:.3g}"
    return text.replace("e+0", "e").replace("e-0", "e-")


@dataclass
class _Label:
    ax: object
    panel: int
    text: str
    x: float  # data coords
    y: float
    color: str
    fontsize: float
    marker_pt: float
    weight: str = "normal"


# Candidate label positions: direction (dx, dy), tried at growing gaps from
# the marker's edge (points).
_DIRECTIONS = [(1, 0), (1, 1), (1, -1), (-1, 0), (-1, 1), (-1, -1), (0, 1), (0, -1)]
# Far away (with a leader line) also the directions in between.
_FAR_DIRECTIONS = _DIRECTIONS + [
    (math.cos(a), math.sin(a))
    for a in (math.radians(d) for d in (22.5, 67.5, 112.5, 157.5, 202.5, 247.5, 292.5, 337.5))
]
_GAPS = [3, 8, 15, 25, 38, 55]
_LEADER_FROM = 2  # gaps from this index on get a leader line to the point
_HARD = 20.0  # weight of covering a marker or text, per px^2 ...
_LINE = 5.0  # ... and of covering a frontier line
_CROSSING = 5000.0  # a leader line through a marker or label: about a marker covered


def _align(v: float) -> int:
    """Which side of the anchor the text extends to along one axis: 1, -1 or 0 (centred)."""
    return 1 if v > 0.3 else (-1 if v < -0.3 else 0)


def _overlap(a: Bbox, b: Bbox) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def _leader_hits(
    x0: float, y0: float, x1: float, y1: float, boxes: list[Bbox], margin: float
) -> int:
    """How many boxes (grown by ``margin``) a leader line from (x0, y0) to (x1, y1) touches."""
    hits = 0
    for b in boxes:
        if b.contains(x0, y0):  # the point's own marker
            continue
        g = Bbox.from_extents(b.x0 - margin, b.y0 - margin, b.x1 + margin, b.y1 + margin)
        if any(g.contains(x0 + (x1 - x0) * t / 16, y0 + (y1 - y0) * t / 16) for t in range(1, 17)):
            hits += 1
    return hits


def _place_labels(
    fig: Figure, labels: list[_Label], hard: list[Bbox], lines: list[Bbox]
) -> None:
    """Greedy, deterministic placement: the first candidate free of overlaps wins.

    Candidates are scored by the area they share with ``hard`` boxes
    (markers, tick labels) and labels already placed, weighted well above
    the area they share with frontier ``lines``, plus a penalty per marker
    or label a leader line crosses and a prohibitive one for leaving the
    axes. With no free spot the least bad candidate is used.
    """
    renderer = fig.canvas.get_renderer()
    px = fig.dpi / 72.0
    placed: list[Bbox] = []
    # The user's own models first: their labels matter most.
    for lab in sorted(labels, key=lambda lb: (lb.panel, lb.weight != "bold", lb.x, -lb.y, lb.text)):
        ax = lab.ax
        probe = ax.text(0, 0, lab.text, fontsize=lab.fontsize, weight=lab.weight)
        tb = probe.get_window_extent(renderer)
        probe.remove()
        w, h = tb.width, tb.height
        axbox = ax.get_window_extent(renderer)
        x0, y0 = ax.transData.transform((lab.x, lab.y))
        blockers = hard + placed
        best = None
        for step, gap in enumerate(_GAPS):
            dist = lab.marker_pt / 2 + gap
            for dx, dy in _DIRECTIONS if step < _LEADER_FROM else _FAR_DIRECTIONS:
                ox, oy = dx * dist * px, dy * dist * px
                hx, vy = _align(dx), _align(dy)
                left = x0 + ox - (w if hx < 0 else (w / 2 if hx == 0 else 0))
                bottom = y0 + oy - (h if vy < 0 else (h / 2 if vy == 0 else 0))
                box = Bbox.from_bounds(left, bottom, w, h)
                inside = (
                    box.x0 >= axbox.x0 + 2
                    and box.x1 <= axbox.x1 - 2
                    and box.y0 >= axbox.y0 + 2
                    and box.y1 <= axbox.y1 - 2
                )
                cost = (
                    _HARD * sum(_overlap(box, o) for o in blockers)
                    + _LINE * sum(_overlap(box, o) for o in lines)
                    + (0 if inside else 1e9)
                )
                if step >= _LEADER_FROM:
                    cost += _CROSSING * _leader_hits(x0, y0, x0 + ox, y0 + oy, blockers, 6 * px)
                if best is None or cost < best[0]:
                    best = (cost, step, dist, dx, dy, box)
                if cost == 0:
                    break
            if best is not None and best[0] == 0:
                break
        assert best is not None
        _, step, dist, dx, dy, box = best
        ha = {1: "left", -1: "right", 0: "center"}[_align(dx)]
        va = {1: "bottom", -1: "top", 0: "center"}[_align(dy)]
        arrow = (
            dict(arrowstyle="-", color=lab.color, lw=0.6, shrinkA=0, shrinkB=lab.marker_pt / 2)
            if step >= _LEADER_FROM
            else None
        )
        ann = ax.annotate(
            lab.text,
            (lab.x, lab.y),
            xytext=(dx * dist, dy * dist),
            textcoords="offset points",
            ha=ha,
            va=va,
            fontsize=lab.fontsize,
            weight=lab.weight,
            color=lab.color if lab.color != OKABE_ITO["yellow"] else "black",
            arrowprops=arrow,
            annotation_clip=False,
        )
        ann.set_gid(GID_LABEL)
        placed.append(box)


def _step_boxes(line: Line2D, pad: float = 1.5) -> list[Bbox]:
    """Display-space boxes around the segments of a steps-post line."""
    ax = line.axes
    pts = ax.transData.transform(list(zip(line.get_xdata(), line.get_ydata())))
    verts = []
    for i, (x, y) in enumerate(pts):
        if i > 0:
            verts.append((x, pts[i - 1][1]))
        verts.append((x, y))
    boxes = []
    for (xa, ya), (xb, yb) in zip(verts, verts[1:]):
        boxes.append(
            Bbox.from_extents(min(xa, xb) - pad, min(ya, yb) - pad, max(xa, xb) + pad, max(ya, yb) + pad)
        )
    return boxes


def _marker_box(ax: object, x: float, y: float, size_pt: float, px: float) -> Bbox:
    cx, cy = ax.transData.transform((x, y))
    r = size_pt * px / 2 + 1
    return Bbox.from_extents(cx - r, cy - r, cx + r, cy + r)


def _log_locator(lo: float, hi: float) -> LogLocator:
    span = math.log10(hi / lo)
    if span <= 1.0:
        subs = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0)
    elif span <= 2.5:
        subs = (1.0, 2.0, 5.0)
    else:
        subs = (1.0,)
    return LogLocator(base=10, subs=subs)


def _as_points(points: object) -> list[ModelPoint]:
    if isinstance(points, Mapping):
        items: Iterable[object] = [(k, *v) for k, v in points.items()]
    else:
        items = points  # type: ignore[assignment]
    out = []
    for item in items:
        if isinstance(item, ModelPoint):
            out.append(item)
        else:
            name, report, accuracy = item  # type: ignore[misc]
            out.append(ModelPoint.from_report(str(name), report, accuracy))
    names = [p.name for p in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise AcecostError(f"two models are named {dup[0]!r}; give each a distinct name")
    return out


def resolve_reference(reference: object, progress: Progress | None = None) -> Reference | None:
    """``"pokebnn"`` -> the computed overlay, ``None``/``"none"`` -> no overlay."""
    if reference is None or reference == "none":
        return None
    if isinstance(reference, Reference):
        return reference
    if reference == "pokebnn":
        return pokebnn_reference(progress)
    raise AcecostError(f"unknown reference {reference!r}; use pokebnn or none")


@dataclass
class _Drawn:
    """What drawing collected, for the limits, the legend and the labels."""

    legend: dict[str, tuple[float, object]] = field(default_factory=dict)  # label -> (order, handle)
    labels: list[_Label] = field(default_factory=list)
    markers: list[tuple[object, float, float, float]] = field(default_factory=list)  # ax, x, y, pt
    rug_labels: list[object] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)
    xs: list[list[float]] = field(default_factory=list)  # per panel, display units


def _draw_rug(ax: object, m: Metric, ref: Reference, d: _Drawn, xs: list[float]) -> None:
    """Every bundled width as a tick on the x axis: its cost is a fact, its accuracy may not be."""
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    for w in ref.widths:
        rx = w.totals[m.totals_key] / m.scale
        xs.append(rx)
        (line,) = ax.plot([rx, rx], [0.0, 0.045], transform=trans, color=REF_COLOR, lw=2.0,
                          solid_capstyle="butt", clip_on=False)
        line.set_gid(GID_REF_RUG)
        d.legend.setdefault(f"bundled {ref.name} widths (ticks): cost by acecost", (9, line))
        t = ax.text(rx, 0.055, w.width, transform=trans, ha="center", va="bottom", fontsize=7.5,
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
            (h,) = ax.plot([cx], [acc], ls="none", marker="s", ms=11, mfc="none", mec=REF_COLOR,
                           mew=1.6, zorder=4)
            h.set_gid(GID_REF_COMPUTED)
            d.legend.setdefault(
                f"{ref.name} width: cost by acecost, top-1 published [{r.source_number}]", (2, h)
            )
            d.markers.append((ax, cx, acc, 11))
            text = r.label
            if r.point.name in twin:
                text += f"\n= {twin[r.point.name].label}"
            d.labels.append(_Label(ax, panel, text, cx, acc, REF_COLOR, 7.5, 11))
        else:
            color, marker = _family_style(r.family, families)
            (h,) = ax.plot([cx], [acc], ls="none", marker=marker, ms=7, color=color, mec="white",
                           mew=0.6, zorder=3)
            h.set_gid(f"{GID_REF_PUBLISHED}:{r.family}")
            d.legend.setdefault(f"{r.family}, published", (3 + len(d.legend) / 100, h))
            d.markers.append((ax, cx, acc, 7))
            if not any(t is r for t in twin.values()):
                d.labels.append(_Label(ax, panel, r.label, cx, acc, color, 7, 7))
    if refs:
        fr = frontier([r.point for r in refs])
        (h,) = ax.plot([p.cost / m.scale for p in fr], [p.accuracy for p in fr],
                       drawstyle="steps-post", ls="--", lw=1.2, color=REF_COLOR, zorder=2)
        h.set_gid(GID_REF_FRONTIER)
        d.legend.setdefault("reference frontier", (8, h))


def _draw_user(
    ax: object, panel: int, m: Metric, pts: Sequence[ModelPoint], d: _Drawn, xs: list[float]
) -> None:
    ux = [p.cost(m) / m.scale for p in pts]
    uy = [p.accuracy for p in pts]
    xs += ux
    d.accuracies += uy
    fr = frontier([Point(p.name, p.cost(m), p.accuracy) for p in pts])
    (h,) = ax.plot([p.cost / m.scale for p in fr], [p.accuracy for p in fr],
                   drawstyle="steps-post", lw=1.8, color=USER_COLOR, zorder=5)
    h.set_gid(GID_USER_FRONTIER)
    d.legend.setdefault("frontier of your models", (1, h))
    (h,) = ax.plot(ux, uy, ls="none", marker="o", ms=8, color=USER_COLOR, mec="white", mew=0.8,
                   zorder=6)
    h.set_gid(GID_USER)
    d.legend.setdefault("your models", (0, h))
    for p, x, y in zip(pts, ux, uy):
        d.markers.append((ax, x, y, 8))
        text = p.name if p.complete else f"{p.name} (≥, incomplete)"
        d.labels.append(_Label(ax, panel, text, x, y, USER_COLOR, 8, 8, "bold"))


def _set_limits(axes: Sequence[object], d: _Drawn, has_rug: bool, log_x: bool) -> None:
    """Shared y with room for the tick row at the bottom; x per panel with margins."""
    if d.accuracies:
        lo, hi = min(d.accuracies), max(d.accuracies)
        span = max(hi - lo, 2.0)
        axes[0].set_ylim(lo - (0.22 if has_rug else 0.1) * span, hi + 0.12 * span)
    for ax, xs in zip(axes, d.xs):
        if not log_x:
            hi = max(xs, default=1.0)
            ax.set_xlim(0, hi * 1.12 if hi > 0 else 1.0)
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
        ax.xaxis.set_major_locator(_log_locator(lo / f, hi * f))
        ax.xaxis.set_major_formatter(FuncFormatter(_fmt_tick))
        ax.xaxis.set_minor_formatter(NullFormatter())


# Figure geometry, inches.
_PANEL_W, _PANEL_H = 4.6, 3.7
_LEFT, _RIGHT, _GAP, _TOP, _BELOW_AXES = 0.75, 0.25, 0.3, 0.5, 0.55
_MIN_WIDTH = 7.0


def _layout(fig: Figure, n: int, d: _Drawn, caption: list[str], title: str) -> None:
    """Measure legend and caption, then size the figure so that nothing overlaps."""
    fig_w = fig.get_figwidth()
    renderer = fig.canvas.get_renderer()
    ordered = sorted(d.legend.items(), key=lambda kv: kv[1][0])
    leg = None
    for ncol in range(min(3 * n, len(ordered)), 0, -1):  # widest legend that fits
        if leg is not None:
            leg.remove()
        leg = fig.legend([h for _, (_, h) in ordered], [k for k, _ in ordered], loc="upper center",
                         ncol=ncol, fontsize=8, frameon=False, handlelength=2.2)
        if leg.get_window_extent(renderer).width <= (fig_w - 0.2) * fig.dpi:
            break
    cap = None
    if caption:
        usable = (fig_w - 0.4) * fig.dpi
        width_chars = int((fig_w - 0.4) * 72 / 3.6)
        while True:
            wrapped = "\n".join(textwrap.fill(p, width_chars, subsequent_indent="    ") for p in caption)
            cap = fig.text(0.0, 0.0, wrapped, fontsize=6.8, va="top", ha="left", color="0.2")
            if cap.get_window_extent(renderer).width <= usable or width_chars < 40:
                break
            cap.remove()
            width_chars -= 6
        cap.set_gid(GID_CAPTION)
    leg_h = leg.get_window_extent(renderer).height / fig.dpi if leg else 0.0
    cap_h = cap.get_window_extent(renderer).height / fig.dpi if cap else 0.0
    fig_h = _TOP + _PANEL_H + _BELOW_AXES + leg_h + 0.08 + cap_h + 0.12
    fig.set_size_inches(fig_w, fig_h)
    fig.subplots_adjust(left=_LEFT / fig_w, right=1 - _RIGHT / fig_w, top=1 - _TOP / fig_h,
                        bottom=(fig_h - _TOP - _PANEL_H) / fig_h, wspace=_GAP / _PANEL_W)
    y_leg = (fig_h - _TOP - _PANEL_H - _BELOW_AXES) / fig_h
    if leg:
        leg.set_bbox_to_anchor((0.5, y_leg), transform=fig.transFigure)
    if cap:
        cap.set_position((0.1 / fig_w, y_leg - (leg_h + 0.08) / fig_h))
    fig.suptitle(title, fontsize=11, y=1 - 0.12 / fig_h, va="top")


def plot_pareto(
    points: object,
    *,
    x: str = "ace",
    panels: Sequence[str] | None = None,
    reference: object = "pokebnn",
    title: str | None = None,
    y: str = "top1",
    log_x: bool = True,
    progress: Progress | None = None,
) -> Figure:
    """Draw accuracy against cost for ``points`` beside the PokeBNN reference.

    ``points``: ``ModelPoint`` objects, ``(name, report, accuracy)`` tuples
    (``report`` an ``acecost.Report``, its ``to_dict()`` or a totals dict), or
    a mapping ``name -> (report, accuracy)``. ``panels`` (metric keys) draws a
    row of panels and overrides ``x``. ``reference``: ``"pokebnn"``, ``None``
    or a precomputed :class:`~acecost.reference.Reference`. ``y`` names the
    accuracy; the reference's published accuracies are ImageNet top-1 and are
    drawn only when ``y`` is top-1.
    """
    pts = _as_points(points)
    keys = list(panels) if panels else [x]
    metrics = [metric(k) for k in keys]
    if len(set(keys)) != len(keys):
        raise AcecostError(f"a panel is repeated in {','.join(keys)}")
    if log_x:
        for p in pts:
            for m in metrics:
                if p.cost(m) <= 0:
                    raise AcecostError(
                        f"{p.name}: {m.name} is {p.cost(m):g}, which a log axis cannot show; "
                        "use a linear axis (--linear-x) or another metric"
                    )
    ref = resolve_reference(reference, progress)
    ref_acc = ref is not None and is_top1(y)

    n = len(metrics)
    fig_w = max(_MIN_WIDTH, _LEFT + _RIGHT + n * _PANEL_W + (n - 1) * _GAP)
    # Labels are placed by measuring text at this dpi, so files use it too.
    fig = Figure(figsize=(fig_w, _PANEL_H + 1.0), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, n, sharey=True, squeeze=False)[0]
    d = _Drawn()
    for panel, (ax, m) in enumerate(zip(axes, metrics)):
        xs: list[float] = []
        if ref is not None:
            _draw_rug(ax, m, ref, d, xs)
            if ref_acc:
                _draw_reference_points(ax, panel, m, ref, d, xs)
        if pts:
            _draw_user(ax, panel, m, pts, d, xs)
        d.xs.append(xs)
        ax.set_xlabel(m.label)
        ax.grid(True, which="major", color="0.88", lw=0.6)
        ax.set_axisbelow(True)
    axes[0].set_ylabel(y_label(y))
    _set_limits(axes, d, ref is not None and bool(ref.widths), log_x)
    _layout(fig, n, d, _caption(ref, ref_acc, metrics), title or _default_title(y, metrics))

    # Now the geometry is final: place point labels clear of everything.
    fig.canvas.draw()
    px = fig.dpi / 72.0
    hard = [_marker_box(ax, x_, y_, s, px) for ax, x_, y_, s in d.markers]
    hard += [t.get_window_extent(fig.canvas.get_renderer()) for t in d.rug_labels]
    lines = [
        box
        for ax in axes
        for line in ax.get_lines()
        if line.get_gid() in (GID_USER_FRONTIER, GID_REF_FRONTIER)
        for box in _step_boxes(line)
    ]
    _place_labels(fig, d.labels, hard, lines)
    return fig


def _default_title(y: str, metrics: Sequence[Metric]) -> str:
    what = "Top-1 accuracy" if is_top1(y) else y
    cost = metrics[0].name if len(metrics) == 1 else "cost"
    return f"{what} vs {cost}"


def _caption(ref: Reference | None, ref_acc: bool, metrics: Sequence[Metric]) -> list[str]:
    if ref is None:
        return []
    lines = []
    computed = [w for w in ref.widths if w.top1 is not None]
    widths = ", ".join(w.width for w in ref.widths)
    text = (
        f"Bundled {ref.name} widths ({widths}): cost computed by acecost at batch 1, "
        "224x224, unquantized operands at 16 bits; ticks on the x axis."
    )
    if ref_acc and computed:
        for w in computed:
            text += (
                f" {w.width} reproduces the published ACE of '{w.paired_with}' "
                f"({w.totals['ace'] / 1e9:.2f} G computed) and is drawn with its published "
                f"top-1 {w.top1:g}% [{ref.source_number(w.source)}]."  # type: ignore[arg-type]
            )
        text += " Other widths have no published accuracy and are not drawn as points."
    lines.append(text)
    if ref_acc:
        shown = {
            r.source_number
            for m in metrics
            for r in reference_points(ref, m)
        }
        if shown:
            lines.append(
                "Published points (filled markers) at their published costs and top-1:"
            )
            for i, src in enumerate(ref.sources, start=1):
                if i in shown:
                    lines.append(f"[{i}] {src}")
        missing = [
            m.name
            for m in metrics
            if not any(r.kind == "published" for r in reference_points(ref, m))
        ]
        if missing:
            lines.append(f"No published point reports {' or '.join(missing)}.")
    else:
        lines.append("Reference accuracies are ImageNet top-1; not drawn on this accuracy axis.")
    return lines


def save(fig: Figure, path: str) -> None:
    """Write ``fig``; the format follows the extension (png, svg, pdf)."""
    try:
        fig.savefig(path, dpi=fig.dpi)
    except OSError as e:
        raise AcecostError(f"cannot write {path}: {e.strerror or e}") from None
