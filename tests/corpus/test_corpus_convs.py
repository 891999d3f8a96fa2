"""Hugging Face Flax models built around convolutions: Wav2Vec2, RegNet, CLIP.

Built like the other transformers models of the corpus (small configs,
``_do_init=False``, ``jax.eval_shape`` of ``init_weights``, forward by
``model.module.apply``). Their MACs are read off the config and the model's
definition:

- Wav2Vec2: strided VALID 1-D convs from the raw waveform, a projection, a
  grouped positional conv (``num_conv_pos_embedding_groups``) on the
  sequence padded by ``K // 2`` on each side (with an even ``K`` it computes
  ``T + 1`` positions and drops the last: the dropped one is executed work),
  and a transformer encoder.
- RegNet-Y: a 3x3/2 stem, then per layer a 1x1 conv, a grouped 3x3 conv
  (``out // groups_width`` groups, stride on the first layer of a stage), a
  squeeze-excitation of two 1x1 convs on the pooled 1x1 map (reduced to
  ``round(in / 4)`` channels), a 1x1 conv, and a 1x1 shortcut where the
  shape changes.
- CLIP: a patch conv and a ViT over the patches and a class token, a causal
  text encoder, two projections without bias and the text x image logits.

A grouped conv counts ``out positions x out channels x (in / groups) x
taps``, padded taps included (docs/metrics.md). XLA's cost of a single
grouped conv confirms the grouping; it skips padded taps, so it is compared
with the in-bounds taps, counted here one by one.
"""
from __future__ import annotations


import jax
import jax.numpy as jnp
import pytest

import acecost
from acecost.report.model import FallbackCause
from corpus_common import (hf_flax, FLOAT_BITS, Layers, attention, check, conv_out, float_size, leaf_count,
                           need, sds)

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

ACE = FLOAT_BITS * FLOAT_BITS
B = 2


build = hf_flax  # the model and its abstract parameters


def encoder_layer(net: Layers, batch: int, tokens: int, d: int, heads: int, ff: int) -> int:
    """q, k, v, out projections and the MLP into ``net``; returns the attention products' MACs."""
    for _ in range(4):
        net.dense(batch * tokens, d, d)
    net.dense(batch * tokens, d, ff)
    net.dense(batch * tokens, ff, d)
    return attention(batch, heads, tokens, tokens, d // heads)


# ------------------------------------------------------------------ Wav2Vec2

SAMPLES = 400


def wav2vec2_config():
    from transformers import Wav2Vec2Config
    return Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                          conv_dim=(8, 12, 16), conv_kernel=(10, 3, 2), conv_stride=(5, 2, 2), conv_bias=True,
                          num_conv_pos_embeddings=4, num_conv_pos_embedding_groups=4,
                          do_stable_layer_norm=True, feat_extract_norm="layer")


