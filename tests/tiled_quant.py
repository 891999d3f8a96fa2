"""Fake quantization by tiles of one axis, shared by the group-block tests."""
from __future__ import annotations

import jax.numpy as jnp

F32 = jnp.float32


def fake_quant(x, tile: int, axis: int):
    """int8 fake quantization with one absmax scale per ``tile`` entries along ``axis``
    (``tile = x.shape[axis]``: one scale per row, the rest of the axes)."""
    x = jnp.moveaxis(x, axis, -1)
    shape = x.shape
    t = x.reshape(*shape[:-1], shape[-1] // tile, tile)
    s = jnp.max(jnp.abs(t), axis=-1, keepdims=True) / 127.5
    q = jnp.clip(jnp.round(t / s), -128, 127).astype(jnp.int8).astype(F32)
    return jnp.moveaxis((q * s).reshape(shape), -1, axis)
