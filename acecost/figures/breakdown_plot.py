"""Where the cost goes, drawn: one horizontal stacked bar per model.

A bar is one model's ACE (or another metric) from :func:`acecost.figures.breakdown.breakdown`:
segments in network order, one per layer group and bit pair, coloured by
the bit pair, dark ticks between groups, the largest groups named above
the bar, the total at its end. A group too narrow for its name is named
under the bar ("also: head 1%"), so no group goes unnamed. Work the analysis
could not price is a hatched "?" box after the known segments and makes the
total a lower bound ("≥"); it is never drawn as zero.

Bars of very different totals (a binary net beside its float teacher) are
compared with ``normalize=True``: each bar is drawn at its own scale, as
shares of its known total (0-100%), with its total written at its end. A log
axis would not do: a stacked segment's length on it is not its share.
A model named ``zoo:NAME`` is labelled ``NAME``; the prefix says where it came
from, not what it is.

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
from acecost.figures.style import DPI, OKABE_ITO, fonts_for

# Artist ids, so callers and tests can find what was drawn.
GID_SEGMENT = "breakdown-segment"
GID_UNKNOWN = "breakdown-unknown"
GID_GROUP_EDGE = "breakdown-group-edge"
GID_GROUP_LABEL = "breakdown-group-label"
GID_TOTAL = "breakdown-total"
GID_GROUP_ALSO = "breakdown-group-also"  # the groups too narrow to name on the bar, under it

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


def bar_names(names: Sequence[str]) -> list[str]:
    """Bar labels: ``zoo:NAME`` as ``NAME``, unless that would make two bars alike."""
    short = [n[4:] if n.startswith("zoo:") and len(n) > 4 else n for n in names]
    return [s if short.count(s) == 1 and (s == n or s not in names) else n for s, n in zip(short, names)]


def _total_text(m: object, value: object) -> str:
    """A bar's total in the one number format (``2.59G ACE``, ``6.87Mbit``)."""
    text = m.format(value)  # type: ignore[attr-defined]
    return text if m.kind == "size" else f"{text} {m.name}"  # type: ignore[attr-defined]


