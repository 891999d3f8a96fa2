"""A stack of 6 identical W4A8 transformer feed-forward blocks run with ``jax.lax.scan``.

Scanning over stacked parameters (one leading axis of length ``LAYERS`` on
every weight) is how deep JAX models keep compile time flat. The jaxpr holds
the block once; acecost walks the scan body once and multiplies its cost by
the scan length, so the report shows each block's two matmuls with a x6
multiplier. Activations are 8-bit (dynamic per-tensor scale), weights 4-bit
(per-output-channel scale).

    acecost analyze examples/scan_layers.py
"""
import jax
import jax.numpy as jnp
from jax import lax

LAYERS = 6
TOKENS, WIDTH, HIDDEN = 64, 128, 512  # sequence length, model width, FFN width
BITS_A, BITS_W = 8, 4


def quantize(x: jax.Array, bits: int, reduce_axes: tuple[int, ...]) -> jax.Array:
    """Symmetric fake quantization; the scale is max|x| over ``reduce_axes``."""
    qmax = 2 ** (bits - 1) - 1
    scale = jnp.maximum(jnp.max(jnp.abs(x), axis=reduce_axes, keepdims=True), 1e-8) / qmax
    q = jnp.clip(x / scale, -qmax, qmax)
    q = q + lax.stop_gradient(jnp.round(q) - q)  # straight-through round
    return q * scale


def qmatmul(x: jax.Array, w: jax.Array) -> jax.Array:
    """x @ w with x quantized per tensor and w per output column."""
    return quantize(x, BITS_A, tuple(range(x.ndim))) @ quantize(w, BITS_W, (0,))


def init(key: jax.Array) -> dict:
    """Every block's weights stacked along a leading axis of length LAYERS."""
    k1, k2 = jax.random.split(key)
    return {"blocks": {
        "norm": jnp.ones((LAYERS, WIDTH)),
        "w_in": jax.random.normal(k1, (LAYERS, WIDTH, HIDDEN)) / jnp.sqrt(WIDTH),
        "b_in": jnp.zeros((LAYERS, HIDDEN)),
        "w_out": jax.random.normal(k2, (LAYERS, HIDDEN, WIDTH)) / jnp.sqrt(HIDDEN),
        "b_out": jnp.zeros((LAYERS, WIDTH)),
    }}


def block(x: jax.Array, p: dict) -> tuple[jax.Array, None]:
    """Pre-norm residual FFN: x + W_out gelu(W_in rmsnorm(x))."""
    h = x * lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + 1e-6) * p["norm"]
    with jax.named_scope("ffn_in"):
        h = jax.nn.gelu(qmatmul(h, p["w_in"]) + p["b_in"])
    with jax.named_scope("ffn_out"):
        h = qmatmul(h, p["w_out"]) + p["b_out"]
    return x + h, None


def forward(params: dict, x: jax.Array) -> jax.Array:
    x, _ = lax.scan(block, x, params["blocks"])
    return x


def acecost_model():
    params = jax.eval_shape(init, jax.random.key(0))
    tokens = jax.ShapeDtypeStruct((1, TOKENS, WIDTH), jnp.float32)
    return forward, (params, tokens)
