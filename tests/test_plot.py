"""``acecost plot``: the PokeBNN reference, the rendered artists and the CLI contract.

The reference overlay analyses the four bundled PokeBNN widths once (module
fixture; acecost caches it per process, so the CLI tests reuse it). Expected
numbers come from the reference description (pokebnn.md) and from the
shipped CSV read here with the csv module, not from the plotting code.
"""

import csv
import importlib.resources
import json
from itertools import combinations

import pytest
from click.testing import CliRunner
from matplotlib.text import Text

from acecost.cli.plot import plot
from acecost.figures.pareto_plot import ModelPoint, plot_pareto, summarize
from acecost.figures.reference import (
    BundledWidth,
    PublishedPoint,
    build_reference,
    matches_published_ace,
    pokebnn_reference,
)

# Total ACE per width, from the reference's own arithmetic (pokebnn.md).
POKEBNN_ACE = {
    "0.5x": 1_409_538_048,
    "0.75x": 2_587_619_840,
    "1.0x": 4_222_541_824,
    "2.0x": 15_330_631_680,
}


def csv_rows():
    path = importlib.resources.files("acecost.zoo").joinpath("published.csv")
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def ref():
    return pokebnn_reference()


def totals(ace, binary, other, size_bits):
    """A totals dict built by the metric definitions (CPU64 = BOPs/64 + other MACs)."""
    return {"ace": ace, "macs": binary + other, "binary_macs": binary,
            "cpu64": binary / 64 + other, "size_bits": size_bits, "complete": True}


# Two user models: A (3.0 G ACE, 68.0) and B (5.0 G ACE, 72.0); neither dominates the other.
A = totals(3_000_000_000, 2_944_000_000, 1_000_000, 30_000_000)
B = totals(5_000_000_000, 4_940_800_000, 2_000_000, 50_000_000)
USER = [("net-a", A, 68.0), ("net-b", B, 72.0)]


# ------------------------------------------------------------------ reference


def test_reference_has_the_four_widths_at_their_published_arithmetic(ref):
    assert [w.width for w in ref.widths] == list(POKEBNN_ACE)
    assert {w.width: w.totals["ace"] for w in ref.widths} == POKEBNN_ACE


def test_only_the_width_a_source_prices_gets_an_accuracy(ref):
    with_acc = {w.width: (w.top1, w.paired_with) for w in ref.widths if w.top1 is not None}
    assert with_acc == {"0.75x": (70.5, "PokeBNN (small variant)")}


def test_published_points_are_the_shipped_csv(ref):
    rows = csv_rows()
    assert [(p.model, p.family, p.top1) for p in ref.published] == [
        (r["model"], r["family"], float(r["top1"])) for r in rows
    ]
    assert [p.costs.get("cpu64_1e8") for p in ref.published] == [
        float(r["cpu64_1e8"]) if r["cpu64_1e8"] else None for r in rows
    ]


def test_ace_matching_uses_the_printed_precision():
    assert matches_published_ace(2_587_619_840, 2.6)
    assert matches_published_ace(4_222_541_824, 4.2)
    assert not matches_published_ace(4_222_541_824, 4.22 + 0.01)
    assert not matches_published_ace(15_330_631_680, 7.8)


def test_pairing_never_invents_an_accuracy():
    widths = tuple(BundledWidth(f"pokebnn-{k}", k, {"ace": v}) for k, v in POKEBNN_ACE.items())
    published = (
        PublishedPoint("Big", "PokeBNN", 75.6, {"ace_g": 7.8}, "src1"),
        PublishedPoint("Other family", "ReActNet", 70.5, {"ace_g": 1.4}, "src2"),  # not PokeBNN
    )
    r = build_reference(widths, published)
    assert all(w.top1 is None for w in r.widths)
    assert r.sources == ("src1", "src2")


# -------------------------------------------------------------------- render


def lines_by_gid(ax, prefix):
    return [ln for ln in ax.get_lines() if (ln.get_gid() or "").startswith(prefix)]


def xy(line):
    return list(zip(map(float, line.get_xdata()), map(float, line.get_ydata())))


def label_texts(ax, gid="point-label"):
    return [t for t in ax.texts if t.get_gid() == gid]


def assert_labels_clear(fig, ax):
    """No two labels overlap and every label stays inside the axes (text boxes, not leader lines)."""
    r = fig.canvas.get_renderer()
    boxes = [(t.get_text(), Text.get_window_extent(t, r))
             for t in label_texts(ax) + label_texts(ax, "rug-label")]
    for (na, a), (nb, b) in combinations(boxes, 2):
        w = min(a.x1, b.x1) - max(a.x0, b.x0)
        h = min(a.y1, b.y1) - max(a.y0, b.y0)
        assert not (w > 0.5 and h > 0.5), f"labels overlap: {na!r} and {nb!r}"
    axbox = ax.get_window_extent(r)
    for name, box in boxes:
        assert axbox.x0 - 0.5 <= box.x0 and box.x1 <= axbox.x1 + 0.5, name
        assert axbox.y0 - 0.5 <= box.y0 and box.y1 <= axbox.y1 + 0.5, name


