"""Figures at paper size: one column (3.4 in), two columns (7 in), and what a sweep or a breakdown draws.

Everything is read back from the drawn figure: text extents after
``fig.canvas.draw()`` (labels never overlap), the size of the written PNG
(the inches asked for times the dpi), the written SVG and PDF files (text
kept as text, TrueType fonts), and the artists of dominated points and
normalized bars. Expected numbers come from the inputs written here (costs
in G, shares of a bar), not from the plotting code.
"""

import json
import struct
from itertools import combinations

import pytest
from click.testing import CliRunner
from matplotlib.colors import to_rgba
from matplotlib.text import Text

from acecost.cli import main
from breakdown_reports import layer, report
from acecost.figures.breakdown_plot import (
    GID_GROUP_ALSO,
    GID_GROUP_LABEL,
    GID_SEGMENT,
    GID_TOTAL,
    plot_breakdown,
)
from acecost.figures.pareto_plot import plot_pareto
from acecost.figures.style import DPI, USER_COLOR


def totals(ace_g, size_mbit=40.0):
    ace = ace_g * 1e9
    return {"ace": ace, "macs": ace / 4, "binary_macs": ace / 8, "cpu64": ace / 8 / 64 + ace / 8,
            "size_bits": size_mbit * 1e6, "complete": True}


# A few models of one's own, among the reference points (ACE 2.6-7.9 G, top-1 69-76).
MINE = [("bnn-s", totals(2.4), 66.0), ("bnn-m", totals(3.5), 69.5), ("bnn-l", totals(6.0), 72.5),
        ("bnn-xl", totals(9.0), 71.0)]  # bnn-xl is dominated by bnn-l
SIZES = [(3.4, 2.6), (3.4, 3.7), (7.0, 4.0)]


def texts_of(fig, gid):
    return [t for ax in fig.axes for t in ax.texts if t.get_gid() == gid]


def boxes(fig, texts):
    r = fig.canvas.get_renderer()
    return [(" ".join(t.get_text().split()), Text.get_window_extent(t, r)) for t in texts]


def overlap(a, b):
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w > 0.5 and h > 0.5


def assert_no_overlap(named):
    for (na, a), (nb, b) in combinations(named, 2):
        assert not overlap(a, b), f"{na!r} overlaps {nb!r}"


@pytest.mark.parametrize("caption", [True, False])
@pytest.mark.parametrize("size", SIZES)
def test_paper_sizes_draw_every_label_clear_of_every_other(size, caption):
    fig = plot_pareto(MINE, reference="pokebnn", size=size, caption=caption)
    fig.canvas.draw()
    assert tuple(fig.get_size_inches()) == pytest.approx(size)
    (ax,) = fig.axes
    labels = boxes(fig, texts_of(fig, "point-label"))
    rug = boxes(fig, texts_of(fig, "rug-label"))
    # Every model of one's own is named, and nothing was left off.
    assert {n for n, _ in labels} >= {"bnn-s", "bnn-m", "bnn-l", "bnn-xl"}
    assert fig.acecost_labels_left_off == []
    assert_no_overlap(labels + rug)
    axbox = ax.get_window_extent(fig.canvas.get_renderer())
    for name, box in labels:
        assert axbox.x0 - 0.5 <= box.x0 and box.x1 <= axbox.x1 + 0.5, name
        assert axbox.y0 - 0.5 <= box.y0 and box.y1 <= axbox.y1 + 0.5, name
    # The legend below is shorter than the axes and clear of them, inside the figure.
    (legend,) = fig.legends
    lb = legend.get_window_extent(fig.canvas.get_renderer())
    assert lb.height < axbox.height
    assert lb.y1 <= axbox.y0 and lb.y0 >= 0 and lb.x0 >= 0 and lb.x1 <= size[0] * DPI


def test_one_column_caption_that_does_not_fit_is_kept_for_the_paper():
    fig = plot_pareto(MINE, reference="pokebnn", size=(3.4, 2.6), caption=True)
    assert not [t for t in fig.texts if t.get_gid() == "caption"]
    left_off = " ".join(fig.acecost_caption_left_off)
    assert "Zhang, Zhang, Lew" in left_off and "[1]" in left_off
    # Given the height, it is drawn under the axes.
    fig = plot_pareto(MINE, reference="pokebnn", size=(3.4, 5.5), caption=True)
    assert [t for t in fig.texts if t.get_gid() == "caption"] and fig.acecost_caption_left_off == []


