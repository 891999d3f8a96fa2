"""Rows for spreadsheets: widths as two numbers, a training step's phase, gradient names.

Expected numbers are formulas over the layer shapes: a conv's MACs are output
positions x taps x input channels x output channels (SAME padding, stride
1); a weight gradient and an input gradient each have the MACs of their
forward conv; widths are 1 for sign operands, 16 for floats, the quantizer's
bits for a clip-and-round operand.
"""
from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from acecost.cli import main

FLOAT = 16
HW, CIN, C, K, CLASSES = 8, 3, 8, 3, 10
STEM = HW * HW * K * K * CIN * C
BCONV = HW * HW * K * K * C * C
HEAD = C * CLASSES

#: stem conv (float), two XNOR-Net convs (sign x sign, alpha per output channel), a dense head
BINARY_CNN = f'''
import jax, jax.numpy as jnp, flax.linen as nn

from binary_layers import BinConv  # copied beside this file


class Net(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.Conv({C}, ({K}, {K}), name="stem")(x)
        x = BinConv({C}, name="b1")(x)
        x = BinConv({C}, name="b2")(x)
        return nn.Dense({CLASSES}, name="head")(jnp.mean(x, axis=(1, 2)))


def acecost_model():
    net = Net()
    x = jax.ShapeDtypeStruct((1, {HW}, {HW}, {CIN}), jnp.float32)
    return net.apply, (jax.eval_shape(net.init, jax.random.key(0), x), x)
'''

#: every training row: (name, phase, bits_a, bits_w, MACs). The weight gradient of a binary conv
#: multiplies sign(x) by the float dy; its input gradient the float dy by sign(w) (alpha folded
#: into dy); the image is not differentiated, so the stem has a weight gradient only.
TRAIN_ROWS = [
    ("Net/stem", "forward", FLOAT, FLOAT, STEM),
    ("Net/b1", "forward", 1, 1, BCONV),
    ("Net/b2", "forward", 1, 1, BCONV),
    ("Net/head", "forward", FLOAT, FLOAT, HEAD),
    ("Net/head (weight grad)", "weight gradient", FLOAT, FLOAT, HEAD),
    ("Net/head (input grad)", "input gradient", FLOAT, FLOAT, HEAD),
    ("Net/b2 (weight grad)", "weight gradient", 1, FLOAT, BCONV),
    ("Net/b2 (input grad)", "input gradient", FLOAT, 1, BCONV),
    ("Net/b1 (weight grad)", "weight gradient", 1, FLOAT, BCONV),
    ("Net/b1 (input grad)", "input gradient", FLOAT, 1, BCONV),
    ("Net/stem (weight grad)", "weight gradient", FLOAT, FLOAT, STEM),
]


def run(*args: str):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("sheet") / "bnn.py"
    path.write_text(BINARY_CNN)
    shutil.copy(Path(__file__).with_name("binary_layers.py"), path.with_name("binary_layers.py"))
    return path


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_training_csv_rows_are_named_after_layer_and_gradient(model):
    result = run("analyze", model, "--mode", "train", "--format", "csv", "-q")
    assert result.exit_code == 0, result.output
    rows = csv_rows(result.stdout)
    assert list(rows[0])[:6] == ["layer", "phase", "op", "out_shape", "bits_a", "bits_w"]
    got = sorted((r["layer"], r["phase"], int(r["bits_a"]), int(r["bits_w"]), int(r["macs"])) for r in rows)
    assert got == sorted(TRAIN_ROWS)
    for r in rows:  # ACE is MACs x bits_a x bits_w, in the numbers the row carries
        assert int(r["ace"]) == int(r["macs"]) * int(r["bits_a"]) * int(r["bits_w"])
    assert not any("[" in r["layer"] for r in rows)  # no einsum dimension strings