@pytest.fixture(scope="module")
def ace_fig(ref):
    fig = plot_pareto(USER, reference=ref)
    fig.canvas.draw()
    return fig


def test_render_axes_scale_and_labels(ace_fig):
    (ax,) = ace_fig.axes
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "ACE (G)"
    assert ax.get_ylabel() == "Top-1 accuracy (%)"
    assert ace_fig._suptitle.get_text() == "Top-1 accuracy vs ACE"


def test_render_reference_points_at_published_costs(ace_fig):
    (ax,) = ace_fig.axes
    expected = {}
    for r in csv_rows():
        if r["ace_g"]:
            expected.setdefault(r["family"], set()).add((float(r["ace_g"]), float(r["top1"])))
    drawn = {}
    for ln in lines_by_gid(ax, "reference-published:"):
        drawn.setdefault(ln.get_gid().split(":", 1)[1], set()).update(xy(ln))
    assert drawn == expected
    (computed,) = lines_by_gid(ax, "reference-computed")
    assert xy(computed) == [(POKEBNN_ACE["0.75x"] / 1e9, 70.5)]


def test_render_cost_only_ticks_for_every_width(ace_fig):
    (ax,) = ace_fig.axes
    rug = lines_by_gid(ax, "reference-rug")
    assert sorted(float(ln.get_xdata()[0]) for ln in rug) == sorted(v / 1e9 for v in POKEBNN_ACE.values())
    assert sorted(t.get_text() for t in label_texts(ax, "rug-label")) == sorted(POKEBNN_ACE)


def test_render_frontiers_are_step_lines(ace_fig):
    (ax,) = ace_fig.axes
    (user,) = lines_by_gid(ax, "user-frontier")
    assert user.get_drawstyle() == "steps-post"
    assert xy(user) == [(3.0, 68.0), (5.0, 72.0)]
    (reff,) = lines_by_gid(ax, "reference-frontier")
    assert reff.get_drawstyle() == "steps-post"
    # 0.75x (computed 2.588 G, 70.5) beats the published 2.6 G point at the same
    # accuracy and ReActNet-Adam (7.9, 70.5); the larger variant (7.8, 75.6) stays.
    assert xy(reff) == [(POKEBNN_ACE["0.75x"] / 1e9, 70.5), (7.8, 75.6)]
    (users,) = lines_by_gid(ax, "user-points")
    assert xy(users) == [(3.0, 68.0), (5.0, 72.0)]


def test_render_point_labels_are_present_and_do_not_overlap(ace_fig):
    (ax,) = ace_fig.axes
    texts = {t.get_text() for t in label_texts(ax)}
    # The published small variant sits on the 0.75x that carries its accuracy: one label.
    assert texts == {
        "net-a", "net-b", "PokeBNN 0.75x (acecost)\n= PokeBNN (small variant) [1]",
        "PokeBNN (larger variant) [1]", "ReActNet-Adam [2]",
    }
    assert_labels_clear(ace_fig, ax)


def test_render_caption_names_every_source_drawn(ace_fig, ref):
    (caption,) = [t for t in ace_fig.texts if t.get_gid() == "caption"]
    text = " ".join(caption.get_text().split())
    shown = {r["source"] for r in csv_rows() if r["ace_g"]}
    for i, src in enumerate(ref.sources, start=1):
        assert (f"[{i}] {' '.join(src.split())}" in text) == (src in shown)


def test_render_paper_panels(ref):
    fig = plot_pareto(USER, panels=["ace", "cpu64", "size"], reference=ref)
    fig.canvas.draw()
    axes = fig.axes
    assert [ax.get_xlabel() for ax in axes] == ["ACE (G)", "CPU64 (×10⁸)", "Size (Mbit)"]
    assert all(ax.get_xscale() == "log" for ax in axes)
    # CPU64 panel: the published OPs column, and user points at BOPs/64 + other MACs.
    cpu = {(float(r["cpu64_1e8"]), float(r["top1"])) for r in csv_rows() if r["cpu64_1e8"]}
    drawn = set()
    for ln in lines_by_gid(axes[1], "reference-published:"):
        drawn.update(xy(ln))
    assert drawn == cpu
    (users,) = lines_by_gid(axes[1], "user-points")
    assert xy(users) == [((2_944_000_000 / 64 + 1_000_000) / 1e8, 68.0),
                         ((4_940_800_000 / 64 + 2_000_000) / 1e8, 72.0)]
    # Size: nothing published, so only the computed width and the user models.
    assert lines_by_gid(axes[2], "reference-published") == []
    (users,) = lines_by_gid(axes[2], "user-points")
    assert xy(users) == [(30.0, 68.0), (50.0, 72.0)]
    for ax in axes:
        assert_labels_clear(fig, ax)


