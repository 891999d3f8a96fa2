"""Corpus architectures under Qwix (0.1.8) quantization: PTQ and QAT.

``qwix.quantize_model`` wraps the Hugging Face Flax Llama and BERT modules
and flaxmodels' ResNet-18; their variables come from ``jax.eval_shape`` of
the quantized model's own init (PTQ weights are ``QArray`` int8/int4 codes
plus float32 scales). Qwix quantizes every matched dot, einsum and conv: the
projections take the rule's weight type against the activation type, and the
attention products (two activations) take the activation type on both sides.

Expected: MACs as in the float models; ACE = sum of MACs x the two operand
widths of the rule (a float operand: 16); size = kernel scalars x the weight
width, every other leaf (scales, norms, lookup-only embeddings, biases) 32.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import pytest

import acecost
from corpus_common import F32, FLOAT_BITS, abstract, attention, causal_lm, check, dense, leaf_count, need, resnet, sds

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

B, T = 2, 8
QTYPES = {"int8": (jnp.int8, 8), "int4": (jnp.int4, 4), None: (None, FLOAT_BITS)}


def provider(mode: str, weight: str | None, act: str | None):
    need("qwix")
    import qwix

    kw = dict(module_path=".*", weight_qtype=QTYPES[weight][0], act_qtype=QTYPES[act][0])
    if mode == "qat":
        return qwix.QtProvider([qwix.QtRule(**kw)])
    return qwix.PtqProvider([qwix.QuantizationRule(**kw)])


def expected(projection_macs: int, attention_macs: int, kernels: int, variables, weight, act):
    bw, ba = QTYPES[weight][1], QTYPES[act][1]
    ace = projection_macs * ba * bw + attention_macs * ba * ba
    return ace, kernels * bw + F32 * (leaf_count(variables) - kernels)


# ------------------------------------------------------------------ Llama

def llama(mode, weight, act):
    need("transformers")
    import qwix
    from transformers import FlaxLlamaForCausalLM, LlamaConfig

    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32)
    model = qwix.quantize_model(FlaxLlamaForCausalLM(config, _do_init=False).module, provider(mode, weight, act))
    return causal_lm(model, B, T)


@pytest.mark.parametrize("mode,weight,act", [("ptq", "int8", "int8"), ("ptq", "int4", "int8"),
                                             ("qat", "int8", "int8"), ("qat", "int4", None)])
def test_qwix_llama(mode, weight, act):
    from test_corpus_transformers import decoder_expected

    fn, variables = llama(mode, weight, act)
    rep = acecost.analyze(fn, variables, sds((B, T), jnp.int32), sds((B, T), jnp.int32))
    macs, kernels = decoder_expected(head_dim=8, kv=2)
    attn = 2 * attention(B, 4, T, T, 8)
    ace, size = expected(macs - attn, attn, kernels, variables, weight, act)
    check(rep, macs=macs, ace=ace, size_bits=size)
    assert dense(B * T, 32, 64) in [r.macs for r in rep.layers]  # the LM head is quantized too


# ---------------------------------------- GPT-2, Gemma, ViT (tied heads, a conv)

def quantized_hf(name: str, mode: str):
    """A transformers model under int8 Qwix, its variables, its inputs and
    (projection MACs, attention MACs, kernels). PTQ cannot take the tied LM
    heads of GPT-2 and Gemma (Qwix refuses a float kernel fed at call time),
    so those two are QAT only."""
    need("transformers")
    import qwix
    import test_corpus_transformers as hf
    import transformers

    if name == "vit":
        v = hf.VIT
        model = qwix.quantize_model(transformers.FlaxViTModel(hf.vit_config(), _do_init=False).module,
                                    provider(mode, "int8", "int8"))
        x = sds((B, v["image"], v["image"], v["channels"]))
        variables = abstract(jax.eval_shape(lambda k: model.init(k, jnp.zeros(x.shape), deterministic=True),
                                            jax.random.PRNGKey(0)))
        return (lambda v, x: model.apply(v, x, deterministic=True)), variables, (x,), hf.vit_expected()
    if name == "gpt2":
        from transformers import GPT2Config
        config = GPT2Config(vocab_size=64, n_embd=32, n_layer=2, n_head=4, n_positions=32)
        module = transformers.FlaxGPT2LMHeadModel(config, _do_init=False).module
        attn = 2 * attention(B, 4, T, T, 8)
        macs = 2 * hf.gpt2_block(T, T) + dense(B * T, 32, 64)
        shapes = (macs - attn, attn, hf.gpt2_kernels())
    else:
        _, config, head_dim, kv = hf.llama_like("gemma")
        module = transformers.FlaxGemmaForCausalLM(config, _do_init=False).module
        macs, kernels = hf.decoder_expected(head_dim, kv)
        attn = 2 * attention(B, 4, T, T, head_dim)
        shapes = (macs - attn, attn, kernels)
    fn, variables = causal_lm(qwix.quantize_model(module, provider(mode, "int8", "int8")), B, T)
    ids = sds((B, T), jnp.int32)
    return fn, variables, (ids, ids), shapes


@pytest.mark.parametrize("name,mode", [("gpt2", "qat"), ("gemma", "qat"), ("vit", "qat"), ("vit", "ptq")])
def test_qwix_int8_transformers(name, mode):
    fn, variables, inputs, (projection_macs, attention_macs, kernels) = quantized_hf(name, mode)
    rep = acecost.analyze(fn, variables, *inputs)
    ace, size = expected(projection_macs, attention_macs, kernels, variables, "int8", "int8")
    check(rep, macs=projection_macs + attention_macs, ace=ace, size_bits=size)


# ------------------------------------------------------------------- BERT

@functools.lru_cache(maxsize=None)
def bert_report(mode: str):
    need("transformers")
    import qwix
    from test_corpus_transformers import bert_config
    from transformers import FlaxBertModel

    model = qwix.quantize_model(FlaxBertModel(bert_config(), _do_init=False).module, provider(mode, "int8", "int8"))
    zeros = jnp.zeros((B, T), jnp.int32)
    variables = abstract(jax.eval_shape(
        lambda k: model.init(k, zeros, zeros + 1, zeros, zeros, deterministic=True), jax.random.PRNGKey(0)))

    def fn(variables, input_ids, attention_mask, token_type_ids, position_ids):
        return model.apply(variables, input_ids, attention_mask, token_type_ids, position_ids, deterministic=True)

    ids = sds((B, T), jnp.int32)
    return acecost.analyze(fn, variables, ids, ids, ids, ids), variables


@pytest.mark.parametrize("mode", ["ptq", "qat"])
def test_qwix_bert_int8(mode):
    from test_corpus_transformers import bert_expected

    rep, variables = bert_report(mode)
    macs, kernels = bert_expected()
    check(rep, macs=macs, ace=64 * macs, size_bits=8 * kernels + F32 * (leaf_count(variables) - kernels))


@pytest.mark.parametrize("mode", ["ptq", "qat"])
def test_qwix_bert_int8_layer_by_layer(mode):
    # layer by layer: exact MACs, every weight and every activation 8 bits
    from test_corpus_transformers import bert_expected

    rep, _ = bert_report(mode)
    check(rep, macs=bert_expected()[0])
    assert all(r.bits_w == 8 for r in rep.layers)
    assert all(r.bits_a == 8 for r in rep.layers)


# ------------------------------------------------------- flaxmodels ResNet

RESNET18_32 = resnet(32, (2, 2, 2, 2), bottleneck=False, classes=10)


@functools.lru_cache(maxsize=None)
def resnet18_report(mode: str):
    need("flaxmodels")
    import flaxmodels
    import qwix

    model = qwix.quantize_model(flaxmodels.ResNet18(pretrained=None, output="logits", num_classes=10),
                                provider(mode, "int8", "int8"))
    x = sds((1, 32, 32, 3))
    variables = abstract(jax.eval_shape(lambda k: model.init(k, jnp.zeros(x.shape), train=False),
                                        jax.random.PRNGKey(0)))
    return acecost.analyze(lambda v, x: model.apply(v, x, train=False), variables, x), variables


@pytest.mark.parametrize("mode", ["ptq", "qat"])
def test_qwix_flaxmodels_resnet18_int8(mode):
    rep, variables = resnet18_report(mode)
    net = RESNET18_32
    size = 8 * net.kernels + F32 * (leaf_count(variables) - net.kernels)
    check(rep, macs=net.macs, ace=64 * net.macs, size_bits=size)


@pytest.mark.parametrize("mode", ["ptq", "qat"])
def test_qwix_flaxmodels_resnet18_int8_layer_by_layer(mode):
    # layer by layer: exact MACs, every layer 8 x 8, the stem included
    rep, _ = resnet18_report(mode)
    check(rep, macs=RESNET18_32.macs)
    assert all(r.bits_w == 8 for r in rep.layers)
    assert all(r.bits_a == 8 for r in rep.layers)
