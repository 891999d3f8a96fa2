"""A Flax NNX MLP (784-256-256-10) quantized W4A8 through nnx.Linear's ``dot_general`` hook.

Each ``nnx.Linear`` gets a quantizing ``dot_general``: the input is rounded
to 8 bits with a dynamic per-tensor scale (max|x|), the kernel to 4 bits
with a per-output-channel scale (max|w| over the contracting axis). The
model is built with ``nnx.eval_shape``, so no weights are allocated, and
split into a graph definition and an abstract state; acecost names the
layers after the state's paths (``fc1``, ``fc2``, ``head``).

    acecost analyze examples/nnx_mlp.py
"""
import functools

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

BATCH = 1
SIZES = (784, 256, 256, 10)
BITS_A, BITS_W = 8, 4


def quantize(x: jax.Array, bits: int, reduce_axes: tuple[int, ...]) -> jax.Array:
    """Symmetric fake quantization to 2^(bits-1)-1 levels each side of zero.

    The scale is max|x| over ``reduce_axes``, so it varies only along the
    axes that are kept; rounding passes gradients straight through.
    """
    qmax = 2 ** (bits - 1) - 1
    scale = jnp.maximum(jnp.max(jnp.abs(x), axis=reduce_axes, keepdims=True), 1e-8) / qmax
    q = jnp.clip(x / scale, -qmax, qmax)
    q = q + lax.stop_gradient(jnp.round(q) - q)
    return q * scale


def quantized_dot_general(lhs, rhs, dimension_numbers, *, bits_a, bits_w, **kwargs):
    """``lax.dot_general`` on quantized operands: activations per tensor, weights per output channel."""
    (_, rhs_contracting), _ = dimension_numbers
    lhs_q = quantize(lhs, bits_a, tuple(range(lhs.ndim)))
    rhs_q = quantize(rhs, bits_w, tuple(rhs_contracting))
    return lax.dot_general(lhs_q, rhs_q, dimension_numbers, **kwargs)


class QuantMLP(nnx.Module):
    def __init__(self, sizes=SIZES, *, rngs: nnx.Rngs):
        dot = functools.partial(quantized_dot_general, bits_a=BITS_A, bits_w=BITS_W)
        self.fc1 = nnx.Linear(sizes[0], sizes[1], dot_general=dot, rngs=rngs)
        self.fc2 = nnx.Linear(sizes[1], sizes[2], dot_general=dot, rngs=rngs)
        self.head = nnx.Linear(sizes[2], sizes[3], dot_general=dot, rngs=rngs)

    def __call__(self, x):
        x = nnx.relu(self.fc1(x))
        x = nnx.relu(self.fc2(x))
        return self.head(x)


def acecost_model():
    # nnx.eval_shape builds the module with ShapeDtypeStruct leaves instead of weights.
    abstract = nnx.eval_shape(lambda: QuantMLP(rngs=nnx.Rngs(0)))
    graphdef, state = nnx.split(abstract)

    def forward(state, x):
        return nnx.merge(graphdef, state)(x)

    return forward, (state, jax.ShapeDtypeStruct((BATCH, SIZES[0]), jnp.float32))
