"""penzai's Llama-like transformer, built from its own config.

The model is built once with ``init_base_rng=None`` (parameter slots, no
values) and its parameters come from ``jax.eval_shape`` of a build with a key,
unbound and frozen; the traced function binds them into the slots. Same
config as the Hugging Face Llama of test_corpus_transformers: same MACs.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import acecost
from corpus_common import FLOAT_BITS, attention, check, dense, float_size, leaf_count, need, sds

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

B, T = 2, 8
D, KV, Q_PER_KV, HEAD_DIM, HIDDEN, LAYERS, VOCAB = 32, 2, 2, 8, 48, 2, 64
HEADS = KV * Q_PER_KV
ACE = FLOAT_BITS * FLOAT_BITS


def penzai_llama(layer_stack: bool = False):
    need("penzai")
    from penzai import pz
    from penzai.models.transformer.variants import llamalike_common as llamalike

    config = llamalike.LlamalikeTransformerConfig(
        num_kv_heads=KV, query_head_multiplier=Q_PER_KV, embedding_dim=D, projection_dim=HEAD_DIM,
        mlp_hidden_dim=HIDDEN, num_decoder_blocks=LAYERS, vocab_size=VOCAB, mlp_variant="swiglu",
        tie_embedder_and_logits=False, use_layer_stack=layer_stack)
    slots = llamalike.build_llamalike_transformer(config, init_base_rng=None)
    params = jax.eval_shape(
        lambda key: pz.unbind_params(llamalike.build_llamalike_transformer(config, init_base_rng=key), freeze=True)[1],
        jax.random.key(0))

    def fn(params, tokens):
        model = pz.bind_variables(slots, params, unfreeze_as_copy=True)
        return model(pz.nx.wrap(tokens).tag("batch", "seq")).unwrap("batch", "seq", "vocabulary")

    return fn, params


def expected():
    rows = B * T
    layer = (dense(rows, D, HEADS * HEAD_DIM) + 2 * dense(rows, D, KV * HEAD_DIM) + dense(rows, HEADS * HEAD_DIM, D)
             + 3 * dense(rows, D, HIDDEN) + attention(B, HEADS, T, T, HEAD_DIM))
    macs = LAYERS * layer + dense(rows, D, VOCAB)
    kernels = LAYERS * (2 * D * HEADS * HEAD_DIM + 2 * D * KV * HEAD_DIM + 3 * D * HIDDEN) + D * VOCAB
    return macs, kernels


NORMS = 2 * LAYERS + 1  # RMS norms: two per block and a final one


def test_penzai_llamalike_totals():
    fn, params = penzai_llama()
    rep = acecost.analyze(fn, params, sds((B, T), jnp.int32))
    macs, kernels = expected()
    check(rep, macs=macs, ace=ACE * macs, size_bits=float_size(kernels, leaf_count(params)))


def test_penzai_llamalike_contractions():
    # the norms' scale products (a dot_general with no contracting dimension)
    # are elementwise work, not contractions; every real contraction is found
    # with its exact MACs
    fn, params = penzai_llama()
    rep = acecost.analyze(fn, params, sds((B, T), jnp.int32))
    scales = [r for r in rep.layers if len(r.rhs_shape) == 1]
    contractions = [r for r in rep.layers if len(r.rhs_shape) > 1]
    assert not scales
    assert rep.elementwise_by_category.get("arithmetic", 0) >= NORMS * B * T * D
    assert sum(r.macs for r in contractions) == expected()[0]
    assert all((r.bits_a, r.bits_w) == (FLOAT_BITS, FLOAT_BITS) for r in contractions)


def test_penzai_llamalike_contractions_have_distinct_names():
    fn, params = penzai_llama()
    rep = acecost.analyze(fn, params, sds((B, T), jnp.int32))
    names = [r.name for r in rep.layers]
    assert len(set(names)) == len(names), names


def test_penzai_llamalike_layer_stack_is_a_loop_of_the_same_cost():
    # use_layer_stack=True runs the blocks as a scan over stacked parameters:
    # the loop body counts once per block, the totals equal the unrolled model
    fn, params = penzai_llama(layer_stack=True)
    rep = acecost.analyze(fn, params, sds((B, T), jnp.int32))
    assert [(loop["kind"], loop["trips"], loop["exact"]) for loop in rep.loops] == [("scan", LAYERS, True)]
    contractions = [r for r in rep.layers if len(r.rhs_shape) > 1]
    assert sum(r.macs for r in contractions) == expected()[0]
    assert leaf_count(params) == leaf_count(penzai_llama()[1])
