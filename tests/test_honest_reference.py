"""The PokeBNN reference judges only models on its own ground: ImageNet at 224x224x3.

A model priced on 32x32 CIFAR-10 images, or accuracies the user says are on
another dataset, get a warning line, a note in the caption and no dominance
verdict. The input a model was priced on is recorded in ``meta.input_shapes``;
the shapes expected here are the ones the model files below declare. The
figures' numbers are checked for the one way of writing them: SI prefixes or
plain decimals, never an exponent.
"""

import csv
import html
import importlib.resources
import json
import re

import pytest
from click.testing import CliRunner

from acecost.cli import main
from acecost.figures.breakdown_plot import GID_TOTAL, plot_breakdown
from acecost.figures.pareto_plot import ModelPoint, plot_pareto

# A binarized CNN in plain jax: a 3x3 conv (8 channels) and a dense head, on H x H RGB images.
MODEL = '''
import jax, jax.numpy as jnp

def acecost_model():
    f32 = jnp.float32
    params = {{"conv": jax.ShapeDtypeStruct((3, 3, 3, 8), f32),
              "fc": jax.ShapeDtypeStruct(({h} * {h} * 8, 10), f32)}}

    def net(p, x):
        y = jax.lax.conv_general_dilated(x, p["conv"], (1, 1), "SAME",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return jnp.sign(y).reshape(x.shape[0], -1) @ p["fc"]

    return net, (params, jax.ShapeDtypeStruct((1, {h}, {h}, 3), f32))
'''

WITHHELD = "dominance verdict withheld: "
NOT_DOMINATED = "no model is dominated by a reference point"
UNRECORDED = ("input size not recorded for {} (a report from before meta.input_shapes, or a sweep table without "
              "an input_shape or resolution column): judged as ImageNet 224x224x3 input; --dataset NAME "
              "withholds the verdict")
#: a tick or value label as the table of metrics writes numbers: digits, a point, an SI prefix
SI = re.compile(r"^-?\d+(\.\d+)?[kMGTPEZYRQ]?(bit)?$")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("honest")
    out = {}
    for h in (32, 224):
        path = tmp / f"cnn{h}.py"
        path.write_text(MODEL.format(h=h))
        out[h] = path
    return out


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def words(text: str) -> str:
    return " ".join(text.split())


def svg_text(path) -> str:
    """The text an SVG draws, in order: matplotlib writes each line drawn as paths after a comment
    holding it, and as a <text> element when fonts are kept as text."""
    parts = re.findall(r"<!-- (.*?) -->|<text[^>]*>(.*?)</text>", path.read_text(), re.S)
    return words(html.unescape(" ".join(a or re.sub(r"<[^>]+>", "", b) for a, b in parts)))


def caption_of(fig) -> str:
    return words(" ".join(t.get_text() for t in fig.texts if t.get_gid() == "caption"))


# ------------------------------------------------------------------ meta


@pytest.mark.parametrize("h", [32, 224])
def test_meta_records_the_input_shapes_last(models, tmp_path, h):
    out = tmp_path / "r.json"
    res = run("analyze", models[h], "--format", "json", "-o", out)
    assert res.exit_code == 0, res.output
    meta = json.loads(out.read_text())["meta"]
    # the one non-parameter argument the file declares, after the keys there were before
    assert meta["input_shapes"] == [{"shape": [1, h, h, 3], "dtype": "float32"}]
    assert list(meta)[-2:] == ["target", "input_shapes"]


def test_train_mode_records_the_same_inputs(models, tmp_path):
    out = tmp_path / "r.json"
    res = run("analyze", models[32], "--mode", "train", "--format", "json", "-o", out)
    assert res.exit_code == 0, res.output
    meta = json.loads(out.read_text())["meta"]
    assert meta["input_shapes"] == [{"shape": [1, 32, 32, 3], "dtype": "float32"}]
    assert meta["mode"] == "train"


def test_api_records_every_non_parameter_argument_in_order():
    import jax
    import jax.numpy as jnp

    import acecost

    def f(w, x, scale):
        return (x @ w) * scale

    rep = acecost.analyze(f, jax.ShapeDtypeStruct((8, 4), jnp.float32),
                          jax.ShapeDtypeStruct((2, 8), jnp.bfloat16), jax.ShapeDtypeStruct((), jnp.float32))
    assert rep.meta["input_shapes"] == [{"shape": [2, 8], "dtype": "bfloat16"},
                                        {"shape": [], "dtype": "float32"}]


# ------------------------------------------------------------------ plot


