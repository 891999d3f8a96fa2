"""Fake quantizers and quantized layers shared by the zoo models.

The quantizers are written with plain ``lax`` primitives (divide by a scale,
clamp with constants, round or floor, multiply back) so that the bit-width of
every dot/conv operand can be read off the traced jaxpr: the model carries no
tags and no side tables, which is exactly the situation acecost is built for.

Rounding and flooring pass gradients straight through (a ``custom_jvp`` with
an identity tangent), so the models stay trainable; the clamp keeps its
ordinary gradient (zero outside the range), the usual clipped straight-through
estimator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

Kind = Literal["binary", "signed", "unsigned"]


@jax.custom_jvp
def round_ste(x: jax.Array) -> jax.Array:
    """Round half to even, with an identity gradient."""
    return lax.round(x, lax.RoundingMethod.TO_NEAREST_EVEN)


@round_ste.defjvp
def _round_ste_jvp(primals, tangents):
    return round_ste(primals[0]), tangents[0]


@jax.custom_jvp
def floor_ste(x: jax.Array) -> jax.Array:
    """Floor, with an identity gradient."""
    return lax.floor(x)


@floor_ste.defjvp
def _floor_ste_jvp(primals, tangents):
    return floor_ste(primals[0]), tangents[0]


def _clip(x: jax.Array, lo: float, hi: float) -> jax.Array:
    return lax.min(lax.max(x, jnp.asarray(lo, x.dtype)), jnp.asarray(hi, x.dtype))


def binary_margin(dtype: Any) -> float:
    """How far inside (-1, 1) the binary clamp stays, so floor never yields 1."""
    return float(2 * jnp.finfo(dtype).eps)


def signed_max(bits: int) -> int:
    """Largest level of a symmetric signed quantizer: 2**(bits-1) - 1."""
    return 2 ** (bits - 1) - 1


def unsigned_max(bits: int) -> int:
    """Largest level of an unsigned quantizer: 2**bits - 1."""
    return 2**bits - 1


def binary(x: jax.Array, scale: jax.Array | float = 1.0) -> jax.Array:
    """Two levels, ``scale * {-0.5, +0.5}``: clamp inside (-1, 1), floor, add 0.5."""
    eps = binary_margin(x.dtype)
    unit = isinstance(scale, (int, float)) and scale == 1.0  # skip no-op scaling in the trace
    v = x if unit else x / scale
    v = floor_ste(_clip(v, -1.0 + eps, 1.0 - eps)) + 0.5
    return v if unit else v * scale


def signed(x: jax.Array, bits: int, scale: jax.Array | float) -> jax.Array:
    """``2**bits - 1`` levels: divide, clamp to ``±(2**(bits-1)-1)``, round, multiply."""
    m = float(signed_max(bits))
    return round_ste(_clip(x / scale, -m, m)) * scale


def unsigned(x: jax.Array, bits: int, scale: jax.Array | float) -> jax.Array:
    """``2**bits`` levels: divide, floor, clamp to ``[0, 2**bits - 1]``, multiply."""
    return _clip(floor_ste(x / scale), 0.0, float(unsigned_max(bits))) * scale


def channel_absmax(w: jax.Array, out_axis: int = -1) -> jax.Array:
    """max|w| over every axis but the output-feature axis, kept for broadcasting.

    A scale that varies only along the output features factors out of the
    dot product, so it does not widen the operand.
    """
    out_axis = out_axis % w.ndim
    axes = tuple(a for a in range(w.ndim) if a != out_axis)
    # The floor keeps an all-zero channel from dividing by zero.
    return lax.max(jnp.max(jnp.abs(w), axis=axes, keepdims=True), jnp.asarray(1e-12, w.dtype))


def tensor_scale(x: jax.Array, top_level: int) -> jax.Array:
    """One step size for the whole tensor: ``2 * mean|x| / sqrt(top_level)``.

    This is the LSQ initialisation (Esser et al., ICLR 2020), computed on the
    tensor itself and held constant for the gradient. Unlike max|x| it keeps
    2- and 4-bit activations from rounding almost everything to zero.
    """
    s = 2.0 * jnp.mean(jnp.abs(x)) / math.sqrt(top_level)
    return lax.stop_gradient(lax.max(s, jnp.asarray(1e-12, x.dtype)))


@dataclass(frozen=True)
class QSpec:
    """How one operand is fake-quantized.

    For an activation, ``bound`` is a fixed per-tensor range; None (the
    default) calibrates the step size on the tensor itself (:func:`tensor_scale`).
    Either way it is one scalar per tensor, so it never varies along a
    contracting dimension. A binary activation is scale-free (its sign is all
    that matters), so None means 1.
    Weights ignore ``bound``: their range is max|w| per output channel.
    """

    kind: Kind
    bits: int = 1
    bound: float | None = None

    def __post_init__(self) -> None:
        if self.kind == "binary" and self.bits != 1:
            raise ValueError("binary quantizer has 1 bit")
        if self.kind == "signed" and self.bits < 2:
            raise ValueError("signed quantizer needs at least 2 bits")
        if self.bits < 1 or (self.bound is not None and self.bound <= 0):
            raise ValueError(f"invalid quantizer spec {self}")


BINARY = QSpec("binary", 1)


def quantize_act(x: jax.Array, spec: QSpec | None) -> jax.Array:
    """Quantize an activation with one per-tensor scale (from ``spec.bound`` or calibrated)."""
    if spec is None:
        return x
    if spec.kind == "binary":
        return binary(x, 1.0 if spec.bound is None else spec.bound)
    top = signed_max(spec.bits) if spec.kind == "signed" else unsigned_max(spec.bits)
    scale = tensor_scale(x, top) if spec.bound is None else spec.bound / top
    if spec.kind == "signed":
        return signed(x, spec.bits, scale)
    return unsigned(x, spec.bits, scale)


def quantize_weight(w: jax.Array, spec: QSpec | None, out_axis: int = -1) -> jax.Array:
    """Quantize a kernel with a per-output-channel scale (max|w|)."""
    if spec is None:
        return w
    amax = channel_absmax(w, out_axis)
    if spec.kind == "binary":
        return binary(w, amax)
    if spec.kind == "signed":
        return signed(w, spec.bits, amax / signed_max(spec.bits))
    raise ValueError("weights are quantized binary or signed")


def _cast(x: jax.Array, dtype: Any) -> jax.Array:
    return x if dtype is None or x.dtype == dtype else x.astype(dtype)


class QConv(nn.Module):
    """NHWC convolution whose input and kernel are fake-quantized right before the conv."""

    features: int
    kernel_size: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    padding: str = "SAME"
    feature_group_count: int = 1
    use_bias: bool = False
    act: QSpec | None = None
    weight: QSpec | None = None
    dtype: Any = None
    kernel_init: Callable = nn.initializers.variance_scaling(2.0, "fan_in", "normal")

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        cin = x.shape[-1]
        if cin % self.feature_group_count:
            raise ValueError(f"{cin} input channels not divisible into {self.feature_group_count} groups")
        shape = (*self.kernel_size, cin // self.feature_group_count, self.features)
        kernel = self.param("kernel", self.kernel_init, shape, jnp.float32)
        xq = _cast(quantize_act(x, self.act), self.dtype)
        wq = _cast(quantize_weight(kernel, self.weight, out_axis=-1), self.dtype)
        y = lax.conv_general_dilated(
            xq,
            wq,
            window_strides=self.strides,
            padding=self.padding,
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            feature_group_count=self.feature_group_count,
        )
        if self.use_bias:
            bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
            y = y + _cast(bias, y.dtype)
        return y


class QDense(nn.Module):
    """Dense layer (with bias) whose input and kernel are fake-quantized right before the dot."""

    features: int
    act: QSpec | None = None
    weight: QSpec | None = None
    dtype: Any = None
    kernel_init: Callable = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        xq = _cast(quantize_act(x, self.act), self.dtype)
        wq = _cast(quantize_weight(kernel, self.weight, out_axis=-1), self.dtype)
        y = lax.dot_general(xq, wq, (((x.ndim - 1,), (0,)), ((), ())))
        return y + _cast(bias, y.dtype)


def batch_norm(train: bool, name: str, zero_scale: bool = False) -> nn.BatchNorm:
    """The batch norm of both reference networks; ``zero_scale`` for a residual branch's last one."""
    return nn.BatchNorm(
        use_running_average=not train,
        momentum=0.9,
        epsilon=1e-5,
        scale_init=nn.initializers.zeros if zero_scale else nn.initializers.ones,
        name=name,
    )
