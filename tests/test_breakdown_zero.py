"""``acecost plot --breakdown`` when a bar has nothing to draw, and its size error.

A model with no work of the metric (no 1x1 contraction for BOPs, no
contraction at all for ACE) has a computed total of 0: its bar is an
explicit 0 with a note, not a crash. The zeros expected here follow from the
models' own definition (every contraction 4x4 or 8x8; no contraction), not
from the tool's output.
"""

import json

import pytest
from click.testing import CliRunner

from acecost.cli import main
from breakdown_reports import layer, report
from acecost.figures.breakdown_plot import GID_SEGMENT, GID_TOTAL, GID_UNKNOWN, plot_breakdown

ELEMENTWISE = '''
import jax, jax.numpy as jnp

def acecost_model():
    f32 = jnp.float32
    params = {"scale": jax.ShapeDtypeStruct((16,), f32)}
    return (lambda p, x: jnp.tanh(x) * p["scale"] + 1.0), (params, jax.ShapeDtypeStruct((4, 16), f32))
'''




INT8 = report("int8", [layer("Net/fc1", 8, 8, 1000), layer("Net/fc2", 8, 8, 500)])
BINARY = report("bnn", [layer("Net/fc1", 8, 8, 1000), layer("Net/fc2", 1, 1, 4000)])


def totals(fig):
    return [t.get_text() for t in fig.axes[0].texts if t.get_gid() == GID_TOTAL]


def caption(fig):
    return " ".join(t.get_text() for t in fig.texts if t.get_gid() == "caption").replace("\n", " ")


def run(*args):
    return CliRunner().invoke(main, ["plot", "--breakdown", *map(str, args)], catch_exceptions=False)


@pytest.mark.parametrize("cap", [True, False])
def test_no_bops_in_an_8x8_model_is_a_zero_bar(cap):
    fig = plot_breakdown([("int8", INT8)], x="bops", caption=cap)
    ax = fig.axes[0]
    assert not fig.legends  # nothing to colour, so no legend
    assert not [p for p in ax.patches if p.get_gid() in (GID_SEGMENT, GID_UNKNOWN)]
    assert totals(fig) == ["0 ×10⁹"]
    assert ("No BOPs in int8: its bar is 0." in caption(fig)) is cap


def test_a_zero_bar_beside_a_drawn_one():
    fig = plot_breakdown([("bnn", BINARY), ("int8", INT8)], x="bops")
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["1×1"]
    # 4000 BOPs is 4e-06 in the paper unit (×10⁹): the axis and the totals are written in raw
    # BOPs with an SI prefix instead, never with an exponent
    assert totals(fig) == ["4k", "0"]
    assert fig.axes[0].get_xlabel() == "BOPs"
    assert "No BOPs in int8: its bar is 0." in caption(fig)
    assert "bnn" not in caption(fig).split("No BOPs in")[1]


def test_cli_8x8_json_with_bops(tmp_path):
    p = tmp_path / "int8.json"
    p.write_text(json.dumps(INT8))
    for extra in ([], ["--no-caption"]):
        out = tmp_path / "b.png"
        res = run(p, "--x", "bops", *extra, "-o", out)
        assert res.exit_code == 0, res.output
        assert res.stderr.splitlines() == ["acecost: note: no BOPs in int8: its bar is drawn as 0"]
        assert res.stdout.splitlines()[-2].split() == ["int8", "total", "0"]
        assert out.read_bytes()[:4] == b"\x89PNG"


def test_cli_quantized_cnn_has_no_bops(tmp_path):
    # Its contractions are 4x4 and 8x8 (see the example's docstring): no 1x1 work.
    out = tmp_path / "b.svg"
    res = run("cnn=examples/quantized_cnn.py", "--x", "bops", "-o", out)
    assert res.exit_code == 0, res.output
    assert "acecost: note: no BOPs in cnn: its bar is drawn as 0" in res.stderr.splitlines()
    assert res.stdout.splitlines()[-2].split() == ["cnn", "total", "0"]
    assert out.exists()


def test_cli_elementwise_only_model_has_no_ace(tmp_path):
    model = tmp_path / "ew.py"
    model.write_text(ELEMENTWISE)
    out = tmp_path / "b.pdf"
    res = run(f"ew={model}", "-o", out)  # default --x ace
    assert res.exit_code == 0, res.output
    assert "acecost: note: no ACE in ew: its bar is drawn as 0" in res.stderr.splitlines()
    assert res.stdout.splitlines()[-2].split() == ["ew", "total", "0"]
    assert out.read_bytes()[:5] == b"%PDF-"

    # The same from Python, on the analysis the CLI writes.
    js = tmp_path / "ew.json"
    res = CliRunner().invoke(main, ["analyze", str(model), "--format", "json", "-o", str(js)],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    fig = plot_breakdown({"ew": json.loads(js.read_text())})
    assert not fig.legends and totals(fig) == ["0 G"]
    assert "No ACE in ew: its bar is 0." in caption(fig)


@pytest.mark.parametrize("cap", [True, False])
def test_size_error_offers_dropping_the_caption_only_when_drawn(tmp_path, cap):
    p = tmp_path / "bnn.json"
    p.write_text(json.dumps(BINARY))
    res = run(p, "--size", "7,1", *([] if cap else ["--no-caption"]), "-o", tmp_path / "b.png")
    assert res.exit_code == 2
    (line,) = res.stderr.splitlines()
    assert line.startswith("acecost: error: a figure 1 in high leaves too little room for 1 bar after ")
    assert "make it at least" in line
    assert ("caption" in line) is cap
    assert line.endswith(" in high or drop the caption" if cap else " in high")