def test_cifar_model_against_the_reference_is_withheld(models, tmp_path):
    out = tmp_path / "f.svg"
    res = run("plot", f"cifar={models[32]}", "--accuracy", "cifar=91", "-o", out)
    assert res.exit_code == 0, res.output
    (line,) = res.stderr.splitlines()
    assert line == ("acecost: warning: cifar takes 1x32x32x3 input but the reference is ImageNet at "
                    "224x224x3; the dominance verdict against the reference is withheld")
    stdout = res.stdout.splitlines()
    assert stdout[-2] == WITHHELD + "cifar takes 1x32x32x3 input but the reference is ImageNet at 224x224x3"
    assert NOT_DOMINATED not in res.stdout and " the ACE of " not in res.stdout
    svg = svg_text(out)
    assert ("Note: cifar takes 1x32x32x3 input but the reference is ImageNet at 224x224x3. "
            "The reference is drawn for orientation only; no dominance verdict is given.") in svg


def test_cifar_model_caption_note_in_the_figure(tmp_path):
    cifar = ModelPoint("cifar", 91.0, {"ace": 2e9, "complete": True}, input_shapes=((1, 32, 32, 3),))
    fig = plot_pareto([cifar])
    assert caption_of(fig).startswith("Note: cifar takes 1x32x32x3 input but the reference is ImageNet "
                                      "at 224x224x3. The reference is drawn for orientation only; "
                                      "no dominance verdict is given. Bundled PokeBNN widths")
    # channels first is the same image; no reference, no note
    nchw = ModelPoint("nchw", 91.0, {"ace": 2e9, "complete": True}, input_shapes=((1, 3, 224, 224),))
    assert not caption_of(plot_pareto([nchw])).startswith("Note:")
    assert caption_of(plot_pareto([cifar], reference=None)) == ""


def test_imagenet_size_model_keeps_the_verdict(models, tmp_path):
    # No published top-1 reaches 99 (the shipped CSV, read here), so nothing dominates it.
    path = importlib.resources.files("acecost.zoo").joinpath("published.csv")
    with path.open(encoding="utf-8") as f:
        assert max(float(r["top1"]) for r in csv.DictReader(f)) < 99
    res = run("plot", f"big={models[224]}", "--accuracy", "big=99", "-o", tmp_path / "f.png")
    assert res.exit_code == 0, res.output
    assert res.stderr == ""
    assert res.stdout.splitlines()[-2] == NOT_DOMINATED
    assert WITHHELD not in res.stdout


@pytest.mark.parametrize("dataset,withheld", [("cifar10", True), ("CIFAR-10", True), ("imagenet", False),
                                              ("ImageNet", False)])
def test_dataset_option(models, tmp_path, dataset, withheld):
    out = tmp_path / "f.svg"
    res = run("plot", f"big={models[224]}", "--accuracy", "big=99", "--dataset", dataset, "-o", out)
    assert res.exit_code == 0, res.output
    reason = f"the accuracies are on {dataset} but the reference's are ImageNet top-1"
    if withheld:
        assert res.stderr.splitlines() == [
            f"acecost: warning: {reason}; the dominance verdict against the reference is withheld"]
        assert res.stdout.splitlines()[-2] == WITHHELD + reason
        assert f"Note: {reason}." in svg_text(out)
    else:
        assert res.stderr == ""
        assert res.stdout.splitlines()[-2] == NOT_DOMINATED
        assert "Note:" not in svg_text(out)


def test_dataset_and_size_both_said(models, tmp_path):
    res = run("plot", f"cifar={models[32]}", "--accuracy", "cifar=91", "--dataset", "cifar10",
              "-o", tmp_path / "f.png")
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[-2] == (
        WITHHELD + "the accuracies are on cifar10 but the reference's are ImageNet top-1; "
        "cifar takes 1x32x32x3 input but the reference is ImageNet at 224x224x3")


def test_empty_dataset_is_an_error_and_breakdown_refuses_it(models, tmp_path):
    res = run("plot", f"big={models[224]}", "--accuracy", "big=99", "--dataset", " ", "-o", tmp_path / "f.png")
    assert res.exit_code == 2
    (line,) = res.stderr.splitlines()
    assert line.startswith("acecost: error: bad --dataset")
    res = run("plot", "--breakdown", models[224], "--dataset", "cifar10", "-o", tmp_path / "b.png")
    assert res.exit_code == 2
    assert res.stderr.splitlines() == ["acecost: error: --breakdown draws costs only; --dataset does not apply to it"]