def plot_breakdown(
    reports: object,
    *,
    x: str = "ace",
    depth: int = DEFAULT_DEPTH,
    title: str | None = None,
    caption: bool = True,
    size: tuple[float, float] | None = None,
    legend: str = "below",
    normalize: bool = False,
) -> Figure:
    """Draw, per model, a horizontal bar of ``x`` split by layer group and bit pair.

    ``reports``: ``(name, report)`` pairs or a mapping ``name -> report``
    (``report`` an ``acecost.Report`` or its ``to_dict()``), or
    :class:`~acecost.figures.breakdown.Breakdown` objects. ``depth``: how many parts
    of a layer name make its group. ``size``: (width, height) in inches; under
    5 in wide the text is set for one paper column. ``legend``: ``"below"``
    or ``"none"``. ``normalize``: every bar at its own scale (percent of its total).
    """
    if legend not in ("below", "none"):
        raise AcecostError(f"a breakdown's legend goes below or nowhere, not {legend!r}")
    bds = _as_breakdowns(reports, x, depth)
    m = bds[0].metric
    n = len(bds)
    if size is not None and not all(math.isfinite(float(v)) and float(v) > 0 for v in size):
        raise AcecostError(f"figure size {size[0]:g}x{size[1]:g}: width and height must be positive inches")
    fig_w = _WIDTH if size is None else float(size[0])
    fonts = fonts_for(fig_w)
    fig = Figure(figsize=(fig_w, _TOP + n * _ROW + 1.5), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    renderer = fig.canvas.get_renderer()
    colors = bit_colors([s.bits for b in bds for s in b.segments])

    known = [float(b.known) / m.scale for b in bds]
    if normalize:  # each bar in percent of its own known total
        per = [100.0 / k if k else 0.0 for k in known]
        known = [100.0 if k else 0.0 for k in known]
    else:
        per = [1.0] * n
    span = max(known + [0.0]) or 1.0
    # the paper unit while the longest bar reads well in it (0.104 G), else raw SI (4k): never 4e-06
    paper = fits_paper_unit([max(known + [0.0])])
    stub = 0.04 * span  # the width of a "?" box: a mark, not a number
    has_unknown = any(b.unknown for b in bds)
    names = ["\n".join(textwrap.wrap(name, _MAX_NAME_CHARS, break_on_hyphens=False)) or name
             for name in bar_names([b.name for b in bds])]
    ax.set_yticks(range(n), names, fontsize=8.5 if not fonts.compact else fonts.axis - 1)
    ax.tick_params(axis="x", labelsize=fonts.axis)
    ax.set_ylim(n - 0.5, -0.5)  # first model on top
    ax.set_xlim(0, span * (1.22 if has_unknown else 1.16))
    if normalize:
        ax.set_xlabel(f"share of each model's {m.name} (%)", fontsize=fonts.axis)
    else:
        ax.set_xlabel(axis_label(m, paper), fontsize=fonts.axis)
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
            w = float(seg.value) / m.scale * per[row]
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
        if normalize:
            total = _total_text(m, b.known)
        else:
            total = value_text(m, float(b.known) / m.scale, paper)
        if b.unknown:
            total = f"≥ {total} + ?"
        t = ax.text(end + 0.012 * span, row, total, va="center", ha="left",
                    fontsize=8 if not fonts.compact else fonts.legend)
        t.set_gid(GID_TOTAL)
        rows.append(spans)

    handles = [Patch(facecolor=colors[k], edgecolor="none", label=bits_label(k)) for k in colors]
    if has_unknown:
        handles.append(Patch(facecolor="white", edgecolor="0.35", hatch=UNKNOWN_HATCH,
                             label="not priced (unsupported)"))
    legend_title = "stored bits" if m.key == "size" else "operand bits (activation × weight)"
    lines = _caption(bds, m, depth, normalize) if caption else []
    _layout(fig, ax, handles if legend == "below" else [], legend_title, lines,
            title or f"Where the {m.name} goes", n, None if size is None else float(size[1]), fonts)
    fig.canvas.draw()  # group names are measured at the final size
    taken: list[Bbox] = []  # names already drawn, over every bar: a row's names never touch its neighbours'
    for row, spans in enumerate(rows):
        _label_groups(ax, renderer, row, spans, fonts.caption if fonts.compact else 6.5, taken)
    return fig


def _label_groups(ax: object, renderer: object, row: int, spans: Mapping[str, list[float]],
                  fontsize: float = 6.5, taken: list[Bbox] | None = None) -> None:
    """Name the widest groups above their span; the rest, too narrow for their name, under the bar.

    Under the bar they are listed in network order as ``also: name share``
    (without ``also`` when none fits above, as in a short one-column figure),
    as many as the axes' width holds, then ``+ N more (the table lists them)``.
    """
    placed: list[Bbox] = taken if taken is not None else []
    unnamed: list[str] = []
    above = 0
    short = _short_names(list(spans))
    whole = max((g1 for _, g1 in spans.values()), default=0.0) or 1.0
    texts = {g: f"{short[g]} {_share(g1 - g0, whole)}" for g, (g0, g1) in spans.items()}
    for group, (g0, g1) in sorted(spans.items(), key=lambda kv: kv[1][0] - kv[1][1]):
        # Just above the bar (rows grow downwards), one point clear of it.
        t = ax.text((g0 + g1) / 2, row - _BAR / 2, texts[group], ha="center", va="bottom", fontsize=fontsize,
                    color="0.15", transform=offset_copy(ax.transData, fig=ax.figure, y=1, units="points"))
        t.set_gid(GID_GROUP_LABEL)
        box = t.get_window_extent(renderer)
        x0, _ = ax.transData.transform((g0, row))
        x1, _ = ax.transData.transform((g1, row))
        fits = box.width <= (x1 - x0) + 2
        if not fits or any(box.x0 < o.x1 + 3 and o.x0 < box.x1 + 3 and box.y0 < o.y1 and o.y0 < box.y1
                           for o in placed):
            t.remove()
            unnamed.append(group)
            continue
        placed.append(box)
        above += 1
    if not unnamed:
        return
    order = [g for g in spans if g in unnamed]
    axbox = ax.get_window_extent(renderer)
    under = offset_copy(ax.transData, fig=ax.figure, x=2, y=-1, units="points")
    for keep in range(len(order), 0, -1):  # as many as the width holds, the rest counted
        more = len(order) - keep
        text = ("also: " if above else "") + ", ".join(texts[g] for g in order[:keep])
        if more:
            text += f" + {more} more (the table lists them)"
        t = ax.text(0, row + _BAR / 2, text, ha="left", va="top", fontsize=fontsize, color="0.15",
                    transform=under)
        t.set_gid(GID_GROUP_ALSO)
        box = t.get_window_extent(renderer)
        if box.x1 <= axbox.x1 or keep == 1:
            placed.append(box)
            return
        t.remove()


def _share(part: float, whole: float) -> str:
    """A group's share of its bar: whole percents, or ``<1%`` for a sliver that is not zero."""
    pct = 100 * part / whole
    return "<1%" if 0 < pct < 0.5 else f"{pct:.0f}%"


def _short_names(groups: Sequence[str]) -> dict[str, str]:
    """Each group by its last name part when that is unambiguous in the bar, else in full."""
    last = [g.split("/")[-1] for g in groups]
    return {g: (s if last.count(s) == 1 else g) for g, s in zip(groups, last)}


def zero_bars(bds: Sequence[Breakdown]) -> list[str]:
    """Models whose bar is a computed 0: no work of the metric, and none left unpriced."""
    return [b.name for b in bds if not b.segments and not b.unknown]


def _caption(bds: Sequence[Breakdown], m: object, depth: int, normalize: bool = False) -> list[str]:
    what = ("parameters, grouped by path" if m.key == "size"  # type: ignore[attr-defined]
            else "per-layer records, grouped by layer name")
    lines = [
        f"Each bar: one model's {m.name} summed from its {what} cut to {depth} part"  # type: ignore[attr-defined]
        f"{'s' * (depth > 1)}, in network order; dark ticks separate groups, the widest are named "
        "above the bar with their share of it, the narrower under it; colour: "
        + ("the bits a parameter is stored at." if m.key == "size"  # type: ignore[attr-defined]
           else "operand bits, activation × weight.")
        + (" Every bar is drawn at its own scale, as shares of its total (written at its end)."
           if normalize else "")
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
            n: int, height: float | None, fonts: object) -> None:
    """Measure names, legend and caption; then size the figure so nothing overlaps."""
    renderer = fig.canvas.get_renderer()
    fig_w = fig.get_figwidth()
    names_w = max(t.get_window_extent(renderer).width for t in ax.get_yticklabels()) / fig.dpi
    left = min(max(0.6, names_w + 0.2), 0.45 * fig_w)
    top = _TOP if not fonts.compact else 0.3  # type: ignore[attr-defined]
    below_axes = _BELOW_AXES if not fonts.compact else 0.4  # type: ignore[attr-defined]
    foot = Footer(fig, handles, [h.get_label() for h in handles], caption, max_cols=len(handles),
                  below_axes=below_axes, fonts=fonts, title=legend_title,
                  title_fontsize=fonts.legend, handlelength=1.6)  # type: ignore[attr-defined]
    axes_h = n * _ROW if height is None else foot.fit(height, top, 0.4 * n)
    below = foot.height
    if fig_w - left - _RIGHT < 1.5:
        raise AcecostError(f"a figure {fig_w:g} in wide leaves too little room for the bars beside "
                           f"their names; make it at least {left + _RIGHT + 1.5:.1f} in wide")
    if axes_h < 0.4 * n:
        raise AcecostError(f"a figure {height:g} in high leaves too little room for {n} bar"
                           f"{'s' * (n > 1)} after {foot.drawn()}; " + foot.taller(top + below + 0.4 * n))
    fig_h = top + axes_h + below
    fig.set_size_inches(fig_w, fig_h)
    fig.subplots_adjust(left=left / fig_w, right=1 - _RIGHT / fig_w, top=1 - top / fig_h,
                        bottom=below / fig_h)
    foot.place(fig_h, title, top=0.12 if not fonts.compact else 0.06)  # type: ignore[attr-defined]