@pytest.mark.parametrize("size", [(3.4, 2.6), (7.0, 4.0)])
def test_legend_inside_keeps_labels_off_it_and_none_draws_none(size):
    fig = plot_pareto(MINE, reference="pokebnn", size=size, legend="inside", caption=False)
    fig.canvas.draw()
    (ax,) = fig.axes
    assert not fig.legends
    leg = ax.get_legend()
    r = fig.canvas.get_renderer()
    lb, axbox = leg.get_window_extent(r), ax.get_window_extent(r)
    assert axbox.x0 - 1 <= lb.x0 and lb.x1 <= axbox.x1 + 1 and axbox.y0 - 1 <= lb.y0 and lb.y1 <= axbox.y1 + 1
    labels = boxes(fig, texts_of(fig, "point-label"))
    assert_no_overlap(labels + [("legend", lb)])
    assert fig.acecost_labels_left_off == []

    fig = plot_pareto(MINE, reference="pokebnn", size=size, legend="none", caption=False)
    assert not fig.legends and fig.axes[0].get_legend() is None


def font_sizes(fig):
    ax = fig.axes[0]
    return {
        "ticks": {t.get_fontsize() for t in ax.get_xticklabels() + ax.get_yticklabels()},
        "axis": {ax.xaxis.label.get_fontsize(), ax.yaxis.label.get_fontsize()},
        "labels": {t.get_fontsize() for t in texts_of(fig, "point-label") + texts_of(fig, "rug-label")},
        "legend": {t.get_fontsize() for lg in fig.legends for t in lg.get_texts()},
    }


def test_fonts_are_sized_for_print():
    one = font_sizes(plot_pareto(MINE, reference="pokebnn", size=(3.4, 3.7)))
    assert one["ticks"] == {8.0} and one["axis"] == {8.0}
    assert all(6.0 <= s <= 8.0 for s in one["labels"] | one["legend"])
    two = font_sizes(plot_pareto(MINE, reference="pokebnn", size=(7.0, 4.0)))
    assert two["ticks"] == {10.0} and two["axis"] == {10.0}


def test_svg_keeps_text_and_pdf_has_no_type3_font(tmp_path):
    fig = plot_pareto(MINE, reference="pokebnn", size=(3.4, 2.6))
    from acecost.figures.style import save

    save(fig, str(tmp_path / "f.svg"))
    save(fig, str(tmp_path / "f.pdf"))
    svg = (tmp_path / "f.svg").read_text()
    assert "<text" in svg and ">bnn-m</text>" in svg.replace("\n", "")
    pdf = (tmp_path / "f.pdf").read_bytes()
    assert b"/Type3" not in pdf and b"/FontFile2" in pdf


# --------------------------------------------------------------- the command


def write_reports(tmp_path):
    paths = []
    for name, t, _ in MINE:
        p = tmp_path / f"{name}.json"
        p.write_text(json.dumps({"schema_version": 1, "meta": {"name": name}, "totals": t, "layers": []}))
        paths.append(str(p))
    return paths + [a for name, _, acc in MINE for a in ("--accuracy", f"{name}={acc}")]


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def run(*args):
    return CliRunner().invoke(main, ["plot", *map(str, args)], catch_exceptions=False)


def test_cli_one_column_with_caption_writes_it_beside_the_figure(tmp_path):
    out = tmp_path / "fig.png"
    res = run(*write_reports(tmp_path), "--size", "3.4,2.6", "-o", out)
    assert res.exit_code == 0, res.output
    assert png_size(out) == (int(3.4 * DPI), int(2.6 * DPI))
    side = tmp_path / "fig.caption.txt"
    assert "[1] Zhang, Zhang, Lew" in side.read_text()
    assert f"acecost: note: the caption does not fit a 3.4x2.6 in figure; wrote it to {side}" in res.stderr

    out2 = tmp_path / "nocap.png"
    res = run(*write_reports(tmp_path), "--size", "3.4,2.6", "--no-caption", "--legend", "inside", "-o", out2)
    assert res.exit_code == 0, res.output
    assert png_size(out2) == (int(3.4 * DPI), int(2.6 * DPI))
    assert not (tmp_path / "nocap.caption.txt").exists() and "note" not in res.stderr


