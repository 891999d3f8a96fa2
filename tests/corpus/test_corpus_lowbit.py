"""Sub-channel (tiled) quantization by other projects' code: Qwix 0.1.8
``tile_size`` rules (PTQ and QAT) on a Flax MLP and on the Hugging Face Flax
Llama, and AQT v2 (aqtp 0.9.0) ``AqtEinsum`` with ``tile_sizes``.

Qwix tiles the last contracting axis. With a tile of 128 or more and both
operands quantized it multiplies the codes tile by tile (the tile index a
batch axis of the dot) and scales after; otherwise it dequantizes first
(``q.reshape(K // t, t) * s`` merged back) and the dot is float: the
per-tile scale varies along the contraction only by tiles and factors out
of each tile's partial sum. AQT reshapes both operands into tiles and
contracts the tile's entries with the tile index as a batch axis.

Expected, from the configuration alone: MACs as in the float model; ACE =
MACs x the rule's activation width (16 when activations stay float) x its
weight width, and the attention products (two activations) x the
activation width on both sides; size = kernel scalars x the weight width,
every other leaf (per-tile scales, norms, lookup-only embeddings) 32.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import acecost
from corpus_common import F32, FLOAT_BITS, abstract, attention, causal_lm, check, dense, leaf_count, need, sds

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

QTYPES = {"int8": (jnp.int8, 8), "int4": (jnp.int4, 4), None: (None, FLOAT_BITS)}


def qwix_provider(mode: str, weight, act, tile):
    need("qwix")
    import qwix

    kw = dict(module_path=".*", weight_qtype=QTYPES[weight][0], act_qtype=QTYPES[act][0], tile_size=tile)
    if mode == "qat":
        return qwix.QtProvider([qwix.QtRule(**kw)])
    return qwix.PtqProvider([qwix.QuantizationRule(**kw)])


def expected_size(kernels: int, variables, weight) -> int:
    return kernels * QTYPES[weight][1] + F32 * (leaf_count(variables) - kernels)


# ------------------------------------------------------------- Flax MLP

M, K, H, O = 8, 512, 256, 64  # x [M, K] -> Dense(H) -> relu -> Dense(O)


@pytest.mark.parametrize("mode", ["ptq", "qat"])
@pytest.mark.parametrize("weight,act,tile", [
    ("int4", None, 128), ("int4", None, 0.5), ("int4", None, 32),  # W4A16: dequantized first
    ("int8", "int8", 128), ("int4", "int8", 0.5),                  # tiles >= 128: codes x codes
    ("int8", "int8", 16), ("int8", "int8", 2),                     # both dequantized by tiles of t
])
def test_qwix_tiled_mlp(mode, weight, act, tile):
    need("qwix")
    import flax.linen as nn
    import qwix

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(O, use_bias=False)(jax.nn.relu(nn.Dense(H, use_bias=False)(x)))

    model = qwix.quantize_model(MLP(), qwix_provider(mode, weight, act, tile))
    variables = abstract(jax.eval_shape(lambda k: model.init(k, jnp.zeros((M, K))), jax.random.PRNGKey(0)))
    rep = acecost.analyze(lambda v, x: model.apply(v, x), variables, sds((M, K)))
    macs = dense(M, K, H) + dense(M, H, O)
    check(rep, macs=macs, ace=macs * QTYPES[act][1] * QTYPES[weight][1],
          size_bits=expected_size(K * H + H * O, variables, weight))
    if mode == "ptq":  # the stored per-tile scales: (K / t) x H and (H / t) x O float32
        t1, t2 = (int(K * tile), int(H * tile)) if isinstance(tile, float) else (tile, tile)
        assert leaf_count(variables) - K * H - H * O == (K // t1) * H + (H // t2) * O


@pytest.mark.parametrize("tile,backward_bits", [(None, 8), (128, 16), (16, 16)])
def test_qwix_qat_training_step_with_quantized_gradients(tile, backward_bits):
    # QtRule(bwd_qtype=int8): the backward products quantize the incoming gradient (8 bits). The
    # other operand is the forward's quantized residual, except where the forward was tiled: Qwix
    # then takes the original float operand (qwix/_src/core/dot_general_qt.py,
    # _get_residual_for_backward: tiled scales do not align with the backward's contraction), so
    # the backward is 8 x 16. Backward products (2L - 1): dW1 (M rows contracted), dW2 and dX2.
    need("qwix")
    import flax.linen as nn
    import qwix

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(O, use_bias=False)(jax.nn.relu(nn.Dense(H, use_bias=False)(x)))

    rule = qwix.QtRule(module_path=".*", weight_qtype=jnp.int8, act_qtype=jnp.int8, tile_size=tile,
                       bwd_qtype=jnp.int8)
    model = qwix.quantize_model(MLP(), qwix.QtProvider([rule]))
    variables = abstract(jax.eval_shape(lambda k: model.init(k, jnp.zeros((M, K))), jax.random.PRNGKey(0)))
    rep = acecost.analyze_train(lambda v, x: model.apply(v, x), variables, sds((M, K)),
                                loss=lambda y: jnp.mean(y ** 2))
    forward = dense(M, K, H) + dense(M, H, O)
    backward = K * H * M + H * O * M + M * O * H
    assert rep.totals.complete
    assert (rep.phases["forward"]["macs"], rep.phases["forward"]["ace"]) == (forward, forward * 8 * 8)
    assert (rep.phases["backward"]["macs"], rep.phases["backward"]["ace"]) == (backward, backward * 8 * backward_bits)


OTHER_QTYPES = {"nf4": ("nf4", 4), "fp8": (jnp.float8_e4m3fn, 8), "int2": (jnp.int2, 2), "uint4": (jnp.uint4, 4)}


@pytest.mark.parametrize("mode", ["ptq", "qat"])
@pytest.mark.parametrize("weight,act,tile", [("nf4", None, 64), ("nf4", None, None), ("fp8", None, 128),
                                             ("fp8", "fp8", 128), ("int2", None, 32), ("uint4", None, 64)])
def test_qwix_other_qtypes_mlp(mode, weight, act, tile):
    # NF4 (a 16-entry codebook: argmin of distances, then a lookup in the constant table; QAT
    # computes it from the float kernel, which is still that kernel in size), float8_e4m3fn,
    # int2, uint4; per-tile or per-channel scales
    need("qwix")
    import flax.linen as nn
    import qwix

    qt, wbits = OTHER_QTYPES[weight]
    aqt, abits = OTHER_QTYPES[act] if act else (None, FLOAT_BITS)
    kw = dict(module_path=".*", weight_qtype=qt, act_qtype=aqt, tile_size=tile)
    provider = qwix.QtProvider([qwix.QtRule(**kw)]) if mode == "qat" else \
        qwix.PtqProvider([qwix.QuantizationRule(**kw)])

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(O, use_bias=False)(jax.nn.relu(nn.Dense(H, use_bias=False)(x)))

    model = qwix.quantize_model(MLP(), provider)
    variables = abstract(jax.eval_shape(lambda k: model.init(k, jnp.zeros((M, K))), jax.random.PRNGKey(0)))
    rep = acecost.analyze(lambda v, x: model.apply(v, x), variables, sds((M, K)))
    macs, kernels = dense(M, K, H) + dense(M, H, O), K * H + H * O
    check(rep, macs=macs, ace=macs * abits * wbits,
          size_bits=kernels * wbits + F32 * (leaf_count(variables) - kernels))


@pytest.mark.parametrize("mode,weight,act,tile", [("ptq", "int4", None, 128), ("ptq", "int8", "int8", 16),
                                                   ("qat", "int8", "int8", 16), ("qat", "int4", None, 32)])
def test_qwix_tiled_nnx_mlp(mode, weight, act, tile):
    # the same MLP in flax.nnx, quantized by qwix.quantize_model(model, provider, example input)
    # inside nnx.eval_shape: the state is abstract from the start
    need("qwix")
    import qwix
    from flax import nnx

    class MLP(nnx.Module):
        def __init__(self, rngs):
            self.l1 = nnx.Linear(K, H, use_bias=False, rngs=rngs)
            self.l2 = nnx.Linear(H, O, use_bias=False, rngs=rngs)

        def __call__(self, x):
            return self.l2(jax.nn.relu(self.l1(x)))

    provider = qwix_provider(mode, weight, act, tile)
    graphdef, state = nnx.split(nnx.eval_shape(lambda: qwix.quantize_model(MLP(nnx.Rngs(0)), provider,
                                                                           jnp.zeros((M, K)))))
    state = abstract(state)
    rep = acecost.analyze(lambda s, x: nnx.merge(graphdef, s)(x), state, sds((M, K)))
    macs = dense(M, K, H) + dense(M, H, O)
    check(rep, macs=macs, ace=macs * QTYPES[act][1] * QTYPES[weight][1],
          size_bits=expected_size(K * H + H * O, state, weight))


# ------------------------------------------------------------ HF Llama

B, T = 2, 8
D, I, HEADS, KV, HEAD_DIM, V = 256, 512, 4, 2, 64, 64


@pytest.mark.parametrize("mode,weight,act,tile", [
    ("ptq", "int4", None, 128), ("qat", "int4", None, 32),
    ("ptq", "int8", "int8", 0.5), ("qat", "int4", "int8", 0.5),
])
def test_qwix_tiled_llama(mode, weight, act, tile):
    # tile 0.5 with activations quantized: the attention products are tiled too, q @ k.T by
    # halves of the head dimension and p @ v by halves of the keys (4 keys per tile)
    need("transformers")
    import qwix
    from test_corpus_transformers import decoder_expected
    from transformers import FlaxLlamaForCausalLM, LlamaConfig

    # transformers' Flax rotary table keeps only max_position_embeddings of its 2 x head_dim
    # columns: 128 >= 2 x 64 keeps them all
    config = LlamaConfig(vocab_size=V, hidden_size=D, intermediate_size=I, num_hidden_layers=2,
                         num_attention_heads=HEADS, num_key_value_heads=KV, max_position_embeddings=128)
    model = qwix.quantize_model(FlaxLlamaForCausalLM(config, _do_init=False).module,
                                qwix_provider(mode, weight, act, tile))
    fn, variables = causal_lm(model, B, T)

    rep = acecost.analyze(fn, variables, sds((B, T), jnp.int32), sds((B, T), jnp.int32))
    macs, kernels = decoder_expected(HEAD_DIM, KV, d=D, H=HEADS, I=I, V=V)
    attn = 2 * attention(B, HEADS, T, T, HEAD_DIM)
    bw, ba = QTYPES[weight][1], QTYPES[act][1]
    check(rep, macs=macs, ace=(macs - attn) * ba * bw + attn * ba * ba,
          size_bits=expected_size(kernels, variables, weight))


@pytest.mark.parametrize("weight,act,tile", [("int8", "int8", 0.5), ("int4", None, 128), ("int4", None, 32)])
def test_qwix_tiled_gpt2_qat(weight, act, tile):
    # GPT-2 (d=256, 2 layers, 4 heads): fused c_attn, tied LM head (QAT only, as in
    # test_corpus_qwix), attention products tiled too when activations are quantized
    need("transformers")
    import qwix
    import test_corpus_transformers as hf
    import transformers
    from transformers import GPT2Config

    d, layers, heads, vocab = 256, 2, 4, 64
    config = GPT2Config(vocab_size=vocab, n_embd=d, n_layer=layers, n_head=heads, n_positions=32)
    model = qwix.quantize_model(transformers.FlaxGPT2LMHeadModel(config, _do_init=False).module,
                                qwix_provider("qat", weight, act, tile))
    fn, variables = causal_lm(model, B, T)

    rep = acecost.analyze(fn, variables, sds((B, T), jnp.int32), sds((B, T), jnp.int32))
    macs = layers * hf.gpt2_block(T, T, d=d, H=heads) + dense(B * T, d, vocab)
    attn = layers * attention(B, heads, T, T, d // heads)
    bw, ba = QTYPES[weight][1], QTYPES[act][1]
    check(rep, macs=macs, ace=(macs - attn) * ba * bw + attn * ba * ba,
          size_bits=expected_size(hf.gpt2_kernels(d=d, L=layers, V=vocab), variables, weight))


# ------------------------------------------------------------- AQT v2

@pytest.mark.parametrize("bits", [(8, 8), (4, 4), (8, 4)])
@pytest.mark.parametrize("tile", [None, 128, 32, 4])
def test_aqt_tiled_einsum(bits, tile):
    need("aqt.jax.v2.flax.aqt_flax")
    import flax.linen as nn
    from aqt.jax.v2 import config as aqt_config
    from aqt.jax.v2.flax import aqt_flax

    a_bits, w_bits = bits
    cfg = aqt_config.dot_general_make(lhs_bits=a_bits, rhs_bits=w_bits)

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            w = self.param("w", nn.initializers.normal(), (K, H))
            einsum = aqt_flax.AqtEinsum(cfg, tile_sizes=None if tile is None else {"k": tile}, prng_name=None)
            return einsum("mk,kn->mn", x, w)

    net = Net()
    variables = abstract(jax.eval_shape(lambda k: net.init(k, jnp.zeros((M, K))), jax.random.PRNGKey(0)))
    rep = acecost.analyze(lambda v, x: net.apply(v, x), variables, sds((M, K)))
    check(rep, macs=dense(M, K, H), ace=dense(M, K, H) * a_bits * w_bits, size_bits=K * H * w_bits)


# ------------------------------------------- jax's own Pallas kernels

@pytest.mark.parametrize("dtype,bits", [("int8", 8), ("bfloat16", 16), ("float32", 16)])
def test_pallas_tpu_matmul(dtype, bits):
    # jax.experimental.pallas.ops.tpu.matmul: a (M/128, N/128, K/256) grid with an f32 (int32 for
    # int8) VMEM accumulator initialised under pl.when(k == 0); traced only, never lowered
    tm = pytest.importorskip("jax.experimental.pallas.ops.tpu.matmul")
    m, k, n = 256, 512, 384
    rep = acecost.analyze(lambda x, y: tm.matmul(x, y, block_shape=(128, 128), block_k=256),
                          sds((m, k), dtype), sds((k, n), dtype))
    check(rep, macs=m * k * n, ace=m * k * n * bits * bits)
    assert rep.loops[-1]["trips"] == (m // 128) * (n // 128) * (k // 256)


@pytest.mark.parametrize("seq,k_splits,block_k", [(256, 16, 64), (512, 4, 64), (512, 16, 16), (1024, 4, 64)])
@pytest.mark.parametrize("kind", ["mqa", "gqa"])
def test_pallas_gpu_decode_attention(kind, seq, k_splits, block_k):
    # jax.experimental.pallas.ops.gpu.decode_attention (interpret=True), vmapped over the batch (and
    # the kv heads for gqa): one query token per head, the query heads of a kv head padded to
    # block_h = 16 rows, keys split k_splits ways, each split walked by a fori_loop of
    # min(cdiv((j + 1) * split - j * split, bk), split // bk) = split // bk trips, j = program_id(1)
    # of the kernel's own grid: q @ k.T and p @ v over 16 padded rows
    da = pytest.importorskip("jax.experimental.pallas.ops.gpu.decode_attention")
    b, d, kv = 2, 64, 2
    if kind == "mqa":
        args, heads = (sds((b, 4, d)), sds((b, seq, d)), sds((b, seq, d))), 1
    else:  # 8 query heads, 4 per kv head
        args, heads = (sds((b, 8, d)), sds((b, seq, kv, d)), sds((b, seq, kv, d))), kv
    rep = acecost.analyze(lambda q, k, v: getattr(da, kind)(q, k, v, interpret=True, block_k=block_k,
                                                           k_splits=k_splits), *args)
    macs = 2 * b * heads * 16 * seq * d
    check(rep, macs=macs, ace=macs * FLOAT_BITS * FLOAT_BITS)
    loops = {(l["kind"], l["trips"]) for l in rep.loops}
    assert ("while", (seq // k_splits) // min(block_k, seq // k_splits)) in loops


@pytest.mark.parametrize("rows,cols,lanes", [(64, 256, 256), (8, 200, 256), (3, 1000, 1024)])
def test_pallas_gpu_softmax_elementwise(rows, cols, lanes):
    # jax.experimental.pallas.ops.gpu.softmax: the kernel is vmapped over the rows and reads a
    # row into next_power_of_2(cols) lanes, masked. Per lane: the mask (lt), max, subtract, exp,
    # sum, divide: 6 operations over every lane, padded ones included; no contraction
    sm = pytest.importorskip("jax.experimental.pallas.ops.gpu.softmax")
    rep = acecost.analyze(lambda x: sm.softmax(x, interpret=True), sds((rows, cols)))
    assert rep.totals.complete and rep.totals.macs == 0
    assert rep.totals.elementwise_ops == rows * 6 * lanes
    assert rep.loops[-1]["kind"] == "pallas_call" and rep.loops[-1]["trips"] == rows


def test_pallas_tpu_paged_attention_is_reported_incomplete():
    # jax.experimental.pallas.ops.tpu.paged_attention: DMA copies of pages (dma_start/dma_wait,
    # with semaphore scratch references) and loops over the lengths of the sequences. A
    # semaphore reference has no numpy dtype; the call is walked, not a crash: the DMA
    # primitives are listed unsupported, the data-dependent loop counted once per grid point
    # (B x KV heads x 1 points: the block of q heads of one kv head against 2 pages of 16 keys)
    pa = pytest.importorskip("jax.experimental.pallas.ops.tpu.paged_attention.paged_attention_kernel")
    b, qh, kvh, d, pages, page, per_seq, per_block = 2, 8, 2, 128, 16, 16, 4, 2
    rep = acecost.analyze(lambda q, k, v, lengths, idx: pa.paged_attention(q, k, v, lengths, idx,
                                                                          pages_per_compute_block=per_block),
                          sds((b, qh, d)), sds((kvh, pages, page, d)), sds((kvh, pages, page, d)),
                          sds((b,), jnp.int32), sds((b, per_seq), jnp.int32))
    assert not rep.totals.complete
    assert {"dma_start", "dma_wait"} <= {u["primitive"] for u in rep.unsupported}
    assert any("trip count is data-dependent" in w for w in rep.warnings)
    assert rep.totals.macs == b * kvh * 2 * (qh // kvh) * (per_block * page) * d


def test_pallas_tpu_ragged_paged_attention_is_reported_incomplete():
    rk = pytest.importorskip("jax.experimental.pallas.ops.tpu.ragged_paged_attention.kernel")
    t, qh, kvh, d, pages, page, seqs, per_seq = 64, 8, 2, 128, 32, 16, 4, 8
    rep = acecost.analyze(
        lambda q, kv, lens, idx, cu, n: rk.ragged_paged_attention(q, kv, lens, idx, cu, n, num_kv_pages_per_block=4,
                                                                  num_queries_per_block=16),
        sds((t, qh, d), jnp.bfloat16), sds((pages, page, 2 * kvh, d), jnp.bfloat16), sds((seqs,), jnp.int32),
        sds((seqs, per_seq), jnp.int32), sds((seqs + 1,), jnp.int32), sds((1,), jnp.int32))
    assert not rep.totals.complete
    assert {"dma_start", "dma_wait"} <= {u["primitive"] for u in rep.unsupported}


def test_pallas_megablox_gmm_dynamic_grid_is_reported():
    # megablox gmm: the number of (row tile, group) pairs is data-dependent (a dynamic grid axis);
    # its group metadata (searchsorted: total-order compares) is counted. Reported incomplete for
    # the grid alone, the kernel counted for 1 along that axis: n/tn x 1 x k/tk tiles of 128^3
    gm = pytest.importorskip("jax.experimental.pallas.ops.tpu.megablox.gmm")
    m, k, n, g = 512, 256, 128, 4
    rep = acecost.analyze(lambda lhs, rhs, sizes: gm.gmm(lhs, rhs, sizes, tiling=(128, 128, 128), interpret=True),
                          sds((m, k), jnp.bfloat16), sds((g, k, n), jnp.bfloat16), sds((g,), jnp.int32))
    assert not rep.totals.complete and not rep.unsupported
    assert any("is not static" in w for w in rep.warnings)
    assert rep.totals.macs == (n // 128) * 1 * (k // 128) * 128 ** 3