def test_training_markdown_and_table_carry_the_phase(model):
    md = run("analyze", model, "--mode", "train", "--format", "markdown", "-q")
    assert md.exit_code == 0, md.output
    lines = md.stdout.splitlines()
    assert lines[0] == "| Layer | Phase | Op | Out | bits_a | bits_w | MACs | ACE | ACE % |"
    row = next(line for line in lines if line.startswith("| `Net/b2 (weight grad)`"))
    assert row.split(" | ")[1:6] == ["weight gradient", "conv", "3x3x8x8", "1", "16"]
    table = run("analyze", model, "--mode", "train", "--full", "-q")
    assert table.exit_code == 0, table.output
    header = next(line for line in table.stdout.splitlines() if "Layer" in line)
    assert header.split() == ["Layer", "Phase", "Op", "Out", "a", "x", "w", "MACs", "ACE", "ACE%"]
    # the table says the gradient once, in its phase column, to keep room for the name
    b2 = [line.split() for line in table.stdout.splitlines() if line.startswith(" Net/b2 ")]
    assert [cells[1:5] for cells in b2] == [["forward", "conv", "1x8x8x8", "1x1"],
                                            ["weight", "grad", "conv", "3x3x8x8"],
                                            ["input", "grad", "conv", "1x8x8x8"]]
    assert [cells[-4] for cells in b2] == ["1x1", "1x16", "16x1"]


def test_json_keeps_the_record_names_and_adds_the_gradient(model):
    """JSON names are what --bits matches and diff pairs: kept; the gradient is a field of its own."""
    result = run("analyze", model, "--mode", "train", "--format", "json", "-q")
    assert result.exit_code == 0, result.output
    layers = json.loads(result.stdout)["layers"]
    backward = [r for r in layers if r["phase"] == "backward"]
    assert sorted(r["gradient"] for r in backward) == ["input"] * 3 + ["weight"] * 4
    assert all("gradient" not in r for r in layers if r["phase"] == "forward")
    b2 = sorted(r["name"] for r in backward if r["name"].startswith("Net/b2"))
    assert len(b2) == 2 and all(n.startswith("Net/b2[") for n in b2)  # told apart by their einsums


def test_inference_csv_has_two_width_columns_and_no_phase(model):
    result = run("analyze", model, "--format", "csv", "-q")
    assert result.exit_code == 0, result.output
    rows = csv_rows(result.stdout)
    assert "phase" not in rows[0] and "bits_a_x_w" not in rows[0]
    assert [(r["layer"], r["bits_a"], r["bits_w"], int(r["macs"])) for r in rows] == \
        [(name, str(a), str(w), macs) for name, phase, a, w, macs in TRAIN_ROWS if phase == "forward"]
    md = run("analyze", model, "--format", "markdown", "-q").stdout.splitlines()
    assert md[0] == "| Layer | Op | Out | bits_a | bits_w | MACs | ACE | ACE % |"
    table = run("analyze", model, "-q").stdout
    assert "a x w" in table and " 1x1 " in table  # the pair for people stays in the table


def test_a_grouped_row_leaves_a_width_it_does_not_have_empty(model):
    """--by primitive puts the float stem (16x16) and the binary convs (1x1) in one conv row:
    no single width, so both cells are empty, never a made-up number."""
    result = run("analyze", model, "--by", "primitive", "--format", "csv", "-q")
    assert result.exit_code == 0, result.output
    rows = {r["layer"]: r for r in csv_rows(result.stdout)}
    conv, dot = rows["conv_general_dilated"], rows["dot_general"]
    assert (conv["bits_a"], conv["bits_w"], int(conv["macs"])) == ("", "", STEM + 2 * BCONV)
    assert (dot["bits_a"], dot["bits_w"], int(dot["macs"])) == (str(FLOAT), str(FLOAT), HEAD)


def test_training_rows_grouped_by_depth_keep_their_phase(model):
    result = run("analyze", model, "--mode", "train", "--depth", "1", "--format", "csv", "-q")
    assert result.exit_code == 0, result.output
    rows = {r["layer"]: r for r in csv_rows(result.stdout)}
    assert set(rows) == {"Net", "Net (weight grad)", "Net (input grad)"}
    assert int(rows["Net"]["macs"]) == STEM + 2 * BCONV + HEAD
    assert int(rows["Net (weight grad)"]["macs"]) == STEM + 2 * BCONV + HEAD
    assert int(rows["Net (input grad)"]["macs"]) == 2 * BCONV + HEAD
    assert rows["Net (input grad)"]["phase"] == "input gradient"
    # input gradients: dy (16 bits) times sign(w) (1) in b1 and b2, times the float head kernel (16)
    assert (rows["Net (input grad)"]["bits_a"], rows["Net (input grad)"]["bits_w"]) == (str(FLOAT), "")


