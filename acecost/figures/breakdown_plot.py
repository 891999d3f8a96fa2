"""Where the cost goes, drawn: one horizontal stacked bar per model.

A bar is one model's ACE (or another metric) from :func:`acecost.figures.breakdown.breakdown`:
segments in network order, one per layer group and bit pair, coloured by
the bit pair, dark ticks between groups, the largest groups named above
the bar, the total at its end. Work the analysis could not price is a
hatched "?" box after the known segments and makes the total a lower bound
("≥"); it is never drawn as zero.

Like :func:`acecost.figures.pareto_plot.plot_pareto` this returns a Figure on an Agg
canvas (no pyplot), laid out by measuring its text, so it reads the same
for one model or eight.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.transforms import Bbox, offset_copy

from acecost.figures.breakdown import DEFAULT_DEPTH, Breakdown, bits_order, breakdown
from acecost.errors import AcecostError
from acecost.figures.layout import GID_CAPTION, Footer  # noqa: F401
from acecost.figures.numbers import axis_label, fits_paper_unit, tick_formatter, value_text
from acecost.figures.style import DPI, OKABE_ITO

# Artist ids, so callers and tests can find what was drawn.
GID_SEGMENT = "breakdown-segment"
GID_UNKNOWN = "breakdown-unknown"
GID_GROUP_EDGE = "breakdown-group-edge"
GID_GROUP_LABEL = "breakdown-group-label"
GID_TOTAL = "breakdown-total"

# Equal widths get the Okabe & Ito colour of their width; mixed pairs greys and blue.
_WIDTH_COLORS = {
    1: OKABE_ITO["sky_blue"],
    2: OKABE_ITO["yellow"],
    4: OKABE_ITO["bluish_green"],
    8: OKABE_ITO["orange"],
    16: OKABE_ITO["vermillion"],
    32: OKABE_ITO["reddish_purple"],
}
_OTHER_COLORS = [OKABE_ITO["blue"], "#8C8C8C", "#C8C8C8", "#4D4D4D", "#B0D4EE", "#F2C879"]
UNKNOWN_HATCH = "////"

# Geometry, inches.
_WIDTH = 7.5
_ROW = 0.62  # per model
_TOP, _BELOW_AXES, _RIGHT = 0.5, 0.5, 0.3
_BAR = 0.56  # bar height, in rows
_MAX_NAME_CHARS = 30


def _width_of(bits: str) -> int | None:
    """The single width of ``8x8`` or ``8-bit``; None for a mixed pair."""
    if bits.endswith("-bit"):
        return int(bits[:-4]) if bits[:-4].isdigit() else None
    a, _, w = bits.partition("x")
    return int(a) if a == w and a.isdigit() else None


def bit_colors(all_bits: Sequence[str]) -> dict[str, str]:
    """A colour per bit pair, the same for a pair whichever models are drawn with it."""
    out: dict[str, str] = {}
    others = 0
    for bits in sorted(set(all_bits), key=bits_order):
        width = _width_of(bits)
        if width in _WIDTH_COLORS:
            out[bits] = _WIDTH_COLORS[width]
        else:
            out[bits] = _OTHER_COLORS[others % len(_OTHER_COLORS)]
            others += 1
    return out


def bits_label(bits: str) -> str:
    return bits.replace("x", "×") if not bits.endswith("-bit") else bits


def _as_breakdowns(reports: object, x: str, depth: int) -> list[Breakdown]:
    items = reports.items() if isinstance(reports, Mapping) else reports
    out = []
    for item in items:  # type: ignore[union-attr]
        out.append(item if isinstance(item, Breakdown) else breakdown(str(item[0]), item[1], x, depth))
    if not out:
        raise AcecostError("no model to draw")
    names = [b.name for b in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise AcecostError(f"two models are named {dup[0]!r}; give each a distinct name")
    return out


def plot_breakdown(
    reports: object,
    *,
    x: str = "ace",
    depth: int = DEFAULT_DEPTH,
    title: str | None = None,
    caption: bool = True,
    size: tuple[float, float] | None = None,
) -> Figure:
    """Draw, per model, a horizontal bar of ``x`` split by layer group and bit pair.

    ``reports``: ``(name, report)`` pairs or a mapping ``name -> report``
    (``report`` an ``acecost.Report`` or its ``to_dict()``), or
    :class:`~acecost.figures.breakdown.Breakdown` objects. ``depth``: how many parts
    of a layer name make its group. ``size``: (width, height) in inches.
    """
    bds = _as_breakdowns(reports, x, depth)
    m = bds[0].metric
    n = len(bds)
    if size is not None and not all(math.isfinite(float(v)) and float(v) > 0 for v in size):
        raise AcecostError(f"figure size {size[0]:g}x{size[1]:g}: width and height must be positive inches")
    fig_w = _WIDTH if size is None else float(size[0])
    fig = Figure(figsize=(fig_w, _TOP + n * _ROW + 1.5), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    renderer = fig.canvas.get_renderer()
    colors = bit_colors([s.bits for b in bds for s in b.segments])

    known = [float(b.known) / m.scale for b in bds]
    span = max(known + [0.0]) or 1.0
    # the paper unit while the longest bar reads well in it (0.104 G), else raw SI (4k): never 4e-06
    paper = fits_paper_unit([max(known + [0.0])])
    stub = 0.04 * span  # the width of a "?" box: a mark, not a number
    has_unknown = any(b.unknown for b in bds)
    names = ["\n".join(textwrap.wrap(b.name, _MAX_NAME_CHARS, break_on_hyphens=False)) or b.name
             for b in bds]
    ax.set_yticks(range(n), names, fontsize=8.5)
    ax.set_ylim(n - 0.5, -0.5)  # first model on top
    ax.set_xlim(0, span * (1.22 if has_unknown else 1.16))
    ax.set_xlabel(axis_label(m, paper))
    ax.xaxis.set_major_formatter(tick_formatter(m, paper))
    ax.grid(True, axis="x", color="0.88", lw=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)

    rows: list[dict[str, list[float]]] = []  # per bar: group -> [start, end]
    for row, b in enumerate(bds):
        left = 0.0
        spans: dict[str, list[float]] = {}
        for seg in b.segments:
            w = float(seg.value) / m.scale
            (rect,) = ax.barh(row, w, left=left, height=_BAR, color=colors[seg.bits], edgecolor="white",
                              linewidth=0.4).patches
            rect.set_gid(GID_SEGMENT)
            s = spans.setdefault(seg.group, [left, left])
            s[1] = left + w
            left += w
        for g0, _ in list(spans.values())[1:]:
            (edge,) = ax.plot([g0, g0], [row - _BAR / 2, row + _BAR / 2], color="0.1", lw=1.0,
                              solid_capstyle="butt")
            edge.set_gid(GID_GROUP_EDGE)
        end = left
        if b.unknown:
            box = Rectangle((left, row - _BAR / 2), stub, _BAR, facecolor="white", edgecolor="0.35",
                            hatch=UNKNOWN_HATCH, lw=0.8)
            box.set_gid(GID_UNKNOWN)
            ax.add_patch(box)
            q = ax.text(left + stub / 2, row, "?", ha="center", va="center", fontsize=9, weight="bold")
            q.set_gid(GID_UNKNOWN)
            end = left + stub
        total = value_text(m, float(b.known) / m.scale, paper)
        if b.unknown:
            total = f"≥ {total} + ?"
        t = ax.text(end + 0.012 * span, row, total, va="center", ha="left", fontsize=8)
        t.set_gid(GID_TOTAL)
        rows.append(spans)

    handles = [Patch(facecolor=colors[k], edgecolor="none", label=bits_label(k)) for k in colors]
    if has_unknown:
        handles.append(Patch(facecolor="white", edgecolor="0.35", hatch=UNKNOWN_HATCH,
                             label="not priced (unsupported)"))
    legend_title = "stored bits" if m.key == "size" else "operand bits (activation × weight)"
    lines = _caption(bds, m, depth) if caption else []
    _layout(fig, ax, handles, legend_title, lines, title or f"Where the {m.name} goes",
            n, None if size is None else float(size[1]))
    fig.canvas.draw()  # group names are measured at the final size
    for row, spans in enumerate(rows):
        _label_groups(ax, renderer, row, spans)
    return fig


def _label_groups(ax: object, renderer: object, row: int, spans: Mapping[str, list[float]]) -> None:
    """Name the widest groups above their span, skipping any name that would not fit or would touch another."""
    placed: list[Bbox] = []
    short = _short_names(list(spans))
    whole = max((g1 for _, g1 in spans.values()), default=0.0) or 1.0
    for group, (g0, g1) in sorted(spans.items(), key=lambda kv: kv[1][0] - kv[1][1]):
        # Just above the bar (rows grow downwards), one point clear of it.
        text = f"{short[group]} {100 * (g1 - g0) / whole:.0f}%"
        t = ax.text((g0 + g1) / 2, row - _BAR / 2, text, ha="center", va="bottom", fontsize=6.5,
                    color="0.15", transform=offset_copy(ax.transData, fig=ax.figure, y=1, units="points"))
        t.set_gid(GID_GROUP_LABEL)
        box = t.get_window_extent(renderer)
        x0, _ = ax.transData.transform((g0, row))
        x1, _ = ax.transData.transform((g1, row))
        fits = box.width <= (x1 - x0) + 2
        if not fits or any(box.x0 < o.x1 + 3 and o.x0 < box.x1 + 3 for o in placed):
            t.remove()
            continue
        placed.append(box)


def _short_names(groups: Sequence[str]) -> dict[str, str]:
    """Each group by its last name part when that is unambiguous in the bar, else in full."""
    last = [g.split("/")[-1] for g in groups]
    return {g: (s if last.count(s) == 1 else g) for g, s in zip(groups, last)}


def zero_bars(bds: Sequence[Breakdown]) -> list[str]:
    """Models whose bar is a computed 0: no work of the metric, and none left unpriced."""
    return [b.name for b in bds if not b.segments and not b.unknown]


def _caption(bds: Sequence[Breakdown], m: object, depth: int) -> list[str]:
    what = ("parameters, grouped by path" if m.key == "size"  # type: ignore[attr-defined]
            else "per-layer records, grouped by layer name")
    lines = [
        f"Each bar: one model's {m.name} summed from its {what} cut to {depth} part"  # type: ignore[attr-defined]
        f"{'s' * (depth > 1)}, in network order; dark ticks separate groups, the widest are named "
        "above the bar with their share of it; colour: "
        + ("the bits a parameter is stored at." if m.key == "size"  # type: ignore[attr-defined]
           else "operand bits, activation × weight.")
    ]
    empty = zero_bars(bds)
    if empty:
        lines.append(f"No {m.name} in {', '.join(empty)}: "  # type: ignore[attr-defined]
                     f"{'its bar is' if len(empty) == 1 else 'their bars are'} 0.")
    for b in bds:
        if b.unknown:
            where = "; ".join(f"{u.group}: {u.why}" for u in b.unknown)
            lines.append(f"{b.name}: not priced ({where}); its total is a lower bound.")
    return lines


def _layout(fig: Figure, ax: object, handles: list, legend_title: str, caption: list[str], title: str,
            n: int, height: float | None) -> None:
    """Measure names, legend and caption; then size the figure so nothing overlaps."""
    renderer = fig.canvas.get_renderer()
    fig_w = fig.get_figwidth()
    names_w = max(t.get_window_extent(renderer).width for t in ax.get_yticklabels()) / fig.dpi
    left = min(max(0.6, names_w + 0.2), 0.45 * fig_w)
    foot = Footer(fig, handles, [h.get_label() for h in handles], caption, max_cols=len(handles),
                  below_axes=_BELOW_AXES, title=legend_title, title_fontsize=8, handlelength=1.6)
    below = foot.height
    axes_h = n * _ROW if height is None else height - _TOP - below
    if fig_w - left - _RIGHT < 1.5:
        raise AcecostError(f"a figure {fig_w:g} in wide leaves too little room for the bars beside "
                           f"their names; make it at least {left + _RIGHT + 1.5:.1f} in wide")
    if axes_h < 0.4 * n:
        raise AcecostError(f"a figure {height:g} in high leaves too little room for {n} bar"
                           f"{'s' * (n > 1)} after {foot.drawn()}; " + foot.taller(_TOP + below + 0.4 * n))
    fig_h = _TOP + axes_h + below
    fig.set_size_inches(fig_w, fig_h)
    fig.subplots_adjust(left=left / fig_w, right=1 - _RIGHT / fig_w, top=1 - _TOP / fig_h,
                        bottom=below / fig_h)
    foot.place(fig_h, title)
