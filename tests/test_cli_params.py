"""``--param NAME=VALUE``: one variant of a model from the command line.

The model below builds an MLP whose hidden width is ``int(64 * width)`` and
whose activations are quantized to ``abits`` bits (clip to [-(2^(b-1)),
2^(b-1) - 1] and round: 2^b levels, b bits); its weights are int8 codes (8
bits). Expected MACs and ACE are formulas over those sizes, never read back
from acecost. The model checks the types it is given, so a value parsed
differently from a sweep's ``--grid`` value fails the run.
"""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from acecost.cli import main

MODEL = '''
import jax, jax.numpy as jnp


def acecost_model(width=1.0, abits=8, act="relu", bias=True):
    assert type(width) in (float, int) and type(abits) is int and type(act) is str and type(bias) is bool, \\
        (width, abits, act, bias)
    hidden = int(64 * width)
    S = jax.ShapeDtypeStruct
    params = {"fc1": S((32, hidden), jnp.int8), "fc2": S((hidden, 10), jnp.int8)}
    lo, hi = -2 ** (abits - 1), 2 ** (abits - 1) - 1

    def quant(x):
        return jnp.clip(jnp.round(x), lo, hi)

    def f(p, x):
        h = quant(x) @ p["fc1"].astype(jnp.float32)
        out = quant(h) @ p["fc2"].astype(jnp.float32)
        return jax.nn.relu(out) if act == "relu" else jnp.tanh(out)

    return f, (params, S((4, 32), jnp.float32))
'''


def expected(width: float, abits: int) -> tuple[int, int]:
    hidden = int(64 * width)
    macs = 4 * 32 * hidden + 4 * hidden * 10
    return macs, macs * abits * 8


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("params") / "mlp.py"
    path.write_text(MODEL)
    return path


def totals(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["totals"]


def test_defaults_without_a_param(model):
    t = totals(run("analyze", model, "--format", "json", "-q"))
    assert (t["macs"], t["ace"]) == expected(1.0, 8)


def test_params_reach_the_entry_as_a_sweep_reads_them(model):
    t = totals(run("analyze", model, "--param", "width=0.5", "--param", "abits=2", "--param", "act=tanh",
                   "--param", "bias=false", "--format", "json", "-q"))
    assert (t["macs"], t["ace"]) == expected(0.5, 2)


def test_an_int_stays_an_int(model):
    t = totals(run("analyze", model, "--param", "width=2", "--param", "abits=4", "--format", "json", "-q"))
    assert (t["macs"], t["ace"]) == expected(2, 4)


def test_values_parse_as_grid_values():
    from acecost.sweeps.space import parse_value

    ctx_values = ("width=0.5", "abits=2", "act=tanh", "bias=false", "tag=none")
    from acecost.cli.common import _parse_params

    parsed = _parse_params(None, None, ctx_values)
    assert parsed == {k: parse_value(v) for k, v in (item.split("=") for item in ctx_values)}
    assert [type(v) for v in parsed.values()] == [float, int, str, bool, type(None)]


def test_an_unknown_keyword_is_one_error_line_naming_it(model):
    result = run("analyze", model, "--param", "depth=3")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("acecost: error:")
    assert "'depth'" in lines[0] and "width, abits, act, bias" in lines[0]


@pytest.mark.parametrize("args, fragment", [
    (["--param", "width"], "expected NAME=VALUE"),
    (["--param", "=3"], "expected NAME=VALUE"),
    (["--param", "width="], "expected NAME=VALUE"),
    (["--param", "width=1", "--param", "width=2"], "given twice"),
])
def test_a_malformed_param_is_a_usage_error(model, args, fragment):
    result = run("analyze", model, *args)
    assert result.exit_code == 2 and fragment in result.output and "Traceback" not in result.output


def test_a_zoo_model_takes_no_param():
    result = run("analyze", "zoo:pokebnn-1.0x", "--param", "width=2")
    assert result.exit_code == 2
    assert result.output.startswith("acecost: error:") and "--param width" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_linen_module_class_takes_its_fields(tmp_path):
    path = tmp_path / "dense.py"
    path.write_text("import flax.linen as nn\n"
                    "class Head(nn.Module):\n"
                    "    features: int = 4\n"
                    "    @nn.compact\n"
                    "    def __call__(self, x):\n"
                    "        return nn.Dense(self.features, name='fc')(x)\n")
    t = totals(run("analyze", path, "--input-shape", "2,16", "--param", "features=12", "--format", "json", "-q"))
    assert t["macs"] == 2 * 16 * 12
    bad = run("analyze", path, "--input-shape", "2,16", "--param", "width=2")
    assert bad.exit_code == 2 and "'width'" in bad.output and "features" in bad.output


def test_check_takes_params_too(model):
    macs, _ = expected(0.5, 2)
    ok = run("check", model, "--param", "width=0.5", "--max-macs", str(macs), "--format", "json")
    assert ok.exit_code == 0, ok.output
    over = run("check", model, "--param", "width=0.5", "--max-macs", str(macs - 1), "--format", "json")
    assert over.exit_code == 1, over.output
    bad = run("check", model, "--param", "depth=3", "--max-macs", "1G")
    assert bad.exit_code == 2 and "'depth'" in bad.output


def test_quiet_silences_warnings_but_not_errors(model, tmp_path):
    """diff warns when two reports are of different models; -q drops the warning, keeps the diff."""
    other = tmp_path / "other.py"
    other.write_text("import jax, jax.numpy as jnp\n"
                     "def acecost_model():\n"
                     "    S = jax.ShapeDtypeStruct\n"
                     "    return (lambda p, x: x @ p['proj']), ({'proj': S((8, 4), jnp.int8)}, S((2, 8), jnp.int8))\n")
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(run("analyze", model, "--format", "json", "-q").stdout)
    b.write_text(run("analyze", other, "--format", "json", "-q").stdout)
    loud = CliRunner().invoke(main, ["diff", str(a), str(b)])
    quiet = CliRunner().invoke(main, ["diff", str(a), str(b), "-q"])
    assert loud.exit_code == quiet.exit_code == 0, loud.output
    assert "acecost: warning:" in loud.stderr and quiet.stderr == ""
    assert quiet.stdout == loud.stdout
    missing = CliRunner().invoke(main, ["diff", str(a), str(tmp_path / "nope.json"), "-q"])
    assert missing.exit_code == 2 and missing.stderr.startswith("acecost: error:")
