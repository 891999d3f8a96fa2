"""Input-dilated convolutions (transposed convs, input gradients) count the scatter form.

Expected numbers: closed forms (input elements x taps x input features per
group x output features), a concrete numpy scatter that counts its own
products, and XLA's per-op count of the same conv where nothing is cropped.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import acecost

S = jax.ShapeDtypeStruct
F32 = jnp.float32
NHWC = ("NHWC", "HWIO", "NHWC")


def flax_macs(module, shape, train=False):
    x = S(shape, F32)
    variables = jax.eval_shape(lambda x: module.init(jax.random.PRNGKey(0), x), x)
    analyse = acecost.analyze_train if train else acecost.analyze
    return analyse(lambda v, x: module.apply(v, x), variables, x)


@pytest.mark.parametrize("padding", ["SAME", "VALID", ((1, 2), (0, 3)), "CIRCULAR"])
def test_conv_transpose_is_inputs_times_taps_whatever_the_padding(padding):
    rep = flax_macs(nn.ConvTranspose(32, (3, 3), strides=(2, 2), padding=padding), (1, 16, 16, 64))
    assert rep.totals.macs == 16 * 16 * 9 * 64 * 32 == 4_718_592


def test_conv_transpose_kernel_4_stride_2():
    rep = flax_macs(nn.ConvTranspose(8, (4, 4), strides=(2, 2), padding="SAME"), (2, 7, 5, 3))
    assert rep.totals.macs == 2 * 7 * 5 * 16 * 3 * 8


def numpy_scatter_products(n: int, k: int, stride: int) -> int:
    """A transposed conv run as a scatter on ones: every input element adds each tap to an output."""
    x, w = np.ones(n), np.ones(k)
    out = np.zeros((n - 1) * stride + k)
    products = 0
    for i in range(n):
        for t in range(k):
            out[i * stride + t] += x[i] * w[t]
            products += 1
    assert out.sum() == products  # every product landed once
    return products


@pytest.mark.parametrize("n, k, stride, padding", [(5, 3, 2, "SAME"), (6, 4, 3, "VALID"), (4, 2, 2, "SAME"),
                                                   (3, 5, 2, ((4, 4),))])
def test_conv_transpose_1d_matches_a_numpy_scatter(n, k, stride, padding):
    cin, cout = 3, 2
    conv = lambda x, w: lax.conv_transpose(x, w, (stride,), padding,  # noqa: E731
                                           dimension_numbers=("NWC", "WIO", "NWC"))
    rep = acecost.analyze(conv, S((1, n, cin), F32), S((k, cin, cout), F32), params_argnums=())
    assert rep.totals.macs == numpy_scatter_products(n, k, stride) * cin * cout


def test_a_cropped_away_scatter_counts_its_direct_form():
    """Padding that crops most products (as in the weight gradient of a transposed conv).

    3 inputs dilated by 2 (length 5) under a 5-tap kernel with no padding: one
    output position, which meets the 3 real inputs at taps 0, 2 and 4. The
    scatter form (3 x 5) would count 12 products that no output receives.
    """
    conv = lambda x, w: lax.conv_transpose(x, w, (2,), ((0, 0),),  # noqa: E731
                                           dimension_numbers=("NWC", "WIO", "NWC"))
    rep = acecost.analyze(conv, S((1, 3, 3), F32), S((5, 3, 2), F32), params_argnums=())
    assert rep.layers[0].out_shape == [1, 1, 2]
    assert rep.totals.macs == 3 * 3 * 2


def test_valid_conv_transpose_matches_xla_count():
    """Nothing is cropped: the scatter form is exactly the products XLA counts (it skips the holes)."""
    conv = lambda x, w: lax.conv_transpose(x, w, (2, 2), "VALID", dimension_numbers=NHWC)  # noqa: E731
    args = (S((1, 9, 11, 6), F32), S((3, 3, 6, 5), F32))
    xla = jax.jit(conv).lower(*args).compile().cost_analysis()
    xla = xla[0] if isinstance(xla, (list, tuple)) else xla
    got = acecost.analyze(conv, *args, params_argnums=()).totals.macs
    assert got == xla["flops"] / 2 == 9 * 11 * 9 * 6 * 5


def test_input_dilated_grouped_convs():
    # depthwise-style: 6 input features in 3 groups, each input element meets 2 of the 6 outputs
    conv = lambda x, w: lax.conv_general_dilated(  # noqa: E731
        x, w, (1, 1), ((2, 2), (2, 2)), lhs_dilation=(2, 2), dimension_numbers=NHWC, feature_group_count=3)
    got = acecost.analyze(conv, S((2, 5, 4, 6), F32), S((3, 3, 2, 6), F32), params_argnums=()).totals.macs
    assert got == 2 * 5 * 4 * 9 * 6 * (6 // 3)
    # batch groups: 4 images in 2 groups, each group feeds half of the 6 output features
    conv = lambda x, w: lax.conv_general_dilated(  # noqa: E731
        x, w, (1, 1), ((2, 2), (2, 2)), lhs_dilation=(2, 2), dimension_numbers=NHWC, batch_group_count=2)
    got = acecost.analyze(conv, S((4, 5, 4, 3), F32), S((3, 3, 3, 6), F32), params_argnums=()).totals.macs
    assert got == 4 * 5 * 4 * 9 * 3 * (6 // 2)


class Generator(nn.Module):
    """A DCGAN-like generator: a dense projection to 2x2, then six 2x upsampling transposed convs."""

    channels: tuple[int, ...] = (128, 64, 32, 16, 8, 4, 3)

    @nn.compact
    def __call__(self, z):
        x = nn.Dense(2 * 2 * self.channels[0])(z).reshape(z.shape[0], 2, 2, self.channels[0])
        for c in self.channels[1:]:
            x = nn.relu(nn.ConvTranspose(c, (4, 4), strides=(2, 2), padding="SAME")(x))
        return jnp.tanh(x)


def test_gan_generator():
    rep = flax_macs(Generator(), (2, 100))
    ch = Generator.channels
    dense = 2 * 100 * 2 * 2 * ch[0]
    convs = sum(2 * (2 * 2 ** i) ** 2 * 16 * cin * cout for i, (cin, cout) in enumerate(zip(ch, ch[1:])))
    assert rep.totals.macs == dense + convs
    assert [r.out_shape[1] for r in rep.layers[1:]] == [4, 8, 16, 32, 64, 128]


class StridedPair(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(8, (3, 3), padding="SAME", name="conv1")(x))
        return nn.Conv(16, (3, 3), strides=(2, 2), padding="SAME", name="conv2")(x)


def test_train_mode_prices_a_strided_convs_input_gradient_as_its_forward():
    """conv2's input gradient (an input-dilated conv) is the forward conv's work, not 4x it."""
    rep = flax_macs(StridedPair(), (2, 16, 16, 3), train=True)
    conv1 = 2 * 16 * 16 * 9 * 3 * 8
    conv2 = 2 * 8 * 8 * 9 * 8 * 16
    assert rep.phases["forward"]["macs"] == conv1 + conv2
    # weight gradients of both, the input gradient of conv2 (x is not differentiated)
    assert rep.phases["backward"]["macs"] == conv1 + 2 * conv2
    dilated = [r for r in rep.layers if r.phase == "backward" and r.out_shape == [2, 16, 16, 8]]
    assert len(dilated) == 1 and dilated[0].macs == conv2


def test_weight_gradient_of_a_same_conv_transpose_is_its_forward():
    rep = flax_macs(nn.ConvTranspose(32, (3, 3), strides=(2, 2), padding="SAME"), (1, 16, 16, 64), train=True)
    assert rep.phases["backward"]["macs"] == rep.phases["forward"]["macs"] == 16 * 16 * 9 * 64 * 32
