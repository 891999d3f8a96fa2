"""Hugging Face transformers Flax models (transformers 4.57, the last line
that ships Flax), built from small configs with ``_do_init=False``.

Parameters come from ``jax.eval_shape`` of the model's own ``init_weights``;
the forward pass is ``model.module.apply``. Each model's MACs are the sums of
its projections (``dense``) and attention products (``attention``) read off
the config; it is float, so ACE is 256 x MACs; size is 16 bits per kernel
scalar that enters a contraction and 32 per other float32 scalar.
"""
from __future__ import annotations


import jax.numpy as jnp
import pytest

import acecost
from corpus_common import (hf_flax, FLOAT_BITS, attention, check, dense, float_size, leaf_count,
                           need, sds)

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

B, T = 2, 8  # batch, sequence length
ACE = FLOAT_BITS * FLOAT_BITS


build = hf_flax  # the model and its abstract parameters


def ids(length: int = T):
    return sds((B, length), jnp.int32)


# -------------------------------------------------------------------- BERT

def bert_config():
    from transformers import BertConfig
    return BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=64, max_position_embeddings=16)


def bert_expected(d=32, L=2, H=4, ff=64, rows=B * T):
    layer = dense(rows, d, d) * 4 + dense(rows, d, ff) * 2 + attention(B, H, T, T, d // H)
    macs = L * layer + dense(B, d, d)  # + the pooler on the first token
    kernels = L * (4 * d * d + 2 * d * ff) + d * d
    return macs, kernels


def test_bert():
    model, params = build("FlaxBertModel", bert_config(), (B, T))

    def fn(params, input_ids, attention_mask, token_type_ids, position_ids):
        return model.module.apply({"params": params}, input_ids, attention_mask, token_type_ids,
                                  position_ids, deterministic=True)

    rep = acecost.analyze(fn, params, ids(), ids(), ids(), ids())
    macs, kernels = bert_expected()
    check(rep, macs=macs, ace=ACE * macs, size_bits=float_size(kernels, leaf_count(params)))
    assert len(rep.layers) == 2 * 8 + 1


def test_albert_shares_one_layer():
    # ALBERT: factorised embedding (E -> d projection) and one set of layer
    # weights applied num_hidden_layers times: MACs per application, size once
    need("transformers")
    from transformers import AlbertConfig

    E, d, L, H, ff = 16, 32, 3, 4, 64
    config = AlbertConfig(vocab_size=64, embedding_size=E, hidden_size=d, num_hidden_layers=L, num_attention_heads=H,
                          intermediate_size=ff, max_position_embeddings=16)
    model, params = build("FlaxAlbertModel", config, (B, T))

    def fn(params, input_ids, attention_mask, token_type_ids, position_ids):
        return model.module.apply({"params": params}, input_ids, attention_mask, token_type_ids, position_ids,
                                  deterministic=True)

    rep = acecost.analyze(fn, params, ids(), ids(), ids(), ids())
    layer = 4 * dense(B * T, d, d) + 2 * dense(B * T, d, ff) + attention(B, H, T, T, d // H)
    macs = dense(B * T, E, d) + L * layer + dense(B, d, d)
    kernels = E * d + (4 * d * d + 2 * d * ff) + d * d
    check(rep, macs=macs, ace=ACE * macs, size_bits=float_size(kernels, leaf_count(params)))


def bert_apply(model):
    def fn(params, input_ids, attention_mask, token_type_ids, position_ids):
        out = model.module.apply({"params": params}, input_ids, attention_mask, token_type_ids, position_ids,
                                 deterministic=True)
        return out.last_hidden_state, out.pooler_output
    return fn


def test_bert_training_step():
    # every contraction's operands depend on the parameters (the embeddings
    # feed the first layer), so the backward pass has a weight gradient and
    # an input gradient for each: exactly twice the forward MACs
    model, params = build("FlaxBertModel", bert_config(), (B, T))
    rep = acecost.analyze_train(bert_apply(model), params, ids(), ids(), ids(), ids())
    macs, kernels = bert_expected()
    check(rep, macs=3 * macs, ace=ACE * 3 * macs, size_bits=float_size(kernels, leaf_count(params)))
    assert rep.phases["forward"]["macs"] == macs
    assert rep.phases["backward"]["macs"] == 2 * macs


def test_bert_training_step_on_the_last_hidden_state_only():
    model, params = build("FlaxBertModel", bert_config(), (B, T))
    apply = bert_apply(model)
    rep = acecost.analyze_train(lambda *a: apply(*a)[0], params, ids(), ids(), ids(), ids())
    macs = bert_expected()[0] - dense(B, 32, 32)  # no pooler
    assert rep.phases["backward"]["macs"] == 2 * macs
    check(rep, macs=3 * macs, ace=ACE * 3 * macs)


# -------------------------------------------------------------------- GPT-2

def gpt2_model():
    from transformers import GPT2Config
    config = GPT2Config(vocab_size=64, n_embd=32, n_layer=2, n_head=4, n_positions=32,
                        bos_token_id=0, eos_token_id=0, pad_token_id=0)
    return build("FlaxGPT2LMHeadModel", config, (B, T))


def gpt2_block(tokens: int, keys: int, d=32, H=4) -> int:
    """c_attn (d -> 3d), c_proj (d -> d), MLP d -> 4d -> d, attention against ``keys``."""
    rows = B * tokens
    return dense(rows, d, 3 * d) + dense(rows, d, d) + 2 * dense(rows, d, 4 * d) + attention(B, H, tokens, keys, d // H)


def gpt2_kernels(d=32, L=2, V=64) -> int:
    return L * 12 * d * d + V * d  # the LM head is the tied token embedding


def test_gpt2_forward():
    model, params = gpt2_model()

    def fn(params, input_ids):
        positions = jnp.broadcast_to(jnp.arange(input_ids.shape[1]), input_ids.shape)
        return model.module.apply({"params": params}, input_ids, jnp.ones_like(input_ids), positions,
                                  deterministic=True)

    rep = acecost.analyze(fn, params, ids())
    macs = 2 * gpt2_block(T, T) + dense(B * T, 32, 64)
    check(rep, macs=macs, ace=ACE * macs, size_bits=float_size(gpt2_kernels(), leaf_count(params)))


MAX_LENGTH = 12  # prompt of T=8 tokens, greedy decoding up to 12


def gpt2_generate_expected():
    """Prefill of the T prompt tokens against the MAX_LENGTH cache, then one
    token per while-loop trip; the loop runs MAX_LENGTH - T - 1 times (the
    first new token comes from the prefill, outside the loop). The LM head
    runs on every prompt position (the program slices the last one after)."""
    prefill = 2 * gpt2_block(T, MAX_LENGTH) + dense(B * T, 32, 64)
    step = 2 * gpt2_block(1, MAX_LENGTH) + dense(B, 32, 64)
    return prefill + (MAX_LENGTH - T - 1) * step


@pytest.mark.parametrize("beams", [1, 2])
def test_gpt2_generate_counts_only_live_work(beams):
    # greedy (1 beam) and beam search (2 beams: every row of the batch runs
    # twice, the same number of loop trips)
    model, params = gpt2_model()

    def generate(params, input_ids):
        return model.generate(input_ids, params=params, max_length=MAX_LENGTH, do_sample=False,
                              num_beams=beams).sequences

    trips = MAX_LENGTH - T - 1  # the while loop's stop test reads the EOS state: its count is given
    rep = acecost.analyze(generate, params, ids(), while_trips=trips)
    macs = beams * gpt2_generate_expected()
    check(rep, macs=macs, ace=ACE * macs, size_bits=float_size(gpt2_kernels(), leaf_count(params)))


def test_gpt2_generate_loop_is_per_iteration_without_a_trip_count():
    # the greedy loop stops on EOS too: no static trip count, so the report
    # is incomplete and says so (never a silent single trip)
    model, params = gpt2_model()

    def generate(params, input_ids):
        return model.generate(input_ids, params=params, max_length=MAX_LENGTH, do_sample=False).sequences

    rep = acecost.analyze(generate, params, ids())
    assert not rep.totals.complete
    assert any(loop["kind"] == "while" and not loop["exact"] for loop in rep.loops)


# ---------------------------------------------------------------------- ViT

VIT = dict(d=32, L=2, H=4, ff=64, image=16, patch=4, channels=3)


def vit_config():
    from transformers import ViTConfig
    v = VIT
    return ViTConfig(hidden_size=v["d"], num_hidden_layers=v["L"], num_attention_heads=v["H"],
                     intermediate_size=v["ff"], image_size=v["image"], patch_size=v["patch"],
                     num_channels=v["channels"])


def vit_expected():
    """Patch embedding (a conv whose stride is the patch), a BERT-like encoder
    over the patches and a class token, a pooler on the class token.
    Returns (MACs of the projections and patch conv, MACs of attention, kernels)."""
    from corpus_common import Layers
    d, L, H, ff, image, patch, channels = (VIT[k] for k in ("d", "L", "H", "ff", "image", "patch", "channels"))
    tokens = (image // patch) ** 2 + 1
    net = Layers()
    net.conv(B, image // patch, image // patch, channels, d, patch, patch)
    for _ in range(L):
        for _ in range(4):
            net.dense(B * tokens, d, d)
        net.dense(B * tokens, d, ff)
        net.dense(B * tokens, ff, d)
    net.dense(B, d, d)  # pooler
    return net.macs, L * attention(B, H, tokens, tokens, d // H), net.kernels


def test_vit():
    need("transformers")
    v = VIT
    model, params = build("FlaxViTModel", vit_config(), (B, v["image"], v["image"], v["channels"]))

    def fn(params, pixels):
        return model.module.apply({"params": params}, pixels, deterministic=True)

    rep = acecost.analyze(fn, params, sds((B, v["image"], v["image"], v["channels"])))
    projections, attn, kernels = vit_expected()
    macs = projections + attn
    check(rep, macs=macs, ace=ACE * macs, size_bits=float_size(kernels, leaf_count(params)))


# --------------------------------------------------------------------- BART

def test_bart_encoder_decoder():
    need("transformers")
    from transformers import BartConfig

    d, L, H, ff, V, T_dec = 32, 2, 4, 64, 64, 6
    config = BartConfig(vocab_size=V, d_model=d, encoder_layers=L, decoder_layers=L, encoder_attention_heads=H,
                        decoder_attention_heads=H, encoder_ffn_dim=ff, decoder_ffn_dim=ff,
                        max_position_embeddings=32)
    model, params = build("FlaxBartForConditionalGeneration", config, (B, T))

    def fn(params, input_ids, attention_mask, decoder_input_ids, decoder_attention_mask):
        pos = jnp.broadcast_to(jnp.arange(T), (B, T))
        dpos = jnp.broadcast_to(jnp.arange(T_dec), (B, T_dec))
        return model.module.apply({"params": params}, input_ids, attention_mask, decoder_input_ids,
                                  decoder_attention_mask, pos, dpos, deterministic=True)

    rep = acecost.analyze(fn, params, ids(), ids(), ids(T_dec), ids(T_dec))
    enc, dec = B * T, B * T_dec
    encoder = 4 * dense(enc, d, d) + 2 * dense(enc, d, ff) + attention(B, H, T, T, d // H)
    decoder = (4 * dense(dec, d, d) + attention(B, H, T_dec, T_dec, d // H)            # self-attention
               + 2 * dense(dec, d, d) + 2 * dense(enc, d, d) + attention(B, H, T_dec, T, d // H)  # cross
               + 2 * dense(dec, d, ff))
    macs = L * (encoder + decoder) + dense(dec, d, V)  # LM head = the shared embedding
    kernels = L * (4 * d * d + 2 * d * ff) + L * (8 * d * d + 2 * d * ff) + V * d
    check(rep, macs=macs, ace=ACE * macs, size_bits=float_size(kernels, leaf_count(params)))


# ------------------------------------------------------------------ Whisper

def test_whisper_conv_frontend_encoder_decoder():
    from corpus_common import Layers
    need("transformers")
    from transformers import WhisperConfig

    d, H, ff, V, mels, frames, T_dec = 32, 4, 64, 64, 8, 32, 4
    config = WhisperConfig(vocab_size=V, num_mel_bins=mels, encoder_layers=1, decoder_layers=1,
                           encoder_attention_heads=H, decoder_attention_heads=H, d_model=d, encoder_ffn_dim=ff,
                           decoder_ffn_dim=ff, max_source_positions=frames // 2, max_target_positions=16)
    model, params = build("FlaxWhisperForConditionalGeneration", config, (1, mels, frames))

    def fn(params, features, decoder_input_ids):
        positions = jnp.broadcast_to(jnp.arange(decoder_input_ids.shape[1]), decoder_input_ids.shape)
        return model.module.apply({"params": params}, features, decoder_input_ids, None, positions,
                                  deterministic=True)

    rep = acecost.analyze(fn, params, sds((1, mels, frames)), sds((1, T_dec), jnp.int32))
    net, T_enc = Layers(), frames // 2
    net.conv(1, 1, frames, mels, d, 1, 3)  # conv1d k=3, pad 1, stride 1
    net.conv(1, 1, T_enc, d, d, 1, 3)  # conv1d k=3, pad 1, stride 2
    for _ in range(4):
        net.dense(T_enc, d, d)
    net.dense(T_enc, d, ff)
    net.dense(T_enc, ff, d)
    for _ in range(6):  # self-attention q, k, v, out and cross-attention q, out
        net.dense(T_dec, d, d)
    for _ in range(2):  # cross-attention k, v on the encoder output
        net.dense(T_enc, d, d)
    net.dense(T_dec, d, ff)
    net.dense(T_dec, ff, d)
    net.dense(T_dec, d, V)  # LM head = the tied token embedding
    pairs = ((T_enc, T_enc), (T_dec, T_dec), (T_dec, T_enc))  # encoder self, decoder self, cross
    macs = net.macs + sum(attention(1, H, tq, tk, d // H) for tq, tk in pairs)
    check(rep, macs=macs, ace=ACE * macs, size_bits=float_size(net.kernels, leaf_count(params)))


# ------------------------------------------------ Llama, Mistral, Gemma

def llama_like(kind: str):
    """(class name, config, head_dim, kv heads) of a small decoder.

    A tied LM head (Gemma) is the token embedding entering a contraction; an
    untied one (Llama, Mistral) is a kernel of the same size: either way
    ``d * V`` kernel scalars.
    """
    need("transformers")
    import transformers

    common = dict(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                  num_attention_heads=4, max_position_embeddings=32)
    if kind == "llama":
        return "FlaxLlamaForCausalLM", transformers.LlamaConfig(num_key_value_heads=2, **common), 8, 2
    if kind == "mistral":  # sliding window 4 < T: a mask, the products are still T x T
        return ("FlaxMistralForCausalLM", transformers.MistralConfig(num_key_value_heads=2, sliding_window=4, **common),
                8, 2)
    if kind == "gemma":  # multi-query attention, head_dim set apart from d / H, tied LM head
        return "FlaxGemmaForCausalLM", transformers.GemmaConfig(num_key_value_heads=1, head_dim=8, **common), 8, 1
    raise ValueError(kind)


def decoder_expected(head_dim: int, kv: int, d=32, H=4, I=48, L=2, V=64):
    rows = B * T
    layer = (dense(rows, d, H * head_dim) + 2 * dense(rows, d, kv * head_dim) + dense(rows, H * head_dim, d)
             + 3 * dense(rows, d, I)                        # gated MLP: gate, up, down
             + attention(B, H, T, T, head_dim))             # grouped keys are repeated per query head
    macs = L * layer + dense(rows, d, V)
    kernels = L * (2 * d * H * head_dim + 2 * d * kv * head_dim + 3 * d * I) + d * V
    return macs, kernels


def decoder_apply(model):
    def fn(params, input_ids, attention_mask):
        positions = jnp.broadcast_to(jnp.arange(input_ids.shape[1]), input_ids.shape)
        return model.module.apply({"params": params}, input_ids, attention_mask, positions, deterministic=True)
    return fn


@pytest.mark.parametrize("kind", ["llama", "mistral", "gemma"])
def test_llama_like_decoders(kind):
    cls, config, head_dim, kv = llama_like(kind)
    model, params = build(cls, config, (B, T))
    rep = acecost.analyze(decoder_apply(model), params, ids(), ids())
    macs, kernels = decoder_expected(head_dim, kv)
    check(rep, macs=macs, ace=ACE * macs, size_bits=float_size(kernels, leaf_count(params)))


def test_same_config_same_cost_across_llama_and_mistral():
    # Mistral's sliding window is a mask: same shapes, same cost as Llama
    reps = []
    for kind in ("llama", "mistral"):
        cls, config, *_ = llama_like(kind)
        model, params = build(cls, config, (B, T))
        reps.append(acecost.analyze(decoder_apply(model), params, ids(), ids()))
    assert reps[0].totals.macs == reps[1].totals.macs == decoder_expected(8, 2)[0]