def wav2vec2_expected(c, samples: int = SAMPLES):
    """(MACs, kernel scalars) of FlaxWav2Vec2Model on ``B x samples`` audio."""
    net, length, cin = Layers(), samples, 1
    for dim, k, stride in zip(c.conv_dim, c.conv_kernel, c.conv_stride):
        length = conv_out(length, k, stride, 0)  # VALID
        net.conv(B, 1, length, cin, dim, 1, k)
        cin = dim
    d, T, K, G = c.hidden_size, length, c.num_conv_pos_embeddings, c.num_conv_pos_embedding_groups
    net.dense(B * T, cin, d)  # feature projection
    positions = conv_out(T, K, 1, 2 * (K // 2))  # T + 1 for an even K; the last is sliced off after
    net.conv(B, 1, positions, d // G, d, 1, K)  # the kernel is weight_v, normalised and scaled by weight_g
    attn = sum(encoder_layer(net, B, T, d, c.num_attention_heads, c.intermediate_size)
               for _ in range(c.num_hidden_layers))
    return net.macs + attn, net.kernels


def test_wav2vec2_grouped_positional_conv():
    c = wav2vec2_config()
    model, params = build("FlaxWav2Vec2Model", c, (B, SAMPLES))

    def fn(params, input_values, attention_mask):
        return model.module.apply({"params": params}, input_values, attention_mask, deterministic=True)

    rep = acecost.analyze(fn, params, sds((B, SAMPLES)), sds((B, SAMPLES), jnp.int32))
    macs, kernels = wav2vec2_expected(c)
    # by hand: lengths 79, 39, 19; convs 12,640 + 22,464 + 14,592, projection 19,456, positional
    # conv 40,960 (20 positions), two layers of 357,504
    assert macs == 825_120
    # masked_spec_embed is read only with mask_time_indices: unused, not stored
    unused = c.hidden_size
    check(rep, macs=macs, ace=ACE * macs, size_bits=float_size(kernels, leaf_count(params) - unused))
    assert any("masked_spec_embed" in w for w in rep.warnings)
    pos = [r for r in rep.layers if "pos_conv_embed" in r.name]
    assert [r.macs for r in pos] == [B * (19 + 1) * 32 * (32 // 4) * 4]  # T + 1 positions, d / G inputs


# -------------------------------------------------------------------- RegNet

IMAGE = 32


def regnet_config():
    from transformers import RegNetConfig
    return RegNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[16, 32], depths=[1, 2], groups_width=8,
                        layer_type="y")


def regnet_expected(c, image: int = IMAGE) -> Layers:
    net = Layers()
    h = conv_out(image, 3, 2, 2)  # stem: 3x3/2, padding 1
    net.conv(B, h, h, c.num_channels, c.embedding_size, 3, 3)
    cin = c.embedding_size
    for cout, depth in zip(c.hidden_sizes, c.depths):
        for i in range(depth):
            stride = 2 if i == 0 else 1  # every stage downsamples (downsample_in_first_stage)
            groups = max(1, cout // c.groups_width)
            ho = conv_out(h, 3, stride, 2)
            net.conv(B, h, h, cin, cout, 1, 1)
            net.conv(B, ho, ho, cout // groups, cout, 3, 3)  # grouped: in / groups channels per output
            reduced = int(round(cin / 4))
            net.conv(B, 1, 1, cout, reduced, 1, 1)  # squeeze-excitation on the pooled 1x1 map
            net.conv(B, 1, 1, reduced, cout, 1, 1)
            net.conv(B, ho, ho, cout, cout, 1, 1)
            if cin != cout or stride != 1:
                net.conv(B, ho, ho, cin, cout, 1, 1)  # 1x1/stride shortcut
            cin, h = cout, ho
    return net


def test_regnet_grouped_convs_and_squeeze_excitation():
    c = regnet_config()
    model, variables = build("FlaxRegNetModel", c, (B, IMAGE, IMAGE, 3))

    def fn(variables, pixels):  # NHWC, as the module takes it
        return model.module.apply(variables, pixels, deterministic=True)

    rep = acecost.analyze(fn, variables, sds((B, IMAGE, IMAGE, 3)))
    net = regnet_expected(c)
    assert net.macs == 702_080  # by hand: stem 110,592, stage 0 262,272, stage 1 188,928 + 140,288
    # size: batch statistics are part of the variables argument, 32 bits each
    check(rep, macs=net.macs, ace=ACE * net.macs, size_bits=float_size(net.kernels, leaf_count(variables)))
    assert len(rep.layers) == 1 + 5 + 5 + 5 + 2  # stem, three layers with SE, two shortcuts
    grouped = [r.macs for r in rep.layers if r.name.endswith("stages/0/layers/0/layer/1/convolution")]
    assert grouped == [regnet_grouped_conv_macs()]


def regnet_grouped_conv_macs() -> int:
    """Stage 0's grouped 3x3/2 conv: 16x16x16 in, 2 groups, 8x8 out, padded taps counted."""
    return B * 8 * 8 * 16 * (16 // 2) * 9


# ---------------------------------------------------------------------- CLIP

TEXT = dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
            max_position_embeddings=16)
VISION = dict(hidden_size=24, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4, image_size=16,
              patch_size=4, num_channels=3)
PROJ, TEXTS, TOKENS, IMAGES = 20, 3, 8, 2


def clip_expected():
    t, v = TEXT, VISION
    net, attn = Layers(), 0
    grid = v["image_size"] // v["patch_size"]
    net.conv(IMAGES, grid, grid, v["num_channels"], v["hidden_size"], v["patch_size"], v["patch_size"])
    for _ in range(v["num_hidden_layers"]):
        attn += encoder_layer(net, IMAGES, grid * grid + 1, v["hidden_size"], v["num_attention_heads"],
                              v["intermediate_size"])
    for _ in range(t["num_hidden_layers"]):  # causal: a mask, the products are still T x T
        attn += encoder_layer(net, TEXTS, TOKENS, t["hidden_size"], t["num_attention_heads"], t["intermediate_size"])
    net.dense(IMAGES, v["hidden_size"], PROJ)  # visual projection of the class token
    net.dense(TEXTS, t["hidden_size"], PROJ)  # text projection of the EOS token
    logits = TEXTS * PROJ * IMAGES  # text_embeds @ image_embeds.T
    return net.macs + attn + logits, net.kernels


def test_clip_two_towers_and_logits():
    need("transformers")
    from transformers import CLIPConfig

    config = CLIPConfig(text_config=TEXT, vision_config=VISION, projection_dim=PROJ)
    image = VISION["image_size"]
    model, params = build("FlaxCLIPModel", config, ((TEXTS, TOKENS), (IMAGES, image, image, 3)))

    def fn(params, input_ids, pixel_values, attention_mask, position_ids):
        return model.module.apply({"params": params}, input_ids, pixel_values, attention_mask, position_ids,
                                  deterministic=True)

    ids = sds((TEXTS, TOKENS), jnp.int32)
    rep = acecost.analyze(fn, params, ids, sds((IMAGES, image, image, 3)), ids, ids)
    macs, kernels = clip_expected()
    # embedding tables (lookups only), class embedding, norms, logit_scale: 32 bits
    check(rep, macs=macs, ace=ACE * macs, size_bits=float_size(kernels, leaf_count(params)))
    assert [r.macs for r in rep.layers if r.name == "FlaxCLIPModule"] == [TEXTS * PROJ * IMAGES]
    # the image tokens (class token concatenated before the patches) are data: their account is
    # the patch conv's output, not the class-token parameter
    q = next(r for r in rep.layers if r.name.endswith("vision_model/encoder/layers/0/self_attn/q_proj"))
    assert q.bits_a_cause is not FallbackCause.FLOAT_PARAMETER and "patch_embedding" in q.bits_a_source


# ------------------------------------------- XLA's cost of one grouped conv

def in_bounds_taps(n_in: int, n_out: int, k: int, stride: int, pad_lo: int) -> int:
    """(output position, tap) pairs of one spatial dim that read a real input element."""
    return sum(0 <= o * stride + t - pad_lo < n_in for o in range(n_out) for t in range(k))


def xla_flops(lhs, rhs, strides, padding, groups, dn) -> float:
    def conv(x, w):
        return jax.lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=dn, feature_group_count=groups)
    cost = jax.jit(conv).lower(sds(lhs), sds(rhs)).compile().cost_analysis()
    return (cost[0] if isinstance(cost, (list, tuple)) else cost)["flops"]


def test_grouped_convs_against_xla():
    # Wav2Vec2's positional conv: VALID on the explicitly padded sequence,
    # so XLA's 2 flops per product and the closed form count the same taps
    c = wav2vec2_config()
    d, K, G, T = c.hidden_size, c.num_conv_pos_embeddings, c.num_conv_pos_embedding_groups, 19
    padded = T + 2 * (K // 2)
    macs = B * conv_out(padded, K, 1, 0) * d * (d // G) * K
    assert xla_flops((B, padded, d), (K, d // G, d), (1,), "VALID", G, ("NWC", "WIO", "NWC")) == 2 * macs
    # RegNet's first grouped 3x3/2 (padding 1): XLA skips the padded taps
    n, cout, groups = 16, 16, 2
    ho = conv_out(n, 3, 2, 2)
    per_tap = B * cout * (cout // groups)
    real = per_tap * in_bounds_taps(n, ho, 3, 2, 1) ** 2
    assert xla_flops((B, n, n, cout), (3, 3, cout // groups, cout), (2, 2), ((1, 1), (1, 1)), groups,
                     ("NHWC", "HWIO", "NHWC")) == 2 * real
    # the padded form counts 3 taps per output position in each dimension
    assert in_bounds_taps(n, ho, 3, 2, 1) == 3 * ho - 1  # only output 0's first tap falls on the padding
    assert regnet_grouped_conv_macs() == per_tap * (3 * ho) ** 2
