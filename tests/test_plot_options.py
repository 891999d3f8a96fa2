"""``acecost plot`` output options: fonts a PDF embeds, caption, figure size, readable ticks.

Expected numbers are the figure geometry asked for (inches x dpi) and the
PDF format's own markers, not values read back from the plotting code.
"""

import json
import struct
from itertools import combinations

import matplotlib
import pytest
from click.testing import CliRunner

from acecost.cli.plot import plot
from acecost.figures.pareto_plot import plot_pareto
from acecost.figures.style import DPI, save


def totals(ace, binary, other, size_bits):
    return {"ace": ace, "macs": binary + other, "binary_macs": binary,
            "cpu64": binary / 64 + other, "size_bits": size_bits, "complete": True}


# Sizes 180 and 950 Mbit: less than a decade apart, so the size axis is offered
# ticks at 1, 1.5, 2, 3 ... 8 x 100, too many for a narrow panel.
CROWDED = [("a", totals(3e9, 2.9e9, 1e6, 180_000_000), 60.0),
           ("b", totals(5e9, 4.9e9, 2e6, 950_000_000), 70.0)]


def write(tmp_path):
    paths = []
    for name, t, _ in CROWDED:
        p = tmp_path / f"{name}.json"
        p.write_text(json.dumps({"schema_version": 1, "meta": {}, "totals": t, "layers": []}))
        paths.append(str(p))
    return paths


def run(*args):
    return CliRunner().invoke(plot, [str(a) for a in args], catch_exceptions=False)


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


ACC = ["--accuracy", "a=60", "--accuracy", "b=70", "--reference", "none"]


def test_pdf_embeds_truetype_fonts_and_leaves_rc_alone(tmp_path):
    before = (matplotlib.rcParams["pdf.fonttype"], matplotlib.rcParams["ps.fonttype"])
    out = tmp_path / "f.pdf"
    res = run(*write(tmp_path), *ACC, "-o", out)
    assert res.exit_code == 0, res.output
    pdf = out.read_bytes()
    assert pdf[:5] == b"%PDF-"
    # Type 42 embeds the TrueType program (/FontFile2) as a TrueType or CID
    # TrueType font; matplotlib's default, Type 3, writes /Subtype /Type3.
    assert b"/FontFile2" in pdf
    assert b"/Subtype /TrueType" in pdf or b"/Subtype /CIDFontType2" in pdf
    assert b"/Type3" not in pdf
    assert (matplotlib.rcParams["pdf.fonttype"], matplotlib.rcParams["ps.fonttype"]) == before


def test_no_caption(tmp_path):
    with_cap, without = tmp_path / "c.svg", tmp_path / "n.svg"
    args = [*write(tmp_path), "--accuracy", "a=60", "--accuracy", "b=70"]
    assert run(*args, "-o", with_cap).exit_code == 0
    assert run(*args, "--no-caption", "-o", without).exit_code == 0
    assert 'id="caption"' in with_cap.read_text()
    assert 'id="caption"' not in without.read_text()


def test_size_sets_the_figure_in_inches(tmp_path):
    out = tmp_path / "f.png"
    res = run(*write(tmp_path), *ACC, "--size", "6,4.5", "-o", out)
    assert res.exit_code == 0, res.output
    assert png_size(out) == (6 * DPI, int(4.5 * DPI))


@pytest.mark.parametrize("size, message", [
    ("6", "expected W,H"),
    ("6,x", "expected W,H"),
    ("0,4", "positive"),
    ("1.5,4", "wide"),
    ("7,1", "high"),
])
def test_bad_size_is_one_line(tmp_path, size, message):
    out = tmp_path / "f.png"
    res = run(*write(tmp_path), *ACC, "--panels", "ace,size", "--size", size, "-o", out)
    assert res.exit_code == 2
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("acecost: error: ") and message in lines[0], res.stderr
    assert not out.exists()


@pytest.mark.parametrize("caption", [True, False])
def test_size_error_offers_dropping_the_caption_only_when_drawn(tmp_path, caption):
    acc = tmp_path / "acc.csv"
    acc.write_text("name,top1\na,60\nb,70\n")
    out = tmp_path / "p.pdf"
    res = run(*write(tmp_path), "--accuracy-file", acc, *([] if caption else ["--no-caption"]),
              "--size", "6,3", "-o", out)
    assert res.exit_code == 2
    (line,) = res.stderr.splitlines()
    assert line.startswith("acecost: error: a figure 3 in high leaves ") and "make it at least" in line
    assert ("caption" in line) is caption
    assert line.endswith(" in high or drop the caption" if caption else " in high")
    assert not out.exists()


def tick_boxes(fig, ax):
    r = fig.canvas.get_renderer()
    lo, hi = sorted(ax.get_xlim())
    return [(t.get_text(), t.get_window_extent(r)) for t in ax.get_xticklabels()
            if t.get_visible() and t.get_text() and lo <= t.get_position()[0] <= hi]


@pytest.mark.parametrize("size", [None, (7, 3.5), (4, 3)])
def test_size_panel_tick_labels_do_not_overlap(size):
    panels = ["ace", "cpu64", "size"] if size != (4, 3) else ["size"]
    fig = plot_pareto(CROWDED, panels=panels, reference=None, size=size)
    fig.canvas.draw()
    for ax in fig.axes:
        boxes = tick_boxes(fig, ax)
        assert len(boxes) >= 2, ax.get_xlabel()
        for (na, a), (nb, b) in combinations(boxes, 2):
            assert not a.overlaps(b), f"{ax.get_xlabel()}: tick labels {na!r} and {nb!r} overlap"
    size_ax = fig.axes[-1]
    assert size_ax.get_xlabel() == "Size (Mbit)"
    lo, hi = size_ax.get_xlim()
    assert lo < 180 and 950 < hi


def test_save_writes_the_format_of_the_extension(tmp_path):
    fig = plot_pareto(CROWDED, reference=None, caption=False)
    for ext, magic in ((".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF-")):
        save(fig, str(tmp_path / f"f{ext}"))
        assert (tmp_path / f"f{ext}").read_bytes().lstrip()[: len(magic)] == magic
