"""Where a point's label goes: a small deterministic search around its marker.

Eight directions at growing distance from the marker's edge, then (with a
leader line) the directions in between; the first candidate that covers no
marker, label or axes edge wins, else the least bad one. A label never
covers another text: when every nearby candidate would, the whole axes is
searched (with a leader line), and a label with no free spot anywhere is
left off and returned, so the caller can say so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import LogLocator, MaxNLocator
from matplotlib.transforms import Bbox

from acecost.figures.style import OKABE_ITO

GID_LABEL = "point-label"


@dataclass
class Label:
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
_FAR = 20.0  # per point of distance, for a spot found by searching the whole axes


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


def _far_candidates(axbox: Bbox, x0: float, y0: float, w: float, h: float, px: float):
    """Every spot of a grid over the axes, nearest the point first: (dx, dy, dist in points)."""
    out = []
    step_x, step_y = max(w / 3, 4 * px), max(h / 2, 4 * px)
    ny, nx = int((axbox.height - h) / step_y) + 1, int((axbox.width - w) / step_x) + 1
    for j in range(max(ny, 1)):
        for i in range(max(nx, 1)):
            cx, cy = axbox.x0 + 3 + w / 2 + i * step_x, axbox.y0 + 3 + h / 2 + j * step_y
            ox, oy = cx - x0, cy - y0
            d = math.hypot(ox, oy)
            if d > 0:
                out.append((d, ox / px, oy / px))
    out.sort()
    return out


def place_labels(
    fig: Figure, labels: list[Label], hard: list[Bbox], lines: list[Bbox], texts: list[Bbox] = ()
) -> list[Label]:
    """Greedy, deterministic placement: the first candidate free of overlaps wins.

    Candidates are scored by the area they share with ``hard`` boxes
    (markers, tick labels), ``texts`` (other text: the tick row's labels, a
    legend) and labels already placed, weighted well above the area they
    share with frontier ``lines``, plus a penalty per marker or label a
    leader line crosses and a prohibitive one for leaving the axes. With no
    free spot the least bad candidate is used, provided it covers no text;
    the labels that fit nowhere are returned (and not drawn). A spot anywhere
    in the axes is tried when nothing near the point is free.
    """
    renderer = fig.canvas.get_renderer()
    px = fig.dpi / 72.0
    placed: list[Bbox] = []
    left_off: list[Label] = []
    # The user's own models first: their labels matter most.
    for lab in sorted(labels, key=lambda lb: (lb.panel, lb.weight != "bold", lb.x, -lb.y, lb.text)):
        ax = lab.ax
        probe = ax.text(0, 0, lab.text, fontsize=lab.fontsize, weight=lab.weight)
        tb = probe.get_window_extent(renderer)
        probe.remove()
        w, h = tb.width, tb.height
        axbox = ax.get_window_extent(renderer)
        x0, y0 = ax.transData.transform((lab.x, lab.y))
        blockers = hard + list(texts) + placed
        no_cover = list(texts) + placed  # text a label may never cover

        def score(box: Bbox, ox: float, oy: float, leader: bool) -> tuple[float, bool]:
            inside = (box.x0 >= axbox.x0 + 2 and box.x1 <= axbox.x1 - 2
                      and box.y0 >= axbox.y0 + 2 and box.y1 <= axbox.y1 - 2)
            cost = (_HARD * sum(_overlap(box, o) for o in blockers)
                    + _LINE * sum(_overlap(box, o) for o in lines) + (0 if inside else 1e9))
            if leader:
                cost += _CROSSING * _leader_hits(x0, y0, x0 + ox, y0 + oy, blockers, 6 * px)
            return cost, inside and not any(_overlap(box, o) > 0 for o in no_cover)

        best = None
        for step, gap in enumerate(_GAPS):
            dist = lab.marker_pt / 2 + gap
            for dx, dy in _DIRECTIONS if step < _LEADER_FROM else _FAR_DIRECTIONS:
                ox, oy = dx * dist * px, dy * dist * px
                hx, vy = _align(dx), _align(dy)
                left = x0 + ox - (w if hx < 0 else (w / 2 if hx == 0 else 0))
                bottom = y0 + oy - (h if vy < 0 else (h / 2 if vy == 0 else 0))
                box = Bbox.from_bounds(left, bottom, w, h)
                cost, ok = score(box, ox, oy, step >= _LEADER_FROM)
                if ok and (best is None or cost < best[0]):
                    best = (cost, step, dist, dx, dy, box)
                if ok and cost == 0:
                    break
            if best is not None and best[0] == 0:
                break
        if best is None or best[0] > 0:  # nothing near is free: anywhere in the axes, with a leader line
            for d, ox_pt, oy_pt in _far_candidates(axbox, x0, y0, w, h, px):
                box = Bbox.from_bounds(x0 + ox_pt * px - w / 2, y0 + oy_pt * px - h / 2, w, h)
                cost, ok = score(box, ox_pt * px, oy_pt * px, True)
                cost += _FAR * d / px  # the nearer the better
                if ok and (best is None or cost < best[0]):
                    best = (cost, len(_GAPS), d / px, ox_pt / (d / px), oy_pt / (d / px), box)
        if best is None:
            left_off.append(lab)
            continue
        _, step, dist, dx, dy, box = best
        far = step >= len(_GAPS)  # a grid spot: the box is centred on it
        ha = "center" if far else {1: "left", -1: "right", 0: "center"}[_align(dx)]
        va = "center" if far else {1: "bottom", -1: "top", 0: "center"}[_align(dy)]
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
    return left_off


def stagger(rug_labels: Sequence[object], renderer: object) -> None:
    """Lift a tick-row label that would touch its left neighbour's by one line (narrow panels)."""
    by_ax: dict[object, list[object]] = {}
    for t in rug_labels:
        by_ax.setdefault(t.axes, []).append(t)  # type: ignore[attr-defined]
    for labels in by_ax.values():
        done: list[object] = []
        for t in sorted(labels, key=lambda t: t.get_window_extent(renderer).x0):  # type: ignore[attr-defined]
            for _ in range(3):
                box = t.get_window_extent(renderer)  # type: ignore[attr-defined]
                if not any(box.overlaps(o) for o in done):
                    break
                x, y = t.get_position()  # type: ignore[attr-defined]
                t.set_position((x, y + box.height / t.axes.bbox.height))  # type: ignore[attr-defined]
            done.append(t.get_window_extent(renderer))  # type: ignore[attr-defined]


