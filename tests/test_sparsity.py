"""``sparsity="discount"``: only multiplications by a nonzero weight are counted.

Each weight element of a ``dot_general`` takes part in the same number of MACs,
and so does each tap of a convolution under the padded-taps convention
(N x H_out x W_out), so the discounted MACs are the weight's nonzeros times that
number: here computed from the shapes and numpy's count of the nonzeros the test
itself made, never read back from the tool.
"""
from __future__ import annotations

import json
import math
import os
import sys
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import acecost
from acecost.report.model import to_json
from test_measured_levels import EXAMPLE, X, example, example_weights

S, F32 = jax.ShapeDtypeStruct, jnp.float32
FLOAT = 16


def test_the_issue_example_with_both_flags():
    rep = acecost.analyze(example, example_weights(), X, levels="measured", sparsity="discount")
    macs = sum(layer.macs * Fraction(layer.density) for layer in EXAMPLE)
    ace = sum(layer.macs * Fraction(layer.density) * FLOAT * layer.bits for layer in EXAMPLE)
    assert (macs, ace) == (565_248, 19_398_656)
    assert (rep.totals.macs, rep.totals.ace, rep.totals.cpu64) == (macs, ace, macs)
    assert [r.weight_density for r in rep.layers] == [0.5, 1.0]
    assert rep.meta["sparsity"] == "discount" and rep.meta["levels"] == "measured"


def test_discount_alone_keeps_the_widths_and_the_json_says_the_density():
    rep = acecost.analyze(example, example_weights(), X, sparsity="discount")
    assert [(r.bits_a, r.bits_w) for r in rep.layers] == [(FLOAT, FLOAT)] * 2
    assert rep.totals.macs == sum(int(layer.macs * layer.density) for layer in EXAMPLE)
    data = json.loads(to_json(rep.to_dict()))
    assert [layer.get("weight_density") for layer in data["layers"]] == [0.5, 1.0]
    assert all("measured_levels" not in layer for layer in data["layers"])
    assert data["meta"]["sparsity"] == "discount" and "levels" not in data["meta"]
    # the default leaves MACs dense and says nothing of sparsity
    dense = acecost.analyze(example, example_weights(), X)
    assert dense.totals.macs == sum(layer.macs for layer in EXAMPLE) and "sparsity" not in dense.meta


def test_two_of_four_structured_sparsity_is_the_same_count():
    """2:4 along the contraction: two of every four consecutive weights are zero."""
    rng = np.random.default_rng(5)
    w = rng.normal(size=(64, 32)).astype(np.float32)
    keep = np.argsort(rng.random((16, 4, 32)), axis=1) < 2  # two kept per group of four
    w = w * keep.reshape(64, 32)
    assert np.count_nonzero(w) == 64 * 32 // 2
    rep = acecost.analyze(lambda w, x: x @ w, w, S((8, 64), F32), sparsity="discount")
    assert rep.totals.macs == 8 * 32 * 64 // 2
    assert rep.layers[0].weight_density == 0.5


def conv(x, w, stride=1, groups=1, lhs_dilation=None):
    padding = "SAME" if lhs_dilation is None else ((1, 1), (1, 1))
    return jax.lax.conv_general_dilated(x, w, (stride, stride), padding, lhs_dilation=lhs_dilation,
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=groups)


def sparse_kernel(rng, shape) -> np.ndarray:
    """Random codes in -2..2 (zeros among them) times a per-output-channel scale."""
    codes = rng.integers(-2, 3, size=shape).astype(np.float32)
    return codes * rng.uniform(0.5, 2.0, shape[-1]).astype(np.float32)


