"""Hugging Face Flax models whose attention is not one dense T x T product:
BigBird's block-sparse attention, GPT-Neo's alternating global and local
layers, T5's relative position bias and gated feed-forward (transformers
4.57.6, built from small configs with ``_do_init=False`` as in
test_corpus_transformers.py).

The expected MACs are closed forms read off each config and the library's
source (which products its Flax code computes), and each closed form is also
checked against a brute-force sum over the ``dot_general`` equations of
``jax.make_jaxpr`` of the same forward pass, which shares no code with
acecost. Every model is float: ACE is 256 x MACs; size is 16 bits per kernel
scalar that enters a contraction and 32 per other float32 scalar (embedding
tables used only by lookups, T5's relative-bias tables, norms, biases).
"""
from __future__ import annotations

import math

import jax
import jax.extend
import jax.numpy as jnp
import pytest

import acecost
from corpus_common import hf_flax, FLOAT_BITS, attention, check, dense, float_size, leaf_count, need, sds

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

B = 2
ACE = FLOAT_BITS * FLOAT_BITS


build = hf_flax  # the model and its abstract parameters


def ids(length: int):
    return sds((B, length), jnp.int32)


def jaxpr_macs(fn, *args) -> int:
    """Brute force: every ``dot_general`` with a contracting dimension in the
    traced program (sub-jaxprs included), output size x contracting size.
    No dead-code removal: every product these forward passes compute is live."""
    def walk(jaxpr) -> int:
        total = 0
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "dot_general":
                (lhs_contract, _), _ = eqn.params["dimension_numbers"]
                lhs = eqn.invars[0].aval.shape
                if lhs_contract:
                    total += math.prod(eqn.outvars[0].aval.shape) * math.prod(lhs[i] for i in lhs_contract)
            for param in eqn.params.values():
                for sub in param if isinstance(param, (tuple, list)) else (param,):
                    if isinstance(sub, jax.extend.core.ClosedJaxpr):
                        total += walk(sub.jaxpr)
                    elif isinstance(sub, jax.extend.core.Jaxpr):
                        total += walk(sub)
        return total

    return walk(jax.make_jaxpr(fn)(*args).jaxpr)


# ------------------------------------------------------------------ BigBird

BB = dict(d=32, L=2, H=4, ff=64)


def bigbird(attention_type: str, T: int, block: int = 2, rand: int = 1):
    need("transformers")
    from transformers import BigBirdConfig

    config = BigBirdConfig(vocab_size=64, hidden_size=BB["d"], num_hidden_layers=BB["L"],
                           num_attention_heads=BB["H"], intermediate_size=BB["ff"], max_position_embeddings=64,
                           attention_type=attention_type, block_size=block, num_random_blocks=rand)
    model, params = build("FlaxBigBirdModel", config, (B, T))

    def fn(params, input_ids, attention_mask, token_type_ids, position_ids):
        # no head mask: the Flax code then skips its per-head scaling
        return model.module.apply({"params": params}, input_ids, attention_mask, token_type_ids, position_ids, None,
                                  deterministic=True)

    return fn, (params, ids(T), ids(T), ids(T), ids(T))


def block_sparse_keys(T: int, block: int, rand: int) -> int:
    """Keys each query block is multiplied with, summed over the T / block
    query blocks, in units of one block's queries (FlaxBigBirdBlockSparseAttention):
    the first and last query blocks are global (all T keys); the second and
    second-to-last see the first, their three sliding and the last block plus
    ``rand`` random blocks, (4 + r) blocks; each of the T / block - 4 middle
    blocks sees its 3 sliding blocks, r random ones and the two global ones,
    (5 + r) blocks. The random blocks are gathered and multiplied whether or
    not the mask then hides them, so the count is the same in every mode."""
    blocks = T // block
    return 2 * T + 2 * (4 + rand) * block + (blocks - 4) * (5 + rand) * block


def bigbird_expected(T: int, attn: int):
    """BERT-like layers (q, k, v, out, 2-matrix MLP) around ``attn`` MACs of
    attention per layer, and the pooler on the first token."""
    d, L, ff = BB["d"], BB["L"], BB["ff"]
    rows = B * T
    macs = L * (4 * dense(rows, d, d) + 2 * dense(rows, d, ff) + attn) + dense(B, d, d)
    kernels = L * (4 * d * d + 2 * d * ff) + d * d
    return macs, kernels


