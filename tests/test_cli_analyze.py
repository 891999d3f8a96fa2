"""`acecost analyze`: formats and the one-line errors, exit code 2."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from acecost.cli import main

MLP = ("import jax, jax.numpy as jnp\n"
       "def acecost_model():\n"
       "    w = jax.ShapeDtypeStruct((8, 4), jnp.float32)\n"
       "    return (lambda w, x: x @ w), (w, jax.ShapeDtypeStruct((2, 8), jnp.float32))\n")


def run(*args):
    return CliRunner().invoke(main, list(args))


def write(tmp_path, text, name="m.py"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = [l for l in result.output.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("acecost: error:"), result.output
    assert "Traceback" not in result.output
    for f in fragments:
        assert f in lines[0]


def test_json_totals_and_determinism(tmp_path):
    path = write(tmp_path, MLP)
    a, b = run("analyze", path, "--format", "json"), run("analyze", path, "--format", "json")
    assert a.exit_code == 0 and a.output == b.output
    totals = json.loads(a.output)["totals"]
    assert totals["macs"] == 2 * 8 * 4 and totals["ace"] == 2 * 8 * 4 * 256


@pytest.mark.parametrize("fmt, needle", [("csv", "layer,op,out_shape"), ("markdown", "| Layer |"), ("table", "Totals")])
def test_formats(tmp_path, fmt, needle):
    result = run("analyze", write(tmp_path, MLP), "--format", fmt)
    assert result.exit_code == 0 and needle in result.output


def test_missing_file(tmp_path):
    assert_one_line_error(run("analyze", str(tmp_path / "nope.py")), "no such file")


def test_syntax_error_shows_file_and_line(tmp_path):
    path = write(tmp_path, "x = 1\ndef broken(:\n")
    assert_one_line_error(run("analyze", path), "m.py:2", "SyntaxError")


def test_import_error_shows_file_and_line(tmp_path):
    path = write(tmp_path, "import os\nimport not_a_module_xyz\n")
    assert_one_line_error(run("analyze", path), "m.py:2", "ModuleNotFoundError")


def test_no_entry_point(tmp_path):
    assert_one_line_error(run("analyze", write(tmp_path, "X = 1\n")), "acecost_model()", "Flax Module")


def test_entry_raising(tmp_path):
    path = write(tmp_path, "def acecost_model():\n    raise ValueError('boom')\n")
    assert_one_line_error(run("analyze", path), "m.py:2", "boom")


def test_input_shape_that_does_not_fit(tmp_path):
    path = write(tmp_path, "import flax.linen as nn\nclass Net(nn.Module):\n"
                 "    @nn.compact\n    def __call__(self, x):\n        return nn.Conv(4, (3, 3))(x)\n")
    assert_one_line_error(run("analyze", path, "--input-shape", "7"), "does not accept an input")


def test_not_traceable(tmp_path):
    path = write(tmp_path, "import jax, jax.numpy as jnp\ndef acecost_model():\n"
                 "    return (lambda x: float(x.sum())), (jax.ShapeDtypeStruct((2,), jnp.float32),)\n")
    assert_one_line_error(run("analyze", path), "tracing the model failed")


@pytest.mark.parametrize("option", [["--float-bits", "abc"], ["--format", "xml"], ["--bits", "fc"]])
def test_bad_option_values(tmp_path, option):
    result = run("analyze", write(tmp_path, MLP), *option)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_strict_exits_1_on_float_fallback(tmp_path):
    assert run("analyze", write(tmp_path, MLP), "--strict", "-q").exit_code == 1


def test_installed_console_script(tmp_path):
    exe = shutil.which("acecost") or str(Path(sys.executable).with_name("acecost"))
    out = subprocess.run([exe, "analyze", write(tmp_path, MLP), "--format", "json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["totals"]["macs"] == 64
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and "acecost" in version.stdout


def test_zoo_list_names_only():
    result = run("zoo", "list", "--no-costs")
    assert result.exit_code == 0
    for name in ("pokebnn-0.5x", "pokebnn-0.75x", "pokebnn-1.0x", "pokebnn-2.0x", "resnet50-bf16",
                 "resnet50-w8a8", "resnet50-w4a4", "resnet50-w4a2", "resnet50-w4a4-bf16ends",
                 "resnet50-w4a2-bf16ends"):
        assert f"zoo:{name}" in result.output


def test_zoo_list_costs_as_json():
    result = run("zoo", "list", "--format", "json")
    assert result.exit_code == 0, result.output
    models = {m["name"]: m for m in json.loads(result.output)["models"]}
    assert models["zoo:pokebnn-1.0x"]["ace"] == 4_222_541_824  # the PokeBNN reference figure
    assert models["zoo:resnet50-w4a4"]["ace"] == 65_426_948_096
    assert models["zoo:resnet50-w4a4-bf16ends"]["ace"] == 94_241_816_576  # AQT's w4a4 config
    assert all(m["cpu64"] == m["binary_macs"] / 64 + m["macs"] - m["binary_macs"] for m in models.values())


def test_unknown_zoo_name():
    assert_one_line_error(run("analyze", "zoo:pokebnn-9x"), "pokebnn-1.0x")


TWO_LAYERS = ("import jax, jax.numpy as jnp\n"
              "from jax import lax\n"
              "def net(p, x, n):\n"
              "    h = jnp.tanh(x @ p['fc1']['kernel'])\n"
              "    h = lax.while_loop(lambda c: c[1] < n, lambda c: (c[0] * 0.5, c[1] + 1), (h, 0))[0]\n"
              "    return h @ p['fc2']['kernel']\n"
              "def acecost_model():\n"
              "    S, f = jax.ShapeDtypeStruct, jnp.float32\n"
              "    p = {'fc1': {'kernel': S((8, 4), f)}, 'fc2': {'kernel': S((4, 2), f)}}\n"
              "    return net, (p, S((2, 8), f), S((), jnp.int32))\n")


def test_warnings_panel_groups_float_fallbacks_by_cause(tmp_path):
    out = run("analyze", write(tmp_path, TWO_LAYERS)).output
    # two dots: both kernels are float parameters, fc1 reads the model input,
    # fc2 reads fc1's output (through tanh and the loop): 4 operands
    assert "4 operand(s) in 2 contraction(s) count as float" in out
    causes = {line.split("│")[1].split("e.g.")[0].strip() for line in out.splitlines()
              if "e.g." in line and line.strip().startswith("│")}
    assert causes == {"2 float parameter used without a quantizer",
                      "1 model input used without a quantizer",
                      "1 output of a previous dot/conv, not requantized"}
    # the other warning (the data-dependent loop) is listed on its own
    assert "- top level: while loop trip count is data-dependent" in out


def test_quiet_hides_the_warnings_panel(tmp_path):
    out = run("analyze", write(tmp_path, TWO_LAYERS), "-q").output
    assert "Totals" in out and "Warnings" not in out and "operand(s)" not in out
