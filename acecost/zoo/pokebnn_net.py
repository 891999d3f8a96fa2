"""PokeBNN (Zhang, Zhang, Lew, CVPR 2022) in Flax linen.

Written from the architecture description: an 8-bit PokeInit stem, sixteen
binary bottleneck blocks in the ResNet-50 layout built from PokeConvs (binary
conv, batch-norm, parameter-free shortcuts, DPReLU, 4-bit squeeze-excite) and
an 8-bit dense head. The quantizers are plain jaxpr arithmetic (see
``quant.py``) so acecost can infer every operand's bit-width unaided.

Module names are chosen so the linen name stack reads like the paper:
``PokeBNN/PokeInit/conv1``, ``PokeBNN/stage2/block0/pokeconv1/conv``,
``PokeBNN/stage2/block0/pokeconv1/se/conv1``, ``PokeBNN/head/dense``.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from acecost.zoo.quant import BINARY, QConv, QDense, QSpec, batch_norm

#: Blocks per stage and base features of the ResNet-50 layout.
STAGES: tuple[tuple[int, int], ...] = ((3, 64), (4, 128), (6, 256), (3, 512))
#: Channels of the first PokeInit conv (also its grouped conv's group count).
INIT_GROUP = 32
#: Channels PokeInit hands to the first block, whatever the width multiplier.
INIT_FEATURES = 64

W8 = QSpec("signed", 8)
W4 = QSpec("signed", 4)
#: 8-bit activations with a per-tensor step size calibrated on the tensor.
A8 = QSpec("signed", 8)


def avg_pool_3x3_s2(x: jax.Array) -> jax.Array:
    """The shortcut's spatial down-sampling: 3x3 average pool, stride 2, SAME."""
    return nn.avg_pool(x, window_shape=(3, 3), strides=(2, 2), padding="SAME")


