"""Keras 3 on the JAX backend: keras-hub's BERT encoder and GPT-2 decoder LM.

Both are built from small configs (nothing downloaded) and analysed through
``stateless_call`` (:func:`acecost.keras_target`), in float and after
``model.quantize(mode)`` for each of Keras' modes. What Keras 3.15 does in
each mode (keras/src/layers/core/dense.py, einsum_dense.py, embedding.py,
reversible_embedding.py):

- ``int8``: kernels int8 with a per-output-channel scale; the inputs of every
  Dense/EinsumDense (and of the tied LM head) are quantized per row by
  ``AbsMaxQuantizer`` to [-127, 127]: 8 x 8 bits. Embedding tables int8.
- ``int4``: kernels are 4-bit codes in [-8, 7], packed two per int8 byte
  (``(rows, ceil(cols / 2))``), with a float32 scale, an int8 zero point per
  128-row group and a float32 ``g_idx``; inputs stay float (weight-only):
  16 x 4 bits. Embedding tables likewise packed. ``Int4QuantizationConfig(
  block_size=-1)`` ("int4-channel" here) keeps one scale per output channel
  and no zero point.
- ``float8``: inputs and kernels quantized to float8_e4m3fn with per-tensor
  scales, computed in float: 8 x 8 bits; embeddings are not quantized.

The attention score and value einsums are never quantized (16 x 16). The
expected figures below are computed from the configs alone.
"""
from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field

import jax.numpy as jnp
import pytest

import acecost
from corpus_common import F32, FLOAT_BITS, attention, dense, sds

pytestmark = [pytest.mark.skipif(importlib.util.find_spec("keras_hub") is None,
                                 reason="keras-hub is not installed (pip install 'acecost[keras]')"),
              pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]

V, L, H, D, FF, P, SEGMENTS = 96, 2, 2, 32, 64, 16, 2  # vocabulary, layers, heads, width, MLP, positions
B, S = 2, 8  # batch, sequence length
#: Keras' modes; "int4-channel" is int4 with one scale per output channel (block_size=-1), no groups
MODES = ("float", "int8", "int4", "int4-channel", "float8")
#: (activation, weight) bits of a quantized Dense/EinsumDense in each mode
DENSE_BITS = {"float": (FLOAT_BITS, FLOAT_BITS), "int8": (8, 8), "int4": (FLOAT_BITS, 4),
              "int4-channel": (FLOAT_BITS, 4), "float8": (8, 8)}
#: the tied LM head (ReversibleEmbedding(reverse=True)): float8 does not quantize embeddings
HEAD_BITS = {**DENSE_BITS, "float8": (FLOAT_BITS, FLOAT_BITS)}


# ---------------------------------------------------------------- closed forms

@dataclass
class Expected:
    layers: list = field(default_factory=list)  # (keras layer path, MACs, bits_a, bits_w)
    size_bits: int = 0
    params: int = 0

    def param(self, scalars: int, bits: int) -> None:
        self.size_bits += scalars * bits
        self.params += scalars

    @property
    def macs(self) -> int:
        return sum(m for _, m, _, _ in self.layers)

    @property
    def ace(self) -> int:
        return sum(m * a * w for _, m, a, w in self.layers)