def step_boxes(line: Line2D, pad: float = 1.5) -> list[Bbox]:
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


def marker_box(ax: object, x: float, y: float, size_pt: float, px: float) -> Bbox:
    cx, cy = ax.transData.transform((x, y))
    r = size_pt * px / 2 + 1
    return Bbox.from_extents(cx - r, cy - r, cx + r, cy + r)



def log_locator(lo: float, hi: float) -> LogLocator:
    """Log ticks with more subdivisions the narrower the range (thinned later if they crowd)."""
    span = math.log10(hi / lo)
    if span <= 1.0:
        subs = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0)
    elif span <= 2.5:
        subs = (1.0, 2.0, 5.0)
    else:
        subs = (1.0,)
    return LogLocator(base=10, subs=subs)


# Coarser and coarser log-axis tick sets, tried until no two tick labels touch.
_LOG_SUBS = [(1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0), (1.0, 2.0, 3.0, 5.0), (1.0, 2.0, 5.0),
             (1.0, 3.0), (1.0,)]
_TICK_PAD = 4.0  # px between two tick labels


def tick_labels_clash(ax: object, renderer: object, pad: float = _TICK_PAD) -> bool:
    """Do two of the x tick labels shown inside the view come closer than ``pad`` px?"""
    lo, hi = sorted(ax.get_xlim())
    boxes = sorted(
        (t.get_window_extent(renderer) for t in ax.get_xticklabels()
         if t.get_visible() and t.get_text() and lo <= t.get_position()[0] <= hi),
        key=lambda b: b.x0,
    )
    return any(b.x0 - a.x1 < pad for a, b in zip(boxes, boxes[1:]))


def thin_ticks(ax: object, renderer: object) -> None:
    """Fewer x ticks until their labels stand apart (a narrow panel cannot hold 1, 1.5, 2, 3 ...)."""
    if not tick_labels_clash(ax, renderer):
        return
    if ax.get_xscale() == "log":
        subs = getattr(ax.xaxis.get_major_locator(), "_subs", None)
        have = len(subs) if subs is not None and not isinstance(subs, str) else len(_LOG_SUBS[0]) + 1
        candidates = [LogLocator(base=10, subs=s) for s in _LOG_SUBS if len(s) < have]
    else:
        candidates = [MaxNLocator(nbins=n) for n in range(8, 1, -1)]
    for loc in candidates:
        ax.xaxis.set_major_locator(loc)
        if not tick_labels_clash(ax, renderer):
            return
