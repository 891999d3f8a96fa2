"""examples/llama_decode.py: the cost of one generated token, against closed forms.

Every expected number is computed here from the configuration below (the
shapes of a Llama-style decoder layer), never read back from acecost:

* each projection is ``x [B, K] @ W [K, N]`` with W int4 codes and a
  bfloat16 scale per group of G rows: ``B K N`` MACs at 16 x 4 bits
  (a float activation, the group's scale factored out of its partial sum);
* attention over the int8 cache of L slots is ``q . k`` and ``p . v``, each
  ``B H hd L`` MACs at 16 x 8 bits (one cache scale per token and kv head);
* ``size``: int4 codes at 4 bits, scales, norms and the embedding table at
  16 (bfloat16 leaves that never enter a contraction), the router at 16;
* ``memory_bits``: each contraction reads its operands and writes its output
  once, at the widths they hold: the weights at 4 bits, the cache at 8, a
  bfloat16 activation at 16, a float32 output at 32.

The configuration is small so that a point is priced in well under a second.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import acecost
from acecost.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "llama_decode.py"

DIM, LAYERS, HEADS, KV_HEADS, FFN, VOCAB, GROUP = 256, 2, 4, 2, 512, 1000, 128
HD = DIM // HEADS  # 64
CFG = dict(dim=DIM, layers=LAYERS, heads=HEADS, kv_heads=KV_HEADS, ffn=FFN, vocab=VOCAB, group=GROUP)
A, W, KV, FLOAT = 16, 4, 8, 16  # bf16 activation, int4 weight codes, int8 cache codes, bf16 router

# ------------------------------------------------------------------ closed forms


def attention_matrices() -> dict[str, tuple[int, int]]:
    """Each attention projection's (K, N)."""
    return {"q": (DIM, HEADS * HD), "k": (DIM, KV_HEADS * HD), "v": (DIM, KV_HEADS * HD),
            "o": (HEADS * HD, DIM)}


def ffn_matrices() -> dict[str, tuple[int, int]]:
    return {"gate": (DIM, FFN), "up": (DIM, FFN), "down": (FFN, DIM)}