def test_cli_legend_and_normalize_are_refused_where_they_do_not_apply(tmp_path):
    res = run(*write_reports(tmp_path), "--normalize", "-o", tmp_path / "a.png")
    assert res.exit_code == 2 and res.stderr.strip() == "acecost: error: --normalize applies to --breakdown only"
    p = tmp_path / "m.json"
    p.write_text(json.dumps(report("m", [layer("Net/fc1", 8, 8, 1000)])))
    res = run("--breakdown", p, "--legend", "inside", "-o", tmp_path / "b.png")
    assert res.exit_code == 2 and res.stderr.startswith("acecost: error: --legend inside applies to the Pareto")
    res = run("--breakdown", p, "--legend", "sideways", "-o", tmp_path / "b.png")
    assert res.exit_code == 2


# --------------------------------------------------------------------- sweeps


def test_dominated_points_are_hollow_and_frontier_points_filled():
    fig = plot_pareto(MINE, reference=None)
    ax = fig.axes[0]
    (on,) = [ln for ln in ax.get_lines() if ln.get_gid() == "user-points"]
    (off,) = [ln for ln in ax.get_lines() if ln.get_gid() == "user-dominated"]
    # bnn-xl (9 G, 71.0) costs more than bnn-l (6 G, 72.5) at lower accuracy.
    assert list(zip(off.get_xdata(), off.get_ydata())) == [(9.0, 71.0)]
    assert sorted(zip(on.get_xdata(), on.get_ydata())) == [(2.4, 66.0), (3.5, 69.5), (6.0, 72.5)]
    assert to_rgba(on.get_markerfacecolor()) == to_rgba(USER_COLOR)
    assert to_rgba(off.get_markerfacecolor()) == to_rgba("white")
    assert to_rgba(off.get_markeredgecolor()) == to_rgba(USER_COLOR)


def test_sweep_plot_draws_its_dominated_points_hollow(tmp_path):
    sweep = tmp_path / "s.csv"
    rows = ["width,macs,ace,binary_macs,cpu64,size_bits,complete,warnings,seconds,cached,error"]
    for w, ace in ((8, 1e9), (16, 2e9), (24, 3e9)):
        rows.append(f"{w},{ace / 4:.0f},{ace:.0f},{ace / 8:.0f},{ace / 512 + ace / 8:.0f},{w * 1e6:.0f},"
                    "True,,0.1,False,")
    sweep.write_text("\n".join(rows) + "\n")
    acc = tmp_path / "acc.csv"
    acc.write_text("width,top1\n8,50\n16,60\n24,59\n")
    out = tmp_path / "s.svg"
    res = run(sweep, "--accuracy-file", acc, "--reference", "none", "-o", out)
    assert res.exit_code == 0, res.output
    svg = out.read_text()
    assert 'id="user-dominated"' in svg and 'id="user-points"' in svg
    fig = plot_pareto([("w8", totals(1.0), 50.0), ("w16", totals(2.0), 60.0), ("w24", totals(3.0), 59.0)],
                      reference=None)
    (off,) = [ln for ln in fig.axes[0].get_lines() if ln.get_gid() == "user-dominated"]
    assert list(zip(off.get_xdata(), off.get_ydata())) == [(3.0, 59.0)]


# ------------------------------------------------------------------ breakdown




# One wide group and four slivers: 64 x 1,000,000 ACE in body, 64 x 2,000 in each sliver.
SLIVERS = report("slim", [layer("Net/stem", 8, 8, 2000), layer("Net/body", 8, 8, 1_000_000),
                          layer("Net/pool", 8, 8, 2000), layer("Net/neck", 8, 8, 2000),
                          layer("Net/head", 8, 8, 2000)])


def test_breakdown_drops_the_zoo_prefix():
    fig = plot_breakdown([("zoo:pokebnn-0.5x", SLIVERS), ("mine", SLIVERS)])
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["pokebnn-0.5x", "mine"]
    # Unless two bars would then read alike.
    fig = plot_breakdown([("zoo:net", SLIVERS), ("net", SLIVERS)])
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["zoo:net", "net"]


@pytest.mark.parametrize("size", [None, (3.4, 2.6)])
def test_narrow_groups_are_named_under_the_bar(size):
    fig = plot_breakdown([("slim", SLIVERS)], caption=False, size=size)
    fig.canvas.draw()
    above = [t.get_text() for t in texts_of(fig, GID_GROUP_LABEL)]
    (also,) = [t.get_text() for t in texts_of(fig, GID_GROUP_ALSO)]
    assert above == ["body 99%"]  # 1,000,000 of 1,008,000 is 99.2%
    # Each sliver is 2,000 / 1,008,000 = 0.2% of the bar: named, in network order, as a sliver.
    assert also == "also: stem <1%, pool <1%, neck <1%, head <1%"
    named = boxes(fig, texts_of(fig, GID_GROUP_LABEL) + texts_of(fig, GID_GROUP_ALSO)
                  + texts_of(fig, GID_TOTAL))
    assert_no_overlap(named)


