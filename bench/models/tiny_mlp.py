"""Two dense layers, (1x8) @ (8x4) @ (4x2): start-up cost with almost nothing to trace."""
import jax
import jax.numpy as jnp


def f(p, x):
    return (x @ p["fc1"]) @ p["fc2"]


def acecost_model():
    p = {"fc1": jax.ShapeDtypeStruct((8, 4), jnp.float32), "fc2": jax.ShapeDtypeStruct((4, 2), jnp.float32)}
    return f, (p, jax.ShapeDtypeStruct((1, 8), jnp.float32))