def test_render_linear_axis_and_no_reference():
    fig = plot_pareto(USER, reference=None, log_x=False, title="Mine")
    (ax,) = fig.axes
    assert ax.get_xscale() == "linear"
    assert lines_by_gid(ax, "reference") == []
    assert fig._suptitle.get_text() == "Mine"


def test_reference_accuracies_only_on_a_top1_axis(ref):
    fig = plot_pareto(USER, reference=ref, y="top5")
    (ax,) = fig.axes
    assert ax.get_ylabel() == "top5"
    assert lines_by_gid(ax, "reference-published") == []
    assert lines_by_gid(ax, "reference-computed") == []
    assert len(lines_by_gid(ax, "reference-rug")) == 4  # costs are still facts


def test_summary_dominance(ref):
    pts = [ModelPoint(n, acc, t) for n, t, acc in USER]
    a, b = summarize(pts, ["ace"], ref)
    assert a.on_frontier == {"ace": True} and b.on_frontier == {"ace": True}
    # A (3.0 G, 68.0): the cheapest reference at >= 68.0 is the computed 0.75x.
    d = a.dominance["ace"]
    assert d.by.name == "PokeBNN 0.75x"
    assert d.ratio == 3_000_000_000 / POKEBNN_ACE["0.75x"]
    # B (5.0 G, 72.0): only the 7.8 G point is as accurate, and it costs more.
    assert b.dominance == {}


# ----------------------------------------------------------------------- CLI


def write_report(path, t, name=None, target="nets/model.py"):
    meta = {"target": target, **({"name": name} if name else {})}
    data = {"schema_version": 1, "meta": meta, "totals": t,
            "layers": [], "params": [], "warnings": [], "unsupported": []}
    path.write_text(json.dumps(data))
    return str(path)


@pytest.fixture
def files(tmp_path):
    # Named by meta.name, else by the file's stem; never by meta.target (the same path for both).
    a = write_report(tmp_path / "a.json", A, name="net-a")
    b = write_report(tmp_path / "b.json", B)
    acc = tmp_path / "results.csv"
    acc.write_text("name,top1,top5\nnet-a,68.0,88.1\nb,72,90.5\n")
    return tmp_path, a, b, str(acc)


def run(*args):
    return CliRunner().invoke(plot, [str(a) for a in args], catch_exceptions=False)


def test_cli_writes_the_figure_and_lists_points(files):
    tmp, a, b, acc = files
    out = tmp / "fig.png"
    res = run(a, b, "--accuracy-file", acc, "--reference", "none", "--out", out)
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert res.stdout.splitlines() == [
        "model  ACE  top1  frontier",
        "net-a  3G   68    yes",
        "b      5G   72    yes",
        f"wrote {out}",
    ]


def test_cli_dominance_against_the_reference(files, ref):
    tmp, a, b, _ = files
    out = tmp / "fig.svg"
    res = run(f"mine={a}", b, "--accuracy", "mine=68", "--accuracy", "b=72.0%", "--out", out)
    assert res.exit_code == 0, res.output
    assert out.read_text().lstrip().startswith("<?xml")
    ratio = 3_000_000_000 / POKEBNN_ACE["0.75x"]  # 1.159...
    assert (
        f"mine: {ratio:.1f}x the ACE of PokeBNN 0.75x at equal-or-better accuracy "
        "(ACE 2.59G vs 3G; top1 70.5 vs 68)"  # 2,587,619,840 and 3e9 at three significant figures
    ) in res.stdout.splitlines()
    assert not any(line.startswith("b:") for line in res.stdout.splitlines())


def test_cli_other_accuracy_column_and_panels(files):
    tmp, a, b, acc = files
    res = run(a, b, "--accuracy-file", acc, "--accuracy-column", "top5", "--panels", "ace,size",
              "--reference", "none", "--out", tmp / "f.pdf")
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[:3] == [
        "model  ACE  Size    top5  frontier",  # sizes in bits: 30e6 and 50e6
        "net-a  3G   30Mbit  88.1  ACE, Size",
        "b      5G   50Mbit  90.5  ACE, Size",
    ]
    assert (tmp / "f.pdf").read_bytes()[:5] == b"%PDF-"


