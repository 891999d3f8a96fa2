"""A binary CNN's training step: folded scales, stored size, gradient names.

Expected numbers are formulas over the layer shapes: a conv's MACs are
output positions x taps x input channels x output channels (SAME padding,
stride 1), a weight gradient has the MACs of its forward conv, and so does
an input gradient; widths are 1 for sign operands and 16 for floats.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import flax.linen as nn
import pytest

import acecost
from acecost.engine.names import base_name
from acecost.load.resolve import resolve
from binary_layers import K as LAYER_K, BinConv

FLOAT = 16
HW, CIN, C, K, CLASSES = 8, 3, 16, 3, 10
assert K == LAYER_K  # BinConv's kernel size




class BinaryCNN(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.Conv(C, (K, K), name="stem")(x)
        x = BinConv(C, name="b1")(x)
        x = nn.BatchNorm(use_running_average=True, name="bn")(x)
        x = BinConv(C, name="b2")(x)
        x = jnp.mean(x, axis=(1, 2))  # global average pool
        return nn.Dense(CLASSES, name="head")(x)


def target():
    net = BinaryCNN()
    x = jax.ShapeDtypeStruct((1, HW, HW, CIN), jnp.float32)
    return acecost.Target(net.apply, (jax.eval_shape(net.init, jax.random.key(0), x), x))


STEM = HW * HW * K * K * CIN * C
BCONV = HW * HW * K * K * C * C
HEAD = C * CLASSES


def test_binary_cnn_training_step_by_formula():
    inference = acecost.analyze_target(target())
    train = acecost.analyze_target(target(), mode="train")
    forward_ace = STEM * FLOAT * FLOAT + 2 * BCONV * 1 * 1 + HEAD * FLOAT * FLOAT
    assert inference.totals.ace == train.phases["forward"]["ace"] == forward_ace
    backward = {
        # head: weight gradient and input gradient, float x float
        "head": [HEAD * FLOAT * FLOAT] * 2,
        # binary convs: weight gradient sign(x) x float dy; input gradient float dy x sign(w),
        # alpha folded into dy
        "b2": [BCONV * 1 * FLOAT, BCONV * FLOAT * 1],
        "b1": [BCONV * 1 * FLOAT, BCONV * FLOAT * 1],
        # stem: weight gradient only (the image is not differentiated)
        "stem": [STEM * FLOAT * FLOAT],
    }
    got: dict = {}
    for r in train.layers:
        if r.phase == "backward":
            got.setdefault(base_name(r.name).split("/")[-1], []).append(r.ace)
    assert {k: sorted(v) for k, v in got.items()} == {k: sorted(v) for k, v in backward.items()}
    assert train.phases["backward"]["ace"] == sum(map(sum, backward.values()))
    assert train.phases["backward"]["binary_macs"] == 0


def test_gradient_of_a_global_average_pool_is_float_not_a_zero_point():
    train = acecost.analyze_target(target(), mode="train")
    assert not [r.name for r in train.layers if "zero_point" in r.name]
    b2_weight_grad = [r for r in train.layers if r.phase == "backward" and base_name(r.name).endswith("b2")
                      and r.lhs_shape == r.rhs_shape]  # x (1,8,8,16) against dy (1,8,8,16)
    assert [(r.bits_a, r.bits_w) for r in b2_weight_grad] == [(1, FLOAT)]


def test_size_is_the_same_in_every_mode():
    """Stored parameters: binary kernels 1 bit, the float kernels 16, the rest at f32."""
    inference = acecost.analyze_target(target())
    train = acecost.analyze_target(target(), mode="train")
    size = (2 * K * K * C * C * 1 + K * K * CIN * C * FLOAT + C * CLASSES * FLOAT
            + (C + 4 * C + CLASSES) * 32)  # stem bias; bn scale, bias, mean, var; head bias
    assert train.totals.size_bits == inference.totals.size_bits == size


def test_nnx_weight_gradients_carry_their_layer_names():
    rep = acecost.analyze_target(resolve("examples/nnx_mlp.py"), mode="train")
    backward = [r.name for r in rep.layers if r.phase == "backward"]
    # head: weight and input gradient; fc2: both; fc1: weight gradient only
    assert sorted(map(base_name, backward)) == sorted(["head", "head", "fc2", "fc2", "fc1"])
    assert len(set(backward)) == len(backward)  # each its own name


def test_equinox_weight_gradients_carry_their_layer_names():
    pytest.importorskip("equinox")
    rep = acecost.analyze_target(resolve("examples/equinox_mlp.py"), mode="train")
    backward = [r.name for r in rep.layers if r.phase == "backward"]
    assert sorted(map(base_name, backward)) == sorted(["layers/2"] * 2 + ["layers/1"] * 2 + ["layers/0"])
    assert len(set(backward)) == len(backward)
