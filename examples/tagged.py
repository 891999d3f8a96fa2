"""Declaring bit-widths with ``acecost.tag`` where the graph cannot show them.

An MLP (512-256-10) with two quantizers, one of which acecost cannot see through:

* activations go through a learned 16-entry codebook (non-uniform, soft-to-hard
  vector quantization): the hard assignment is a one-hot weighted *sum* of
  codebook entries, and a sum has no level structure in the graph, so
  acecost would price the operand as a 16-bit float;
* weights are stored as packed int4 (two nibbles per uint8 byte, the format
  of an external int4 kernel), unpacked with a mask and a shift; acecost
  proves their 16 levels from those bit operations on its own, so the tag on
  the weights only says the same.

``acecost.tag(x, bits=4)`` is the identity (on values and gradients) and
tells acecost the true width. ``acecost_model(tagged=False)`` builds the same
model without tags, to compare what acecost infers on its own.

    acecost analyze examples/tagged.py
"""
import jax
import jax.numpy as jnp
from jax import lax

import acecost

BATCH = 1
SIZES = (512, 256, 10)
CODEBOOK = 16  # activation levels: 4 bits
TEMPERATURE = 0.1


def codebook_quantize(x: jax.Array, codebook: jax.Array) -> jax.Array:
    """Nearest codebook entry forward; softmax-weighted entries backward.

    The soft assignment keeps the codebook trainable; the straight-through
    trick makes the forward value the hard (nearest-entry) one.
    """
    dist = jnp.abs(x[..., None] - codebook)
    soft = jnp.sum(jax.nn.softmax(-dist / TEMPERATURE, axis=-1) * codebook, axis=-1)
    hard = jnp.sum(jax.nn.one_hot(jnp.argmin(dist, axis=-1), CODEBOOK) * codebook, axis=-1)
    return soft + lax.stop_gradient(hard - soft)


def unpack_int4(packed: jax.Array, scale: jax.Array) -> jax.Array:
    """(in/2, out) uint8 bytes -> (in, out) float weights in scale * [-8, 7]."""
    low = (packed & 0xF).astype(jnp.int8) - 8
    high = (packed >> 4).astype(jnp.int8) - 8
    w = jnp.stack([low, high], axis=1).reshape(-1, packed.shape[-1])
    return w.astype(jnp.float32) * scale


def init(key: jax.Array) -> dict:
    params = {}
    for i, (fin, fout) in enumerate(zip(SIZES[:-1], SIZES[1:]), start=1):
        key, k = jax.random.split(key)
        params[f"fc{i}"] = {
            "packed": jax.random.bits(k, (fin // 2, fout), jnp.uint8),
            "scale": jnp.full((fout,), 0.02),
            "bias": jnp.zeros((fout,)),
            "codebook": jnp.linspace(-1.0, 1.0, CODEBOOK),
        }
    return params


def make_forward(tagged: bool):
    def dense(p: dict, x: jax.Array) -> jax.Array:
        xq = codebook_quantize(x, p["codebook"])
        wq = unpack_int4(p["packed"], p["scale"])
        if tagged:
            xq, wq = acecost.tag(xq, bits=4), acecost.tag(wq, bits=4)
        return xq @ wq + p["bias"]

    def forward(params: dict, x: jax.Array) -> jax.Array:
        with jax.named_scope("fc1"):
            x = jax.nn.relu(dense(params["fc1"], x))
        with jax.named_scope("fc2"):
            return dense(params["fc2"], x)

    return forward


def acecost_model(tagged: bool = True):
    params = jax.eval_shape(init, jax.random.key(0))
    features = jax.ShapeDtypeStruct((BATCH, SIZES[0]), jnp.float32)
    return make_forward(tagged), (params, features)