def kernel(exp: Expected, mode: str, name: str, rows: int, fin: int, fout: int) -> None:
    """A Dense/EinsumDense ``fin -> fout`` with a bias, applied to ``rows`` vectors."""
    exp.layers.append((name, dense(rows, fin, fout), *DENSE_BITS[mode]))
    if mode == "float":
        exp.param(fin * fout, FLOAT_BITS)
    elif mode == "int8":
        exp.param(fin * fout, 8)
        exp.param(fout, F32)  # kernel_scale
    elif mode.startswith("int4"):
        exp.param(fin * fout // 2, 8)  # two 4-bit codes per int8: 4 bits a weight
        exp.param(fout, F32)  # kernel_scale (one 128-row group: fin <= 128)
        if mode == "int4":
            exp.param(fout, 8)  # kernel_zero (int8)
            exp.param(fin, F32)  # g_idx
    else:
        exp.param(fin * fout, 8)  # float32 kernel, entering the product as float8
        exp.param(2, F32)  # inputs_scale, kernel_scale (the amax histories are unused)
    exp.param(fout, F32)  # bias


def table(exp: Expected, mode: str, rows: int, in_dot: bool = False) -> None:
    """An embedding table of ``rows`` x D (Embedding, ReversibleEmbedding)."""
    if mode in ("float", "float8"):
        exp.param(rows * D, FLOAT_BITS if in_dot else F32)
    elif mode == "int8":
        exp.param(rows * D, 8)
        exp.param(rows, F32)  # embeddings_scale
    else:
        exp.param(rows * D // 2, 8)
        exp.param(rows, F32)  # embeddings_scale (per row; one group along D)
        if mode == "int4":
            exp.param(rows, 8)  # embeddings_zero
            exp.param(D, F32)  # g_idx


def block(exp: Expected, mode: str, prefix: str, attn: str) -> None:
    """A post- or pre-LN transformer block: q, k, v, attention, output, two-layer MLP, two LayerNorms."""
    rows = B * S
    for proj in ("query", "key", "value"):
        kernel(exp, mode, f"{prefix}/{attn}/{proj}", rows, D, D)
    score = attention(B, H, S, S, D // H) // 2
    exp.layers += [(f"{prefix}/{attn}", score, FLOAT_BITS, FLOAT_BITS)] * 2
    kernel(exp, mode, f"{prefix}/{attn}/attention_output", rows, D, D)
    kernel(exp, mode, f"{prefix}/feedforward_intermediate_dense", rows, D, FF)
    kernel(exp, mode, f"{prefix}/feedforward_output_dense", rows, FF, D)
    exp.param(2 * 2 * D, F32)  # two LayerNorms (gamma, beta)


def bert_expected(mode: str) -> Expected:
    exp = Expected()
    table(exp, mode, V)  # token_embedding: lookups only (the backbone has no LM head)
    table(exp, mode, SEGMENTS)
    exp.param(P * D, F32)  # position_embedding (not quantizable)
    exp.param(2 * D, F32)  # embeddings_layer_norm
    for i in range(L):
        block(exp, mode, f"transformer_layer_{i}", "self_attention_layer")
    kernel(exp, mode, "pooled_dense", B, D, D)  # on the first token
    return exp


def gpt2_expected(mode: str) -> Expected:
    exp = Expected()
    for i in range(L):
        block(exp, mode, f"gpt2_backbone/transformer_layer_{i}", "self_attention")
    exp.layers.append(("token_embedding", dense(B * S, D, V), *HEAD_BITS[mode]))  # tied LM head
    table(exp, mode, V, in_dot=True)
    exp.param(P * D, F32)  # position_embedding
    exp.param(2 * D, F32)  # final layer_norm
    return exp


def test_closed_forms_by_hand():
    """Spot checks of the formulas against numbers worked out by hand."""
    per_layer = 4 * 16 * 32 * 32 + 2 * 2 * 2 * 8 * 8 * 16 + 2 * 16 * 32 * 64
    assert per_layer == 65_536 + 8_192 + 65_536
    assert bert_expected("float").macs == 2 * per_layer + 2 * 32 * 32 == 280_576
    assert gpt2_expected("float").macs == 2 * per_layer + 16 * 32 * 96
    assert bert_expected("float").ace == 256 * bert_expected("float").macs


# -------------------------------------------------------------------- models

def build(kind: str, mode: str):
    import keras_hub

    if kind == "bert":
        model = keras_hub.models.BertBackbone(vocabulary_size=V, num_layers=L, num_heads=H, hidden_dim=D,
                                              intermediate_dim=FF, max_sequence_length=P,
                                              num_segments=SEGMENTS)
        inputs = {"token_ids": sds((B, S), jnp.int32), "segment_ids": sds((B, S), jnp.int32),
                  "padding_mask": sds((B, S), jnp.int32)}
    else:
        # named: Keras numbers unnamed models per process (gpt2_backbone_3), and the scope is the name
        backbone = keras_hub.models.GPT2Backbone(vocabulary_size=V, num_layers=L, num_heads=H, hidden_dim=D,
                                                 intermediate_dim=FF, max_sequence_length=P,
                                                 name="gpt2_backbone")
        model = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
        inputs = {"token_ids": sds((B, S), jnp.int32), "padding_mask": sds((B, S), jnp.int32)}
    if mode == "int4-channel":
        from keras.quantizers import Int4QuantizationConfig

        model.quantize("int4", config=Int4QuantizationConfig(block_size=-1))
    elif mode != "float":
        model.quantize(mode)
    return model, inputs


_REPORTS: dict = {}


def report(kind: str, mode: str):
    if (kind, mode) not in _REPORTS:
        model, inputs = build(kind, mode)
        paths = {v.path for v in model.variables}
        _REPORTS[kind, mode] = (acecost.analyze_target(acecost.keras_target(model, inputs)), paths)
    return _REPORTS[kind, mode]


EXPECTED = {"bert": bert_expected, "gpt2": gpt2_expected}
SPEC = re.compile(r"/[A-Za-z]+(,[A-Za-z]+)*->[A-Za-z]+$")  # jnp.einsum's own scope, under the layer's


def layer_rows(rep):
    return [(SPEC.sub("", r.name), r.macs, r.bits_a, r.bits_w) for r in rep.layers]


def check_structure(rep, paths, exp: Expected) -> None:
    """MACs, size and names: Keras' layer paths for contractions, its variable paths for parameters."""
    assert rep.totals.complete, rep.unsupported
    assert [(n, m) for n, m, _, _ in layer_rows(rep)] == [(n, m) for n, m, _, _ in exp.layers]
    assert rep.totals.macs == exp.macs
    assert (rep.totals.size_bits, rep.totals.params) == (exp.size_bits, exp.params)
    assert {p.path for p in rep.params} <= paths


@pytest.mark.parametrize("kind", ["bert", "gpt2"])
@pytest.mark.parametrize("mode", MODES)
def test_macs_size_and_names(kind, mode):
    rep, paths = report(kind, mode)
    check_structure(rep, paths, EXPECTED[kind](mode))


@pytest.mark.parametrize("kind", ["bert", "gpt2"])
@pytest.mark.parametrize("mode", MODES)
def test_widths_and_ace(kind, mode):
    rep, _ = report(kind, mode)
    exp = EXPECTED[kind](mode)
    assert layer_rows(rep) == exp.layers
    assert rep.totals.ace == exp.ace


def test_unused_variables_are_named_by_their_keras_paths():
    """Dropout's seed states (the embeddings' and three per layer) are read by nothing in
    inference: named, not counted."""
    rep, _ = report("bert", "float")
    unused = [w for w in rep.warnings if "never used" in w]
    assert len(unused) == 1 and f"{1 + 3 * L} parameter leaves ({2 * (1 + 3 * L)} values" in unused[0]
    assert "seed_generator/seed_generator_state" in unused[0]
