"""Colours, tick text and file output shared by acecost's figures.

Colours are Okabe & Ito's, distinguishable with any common colour-vision
deficiency. Files are written at the dpi the figure was laid out at, with
TrueType fonts in a PDF.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.figure import Figure

from acecost.errors import AcecostError

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

DPI = 150

# A figure (or a panel's share of one) narrower than this is set like a one-column figure (3.3-3.5 in).
ONE_COLUMN_MAX = 5.0


@dataclass(frozen=True)
class Fonts:
    """Text sizes (points) of a figure, chosen by its printed width.

    A two-column or wider figure keeps matplotlib's sizes; a one-column
    figure is set at 8 pt, the size of a paper's own figure text, with
    labels and caption one to two points smaller and never below 6 pt.
    """

    axis: float  # axis labels and tick labels
    title: float
    legend: float
    label: float  # the user's point labels
    ref_label: float  # reference labels and the tick row's labels
    caption: float
    compact: bool  # one column: shorter legend entries and reference labels


WIDE = Fonts(axis=10.0, title=11.0, legend=8.0, label=8.0, ref_label=7.5, caption=6.8, compact=False)
ONE_COLUMN = Fonts(axis=8.0, title=8.0, legend=6.5, label=7.0, ref_label=6.5, caption=6.0, compact=True)


def fonts_for(width: float, panels: int = 1) -> Fonts:
    """The text sizes for a figure ``width`` inches wide with a row of ``panels``.

    Each panel of a row is as narrow as a one-column figure when the width
    per panel is under 5 in (three panels across a 7 in page), so it gets
    the one-column sizes too.
    """
    return ONE_COLUMN if width / max(panels, 1) < ONE_COLUMN_MAX else WIDE


def family_style(family: str, families: Sequence[str]) -> tuple[str, str]:
    if family in _FAMILY_STYLES:
        return _FAMILY_STYLES[family]
    others = sorted(f for f in set(families) if f not in _FAMILY_STYLES)
    return _CYCLE[others.index(family) % len(_CYCLE)]


def fmt_tick(v: float, _pos: object = None) -> str:
    if v <= 0:
        return "0"
    text = f"{v:.3g}"
    return text.replace("e+0", "e").replace("e-0", "e-")


def save(fig: Figure, path: str) -> None:
    """Write ``fig``; the format follows the extension (png, svg, pdf).

    PDF and PostScript embed TrueType (Type 42) fonts, which conference
    checkers require; matplotlib's default, Type 3, is refused by most. SVG
    keeps text as ``<text>`` elements (not outlines), so labels stay editable
    in a vector editor. The settings hold for this call only, not for the
    caller's other figures.
    """
    from matplotlib import rc_context

    try:
        with rc_context({"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none"}):
            fig.savefig(path, dpi=fig.dpi)
    except OSError as e:
        raise AcecostError(f"cannot write {path}: {e.strerror or e}") from None