def test_cli_analyses_a_target(tmp_path):
    model = tmp_path / "tiny.py"
    model.write_text(
        "import jax, jax.numpy as jnp\n"
        "def acecost_model():\n"
        "    f = lambda w, x: jnp.sign(x) @ jnp.sign(w)\n"
        "    return f, (jax.ShapeDtypeStruct((64, 32), jnp.float32), jax.ShapeDtypeStruct((1, 64), jnp.float32))\n"
    )
    res = run(f"tiny={model}", "--accuracy", "tiny=50", "--x", "bops", "--reference", "none",
              "--out", tmp_path / "t.png")
    assert res.exit_code == 0, res.output
    # 64 x 32 binary MACs = 2048 BOPs, at three significant figures (never an exponent)
    assert res.stdout.splitlines()[1].split() == ["tiny", "2.05k", "50", "yes"]


BAD = [
    # (arguments after the two JSON inputs, text expected in the error)
    (["--accuracy", "net-a=68"], "no accuracy for model 'b'"),
    (["--accuracy-file", "{acc}", "--accuracy", "ghost=1"], "names no model analysed"),
    (["--accuracy", "net-a=sixty", "--accuracy", "b=1"], "'sixty' is not a number"),
    (["--accuracy", "net-a", "--accuracy", "b=1"], "expected NAME=VALUE"),
    (["--accuracy", "net-a=nan", "--accuracy", "b=1"], "not a finite number"),
    (["--accuracy-file", "{acc}", "--accuracy-column", "top9"], "no column 'top9'"),
    (["--accuracy-file", "{tmp}/missing.csv"], "cannot read"),
    (["--accuracy-file", "{acc}", "--out", "{tmp}/no/such/dir/f.png"], "does not exist"),
    (["--accuracy-file", "{acc}", "--out", "{tmp}"], "cannot write"),
    (["--accuracy-file", "{acc}", "--out", "{tmp}/f.jpg"], "unsupported format '.jpg'"),
    (["--accuracy-file", "{acc}", "--x", "flops"], "unknown --x 'flops'"),
    (["--accuracy-file", "{acc}", "--panels", "ace,ace"], "repeats a metric"),
    (["--accuracy-file", "{acc}", "--x", "ace", "--panels", "ace"], "not both"),
    (["--accuracy-file", "{acc}", "--reference", "resnet"], "unknown --reference"),
    ([], "no accuracies"),
]


@pytest.mark.parametrize("extra, message", BAD)
def test_cli_bad_input_exits_2_with_one_line(files, extra, message):
    tmp, a, b, acc = files
    args = [a, b] + [e.format(acc=acc, tmp=tmp) for e in extra]
    res = run(*args)
    assert res.exit_code == 2
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("acecost: error: "), res.stderr
    assert message in lines[0]
    assert not (tmp / "pareto.png").exists()


def test_cli_accuracy_file_rows_for_models_not_plotted_are_a_note(files):
    tmp, a, _, acc = files
    res = run(a, "--accuracy-file", acc, "--reference", "none", "-o", tmp / "f.png")
    assert res.exit_code == 0, res.output
    assert res.stderr == f"acecost: note: {acc}: ignored 1 row for models not plotted ('b')\n"
    assert res.stdout.splitlines()[1].split() == ["net-a", "3G", "68", "yes"]


def test_cli_non_numeric_accuracy_in_file(files):
    tmp, a, b, _ = files
    bad = tmp / "bad.csv"
    bad.write_text("name,top1\nnet-a,68\nb,n/a\n")
    res = run(a, b, "--accuracy-file", bad)
    assert res.exit_code == 2
    assert res.stderr == f"acecost: error: {bad}, line 3 (b): accuracy 'n/a' is not a number\n"


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('{"schema_version": 1, "meta": {}}', "not an acecost report"),
    ('{"schema_version": 1, "totals": {"ace": "x"}}', "is missing or not a number"),
])
def test_cli_bad_json_exits_2(tmp_path, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    res = run(bad, "--accuracy", "bad=1", "--out", tmp_path / "f.png")
    assert res.exit_code == 2
    assert len(res.stderr.splitlines()) == 1 and message in res.stderr
    assert "Traceback" not in res.output


def test_cli_duplicate_names_and_no_inputs(files):
    tmp, a, _, _ = files
    res = run(a, a, "--accuracy", "net-a=1")
    assert res.exit_code == 2 and "two inputs are named 'net-a'" in res.stderr
    res = run("--accuracy", "net-a=1")
    assert res.exit_code == 2 and "give at least one model" in res.stderr


def test_cli_zero_cost_on_a_log_axis_is_a_clear_error(files):
    tmp, a, b, acc = files
    res = run(a, b, "--accuracy-file", acc, "--x", "bops", "--reference", "none",
              "--out", tmp / "f.png")
    assert res.exit_code == 0, res.output  # both have BOPs > 0
    zero = write_report(tmp / "z.json", totals(1000, 0, 1000, 8), name="zero")
    res = run(zero, "--accuracy", "zero=1", "--x", "bops", "--reference", "none", "--out", tmp / "f.png")
    assert res.exit_code == 2 and "log axis" in res.stderr
