"""``acecost plot --breakdown``: the numbers a bar draws are the report's records, summed.

Two examples are analysed for real (as JSON, the way a user would); the
expected segments are computed here from the JSON's own layer rows (summed
by name prefix and bit pair in this file) and, for the binary MLP, from its
shapes in closed form. The drawn numbers are read back from the rendered
artists: bar segment widths, their colours through the legend, the order
along the bar.
"""

import json
from fractions import Fraction
from itertools import combinations

import pytest
from click.testing import CliRunner

from acecost.cli import main
from acecost.figures.breakdown_plot import (
    GID_GROUP_EDGE,
    GID_GROUP_LABEL,
    GID_SEGMENT,
    GID_TOTAL,
    GID_UNKNOWN,
    plot_breakdown,
)

SCALE = {"ace": 1e9, "macs": 1e9, "bops": 1e9, "cpu64": 1e8, "size": 1e6}


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reports")
    out = {}
    for name in ("quantized_cnn", "binary_mlp"):
        path = tmp / f"{name}.json"
        res = CliRunner().invoke(main, ["analyze", f"examples/{name}.py", "--format", "json",
                                        "-o", str(path)], catch_exceptions=False)
        assert res.exit_code == 0, res.output
        out[name] = (str(path), json.loads(path.read_text()))
    return out


def expected_segments(data, key, depth):
    """(group, bits, value) in bar order, from the JSON's layer (or parameter) rows."""
    sums = {}
    if key == "size":
        for p in data["params"]:
            g = "/".join(p["path"].split("/")[:depth])
            k = (g, f"{p['bits']}-bit")
            sums[k] = sums.get(k, 0) + p["size_bits"]
    else:
        for r in data["layers"]:
            g = "/".join(r["name"].split("/")[:depth])
            k = (g, f"{r['bits_a']}x{r['bits_w']}")
            v = {"ace": r["ace"], "macs": r["macs"], "bops": r["macs"] if r["binary"] else 0,
                 "cpu64": Fraction(r["macs"], 64) if r["binary"] else r["macs"]}[key]
            sums[k] = sums.get(k, 0) + v
    groups = list(dict.fromkeys(g for g, _ in sums))

    def cost(bits):
        a, _, w = bits.replace("-bit", "").partition("x")
        return int(a) * int(w or a), int(a)

    ordered = sorted(sums.items(), key=lambda kv: (groups.index(kv[0][0]), cost(kv[0][1])))
    return [(g, b, v) for (g, b), v in ordered if v]


def drawn(fig):
    """Per bar (top to bottom): [(bits, left, width)] read from the artists, by position."""
    ax = fig.axes[0]
    legend = fig.legends[0]
    color_bits = {}
    for handle, text in zip(legend.legend_handles, legend.get_texts()):
        color_bits[tuple(handle.get_facecolor())] = text.get_text().replace("×", "x")
    rows = {}
    for p in ax.patches:
        if p.get_gid() != GID_SEGMENT:
            continue
        row = round(p.get_y() + p.get_height() / 2)
        rows.setdefault(row, []).append((color_bits[tuple(p.get_facecolor())], p.get_x(), p.get_width()))
    n = len(ax.get_yticks())
    assert set(rows) <= set(range(n))
    return [sorted(rows.get(r, []), key=lambda s: s[1]) for r in range(n)]


def assert_bar(bar, segments, scale):
    assert [b for b, _, _ in bar] == [b for _, b, _ in segments]
    left = 0.0
    for (_, x0, w), (_, _, value) in zip(bar, segments):
        assert w == pytest.approx(float(value) / scale, rel=1e-12)
        assert x0 == pytest.approx(left, rel=1e-12, abs=1e-15)
        left += w


@pytest.mark.parametrize("key", ["ace", "macs", "bops", "cpu64", "size"])
def test_segments_are_the_records_summed_by_group_and_bits(reports, key):
    fig = plot_breakdown([(n, d) for n, (_, d) in reports.items()], x=key, depth=2)
    bars = drawn(fig)
    assert len(bars) == 2
    for bar, (_, data) in zip(bars, reports.values()):
        segs = expected_segments(data, key, 2)
        assert_bar(bar, segs, SCALE[key])
        # And the bar adds up to the analysis' own total.
        total_key = {"size": "size_bits", "bops": "binary_macs"}.get(key, key)
        assert sum(v for _, _, v in segs) == data["totals"][total_key]
    assert fig.axes[0].get_xlabel().startswith({"ace": "ACE", "macs": "MACs", "bops": "BOPs",
                                                "cpu64": "CPU64", "size": "Size"}[key])


def test_binary_mlp_in_closed_form(reports):
    # 784 -> 512 (16x16, float input), 512 -> 512 (1x1), 512 -> 10 (16x16).
    fig = plot_breakdown([("mlp", reports["binary_mlp"][1])])
    (bar,) = drawn(fig)
    assert [(b, w) for b, _, w in bar] == [
        ("16x16", pytest.approx(784 * 512 * 256 / 1e9, rel=1e-12)),
        ("1x1", pytest.approx(512 * 512 / 1e9, rel=1e-12)),
        ("16x16", pytest.approx(512 * 10 * 256 / 1e9, rel=1e-12)),
    ]
    ax = fig.axes[0]
    assert len([ln for ln in ax.get_lines() if ln.get_gid() == GID_GROUP_EDGE]) == 2
    (total,) = [t for t in ax.texts if t.get_gid() == GID_TOTAL]
    assert total.get_text() == f"{(784 * 512 * 256 + 512 * 512 + 5120 * 256) / 1e9:.3g} G"