def old_report(name, ace):
    """A report as written before meta.input_shapes: no such key."""
    t = {"ace": ace, "macs": ace // 4, "binary_macs": 0, "cpu64": ace // 4, "size_bits": 1000, "complete": True}
    return {"schema_version": 1, "meta": {"name": name, "target": f"{name}.py"}, "totals": t, "layers": [],
            "params": [], "unsupported": [], "warnings": []}


def test_older_json_without_input_shapes_still_plots(tmp_path):
    p = tmp_path / "old.json"
    p.write_text(json.dumps(old_report("old", 3_000_000_000)))
    out = tmp_path / "f.png"
    res = run("plot", p, "--accuracy", "old=99", "-o", out)
    assert res.exit_code == 0, res.output
    assert res.stderr == ""  # as before this key existed: no doubt about the numbers
    assert res.stdout.splitlines()[-3:-1] == [NOT_DOMINATED, UNRECORDED.format("old")]
    assert out.exists()
    # the same report, with --dataset saying it is not ImageNet
    res = run("plot", p, "--accuracy", "old=99", "--dataset", "cifar10", "-o", out)
    assert res.stdout.splitlines()[-2].startswith(WITHHELD + "the accuracies are on cifar10")
    # and without the reference there is nothing to say
    res = run("plot", p, "--accuracy", "old=99", "--reference", "none", "-o", out)
    assert res.exit_code == 0 and res.stderr == ""


SWEEP_COLUMNS = "macs,binary_macs,ace,cpu64,size_bits,params,elementwise_ops,weight_prep_ops,complete," \
                "warnings,seconds,cached,error"


def sweep_table(tmp_path, param, values):
    """A sweep table as ``acecost sweep -o`` writes it: the parameter column, then the results."""
    rows = [f"{v},1000000,0,256000000,1000000,16000,500,0,0,True,0,0.1,False," for v in values]
    p = tmp_path / "sweep.csv"
    p.write_text(f"{param},{SWEEP_COLUMNS}\n" + "\n".join(rows) + "\n")
    return p


@pytest.mark.parametrize("resolution,withheld", [(32, True), (224, False)])
def test_sweep_table_with_a_resolution_column(tmp_path, resolution, withheld):
    table = sweep_table(tmp_path, "resolution", [resolution])
    acc = tmp_path / "acc.csv"
    acc.write_text(f"resolution,top1\n{resolution},99\n")
    res = run("plot", table, "--accuracy-file", acc, "-o", tmp_path / "f.png")
    assert res.exit_code == 0, res.output
    last = res.stdout.splitlines()[-2]
    if withheld:
        assert last == WITHHELD + "resolution=32 takes 32x32x3 input but the reference is ImageNet at 224x224x3"
        assert res.stderr.splitlines()[-1].startswith("acecost: warning: resolution=32 takes 32x32x3 input")
    else:
        assert last == NOT_DOMINATED
        assert not any("withheld" in line for line in res.stderr.splitlines())
        assert "not recorded" not in res.stdout


def test_sweep_table_with_an_input_shape_column(tmp_path):
    table = tmp_path / "sweep.jsonl"
    row = dict(zip(SWEEP_COLUMNS.split(","), [1000000, 0, 256000000, 1000000, 16000, 500, 0, 0, True, 0, 0.1,
                                               False, None]))
    table.write_text("".join(json.dumps({"input_shape": s, **row}) + "\n" for s in ("1,32,32,3", "1,224,224,3")))
    acc = tmp_path / "acc.csv"
    acc.write_text('input_shape,top1\n"1,32,32,3",99\n"1,224,224,3",99\n')
    res = run("plot", table, "--accuracy-file", acc, "-o", tmp_path / "f.png")
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[-2] == (
        WITHHELD + "input_shape=1,32,32,3 takes 1x32x32x3 input but the reference is ImageNet at 224x224x3")


def test_sweep_table_without_shapes_is_noted(tmp_path):
    table = sweep_table(tmp_path, "width", [8])
    acc = tmp_path / "acc.csv"
    acc.write_text("width,top1\n8,99\n")
    res = run("plot", table, "--accuracy-file", acc, "-o", tmp_path / "f.png")
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[-3:-1] == [NOT_DOMINATED, UNRECORDED.format("width=8")]


# ------------------------------------------------------------------ numbers in figures


def tick_texts(fig, ax):
    fig.canvas.draw()
    lo, hi = sorted(ax.get_xlim())
    return [t.get_text() for t in ax.get_xticklabels()
            if t.get_text() and lo <= t.get_position()[0] <= hi]


def si_value(text: str) -> float:
    prefixes = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    m = re.fullmatch(r"(-?\d+(?:\.\d+)?)([kMGT]?)", text)
    return float(m.group(1)) * prefixes[m.group(2)]


def test_tiny_model_beside_the_reference_has_si_ticks():
    # 64 x 32 binary MACs = 2048 BOPs, beside the published BOPs (10^8 and more)
    tiny = ModelPoint("tiny", 50.0, {"binary_macs": 2048, "complete": True}, input_shapes=((1, 224, 224, 3),))
    fig = plot_pareto([tiny], x="bops")
    (ax,) = fig.axes
    ticks = tick_texts(fig, ax)
    assert ticks and all(SI.match(t) for t in ticks), ticks
    assert "1k" in ticks or "10k" in ticks  # the tiny model's decade, in raw BOPs
    assert ax.get_xlabel() == "BOPs"  # the ticks carry their prefix; no ×10⁹ beside them


@pytest.mark.parametrize("log_x", [True, False])
def test_small_model_alone_has_no_exponent(log_x):
    pts = [ModelPoint(n, acc, {"ace": ace, "complete": True}) for n, acc, ace in
           (("a", 50.0, 4_000), ("b", 60.0, 9_000))]
    fig = plot_pareto(pts, reference=None, log_x=log_x)
    (ax,) = fig.axes
    ticks = tick_texts(fig, ax)
    assert ticks and all(SI.match(t) for t in ticks), ticks
    values = [si_value(t) for t in ticks]  # raw ACE, spanning the two models
    assert min(values) <= 4_000 and max(values) >= 8_000, ticks
    assert ax.get_xlabel() == "ACE"


def test_paper_unit_kept_where_it_reads():
    pts = [ModelPoint("a", 60.0, {"ace": 3e9, "complete": True}), ModelPoint("b", 70.0, {"ace": 5e9, "complete": True})]
    fig = plot_pareto(pts, reference=None)
    (ax,) = fig.axes
    assert ax.get_xlabel() == "ACE (G)"
    ticks = tick_texts(fig, ax)
    assert ticks and all(re.fullmatch(r"\d+(\.\d+)?", t) for t in ticks), ticks


def test_negative_cost_error_is_written_without_exponent():
    from acecost.errors import AcecostError

    with pytest.raises(AcecostError, match=r"^neg: ACE is -500M, which a log axis cannot show"):
        plot_pareto([ModelPoint("neg", 60.0, {"ace": -5e8, "complete": True})], reference=None)


def test_breakdown_of_a_few_thousand_bops():
    layer = {"name": "Net/fc", "primitive": "dot_general", "bits_a": 1, "bits_w": 1, "macs": 4000,
             "ace": 4000, "binary": True, "phase": "forward", "bits_a_source": "", "bits_w_source": ""}
    data = {"schema_version": 1, "meta": {}, "totals": {"ace": 4000, "macs": 4000, "binary_macs": 4000,
            "cpu64": 62.5, "size_bits": 0, "complete": True}, "layers": [layer], "params": [],
            "unsupported": [], "warnings": []}
    fig = plot_breakdown([("bnn", data)], x="bops")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts if t.get_gid() == GID_TOTAL] == ["4k"]
    assert ax.get_xlabel() == "BOPs"
    ticks = tick_texts(fig, ax)
    assert ticks and all(SI.match(t) for t in ticks), ticks
    assert "4k" in ticks or "2k" in ticks