def int4_bits(k: int, n: int) -> int:
    """Stored bits of one group-wise int4 matrix: 4-bit codes, a bfloat16 scale per group of rows."""
    return k * n * W + (k // GROUP) * n * 16


def weight_macs_per_token(experts_per_token: int = 1) -> int:
    """MACs of one token through the weights it reads: every layer's projections and the head."""
    attn = sum(k * n for k, n in attention_matrices().values())
    ffn = sum(k * n for k, n in ffn_matrices().values())
    return LAYERS * (attn + experts_per_token * ffn) + DIM * VOCAB


def cache_macs_per_token(L: int) -> int:
    """q . k and p . v over L slots, in every layer: each is H heads x hd x L."""
    return LAYERS * 2 * HEADS * HD * L


def dense_ace(L: int) -> int:
    return weight_macs_per_token() * A * W + cache_macs_per_token(L) * A * KV


def linear_traffic(rows: int, k: int, n: int) -> tuple[int, int]:
    """(read, write) bits of ``x [rows, k] bf16 @ W [k, n]`` int4 -> bf16."""
    return rows * k * A + k * n * W, rows * n * A


def attention_traffic(L: int, batch: int = 1) -> dict[str, tuple[int, int]]:
    """(read, write) bits of one layer's ``q . k`` (float32 scores) and ``p . v`` (bfloat16 out)."""
    cache = batch * L * KV_HEADS * HD * KV  # one kv head's codes per query group, read once
    return {"scores": (batch * HEADS * HD * A + cache, batch * HEADS * L * 32),
            "mix": (batch * HEADS * L * A + cache, batch * HEADS * HD * A)}


def dense_memory_bits(L: int) -> int:
    per_layer = [linear_traffic(1, k, n) for k, n in (*attention_matrices().values(), *ffn_matrices().values())]
    per_layer += attention_traffic(L).values()
    return LAYERS * sum(r + w for r, w in per_layer) + sum(linear_traffic(1, DIM, VOCAB))


def common_size_bits() -> int:
    """Embedding, norms, attention and the head: every layout has them."""
    per_layer = 2 * DIM * 16 + sum(int4_bits(k, n) for k, n in attention_matrices().values())
    return VOCAB * DIM * 16 + LAYERS * per_layer + DIM * 16 + int4_bits(DIM, VOCAB)


def ffn_size_bits() -> int:
    return LAYERS * sum(int4_bits(k, n) for k, n in ffn_matrices().values())


def test_closed_forms_by_hand():
    """The formulas against numbers worked out by hand for this configuration."""
    # per layer: q 65,536 + k 32,768 + v 32,768 + o 65,536 + 3 x 131,072; head 256,000
    assert weight_macs_per_token() == 2 * (196_608 + 393_216) + 256_000 == 1_435_648
    assert cache_macs_per_token(64) == 2 * 2 * 4 * 64 * 64 == 65_536
    assert dense_ace(64) == 1_435_648 * 64 + 65_536 * 128 == 100_270_080
    # weights 1,435,648 x 4 bits; the cache 2 layers x 2 reads x 64 slots x 2 kv heads x 64 x 8 bits;
    # the projections' inputs 2 x (3 x 256 + 256 + 2 x 256 + 512) + 256 = 4,352 and outputs
    # 2 x (256 + 2 x 128 + 256 + 2 x 512 + 256) + 1000 = 5,096 at 16 bits; per layer, q (256) and
    # probs (4 x 64) read and p . v's output (256) written at 16, the scores (4 x 64) written at 32
    assert dense_memory_bits(64) == (1_435_648 * 4 + 2 * 2 * 64 * 2 * 64 * 8 + (4_352 + 5_096) * 16
                                     + 2 * (256 + 256 + 256) * 16 + 2 * 256 * 32) == 6_196_864


# ------------------------------------------------------------------ loading and analysing


def load_example():
    spec = importlib.util.spec_from_file_location("llama_decode_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EX = load_example()


def analyze(**kw) -> acecost.Report:
    fn, args = EX.acecost_model(**CFG, **kw)
    return acecost.analyze(fn, *args)


# ------------------------------------------------------------------ one token, dense


@pytest.mark.parametrize("L", [16, 64])
def test_one_token_costs_the_closed_form(L):
    rep = analyze(L=L)
    assert rep.totals.complete and rep.unsupported == []
    assert rep.totals.macs == weight_macs_per_token() + cache_macs_per_token(L)
    assert rep.totals.ace == dense_ace(L)
    assert rep.totals.size_bits == common_size_bits() + ffn_size_bits()
    # weights read once per token at 4 bits, the cache at 8
    assert rep.totals.memory_bits == dense_memory_bits(L)


def test_each_record_reads_its_weights_at_4_bits_and_the_cache_at_8():
    L = 32
    rep = analyze(L=L)
    got = {r.name: (r.bits_a, r.bits_w, r.macs, r.multiplier) for r in rep.layers}
    want = {f"attn/{n}": (A, W, LAYERS * k * m, LAYERS) for n, (k, m) in attention_matrices().items()}
    want |= {f"ffn/{n}": (A, W, LAYERS * k * m, LAYERS) for n, (k, m) in ffn_matrices().items()}
    want |= {"attn/scores/bgrd,blgd->bgrl": (A, KV, LAYERS * HEADS * HD * L, LAYERS),
             "attn/mix/bgrl,blgd->bgrd": (A, KV, LAYERS * HEADS * L * HD, LAYERS),
             "lm_head": (A, W, DIM * VOCAB, 1)}
    assert got == want
    traffic = {r.name: (r.read_bits, r.write_bits) for r in rep.layers}
    want_traffic = {f"attn/{n}": linear_traffic(1, k, m) for n, (k, m) in attention_matrices().items()}
    want_traffic |= {f"ffn/{n}": linear_traffic(1, k, m) for n, (k, m) in ffn_matrices().items()}
    att = attention_traffic(L)
    want_traffic |= {"attn/scores/bgrd,blgd->bgrl": att["scores"], "attn/mix/bgrl,blgd->bgrd": att["mix"]}
    # every layer's record is its traffic times the scan's length; the head runs once
    want_traffic = {name: (LAYERS * r, LAYERS * w) for name, (r, w) in want_traffic.items()}
    want_traffic["lm_head"] = linear_traffic(1, DIM, VOCAB)
    assert traffic == want_traffic
    # the cache operand is the int8 cache itself, one kv head per query group (not repeated per head)
    scores = next(r for r in rep.layers if r.name.startswith("attn/scores"))
    assert scores.rhs_shape == [1, L, KV_HEADS, HD]


# ------------------------------------------------------------------ the sweep over L


def test_sweep_over_context_length_is_affine_in_L():
    """Cost per token against L: a fixed part (the weights) plus 2 H hd x 16 x 8 per slot and layer."""
    Ls = [16, 32, 128]
    grid = {"L": Ls, **{k: [v] for k, v in CFG.items()}}
    df = acecost.sweep(str(EXAMPLE), grid, jobs=1, cache=False)
    assert df["error"].isna().all()
    assert list(df["L"]) == Ls
    assert [int(v) for v in df["ace"]] == [dense_ace(L) for L in Ls]
    assert [int(v) for v in df["memory_bits"]] == [dense_memory_bits(L) for L in Ls]
    per_slot = LAYERS * 2 * HEADS * HD * A * KV
    assert int(df["ace"].iloc[1] - df["ace"].iloc[0]) == 16 * per_slot
    # per slot and layer: its key and value codes (2 kv heads x 64, 8 bits each, read once per
    # product), a probability read (16) and a float32 score written for each of the 4 heads
    per_slot_bits = LAYERS * (2 * KV_HEADS * HD * KV + HEADS * (16 + 32))
    assert int(df["memory_bits"].iloc[1] - df["memory_bits"].iloc[0]) == 16 * per_slot_bits


def test_sweep_table_and_breakdown_figure_from_the_command_line(tmp_path):
    """``acecost sweep --grid L=...`` writes the table; ``acecost plot --breakdown`` of the per-L
    analyses draws cost per token against L, split by layer."""
    fixed = [a for k, v in CFG.items() for a in ("--grid", f"{k}={v}")]
    out = tmp_path / "decode.csv"
    runner = CliRunner()
    res = runner.invoke(main, ["sweep", str(EXAMPLE), "--grid", "L=16,64", *fixed, "--no-cache", "-j", "1",
                               "-q", "-o", str(out)])
    assert res.exit_code == 0, res.output
    import pandas as pd
    table = pd.read_csv(out)
    assert list(table["ace"]) == [dense_ace(16), dense_ace(64)]
    files = []
    for L in (16, 64):
        params = [a for k, v in {**CFG, "L": L}.items() for a in ("--param", f"{k}={v}")]
        res = runner.invoke(main, ["analyze", str(EXAMPLE), *params, "--format", "json", "-q"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["totals"]["ace"] == dense_ace(L)
        path = tmp_path / f"L{L}.json"
        path.write_text(res.stdout)
        files.append(f"L{L}={path}")
    png = tmp_path / "decode.png"
    res = runner.invoke(main, ["plot", "--breakdown", *files, "--depth", "2", "-o", str(png)])
    assert res.exit_code == 0, res.output
    assert png.stat().st_size > 0
    rows = [line.split() for line in res.stdout.splitlines()]
    scores = {r[0]: r for r in rows if len(r) > 1 and r[1] == "attn/scores"}
    assert set(scores) == {"L16", "L64"} and scores["L16"][2] == scores["L64"][2] == f"{A}x{KV}"


# ------------------------------------------------------------------ mixture of experts

EXPERTS, TOP_K = 8, 2
ROUTING = ((0, 1), (0, 2), (0, 3), (4, 5), (6, 7), (1, 4))  # six decode tokens, two experts each
BATCH = len(ROUTING)
TOKENS = {0: 3, 1: 2, 2: 1, 3: 1, 4: 2, 5: 1, 6: 1, 7: 1}  # counted by hand from ROUTING


def moe_report() -> acecost.Report:
    return analyze(L=32, experts=EXPERTS, top_k=TOP_K, batch=BATCH,
                   routing=";".join(",".join(map(str, t)) for t in ROUTING))


def test_each_expert_record_counts_the_tokens_routed_to_it():
    rep = moe_report()
    assert sum(TOKENS.values()) == BATCH * TOP_K
    for e, n in TOKENS.items():
        for name, (k, m) in ffn_matrices().items():
            (rec,) = [r for r in rep.layers if r.name == f"ffn/expert_{e}/{name}"]
            assert rec.lhs_shape == [n, k]
            assert (rec.bits_a, rec.bits_w, rec.macs, rec.multiplier) == (A, W, LAYERS * n * k * m, LAYERS)


def test_moe_ace_counts_routed_tokens_and_size_counts_every_expert():
    L = 32
    rep = moe_report()
    router_macs = LAYERS * BATCH * DIM * EXPERTS
    dense_part = BATCH * (weight_macs_per_token(experts_per_token=0) + cache_macs_per_token(L))
    experts = LAYERS * sum(TOKENS.values()) * sum(k * n for k, n in ffn_matrices().values())
    assert rep.totals.macs == dense_part + experts + router_macs
    assert rep.totals.ace == (BATCH * (weight_macs_per_token(0) * A * W + cache_macs_per_token(L) * A * KV)
                              + experts * A * W + router_macs * FLOAT * FLOAT)
    # every expert's codes and scales, whichever tokens it got, and the bfloat16 router
    assert rep.totals.size_bits == common_size_bits() + EXPERTS * ffn_size_bits() + LAYERS * DIM * EXPERTS * 16


def test_moe_memory_reads_the_routed_experts_once_per_step():
    """Each expert's weights are read once for all the tokens routed to it (not once per token);
    the router reads its bfloat16 matrix at 16 bits."""
    L = 32
    rep = moe_report()
    per_layer = [linear_traffic(BATCH, k, n) for k, n in attention_matrices().values()]
    per_layer += attention_traffic(L, BATCH).values()
    per_layer.append((BATCH * DIM * A + DIM * EXPERTS * FLOAT, BATCH * EXPERTS * A))  # the router
    per_layer += [linear_traffic(n, k, m) for n in TOKENS.values() for k, m in ffn_matrices().values()]
    want = LAYERS * sum(r + w for r, w in per_layer) + sum(linear_traffic(BATCH, DIM, VOCAB))
    assert rep.totals.memory_bits == want
