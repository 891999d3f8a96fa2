"""An int8 LeNet-5 as a plain Flax linen Module: no acecost_model(), just the class.

    acecost analyze examples/linen_module.py --input-shape 1,28,28,1

acecost finds the one Module class in the file, builds abstract variables
with ``jax.eval_shape(LeNet().init, ...)`` for the given input shape and
analyses ``LeNet().apply``. The layers are stock ``nn.Conv``/``nn.Dense``
whose convolution/matmul is swapped for an integer one: both operands are
rounded to int8 (dynamic per-tensor activation scale, per-output-channel
weight scale) and accumulated in int32, as an int8 inference engine would.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax


def to_int8(x: jax.Array, reduce_axes: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
    """(int8 values in [-127, 127], float scale) with x ~= values * scale."""
    scale = jnp.maximum(jnp.max(jnp.abs(x), axis=reduce_axes, keepdims=True), 1e-8) / 127
    return jnp.round(jnp.clip(x / scale, -127, 127)).astype(jnp.int8), scale


def int8_conv(lhs, rhs, *args, **kwargs):
    """Drop-in for lax.conv_general_dilated (NHWC input, HWIO kernel) on int8 operands."""
    x, sx = to_int8(lhs, tuple(range(lhs.ndim)))
    w, sw = to_int8(rhs, tuple(range(rhs.ndim - 1)))
    kwargs.pop("preferred_element_type", None)
    acc = lax.conv_general_dilated(x, w, *args, preferred_element_type=jnp.int32, **kwargs)
    return acc.astype(lhs.dtype) * sx * sw.reshape(-1)


def int8_dot(lhs, rhs, dimension_numbers, **kwargs):
    """Drop-in for lax.dot_general (x @ kernel) on int8 operands."""
    x, sx = to_int8(lhs, tuple(range(lhs.ndim)))
    w, sw = to_int8(rhs, (0,))
    kwargs.pop("preferred_element_type", None)
    acc = lax.dot_general(x, w, dimension_numbers, preferred_element_type=jnp.int32, **kwargs)
    return acc.astype(lhs.dtype) * sx * sw.reshape(-1)


class LeNet(nn.Module):
    classes: int = 10

    @nn.compact
    def __call__(self, x):
        conv = dict(kernel_size=(5, 5), padding="VALID", conv_general_dilated=int8_conv)
        x = nn.relu(nn.Conv(6, name="conv1", **conv)(x))  # 28x28x1 -> 24x24x6
        x = nn.max_pool(x, (2, 2), (2, 2))  # -> 12x12x6
        x = nn.relu(nn.Conv(16, name="conv2", **conv)(x))  # -> 8x8x16
        x = nn.max_pool(x, (2, 2), (2, 2))  # -> 4x4x16
        x = x.reshape(x.shape[0], -1)  # -> 256
        x = nn.relu(nn.Dense(120, dot_general=int8_dot, name="fc1")(x))
        x = nn.relu(nn.Dense(84, dot_general=int8_dot, name="fc2")(x))
        return nn.Dense(self.classes, dot_general=int8_dot, name="fc3")(x)