def test_depth_one_splits_a_group_by_bits(reports):
    data = reports["quantized_cnn"][1]
    fig = plot_breakdown([("cnn", data)], depth=1)
    (bar,) = drawn(fig)
    segs = expected_segments(data, "ace", 1)
    assert {g for g, _, _ in segs} == {"CNN"} and len(segs) == 2  # one group, 4x4 and 8x8
    assert_bar(bar, segs, 1e9)
    # conv1 (32x32x3 -> 32, 3x3 SAME) and the head are the 8x8 layers.
    conv1 = 32 * 32 * 32 * 27
    head = data["layers"][-1]["macs"]
    assert bar[1][0] == "8x8" and bar[1][2] == pytest.approx((conv1 + head) * 64 / 1e9, rel=1e-12)


def layer(name, a, w, macs, binary=None):
    return {"name": name, "primitive": "dot_general", "bits_a": a, "bits_w": w, "macs": macs,
            "ace": macs * a * w, "binary": a == 1 and w == 1 if binary is None else binary,
            "phase": "forward", "bits_a_source": "", "bits_w_source": ""}


def synthetic(i):
    layers = [layer(f"Net{i}/stem/conv", 16, 16, 10_000 * (i + 1)),
              layer(f"Net{i}/block1/conv", 1, 1, 400_000), layer(f"Net{i}/block1/proj", 8, 8, 2_000),
              layer(f"Net{i}/block2/conv", 4, 4, 50_000), layer(f"Net{i}/head", 8, 4, 5_000)]
    t = {"ace": sum(r["ace"] for r in layers), "macs": sum(r["macs"] for r in layers),
         "binary_macs": 400_000, "cpu64": 400_000 // 64 + sum(r["macs"] for r in layers[::2]) + 2_000,
         "size_bits": 0, "complete": True}
    return {"schema_version": 1, "meta": {"name": f"binary-net-{i}-w1a1-bf16-stem"}, "totals": t,
            "layers": layers, "params": [], "unsupported": [], "warnings": []}


def boxes(fig, texts):
    r = fig.canvas.get_renderer()
    return [(t.get_text(), t.get_window_extent(r)) for t in texts]


def test_eight_models_are_readable_in_every_format(tmp_path):
    files = []
    for i in range(8):
        p = tmp_path / f"m{i}.json"
        p.write_text(json.dumps(synthetic(i)))
        files.append(str(p))
    for ext, magic in ((".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF-")):
        out = tmp_path / f"b{ext}"
        res = CliRunner().invoke(main, ["plot", "--breakdown", *files, "-o", str(out)],
                                 catch_exceptions=False)
        assert res.exit_code == 0, res.output
        assert out.read_bytes().lstrip()[: len(magic)] == magic
    # Table: one row per segment, then the model's total.
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["model", "group", "bits", "ACE", "share"]
    assert lines[1].split()[:4] == ["binary-net-0-w1a1-bf16-stem", "Net0/stem", "16x16",
                                    "2.56M"]  # 10,000 MACs x 16 x 16 = 2,560,000

    fig = plot_breakdown([(f"binary-net-{i}-w1a1-bf16-stem", synthetic(i)) for i in range(8)])
    fig.canvas.draw()
    ax = fig.axes[0]
    bars = drawn(fig)
    assert len(bars) == 8
    for i, bar in enumerate(bars):
        assert_bar(bar, expected_segments(synthetic(i), "ace", 2), 1e9)
    names = boxes(fig, ax.get_yticklabels())
    assert [n.replace("\n", "") for n, _ in names] == [f"binary-net-{i}-w1a1-bf16-stem" for i in range(8)]
    labels = boxes(fig, [t for t in ax.texts if t.get_gid() == GID_GROUP_LABEL])
    totals = boxes(fig, [t for t in ax.texts if t.get_gid() == GID_TOTAL])
    assert labels, "the widest groups are named"
    every = names + labels + totals
    for (na, a), (nb, b) in combinations(every, 2):
        assert not a.overlaps(b), f"{na!r} and {nb!r} overlap"
    figbox = fig.bbox
    for n, b in every:
        assert figbox.x0 <= b.x0 and b.x1 <= figbox.x1 and figbox.y0 <= b.y0 and b.y1 <= figbox.y1, n
    # The stem, 16x16 at 10,000 (i+1) MACs, is labelled with its share of the bar.
    bar0 = expected_segments(synthetic(0), "ace", 2)
    share = 100 * bar0[0][2] / sum(v for _, _, v in bar0)
    assert f"stem {share:.0f}%" in [n for n, _ in labels]