def test_normalize_draws_each_bar_as_shares_of_its_own_total():
    small = report("small", [layer("Net/a", 1, 1, 3_000_000), layer("Net/b", 8, 8, 1000)])
    big = report("big", [layer("Net/a", 8, 8, 3_000_000), layer("Net/b", 8, 8, 1_000_000)])
    fig = plot_breakdown([("small", small), ("big", big)], normalize=True)
    ax = fig.axes[0]
    rows = {}
    for p in ax.patches:
        if p.get_gid() == GID_SEGMENT:
            rows.setdefault(round(p.get_y() + p.get_height() / 2), []).append((p.get_x(), p.get_width()))
    # small: ACE 3,000,000 x 1 + 1000 x 64 = 3,064,000; big: 4,000,000 x 64 = 256,000,000.
    assert [w for _, w in sorted(rows[0])] == pytest.approx([100 * 3_000_000 / 3_064_000,
                                                             100 * 64_000 / 3_064_000], rel=1e-12)
    assert [w for _, w in sorted(rows[1])] == pytest.approx([75.0, 25.0], rel=1e-12)
    assert [t.get_text() for t in texts_of(fig, GID_TOTAL)] == ["3.06M ACE", "256M ACE"]
    assert ax.get_xlabel() == "share of each model's ACE (%)"


def test_group_names_of_neighbouring_bars_never_touch_at_one_column():
    # teacher: 3,000,000 x 64 (stem), 90,000,000 x 1 (body), 100,000 x 64 (head) = 288,400,000 ACE.
    teacher = report("teacher", [layer("Net/stem", 8, 8, 3_000_000), layer("Net/body", 1, 1, 90_000_000),
                                 layer("Net/head", 8, 8, 100_000)])
    fig = plot_breakdown([("zoo:slim", SLIVERS), ("teacher", teacher)], size=(3.4, 2.6))
    fig.canvas.draw()
    named = boxes(fig, texts_of(fig, GID_GROUP_LABEL) + texts_of(fig, GID_GROUP_ALSO) + texts_of(fig, GID_TOTAL))
    assert_no_overlap(named)
    text = " ".join(n for n, _ in named)
    # Every group of both bars is named somewhere, with its share: 192/288.4 = 67%, 90/288.4 = 31%, 6.4/288.4 = 2%.
    for name in ("stem <1%", "pool <1%", "neck <1%", "head <1%", "body 99%", "stem 67%", "body 31%", "head 2%"):
        assert name in text, name


@pytest.mark.parametrize("legend", ["below", "inside"])
def test_three_panels_across_two_columns_are_set_like_one_column(legend):
    fig = plot_pareto(MINE, reference="pokebnn", panels=["ace", "cpu64", "size"], size=(7.0, 4.0), legend=legend)
    fig.canvas.draw()
    assert fig.acecost_labels_left_off == []
    for ax in fig.axes:
        assert {t.get_fontsize() for t in ax.get_xticklabels()} == {8.0}
        named = boxes(fig, [t for t in ax.texts if t.get_gid() in ("point-label", "rug-label")])
        # The tick row's width names in the narrow CPU64 panel (0.5x, 0.75x, 1.0x) stand apart too.
        assert {"0.5x", "0.75x", "1.0x", "2.0x"} <= {n for n, _ in named}
        assert_no_overlap(named)


def test_cli_breakdown_normalized_without_legend(tmp_path):
    p, q = tmp_path / "slim.json", tmp_path / "teacher.json"
    p.write_text(json.dumps(SLIVERS))
    q.write_text(json.dumps(report("teacher", [layer("Net/a", 8, 8, 4_000_000)])))
    out = tmp_path / "b.svg"
    res = run("--breakdown", p, q, "--normalize", "--legend", "none", "--size", "3.4,2.6", "-o", out)
    assert res.exit_code == 0, res.output
    svg = out.read_text()
    # Text stays text; the totals are written at the bars' ends: 64,512,000 and 256,000,000 ACE.
    assert "<text" in svg and "64.5M ACE" in svg and "256M ACE" in svg
    assert "share of each model" in svg and "operand bits (activation" not in svg  # no legend title
