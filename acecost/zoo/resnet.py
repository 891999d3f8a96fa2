"""ResNet-50 v1.5 in Flax linen, float or with uniform fake quantization.

v1.5 puts the down-sampling stride on the 3x3 conv of the bottleneck. With
``quant=(act_bits, weight_bits)`` every conv and the dense layer see a
signed symmetric activation (one per-tensor scale) and a signed symmetric
kernel (max|w| per output channel): the "all layers wXaY" setting whose ACE
the metrics reference quotes. ``float_ends=True`` keeps the stem conv and
the classifier unquantized in bfloat16, as AQT's ``resnet50_w4_a4_fixed``
and ``resnet50_w4_a2_fixed`` configs do (they call these the most sensitive
layers).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from acecost.zoo.quant import QConv, QDense, QSpec, batch_norm

#: Blocks per stage and bottleneck width of ResNet-50.
STAGES: tuple[tuple[int, int], ...] = ((3, 64), (4, 128), (6, 256), (3, 512))
STEM_FEATURES = 64
EXPANSION = 4


class ResNet50(nn.Module):
    """ResNet-50 v1.5; ``quant`` is ``(act_bits, weight_bits)`` or None for float.

    ``dtype`` is the compute dtype of the convs and the dense layer (kernels
    are stored in float32 and cast, mixed-precision style).
    """

    num_classes: int = 1000
    quant: tuple[int, int] | None = None
    dtype: Any = None
    #: stem conv and classifier unquantized, computed in bfloat16
    float_ends: bool = False

    def _specs(self) -> tuple[QSpec | None, QSpec | None]:
        if self.quant is None:
            return None, None
        a_bits, w_bits = self.quant
        return QSpec("signed", a_bits), QSpec("signed", w_bits)

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        if x.ndim != 4:
            raise ValueError(f"ResNet50 expects NHWC images, got shape {x.shape}")
        act, weight = self._specs()
        ends = (None, None, jnp.bfloat16) if self.float_ends else (act, weight, self.dtype)
        x = Stem(*ends, name="stem")(x, train=train)
        for i, (blocks, width) in enumerate(STAGES):
            stage = Stage(width, blocks, 1 if i == 0 else 2, act, weight, self.dtype, name=f"stage{i + 1}")
            x = stage(x, train=train)
        return Head(self.num_classes, *ends, name="head")(x)


class Stem(nn.Module):
    """7x7/2 conv to 64 channels, BN, ReLU, 3x3/2 max pool."""

    act: QSpec | None
    weight: QSpec | None
    dtype: Any

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = QConv(
            STEM_FEATURES, (7, 7), (2, 2), "SAME", act=self.act, weight=self.weight, dtype=self.dtype, name="conv"
        )(x)
        x = nn.relu(batch_norm(train, "bn")(x))
        return nn.max_pool(x, (3, 3), strides=(2, 2), padding="SAME")


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride) -> 1x1 to 4w, projection shortcut when the shape changes."""

    width: int
    stride: int
    act: QSpec | None
    weight: QSpec | None
    dtype: Any

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        w, s = self.width, self.stride
        conv = dict(act=self.act, weight=self.weight, dtype=self.dtype)
        y = QConv(w, (1, 1), name="conv1", **conv)(x)
        y = nn.relu(batch_norm(train, "bn1")(y))
        y = QConv(w, (3, 3), (s, s), name="conv2", **conv)(y)
        y = nn.relu(batch_norm(train, "bn2")(y))
        y = QConv(EXPANSION * w, (1, 1), name="conv3", **conv)(y)
        y = batch_norm(train, "bn3", zero_scale=True)(y)
        r = x
        if s != 1 or x.shape[-1] != EXPANSION * w:
            r = QConv(EXPANSION * w, (1, 1), (s, s), name="proj", **conv)(x)
            r = batch_norm(train, "proj_bn")(r)
        return nn.relu(y + r)


class Stage(nn.Module):
    """``blocks`` bottlenecks; the first one carries the stage's stride."""

    width: int
    blocks: int
    stride: int
    act: QSpec | None
    weight: QSpec | None
    dtype: Any

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        for b in range(self.blocks):
            s = self.stride if b == 0 else 1
            x = Bottleneck(self.width, s, self.act, self.weight, self.dtype, name=f"block{b}")(x, train=train)
        return x


class Head(nn.Module):
    """Global mean over H, W and the classifier."""

    num_classes: int
    act: QSpec | None
    weight: QSpec | None
    dtype: Any

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = jnp.mean(x, axis=(1, 2))
        x = QDense(self.num_classes, act=self.act, weight=self.weight, dtype=self.dtype, name="dense")(x)
        return x.astype(jnp.float32)
