"""The block under a figure's axes, shared by the Pareto and breakdown figures.

Legend and caption are measured before the figure is sized: the widest
legend that fits the width, the caption wrapped until it fits, and the
height the two take below the axes. A figure given a fixed height gives its
axes what is left, so the size error and the final placement live here too.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from matplotlib.figure import Figure

GID_CAPTION = "caption"
_LEG_GAP, _CAP_PAD = 0.08, 0.12  # inches: legend to caption, caption to the figure's edge


class Footer:
    """Legend and caption under the axes; ``height`` is everything below the axes, in inches."""

    def __init__(self, fig: Figure, handles: Sequence[object], labels: Sequence[str], caption: Sequence[str],
                 *, max_cols: int, below_axes: float, **legend_kw: object) -> None:
        self.fig, self.below_axes = fig, below_axes
        renderer = fig.canvas.get_renderer()
        fig_w = fig.get_figwidth()
        self.legend = None
        for ncol in range(min(max_cols, len(handles)), 0, -1):  # widest legend that fits
            if self.legend is not None:
                self.legend.remove()
            self.legend = fig.legend(list(handles), list(labels), loc="upper center", ncol=ncol,
                                     fontsize=8, frameon=False, **legend_kw)
            if self.legend.get_window_extent(renderer).width <= (fig_w - 0.2) * fig.dpi:
                break
        self.caption = None
        if caption:
            usable = (fig_w - 0.4) * fig.dpi
            width_chars = int((fig_w - 0.4) * 72 / 3.6)
            while True:
                wrapped = "\n".join(textwrap.fill(p, width_chars, subsequent_indent="    ") for p in caption)
                self.caption = fig.text(0.0, 0.0, wrapped, fontsize=6.8, va="top", ha="left", color="0.2")
                if self.caption.get_window_extent(renderer).width <= usable or width_chars < 40:
                    break
                self.caption.remove()
                width_chars -= 6
            self.caption.set_gid(GID_CAPTION)
        self.leg_h = self.legend.get_window_extent(renderer).height / fig.dpi if self.legend else 0.0
        cap_h = self.caption.get_window_extent(renderer).height / fig.dpi if self.caption else 0.0
        self.height = below_axes + self.leg_h + _LEG_GAP + cap_h + _CAP_PAD

    def drawn(self) -> str:
        """What besides the axes takes height, for a size error."""
        parts = ["the title"] + ["legend"] * (self.legend is not None) + ["caption"] * (self.caption is not None)
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]

    def taller(self, need: float) -> str:
        """The fix for a figure too short: more height, or (only when one is drawn) no caption."""
        return f"make it at least {need:.1f} in high" + (" or drop the caption" if self.caption else "")

    def place(self, fig_h: float, title: str) -> None:
        """Anchor legend and caption under the axes of a figure ``fig_h`` in high, and set the title."""
        fig = self.fig
        y_leg = (self.height - self.below_axes) / fig_h
        if self.legend is not None:
            self.legend.set_bbox_to_anchor((0.5, y_leg), transform=fig.transFigure)
        if self.caption is not None:
            self.caption.set_position((0.1 / fig.get_figwidth(), y_leg - (self.leg_h + _LEG_GAP) / fig_h))
        fig.suptitle(title, fontsize=11, y=1 - 0.12 / fig_h, va="top")