def si_value(text: str) -> Fraction:
    """``2.56M`` -> 2560000: the number an SI-prefixed cell says."""
    prefixes = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    if text[-1] in prefixes:
        return Fraction(text[:-1]) * prefixes[text[-1]]
    return Fraction(text)


def test_one_model(reports, tmp_path):
    path, data = reports["quantized_cnn"]
    out = tmp_path / "one.png"
    res = CliRunner().invoke(main, ["plot", "--breakdown", path, "-o", str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert out.exists()
    segs = expected_segments(data, "ace", 2)
    rows = [ln.split() for ln in res.stdout.splitlines()[1:-2]]
    assert [(r[0], r[1], r[2]) for r in rows] == [("quantized_cnn", g, b) for g, b, _ in segs]
    # each value, written with an SI prefix, is the exact segment rounded to three significant figures
    assert [si_value(r[3]) for r in rows] == [Fraction(f"{float(v):.2e}") for _, _, v in segs]


def test_unknown_cost_is_marked_not_zero(tmp_path):
    data = synthetic(0)
    data["totals"]["complete"] = False
    data["unsupported"] = [{"primitive": "eigh", "count": 2, "scopes": ["Net0/solve/eigh"]}]
    fig = plot_breakdown([("known", synthetic(1)), ("partly", data)])
    ax = fig.axes[0]
    unknown = [p for p in ax.patches if p.get_gid() == GID_UNKNOWN]
    assert len(unknown) == 1 and round(unknown[0].get_y() + unknown[0].get_height() / 2) == 1
    assert all(p.get_width() > 0 for p in ax.patches if p.get_gid() == GID_SEGMENT)
    assert_bar(drawn(fig)[1], expected_segments(data, "ace", 2), 1e9)
    totals = [t.get_text() for t in ax.texts if t.get_gid() == GID_TOTAL]
    assert not totals[0].startswith("≥") and totals[1].startswith("≥") and totals[1].endswith("+ ?")
    caption = [t.get_text() for t in fig.texts if t.get_gid() == "caption"][0]
    assert "Net0/solve: unsupported: eigh x2" in caption.replace("\n", " ")

    p = tmp_path / "partly.json"
    p.write_text(json.dumps({**data, "meta": {}}))  # named by its stem
    res = CliRunner().invoke(main, ["plot", "--breakdown", str(p), "-o", str(tmp_path / "u.png")],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "partly: part of its work is not priced" in res.stderr
    assert ["partly", "Net0/solve", "?", "?", "?"] in [ln.split() for ln in res.stdout.splitlines()]
    assert res.stdout.splitlines()[-2].split()[:3] == ["partly", "total", ">="]


def test_incomplete_without_unsupported_is_unknown_for_the_model():
    data = synthetic(0)
    data["totals"]["complete"] = False  # e.g. a while loop of unknown trip count
    fig = plot_breakdown([("m", data)])
    assert [p for p in fig.axes[0].patches if p.get_gid() == GID_UNKNOWN]


@pytest.mark.parametrize("args, message", [
    (["--accuracy", "m=1"], "--accuracy does not apply"),
    (["--reference", "none"], "--reference does not apply"),
    (["--x", "flops"], "unknown --x 'flops'"),
    (["--depth", "0"], "0"),
    (["-o", "f.jpg"], "unsupported format"),
])
def test_breakdown_bad_options(tmp_path, args, message):
    p = tmp_path / "m.json"
    p.write_text(json.dumps(synthetic(0)))
    res = CliRunner().invoke(main, ["plot", "--breakdown", str(p), *args])
    assert res.exit_code == 2
    assert message in res.output


def test_depth_needs_breakdown(tmp_path):
    p = tmp_path / "m.json"
    p.write_text(json.dumps(synthetic(0)))
    res = CliRunner().invoke(main, ["plot", str(p), "--accuracy", "m=1", "--depth", "3"])
    assert res.exit_code == 2 and "--depth applies to --breakdown only" in res.stderr


@pytest.mark.parametrize("size, message", [("3,4", "wide"), ("7,1", "high"), ("7,-1", "positive")])
def test_breakdown_size(tmp_path, size, message):
    p = tmp_path / "m.json"
    p.write_text(json.dumps(synthetic(0)))
    out = tmp_path / "b.png"
    res = CliRunner().invoke(main, ["plot", "--breakdown", str(p), "--size", size, "-o", str(out)])
    assert res.exit_code == 2 and message in res.stderr and len(res.stderr.splitlines()) == 1, res.output
    res = CliRunner().invoke(main, ["plot", "--breakdown", str(p), "--size", "5,3", "--no-caption",
                                    "-o", str(out)])
    assert res.exit_code == 0, res.output
    data = out.read_bytes()
    assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (5 * 150, 3 * 150)


def test_records_that_disagree_with_the_totals_are_a_warning(tmp_path):
    data = synthetic(0)
    data["totals"]["ace"] += 1
    p = tmp_path / "m.json"
    p.write_text(json.dumps(data))
    res = CliRunner().invoke(main, ["plot", "--breakdown", str(p), "-o", str(tmp_path / "b.png")])
    assert res.exit_code == 0
    assert "its records sum to" in res.stderr and "the bar shows the records" in res.stderr
