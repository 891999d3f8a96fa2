"""A binary MLP for MNIST (784-512-512-10), in plain JAX.

The hidden layer is a BNN layer in the style of Courbariaux et al. (2016):
its input activations and its weights are both binarized with ``sign`` and
a straight-through estimator, so its 512x512 MACs are XNOR-popcounts. The
first and last layers stay real-valued, as in most BNNs, and a per-feature
affine (batch norm folded for inference) sits between the layers.

    acecost analyze examples/binary_mlp.py

Expect 262,144 binary MACs (the hidden layer) beside 406,528 real-valued
MACs priced at 16 x 16 bits. The four warnings about fc1 and fc3 are
expected: those layers are real-valued by design.
"""
import jax
import jax.numpy as jnp
from jax import lax

BATCH = 1
SIZES = (784, 512, 512, 10)  # input, hidden, hidden, classes


def binarize(x: jax.Array) -> jax.Array:
    """sign(x) forward; gradient of clip(x, -1, 1) backward (the clipped STE).

    ``sign(0) = 0`` here, while binary kernels map 0 to +1; either way the
    operand has two levels in hardware.
    """
    clipped = jnp.clip(x, -1.0, 1.0)
    return clipped + lax.stop_gradient(jnp.sign(x) - clipped)


def init(key: jax.Array) -> dict:
    """Parameters: a kernel and bias per layer, a folded batch norm after each hidden layer."""
    params = {}
    keys = jax.random.split(key, len(SIZES) - 1)
    for i, (k, fin, fout) in enumerate(zip(keys, SIZES[:-1], SIZES[1:]), start=1):
        params[f"fc{i}"] = {
            "kernel": jax.random.normal(k, (fin, fout)) / jnp.sqrt(fin),
            "bias": jnp.zeros((fout,)),
        }
        if i < len(SIZES) - 1:
            params[f"bn{i}"] = {"scale": jnp.ones((fout,)), "shift": jnp.zeros((fout,))}
    return params


def forward(params: dict, images: jax.Array) -> jax.Array:
    x = images.reshape(images.shape[0], -1)
    # fc1: real-valued input and weights (the first layer sees raw pixels).
    x = x @ params["fc1"]["kernel"] + params["fc1"]["bias"]
    x = x * params["bn1"]["scale"] + params["bn1"]["shift"]
    # fc2: binary x binary -- both operands are sign()ed right before the dot.
    x = binarize(x) @ binarize(params["fc2"]["kernel"]) + params["fc2"]["bias"]
    x = x * params["bn2"]["scale"] + params["bn2"]["shift"]
    # fc3: the classifier stays real-valued.
    return x @ params["fc3"]["kernel"] + params["fc3"]["bias"]


def acecost_model():
    # eval_shape gives the parameters' shapes and dtypes without allocating them.
    params = jax.eval_shape(init, jax.random.key(0))
    images = jax.ShapeDtypeStruct((BATCH, 28, 28, 1), jnp.float32)
    return forward, (params, images)