def reshape_add(r: jax.Array, y: jax.Array, expand: str) -> jax.Array:
    """Make the shortcut ``r`` match ``y`` without parameters, then add it.

    More channels in ``r``: average consecutive groups of ``C_r // C_y``
    channels (trailing channels that do not fill a group are dropped, e.g.
    64 -> 48 keeps the first 48). Fewer: ``tile`` repeats the channels,
    ``zeropad`` appends zeros. Different spatial size: 3x3 stride-2 average pool.
    """
    c_r, c_y = r.shape[-1], y.shape[-1]
    if c_r > c_y:
        group = c_r // c_y
        r = r[..., : c_y * group].reshape(*r.shape[:-1], c_y, group).mean(axis=-1)
    elif c_r < c_y:
        if expand == "tile":
            reps = -(-c_y // c_r)
            r = jnp.tile(r, (1,) * (r.ndim - 1) + (reps,))
            if reps * c_r != c_y:
                r = r[..., :c_y]
        elif expand == "zeropad":
            r = jnp.pad(r, [(0, 0)] * (r.ndim - 1) + [(0, c_y - c_r)])
        else:
            raise ValueError(f"unknown expand method {expand!r}")
    if r.shape[1:3] != y.shape[1:3]:
        r = avg_pool_3x3_s2(r)
    if r.shape != y.shape:
        raise ValueError(f"shortcut of shape {r.shape} cannot be added to {y.shape}")
    return y + r


class DPReLU(nn.Module):
    """Per-channel PReLU with learned input and output shifts.

    ``z = x - bias_x``; ``out = (pos_slope if z >= 0 else neg_slope) * z - bias_y``.
    """

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = (x.shape[-1],)
        bias_x = self.param("bias_x", nn.initializers.zeros, c, jnp.float32)
        bias_y = self.param("bias_y", nn.initializers.zeros, c, jnp.float32)
        pos = self.param("pos_slope", nn.initializers.ones, c, jnp.float32)
        neg = self.param("neg_slope", nn.initializers.constant(0.25), c, jnp.float32)
        z = x - bias_x
        return jnp.where(z >= 0, pos, neg) * z - bias_y


class PokeInit(nn.Module):
    """8-bit stem: 4x4/4 patch conv to 32 channels, then a 3x3 grouped conv to 64."""

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = QConv(INIT_GROUP, (4, 4), (4, 4), "VALID", act=A8, weight=W8, name="conv1")(x)
        x = batch_norm(train, "bn1")(x)
        x = DPReLU(name="dprelu1")(x)
        x = QConv(
            INIT_FEATURES, (3, 3), (1, 1), "SAME", feature_group_count=INIT_GROUP,
            act=A8, weight=W8, name="conv2",
        )(x)
        x = batch_norm(train, "bn2")(x)
        return DPReLU(name="dprelu2")(x)


class SE(nn.Module):
    """4-bit squeeze-excite: mean over H, W -> C/8 (ReLU) -> out, hard sigmoid."""

    out_features: int

    @nn.compact
    def __call__(self, r: jax.Array) -> jax.Array:
        hidden = max(r.shape[-1] // 8, 1)
        s = jnp.mean(r, axis=(1, 2), keepdims=True)
        s = QConv(
            hidden, (1, 1), use_bias=True, act=QSpec("signed", 4),
            weight=W4, name="conv1",
        )(s)
        s = nn.relu(s)
        s = QConv(
            self.out_features, (1, 1), use_bias=True,
            act=QSpec("unsigned", 4), weight=W4, name="conv2",
        )(s)
        return jnp.minimum(jnp.maximum(s + 3.0, 0.0), 6.0) / 6.0


class PokeConv(nn.Module):
    """Binary conv + BN + shortcuts + DPReLU, rescaled by an SE of the input, + BN."""

    features: int
    kernel_size: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    zero_init_bn: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, r1: jax.Array | None = None, train: bool = False) -> jax.Array:
        r = x
        y = QConv(
            self.features, self.kernel_size, self.strides, "SAME",
            act=BINARY, weight=BINARY, name="conv",
        )(x)
        y = batch_norm(train, "bn1", zero_scale=self.zero_init_bn)(y)
        y = reshape_add(r, y, "zeropad")
        if r1 is not None:
            y = reshape_add(r1, y, "tile")
        y = DPReLU(name="dprelu")(y)
        y = y * SE(y.shape[-1], name="se")(r)
        return batch_norm(train, "bn2")(y)


class Bottleneck(nn.Module):
    """Three PokeConvs (1x1, 3x3 with the stride, 1x1 to 4f); the block input is the long shortcut."""

    features: int
    stride: int = 1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        f, s = self.features, self.stride
        y = PokeConv(f, (1, 1), name="pokeconv1")(x, train=train)
        y = PokeConv(f, (3, 3), (s, s), name="pokeconv2")(y, train=train)
        return PokeConv(4 * f, (1, 1), zero_init_bn=True, name="pokeconv3")(y, r1=x, train=train)


class Head(nn.Module):
    """Global mean over H, W and an 8-bit dense classifier."""

    num_classes: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = jnp.mean(x, axis=(1, 2))
        return QDense(self.num_classes, act=A8, weight=W8, name="dense")(x)


class Stage(nn.Module):
    """``blocks`` bottlenecks; the first one carries the stage's stride."""

    features: int
    blocks: int
    stride: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        for b in range(self.blocks):
            x = Bottleneck(self.features, self.stride if b == 0 else 1, name=f"block{b}")(x, train=train)
        return x


class PokeBNN(nn.Module):
    """PokeBNN with width multiplier ``m``: stage features are ``int(f * m)``."""

    width_multiplier: float = 1.0
    num_classes: int = 1000

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        if x.ndim != 4:
            raise ValueError(f"PokeBNN expects NHWC images, got shape {x.shape}")
        x = PokeInit(name="PokeInit")(x, train=train)
        for i, (blocks, base) in enumerate(STAGES):
            stage = Stage(int(base * self.width_multiplier), blocks, 1 if i == 0 else 2, name=f"stage{i + 1}")
            x = stage(x, train=train)
        return Head(self.num_classes, name="head")(x)