REMAT = '''
import jax, jax.numpy as jnp


def acecost_model():
    S = jax.ShapeDtypeStruct
    params = {"fc1": S((32, 64), jnp.float32), "fc2": S((64, 8), jnp.float32)}

    def f(p, x):
        h = jax.checkpoint(lambda x, w: jnp.tanh(x @ w))(x, p["fc1"])
        return h @ p["fc2"]

    return f, (params, S((4, 32), jnp.float32))
'''


def test_a_checkpointed_layer_is_recomputed_in_the_backward_pass(tmp_path):
    """Under jax.checkpoint the backward pass computes fc1's product again before its
    gradients: that row is forward work, not a gradient."""
    path = tmp_path / "remat.py"
    path.write_text(REMAT)
    result = run("analyze", path, "--mode", "train", "--format", "csv", "-q")
    assert result.exit_code == 0, result.output
    rows = csv_rows(result.stdout)
    got = sorted((r["phase"], int(r["macs"])) for r in rows)
    fc1, fc2 = 4 * 32 * 64, 4 * 64 * 8
    assert got == sorted([("forward", fc1), ("forward", fc2), ("forward (recomputed)", fc1),
                          ("weight gradient", fc1), ("weight gradient", fc2), ("input gradient", fc2)])
    # the weight gradient made inside the checkpointed call is found and named after its parameter
    assert {r["layer"] for r in rows if r["phase"] == "weight gradient"} == {"fc1 (weight grad)",
                                                                              "fc2 (weight grad)"}


# ------------------------------------------------------------------ item 7: the fix named

XNOR = '''
import jax, jax.numpy as jnp
from jax import lax


def acecost_model():
    S = jax.ShapeDtypeStruct

    def f(w, x):
        # XNOR-Net: sign(x) times K, the mean |x| over channels at each position (varies along
        # the conv's spatial taps, a contracting dimension); weights sign(w) times alpha per channel
        k = jnp.mean(jnp.abs(x), axis=-1, keepdims=True)
        alpha = jnp.mean(jnp.abs(w), axis=(0, 1, 2))
        return lax.conv_general_dilated(jnp.sign(x) * k, jnp.sign(w) * alpha, (1, 1), "SAME",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))

    return f, (S((3, 3, 8, 16), jnp.float32), S((1, 8, 8, 8), jnp.float32))
'''
XNOR_MACS = 8 * 8 * 3 * 3 * 8 * 16


def test_the_per_position_scale_warning_names_scales_codes(tmp_path):
    path = tmp_path / "xnor.py"
    path.write_text(XNOR)
    strict = run("analyze", path, "--format", "json", "-q")
    assert strict.exit_code == 0, strict.output
    data = json.loads(strict.stdout)
    (layer,) = data["layers"]
    assert (layer["bits_a"], layer["bits_w"], layer["macs"]) == (FLOAT, 1, XNOR_MACS)
    (warning,) = [w for w in data["warnings"] if "counted as 16-bit float" in w]
    assert "scale varies along contracting" in warning and "Price its codes with --scales codes" in warning
    table = run("analyze", path)
    assert "--scales codes prices such operands by their codes" in " ".join(table.output.split())
    codes = json.loads(run("analyze", path, "--format", "json", "--scales", "codes", "-q").stdout)
    assert [(r["bits_a"], r["bits_w"], r["ace"]) for r in codes["layers"]] == [(1, 1, XNOR_MACS)]


def test_other_fallbacks_keep_their_advice(tmp_path):
    path = tmp_path / "float.py"
    path.write_text("import jax, jax.numpy as jnp\n"
                    "def acecost_model():\n"
                    "    S = jax.ShapeDtypeStruct\n"
                    "    return (lambda w, x: x @ w), (S((8, 4), jnp.float32), S((2, 8), jnp.float32))\n")
    data = json.loads(run("analyze", path, "--format", "json", "-q").stdout)
    assert data["warnings"] and not any("--scales codes" in w for w in data["warnings"])
    assert all("Tag it with acecost.tag" in w for w in data["warnings"] if "counted as" in w)