# (T, block, random blocks): the three branches of _get_rand_attn_plan
# (2r+5 < T/b; r+5 < T/b; neither) and T / b = 4, where no middle block is left.
# Flax BigBird has no fall-back to full attention for short sequences (the
# PyTorch model switches when T <= (5 + 2r) b): every case runs block-sparse,
# and at T = 8 its block products (36 keys per query) exceed full attention's 8.
@pytest.mark.parametrize("T, block, rand", [(16, 2, 1), (16, 2, 2), (16, 2, 3), (8, 2, 1)])
def test_bigbird_block_sparse(T, block, rand):
    fn, args = bigbird("block_sparse", T, block, rand)
    H, dh = BB["H"], BB["d"] // BB["H"]
    attn = attention(B, H, block, block_sparse_keys(T, block, rand), dh)
    macs, kernels = bigbird_expected(T, attn)
    assert jaxpr_macs(fn, *args) == macs
    rep = acecost.analyze(fn, *args)
    check(rep, macs=macs, ace=ACE * macs, size_bits=float_size(kernels, leaf_count(args[0])))


def test_bigbird_block_sparse_products_one_by_one():
    # the 16 products of one block-sparse layer (scores and context of each
    # part), T = 16 in 8 blocks of b = 2, r = 1, head size 8
    T, b, r = 16, 2, 1
    fn, args = bigbird("block_sparse", T, b, r)
    H, dh, middle = BB["H"], BB["d"] // BB["H"], T // b - 4

    def part(query_blocks, keys):
        return [B * H * query_blocks * b * keys * dh] * 2  # q @ k.T, p @ v

    expected = (part(1, T) * 2                                 # first and last block: global
                + part(1, (4 + r) * b) * 2                     # second and second-to-last
                + part(middle, 3 * b) + part(middle, r * b)    # middle: sliding, random
                + part(middle, b) * 2)                         # middle: first and last (global) block
    rep = acecost.analyze(fn, *args)
    layer0 = [rec.macs for rec in rep.layers
              if "layer/0/" in rec.name and "bigbird_block_sparse_attention" in rec.name]
    assert sorted(layer0) == sorted(expected)
    assert sum(expected) == attention(B, H, b, block_sparse_keys(T, b, r), dh)
    # the band and random masks are einsums with no contracting dimension:
    # one multiply per output element, elementwise work and no MACs
    band = B * middle * b * 3 * b                    # "blq,blk->blqk"
    rand_mask = B * H * (T // b - 2) * b * r * b     # "blq,bhlk->bhlqk"
    masks = {name.rsplit("/", 1)[-1]: ops for name, ops in rep.elementwise_by_layer.items()
             if "layer/0/" in name and name.endswith("lqk")}
    assert masks == {"blq,blk->blqk": band, "blq,bhlk->bhlqk": rand_mask}


def test_bigbird_block_sparse_is_not_full_attention():
    # same config, T = 16 (8 blocks of 2): per head, the block-sparse layers
    # multiply 2 query rows by 2 * 16 + 2 * 5 * 2 + 4 * 6 * 2 = 100 keys for
    # each block, 200 query-key pairs against full attention's 16 * 16 = 256:
    # 7,168 MACs fewer per layer
    H, dh, T = BB["H"], BB["d"] // BB["H"], 16
    reps = {}
    for kind in ("original_full", "block_sparse"):
        fn, args = bigbird(kind, T)
        reps[kind] = acecost.analyze(fn, *args)
    full, kernels = bigbird_expected(T, attention(B, H, T, T, dh))
    sparse, _ = bigbird_expected(T, attention(B, H, 2, block_sparse_keys(T, 2, 1), dh))
    assert full - sparse == BB["L"] * 2 * B * H * dh * (T * T - 2 * 100) == 14_336
    check(reps["original_full"], macs=full, ace=ACE * full, size_bits=float_size(kernels, leaf_count(args[0])))
    check(reps["block_sparse"], macs=sparse, ace=ACE * sparse)


def test_bigbird_block_sparse_training_step():
    # every contraction's operands depend on the parameters (q, k, v come from
    # the embeddings; the gathered random blocks are scattered back in the
    # backward pass, which is no product): backward = 2 x forward
    fn, args = bigbird("block_sparse", 16)
    H, dh = BB["H"], BB["d"] // BB["H"]
    macs, kernels = bigbird_expected(16, attention(B, H, 2, block_sparse_keys(16, 2, 1), dh))
    rep = acecost.analyze_train(fn, *args)
    assert rep.phases["forward"]["macs"] == macs
    assert rep.phases["backward"]["macs"] == 2 * macs
    check(rep, macs=3 * macs, ace=ACE * 3 * macs, size_bits=float_size(kernels, leaf_count(args[0])))


# ------------------------------------------------------------------ GPT-Neo

@pytest.mark.parametrize("layers", [["global", "local"], ["local"], ["global"]])
def test_gpt_neo_local_layers_are_masks(layers):
    # a local layer masks keys more than window_size = 4 back, but computes
    # the full T x T scores and probabilities-times-values like a global one
    need("transformers")
    from transformers import GPTNeoConfig

    d, L, H, V, T = 32, 2, 4, 64, 16
    config = GPTNeoConfig(vocab_size=V, hidden_size=d, num_layers=L, num_heads=H, max_position_embeddings=32,
                          attention_types=[[layers, L // len(layers)]], window_size=4)
    assert len(config.attention_layers) == L
    model, params = build("FlaxGPTNeoModel", config, (B, T))

    def fn(params, input_ids, attention_mask):
        positions = jnp.broadcast_to(jnp.arange(input_ids.shape[1]), input_ids.shape)
        return model.module.apply({"params": params}, input_ids, attention_mask, positions, deterministic=True)

    rows = B * T  # q, k, v (no bias), out, MLP d -> 4d -> d; no LM head on FlaxGPTNeoModel
    macs = L * (4 * dense(rows, d, d) + 2 * dense(rows, d, 4 * d) + attention(B, H, T, T, d // H))
    kernels = L * 12 * d * d
    assert jaxpr_macs(fn, params, ids(T), ids(T)) == macs
    rep = acecost.analyze(fn, params, ids(T), ids(T))
    check(rep, macs=macs, ace=ACE * macs, size_bits=float_size(kernels, leaf_count(params)))


# ----------------------------------------------------------------------- T5

@pytest.fixture
def t5_clip(monkeypatch):
    """transformers' Flax T5 calls ``jnp.clip(x, a_max=...)``, keywords jax
    0.10 removed; a stand-in maps them to ``min``/``max`` (the same function)
    while the test builds and traces the model."""
    clip = jnp.clip

    def old_clip(arr, min=None, max=None, *, a_min=None, a_max=None):
        return clip(arr, min if a_min is None else a_min, max if a_max is None else a_max)

    monkeypatch.setattr(jnp, "clip", old_clip)


@pytest.mark.parametrize("ffn", ["gated-gelu", "relu"])
def test_t5_relative_bias_and_gated_ffn(t5_clip, ffn):
    # v1.1 (gated-gelu: wi_0, wi_1, wo) and v1.0 (relu: wi, wo). Attention
    # width is H * d_kv = 64, apart from d = 32. The relative position bias
    # is a lookup in a (buckets x H) table, made in the first layer of each
    # stack and added to the scores of every layer: no product.
    need("transformers")
    from transformers import T5Config

    d, dkv, H, ff, L, V, T, T_dec = 32, 16, 4, 48, 2, 64, 8, 6
    config = T5Config(vocab_size=V, d_model=d, d_kv=dkv, d_ff=ff, num_layers=L, num_decoder_layers=L, num_heads=H,
                      feed_forward_proj=ffn, relative_attention_num_buckets=8, relative_attention_max_distance=16)
    model, params = build("FlaxT5Model", config, (B, T))

    def fn(params, input_ids, attention_mask, decoder_input_ids, decoder_attention_mask):
        return model.module.apply({"params": params}, input_ids, attention_mask, decoder_input_ids,
                                  decoder_attention_mask, deterministic=True)

    args = (params, ids(T), ids(T), ids(T_dec), ids(T_dec))
    enc, dec, inner = B * T, B * T_dec, H * dkv
    n_in = 2 if ffn.startswith("gated") else 1

    def ffn_macs(rows):
        return n_in * dense(rows, d, ff) + dense(rows, ff, d)

    encoder = 3 * dense(enc, d, inner) + dense(enc, inner, d) + attention(B, H, T, T, dkv) + ffn_macs(enc)
    decoder = (3 * dense(dec, d, inner) + dense(dec, inner, d) + attention(B, H, T_dec, T_dec, dkv)  # self
               + dense(dec, d, inner) + 2 * dense(enc, d, inner) + dense(dec, inner, d)           # cross
               + attention(B, H, T_dec, T, dkv) + ffn_macs(dec))
    macs = L * (encoder + decoder)  # FlaxT5Model: no LM head
    kernels = L * (4 * d * inner + (n_in + 1) * d * ff) + L * (8 * d * inner + (n_in + 1) * d * ff)
    assert jaxpr_macs(fn, *args) == macs
    rep = acecost.analyze(fn, *args)
    check(rep, macs=macs, ace=ACE * macs, size_bits=float_size(kernels, leaf_count(params)))
