"""A small Flax linen CNN for 32x32 RGB images with 8-bit and 4-bit fake quantization.

Mixed precision as it is usually done: the first conv and the classifier
are w8a8 (they are the most sensitive layers), the middle convs are w4a4.
Weights use a per-output-channel scale (max|w| per channel), activations a
learned per-tensor step size (LSQ style). Rounding passes gradients straight
through. acecost reads each operand's bit-width from the clip + round in the
traced graph; nothing is tagged.

    acecost analyze examples/quantized_cnn.py
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax


def fake_quant(x: jax.Array, step: jax.Array, bits: int, signed: bool) -> jax.Array:
    """Round ``x / step`` to a ``bits``-bit integer grid and scale back.

    Signed: symmetric levels -(2^(b-1)-1) .. 2^(b-1)-1; unsigned (after a
    ReLU): 0 .. 2^b - 1.
    """
    lo, hi = (-(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    q = jnp.clip(x / step, lo, hi)
    q = q + lax.stop_gradient(jnp.round(q) - q)  # straight-through round
    return q * step


def weight_step(kernel: jax.Array, bits: int) -> jax.Array:
    """Per-output-channel step: max|w| over every axis but the last (the output channels)."""
    amax = jnp.max(jnp.abs(kernel), axis=tuple(range(kernel.ndim - 1)), keepdims=True)
    return jnp.maximum(amax, 1e-8) / (2 ** (bits - 1) - 1)


class QConv(nn.Module):
    """3x3 SAME conv with fake-quantized input and kernel."""

    features: int
    bits_w: int
    bits_a: int
    signed_input: bool = False
    stride: int = 1

    @nn.compact
    def __call__(self, x):
        kernel = self.param("kernel", nn.initializers.he_normal(), (3, 3, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        a_step = self.param("a_step", nn.initializers.constant(0.05), ())
        xq = fake_quant(x, a_step, self.bits_a, self.signed_input)
        wq = fake_quant(kernel, weight_step(kernel, self.bits_w), self.bits_w, signed=True)
        y = lax.conv_general_dilated(xq, wq, (self.stride, self.stride), "SAME",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return y + bias


class QDense(nn.Module):
    """Dense layer with fake-quantized input (after a ReLU: unsigned) and kernel."""

    features: int
    bits_w: int
    bits_a: int

    @nn.compact
    def __call__(self, x):
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        a_step = self.param("a_step", nn.initializers.constant(0.05), ())
        xq = fake_quant(x, a_step, self.bits_a, signed=False)
        wq = fake_quant(kernel, weight_step(kernel, self.bits_w), self.bits_w, signed=True)
        return xq @ wq + bias


class CNN(nn.Module):
    classes: int = 10

    @nn.compact
    def __call__(self, x):
        x = nn.relu(QConv(32, bits_w=8, bits_a=8, signed_input=True, name="conv1")(x))  # 32x32x32
        x = nn.relu(QConv(64, bits_w=4, bits_a=4, stride=2, name="conv2")(x))  # 16x16x64
        x = nn.relu(QConv(64, bits_w=4, bits_a=4, stride=2, name="conv3")(x))  # 8x8x64
        x = jnp.mean(x, axis=(1, 2))  # global average pool -> 64
        return QDense(self.classes, bits_w=8, bits_a=8, name="head")(x)


def acecost_model():
    model = CNN()
    images = jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32)
    # Abstract init: shapes and dtypes only, no weights are allocated.
    variables = jax.eval_shape(model.init, jax.random.key(0), images)
    return model.apply, (variables, images)
