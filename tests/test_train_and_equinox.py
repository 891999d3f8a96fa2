"""Training-step cost and Equinox models."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import acecost
from acecost.load.resolve import resolve

DIMS = [32, 64, 48, 24, 10]
BATCH = 4


def mlp(params, x):
    for w in params:
        x = jnp.tanh(x @ w)
    return x


def mlp_args(dims=DIMS):
    params = [jax.ShapeDtypeStruct((a, b), jnp.float32) for a, b in zip(dims[:-1], dims[1:])]
    return params, jax.ShapeDtypeStruct((BATCH, dims[0]), jnp.float32)


@pytest.mark.parametrize("dims", [DIMS[:2], DIMS[:3], DIMS])
def test_training_step_forward_and_backward(dims):
    params, x = mlp_args(dims)
    L = len(dims) - 1
    forward = [BATCH * a * b for a, b in zip(dims[:-1], dims[1:])]
    inference = acecost.analyze(mlp, params, x)
    train = acecost.analyze_train(mlp, params, x)
    # forward pass = inference, by phase
    assert train.phases["forward"]["ace"] == inference.totals.ace == sum(forward) * 256
    # backward: a weight gradient per layer and an input gradient for all but the first
    backward_macs = sum(forward) + sum(forward[1:])
    assert train.phases["backward"]["macs"] == backward_macs
    assert train.phases["backward"]["ace"] == backward_macs * 256
    assert sum(r.phase == "backward" for r in train.layers) == 2 * L - 1
    assert train.totals.macs == sum(forward) + backward_macs


def test_training_step_keeps_quantized_residuals_binary():
    """sign(w) saved by the forward pass is still 1-bit when the backward pass uses it."""
    def binary(params, x):
        w = params[0]
        return jnp.sum((x @ (w + jax.lax.stop_gradient(jnp.sign(w) - w))) ** 2)

    params, x = mlp_args(DIMS[:2])
    rep = acecost.analyze_train(binary, params, x, loss=lambda out: out)
    backward = [r for r in rep.layers if r.phase == "backward"]
    assert len(backward) == 1  # only the weight gradient (x is not differentiated)
    assert backward[0].macs == BATCH * DIMS[0] * DIMS[1]


def test_train_mode_from_the_cli(tmp_path):
    from click.testing import CliRunner

    from acecost.cli import main

    model = tmp_path / "m.py"
    model.write_text(
        "import jax, jax.numpy as jnp\n"
        "def acecost_model():\n"
        "    ps = [jax.ShapeDtypeStruct((8, 16), jnp.float32), jax.ShapeDtypeStruct((16, 4), jnp.float32)]\n"
        "    def f(ps, x):\n"
        "        for w in ps: x = jnp.tanh(x @ w)\n"
        "        return x\n"
        "    return f, (ps, jax.ShapeDtypeStruct((2, 8), jnp.float32))\n")
    result = CliRunner().invoke(main, ["analyze", str(model), "--mode", "train", "--format", "json"])
    assert result.exit_code == 0, result.output
    import json

    data = json.loads(result.output)
    fwd = 2 * 8 * 16 + 2 * 16 * 4
    assert data["phases"]["forward"]["macs"] == fwd
    assert data["phases"]["backward"]["macs"] == fwd + 2 * 16 * 4


def test_equinox_example_names_and_totals():
    pytest.importorskip("equinox")
    rep = acecost.analyze_target(resolve("examples/equinox_mlp.py"))
    dims = [256, 128, 64, 10]
    macs = [8 * a * b for a, b in zip(dims[:-1], dims[1:])]
    assert [r.name for r in rep.layers] == ["layers/0", "layers/1", "layers/2"]
    assert [(r.bits_a, r.bits_w) for r in rep.layers] == [(8, 4)] * 3
    assert rep.totals.macs == sum(macs)
    assert rep.totals.ace == sum(macs) * 32
    kernels = sum(a * b for a, b in zip(dims[:-1], dims[1:]))
    biases = sum(dims[1:])
    assert rep.totals.size_bits == kernels * 4 + biases * 32
    assert not rep.fallbacks
