"""An Equinox MLP with 4-bit weights and 8-bit activations.

Equinox models are pytrees: ``eqx.filter_eval_shape`` builds one without
allocating, ``eqx.partition`` splits it into arrays (the parameters) and the
static rest, and acecost names each layer by its attribute path
(``layers/0``, ``layers/1``, ...).

    acecost analyze examples/equinox_mlp.py
"""
import equinox as eqx
import jax
import jax.numpy as jnp

import acecost


def quantize(x, bits, axis=None):
    """Symmetric fake quantization with a straight-through gradient."""
    top = 2 ** (bits - 1) - 1
    scale = jnp.max(jnp.abs(x), axis=axis, keepdims=axis is not None) / top + 1e-8
    q = jnp.round(jnp.clip(x / scale, -top, top)) * scale
    return x + jax.lax.stop_gradient(q - x)


class QLinear(eqx.Module):
    weight: jax.Array
    bias: jax.Array

    def __init__(self, d_in, d_out, key):
        self.weight = jax.random.normal(key, (d_in, d_out)) / d_in ** 0.5
        self.bias = jnp.zeros((d_out,))

    def __call__(self, x):
        w = quantize(self.weight, 4, axis=0)  # per-output-channel scale
        return quantize(x, 8) @ w + self.bias


class MLP(eqx.Module):
    layers: list

    def __init__(self, key, dims=(256, 128, 64, 10)):
        keys = jax.random.split(key, len(dims) - 1)
        self.layers = [QLinear(a, b, k) for a, b, k in zip(dims[:-1], dims[1:], keys)]

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = jax.nn.relu(layer(x))
        return self.layers[-1](x)


def acecost_model():
    model = eqx.filter_eval_shape(MLP, jax.random.key(0))  # shapes only
    params, static = eqx.partition(model, lambda leaf: isinstance(leaf, jax.ShapeDtypeStruct))

    def apply(params, x):
        return eqx.combine(params, static)(x)

    return acecost.Target(apply, (params, jax.ShapeDtypeStruct((8, 256), jnp.float32)))