@pytest.mark.parametrize("stride,groups", [(1, 1), (2, 1), (2, 2), (1, 8)], ids=["s1", "s2", "grouped", "depthwise"])
def test_a_conv_discounts_each_tap_by_the_output_positions(stride, groups):
    rng = np.random.default_rng(6 + stride + groups)
    n, h, cin, cout = 2, 15, 8, 16
    w = sparse_kernel(rng, (3, 3, cin // groups, cout))
    x = S((n, h, h, cin), F32)
    ho = math.ceil(h / stride)  # SAME padding
    dense = n * ho * ho * w.size
    rep = acecost.analyze(lambda w, x: conv(x, w, stride, groups), w, x, levels="measured", sparsity="discount")
    nnz = np.count_nonzero(w)
    assert 0 < nnz < w.size
    assert rep.totals.macs == n * ho * ho * nnz  # padded taps: every tap serves every output position
    assert dense == acecost.analyze(lambda w, x: conv(x, w, stride, groups), w, x).totals.macs
    assert rep.layers[0].weight_density == nnz / w.size
    levels = max(len(np.unique(w[..., :, c])) for c in range(cout))
    assert rep.layers[0].measured_levels == levels == 5
    assert rep.totals.ace == n * ho * ho * nnz * FLOAT * math.ceil(math.log2(levels))


def test_an_input_dilated_conv_is_not_discounted_and_says_so():
    """A transposed conv's inserted zeros are not counted, so its taps do unequal work."""
    rng = np.random.default_rng(7)
    w = sparse_kernel(rng, (3, 3, 4, 4))
    x = S((1, 8, 8, 4), F32)

    def fn(w, x):
        return conv(x, w, lhs_dilation=(2, 2))

    rep = acecost.analyze(fn, w, x, sparsity="discount")
    assert rep.totals.macs == acecost.analyze(fn, w, x).totals.macs
    assert rep.layers[0].weight_density is None
    assert any("does not use every weight element equally often" in t for t in rep.warnings)


def test_binary_products_with_zero_weights_discount_the_bops():
    """sign(x) against weights in {0, 1}: 1-bit operands, binary MACs; only the ones count."""
    rng = np.random.default_rng(8)
    w = (rng.random((64, 32)) < 0.25).astype(np.float32)
    rep = acecost.analyze(lambda w, x: jnp.sign(x) @ w, w, S((4, 64), F32), levels="measured",
                          sparsity="discount")
    nnz = np.count_nonzero(w)
    assert (rep.layers[0].bits_a, rep.layers[0].bits_w, rep.layers[0].binary) == (1, 1, True)
    assert rep.totals.binary_macs == rep.totals.macs == 4 * nnz  # each weight meets the 4 rows of x
    assert rep.totals.cpu64 == Fraction(4 * nnz, 64)


def test_discount_without_values_is_refused():
    with pytest.raises(acecost.AcecostError, match="sparsity 'discount' needs the weights' values"):
        acecost.analyze(lambda w, x: x @ w, S((64, 32), F32), S((4, 64), F32), sparsity="discount")
    with pytest.raises(acecost.ConfigError, match="invalid sparsity 'on': expected 'dense' or 'discount'"):
        acecost.analyze(lambda w, x: x @ w, np.ones((64, 32), np.float32), S((4, 64), F32), sparsity="on")


# ------------------------------------------- a public model: flaxmodels' ResNet-18, ternarized


def ternarize(rng, shape) -> tuple[np.ndarray, int]:
    """Ternary codes with exactly ``fiber // 2`` zeros per output channel (the last axis), both
    signs in every channel, times a per-channel scale; and the nonzeros per channel."""
    fiber, cout = math.prod(shape[:-1]), shape[-1]
    rank = np.argsort(np.argsort(rng.random((fiber, cout)), axis=0), axis=0)
    zeros = fiber // 2
    codes = np.where(rank < zeros, 0.0, np.where(rank % 2 == 0, 1.0, -1.0))
    return (codes * rng.uniform(0.5, 2.0, cout)).astype(np.float32).reshape(shape), fiber - zeros


def resnet18_macs(image: int, nonzero=lambda fiber: fiber) -> int:
    """ResNet-18's MACs (``nonzero(fiber)`` weights per output channel) from its definition:
    7x7/2 stem, 3x3/2 pool, four stages of two basic blocks (a 1x1 projection where the shape
    changes), a 512 -> 1000 classifier."""
    def out(size, k, stride, pad_total):
        return (size + pad_total - k) // stride + 1

    h = out(image, 7, 2, 6)
    macs = h * h * 64 * nonzero(7 * 7 * 3)
    h, cin = out(h, 3, 2, 2), 64
    for stage, width in enumerate((64, 128, 256, 512)):
        for block in range(2):
            stride = 2 if stage > 0 and block == 0 else 1
            ho = out(h, 3, stride, 2)
            macs += ho * ho * width * (nonzero(9 * cin) + nonzero(9 * width))
            if block == 0 and (stride != 1 or cin != width):
                macs += ho * ho * width * nonzero(cin)
            cin, h = width, ho
    return macs + 1000 * nonzero(512)


def test_flaxmodels_resnet18_ternarized():
    pytest.importorskip("flaxmodels")
    import flaxmodels

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "corpus"))
    from corpus_common import resnet

    image = 64
    model = flaxmodels.ResNet18(pretrained=None, output="logits", num_classes=1000)
    x = S((1, image, image, 3), F32)
    shapes = jax.eval_shape(lambda k: model.init(k, jnp.zeros(x.shape), train=False), jax.random.PRNGKey(0))
    rng = np.random.default_rng(9)
    kernels = 0

    def concrete(path, leaf):
        nonlocal kernels
        if jax.tree_util.keystr(path).endswith("['kernel']"):
            kernels += leaf.size
            return ternarize(rng, leaf.shape)[0]
        return rng.uniform(0.5, 1.5, leaf.shape).astype(leaf.dtype)  # scales, biases, BN statistics

    variables = jax.tree_util.tree_map_with_path(concrete, shapes)
    leaves = sum(leaf.size for leaf in jax.tree_util.tree_leaves(variables))
    rep = acecost.analyze(lambda v, x: model.apply(v, x, train=False), variables, x,
                          levels="measured", sparsity="discount")
    assert resnet18_macs(image) == resnet(image, (2, 2, 2, 2), bottleneck=False, classes=1000).macs
    macs = resnet18_macs(image, lambda fiber: fiber - fiber // 2)
    assert rep.totals.complete
    assert rep.totals.macs == macs
    assert {(r.bits_a, r.bits_w, r.measured_levels) for r in rep.layers} == {(FLOAT, 2, 3)}
    assert rep.totals.ace == macs * FLOAT * 2
    assert rep.totals.size_bits == 2 * kernels + 32 * (leaves - kernels)
