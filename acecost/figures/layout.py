"""The block under a figure's axes, shared by the Pareto and breakdown figures.

Legend and caption are measured before the figure is sized: the widest
legend that fits the width, the caption wrapped until it fits, and the
height the two take below the axes. A figure given a fixed height gives its
axes what is left, so the size error and the final placement live here too.
When the caption would squeeze the plot of a fixed height (a one-column
figure 2.6 in high cannot hold ten lines of sources), the caption
is left off the figure and kept in :data:`CAPTION_ATTR` for the paper's own
caption; the CLI writes it beside the figure.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.figure import Figure

from acecost.figures.style import WIDE, Fonts

GID_CAPTION = "caption"
#: the Figure attribute holding the caption lines left off a figure too short for them (else [])
CAPTION_ATTR = "acecost_caption_left_off"
LEGEND_PLACES = ("below", "inside", "none")
_LEG_GAP, _CAP_PAD = 0.08, 0.12  # inches: legend to caption, caption to the figure's edge


@dataclass(frozen=True)
class Geometry:
    """A figure's margins, inches."""

    left: float
    right: float
    gap: float  # between panels
    top: float
    below_axes: float  # tick labels and axis label
    min_panel: float  # smallest axes, either way, a figure size may leave


def legend_inside(ax: object, handles: Sequence[object], labels: Sequence[str], fonts: Fonts) -> object:
    """A legend in the corner of ``ax`` that covers the fewest data points, fixed there once drawn
    (so the labels placed around it afterwards stay clear of it)."""
    leg = ax.legend(list(handles), list(labels), loc="best", fontsize=fonts.legend,  # type: ignore[attr-defined]
                    ncol=2 if fonts.compact and len(handles) > 3 else 1, columnspacing=0.8,
                    framealpha=0.9, borderpad=0.3, handlelength=1.6, labelspacing=0.3, borderaxespad=0.3)
    ax.figure.canvas.draw()  # type: ignore[attr-defined]
    box = leg.get_window_extent(ax.figure.canvas.get_renderer())  # type: ignore[attr-defined]
    leg.set_loc(tuple(ax.transAxes.inverted().transform((box.x0, box.y0))))  # type: ignore[attr-defined]
    return leg


class Footer:
    """Legend and caption under the axes; ``height`` is everything below the axes, in inches."""

    def __init__(self, fig: Figure, handles: Sequence[object], labels: Sequence[str], caption: Sequence[str],
                 *, max_cols: int, below_axes: float, fonts: Fonts = WIDE, legend: str = "below",
                 **legend_kw: object) -> None:
        self.fig, self.below_axes, self.fonts = fig, below_axes, fonts
        self.caption_lines = list(caption)
        renderer = fig.canvas.get_renderer()
        fig_w = fig.get_figwidth()
        self.legend = None
        setattr(fig, CAPTION_ATTR, [])
        for ncol in range(min(max_cols, len(handles)), 0, -1) if legend == "below" else ():
            if self.legend is not None:  # the widest legend that fits
                self.legend.remove()
            self.legend = fig.legend(list(handles), list(labels), loc="upper center", ncol=ncol,
                                     fontsize=fonts.legend, frameon=False, **legend_kw)
            if self.legend.get_window_extent(renderer).width <= (fig_w - 0.2) * fig.dpi:
                break
        self.caption = None
        if caption:
            usable = (fig_w - 0.4) * fig.dpi
            width_chars = int((fig_w - 0.4) * 72 / (0.53 * fonts.caption))
            while True:
                wrapped = "\n".join(textwrap.fill(p, width_chars, subsequent_indent="    ") for p in caption)
                self.caption = fig.text(0.0, 0.0, wrapped, fontsize=fonts.caption, va="top", ha="left",
                                        color="0.2")
                if self.caption.get_window_extent(renderer).width <= usable or width_chars < 40:
                    break
                self.caption.remove()
                width_chars -= 6
            self.caption.set_gid(GID_CAPTION)
        self.leg_h = self.legend.get_window_extent(renderer).height / fig.dpi if self.legend else 0.0
        cap_h = self.caption.get_window_extent(renderer).height / fig.dpi if self.caption else 0.0
        self.height = self._height(cap_h)

    def _height(self, cap_h: float) -> float:
        """Everything below the axes with a caption ``cap_h`` in high (0: none)."""
        return self.below_axes + self.leg_h + _LEG_GAP + cap_h + _CAP_PAD

    def fit(self, height: float, top: float, min_axes: float, want: float = 0.0) -> float:
        """The axes height a figure ``height`` in high leaves.

        When the caption alone would leave the axes under ``want`` (at least
        ``min_axes``), it is left off the figure (and kept in
        :data:`CAPTION_ATTR`) rather than squeezing the plot; a figure too
        short even without it is the caller's size error.
        """
        axes_h = height - top - self.height
        if axes_h < max(min_axes, want) and self.caption is not None:
            without = self._height(0.0)
            if height - top - without >= min_axes:
                self.caption.remove()
                self.caption = None
                self.height = without
                setattr(self.fig, CAPTION_ATTR, self.caption_lines)
                return height - top - without
        return axes_h

    def drawn(self) -> str:
        """What besides the axes takes height, for a size error."""
        parts = ["the title"] + ["legend"] * (self.legend is not None) + ["caption"] * (self.caption is not None)
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]

    def taller(self, need: float) -> str:
        """The fix for a figure too short: more height, or (only when one is drawn) no caption."""
        return f"make it at least {need:.1f} in high" + (" or drop the caption" if self.caption else "")

    def place(self, fig_h: float, title: str, top: float = 0.12) -> None:
        """Anchor legend and caption under the axes of a figure ``fig_h`` in high, and set the title."""
        fig = self.fig
        y_leg = (self.height - self.below_axes) / fig_h
        if self.legend is not None:
            self.legend.set_bbox_to_anchor((0.5, y_leg), transform=fig.transFigure)
        if self.caption is not None:
            self.caption.set_position((0.1 / fig.get_figwidth(), y_leg - (self.leg_h + _LEG_GAP) / fig_h))
        fig.suptitle(title, fontsize=self.fonts.title, y=1 - top / fig_h, va="top")