def test_huge_dominance_ratio_is_si(tmp_path):
    # Accuracy 0: every reference point with an accuracy is at least as accurate, so the cheapest
    # of them dominates; the ratio is the model's ACE over that point's (computed from the CSV
    # and the bundled 0.75x width's ACE, 2,587,619,840 by the reference's arithmetic).
    path = importlib.resources.files("acecost.zoo").joinpath("published.csv")
    with path.open(encoding="utf-8") as f:
        costs = [float(r["ace_g"]) * 1e9 for r in csv.DictReader(f) if r["ace_g"]]
    cheapest = min(costs + [2_587_619_840])
    p = tmp_path / "huge.json"
    p.write_text(json.dumps(old_report("huge", 10 ** 20)))
    res = run("plot", p, "--accuracy", "huge=0", "-o", tmp_path / "f.png")
    assert res.exit_code == 0, res.output
    (line,) = [ln for ln in res.stdout.splitlines() if ln.startswith("huge: ")]
    m = re.match(r"^huge: (\S+) times the ACE of ", line)
    assert m, line
    assert si_value(m.group(1)) == pytest.approx(1e20 / cheapest, rel=5e-3)
    assert not re.search(r"\de[+-]?\d", line), line


def test_plot_pareto_dataset_keyword():
    big = ModelPoint("big", 99.0, {"ace": 2e9, "complete": True}, input_shapes=((1, 224, 224, 3),))
    assert caption_of(plot_pareto([big], dataset="cifar10")).startswith(
        "Note: the accuracies are on cifar10 but the reference's are ImageNet top-1. ")
    assert caption_of(plot_pareto([big], dataset="IMAGENET")).startswith("Bundled PokeBNN widths")
    assert caption_of(plot_pareto([big])).startswith("Bundled PokeBNN widths")
