"""Shared helpers of the corpus: abstract arguments, closed forms, checks.

Every corpus model is written by another project and installed from the
package registry (the ``corpus`` extra). It is built abstractly (configs,
``_do_init=False``, ``jax.eval_shape`` of its own init; nothing downloaded,
nothing run) and its totals are compared with numbers computed here from its
configuration alone, never with acecost's own output.

Conventions of the expected numbers (docs/metrics.md):

- MACs: one per multiply-accumulate of a dot/conv; convs count padded taps.
- ACE: a float operand with no quantizer counts 16 bits, so a float model
  has ``ACE = 256 * MACs``.
- Size: a parameter leaf that enters a contraction counts the width of that
  operand (16 for a float kernel, 8 for an int8 one); every other leaf (biases,
  norms, embedding tables used only by lookups, batch statistics, scales)
  counts its dtype width, 32 for float32.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import pytest

FLOAT_BITS = 16
F32 = 32


def need(module: str) -> None:
    """Skip when a corpus package is missing (``pip install 'acecost[corpus]'``)."""
    pytest.importorskip(module, reason=f"{module} is not installed (pip install 'acecost[corpus]')")


def sds(shape, dtype=jnp.float32) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(tuple(shape), jnp.dtype(dtype))


def abstract(tree):
    """Plain ``ShapeDtypeStruct`` leaves of an ``eval_shape`` result."""
    return jax.tree.map(lambda a: sds(a.shape, a.dtype), tree)


def causal_lm(model, batch: int, seq: int):
    """A Flax causal LM module's abstract variables (``eval_shape`` of its own
    init on ``batch x seq`` token ids) and ``fn(variables, input_ids,
    attention_mask)`` applying it at positions ``0 .. T-1``."""
    zeros, positions = jnp.zeros((batch, seq), jnp.int32), jnp.broadcast_to(jnp.arange(seq), (batch, seq))
    variables = abstract(jax.eval_shape(
        lambda k: model.init(k, zeros, zeros + 1, positions, deterministic=True), jax.random.PRNGKey(0)))

    def fn(variables, input_ids, attention_mask):
        positions = jnp.broadcast_to(jnp.arange(input_ids.shape[1]), input_ids.shape)
        return model.apply(variables, input_ids, attention_mask, positions, deterministic=True)

    return fn, variables


def hf_flax(cls_name: str, config, input_shape):
    """A transformers Flax model built with no init run (``_do_init=False``), and its abstract
    parameters from ``jax.eval_shape`` of its own ``init_weights``."""
    import functools

    need("transformers")
    import transformers

    model = getattr(transformers, cls_name)(config, _do_init=False)
    init = functools.partial(model.init_weights, input_shape=input_shape)
    return model, abstract(jax.eval_shape(init, jax.random.PRNGKey(0)))


def leaf_count(tree) -> int:
    """Number of scalars in a parameter tree (counted, not costed)."""
    return sum(math.prod(a.shape) for a in jax.tree.leaves(tree))


# ------------------------------------------------------------ closed forms

def dense(rows: int, fin: int, fout: int) -> int:
    """MACs of ``rows`` vectors through a ``fin -> fout`` matrix."""
    return rows * fin * fout


def attention(batch: int, heads: int, tq: int, tk: int, head_dim: int) -> int:
    """MACs of ``q @ k.T`` plus ``p @ v`` for every head."""
    return 2 * batch * heads * tq * tk * head_dim


def conv_out(size: int, k: int, stride: int, pad_total: int) -> int:
    return (size + pad_total - k) // stride + 1


@dataclass
class Layers:
    """Running sums of a network's contractions: MACs and kernel scalars."""

    macs: int = 0
    kernels: int = 0

    def conv(self, n: int, h_out: int, w_out: int, cin: int, cout: int, kh: int, kw: int) -> None:
        self.macs += n * h_out * w_out * cout * kh * kw * cin
        self.kernels += kh * kw * cin * cout

    def dense(self, rows: int, fin: int, fout: int) -> None:
        self.macs += dense(rows, fin, fout)
        self.kernels += fin * fout


def resnet(image: int, blocks, bottleneck: bool, classes: int, batch: int = 1,
           widths=(64, 128, 256, 512)) -> Layers:
    """ResNet v1.5 from its definition (He et al.; stride on the 3x3 conv).

    Stem 7x7/2 (pad 3) to 64 channels, 3x3/2 max pool, stages of basic
    (3x3, 3x3) or bottleneck (1x1, 3x3, 1x1 x4) blocks whose first block
    strides by 2 from the second stage on and projects the shortcut with a
    1x1 conv when the shape changes, global average pool, dense classifier.
    """
    net = Layers()
    h = conv_out(image, 7, 2, 6)
    net.conv(batch, h, h, 3, 64, 7, 7)
    h = conv_out(h, 3, 2, 2)
    cin = 64
    for stage, (n, w) in enumerate(zip(blocks, widths)):
        for b in range(n):
            stride = 2 if stage > 0 and b == 0 else 1
            ho = conv_out(h, 3, stride, 2)
            cout = 4 * w if bottleneck else w
            if bottleneck:
                net.conv(batch, h, h, cin, w, 1, 1)
                net.conv(batch, ho, ho, w, w, 3, 3)
                net.conv(batch, ho, ho, w, cout, 1, 1)
            else:
                net.conv(batch, ho, ho, cin, w, 3, 3)
                net.conv(batch, ho, ho, w, w, 3, 3)
            if b == 0 and (stride != 1 or cin != cout):
                net.conv(batch, ho, ho, cin, cout, 1, 1)
            cin, h = cout, ho
    net.dense(batch, cin, classes)
    return net


# ------------------------------------------------------------------ checks

def float_size(kernels: int, all_params: int, bits: int = FLOAT_BITS) -> int:
    """Size of a model whose ``kernels`` scalars enter contractions at ``bits``
    and whose other float32 scalars count 32 bits each."""
    return bits * kernels + F32 * (all_params - kernels)


def check(rep, *, macs: int, ace: int | None = None, size_bits: int | None = None,
          binary_macs: int = 0) -> None:
    """Totals against independent numbers; the analysis must be complete."""
    assert rep.totals.complete, (rep.unsupported, [w for w in rep.warnings if "PER ITERATION" in w])
    assert rep.totals.macs == macs
    assert rep.totals.binary_macs == binary_macs
    if ace is not None:
        assert rep.totals.ace == ace, sorted({(r.bits_a, r.bits_w) for r in rep.layers})
    if size_bits is not None:
        assert rep.totals.size_bits == size_bits
