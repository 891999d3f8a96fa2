"""Memory traffic: read_bits / write_bits per contraction, memory_bits and memory_bits_unfused.

Every expected number is a closed form from the shapes and the widths the values hold
(docs/metrics.md, "Memory traffic"), or 8 x the ``hbm_bytes`` that jax.experimental.roofline
counts from the dtypes alone on float models, where the two must agree.
"""
from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import pytest
from jax import lax
from jax.experimental import roofline

import acecost
from acecost.ci.budget import evaluate
from acecost.ci.diff import diff_reports, validate_report
from acecost.errors import AcecostError, ConfigError
from acecost.figures.breakdown import breakdown
from acecost.report.model import BitsOrigin, Report
from acecost.report.render import group_rows, to_csv, total_lines
from acecost.report.traffic import held_width, memory_traffic

S = jax.ShapeDtypeStruct
F32, BF16 = jnp.float32, jnp.bfloat16


def fake_quant(x, bits, scale=0.05):
    """Symmetric fake quantization: 2**bits levels times a scalar scale."""
    top = 2 ** (bits - 1)
    return jnp.clip(jnp.round(x / scale), -top, top - 1) * scale


# ------------------------------------------------------------ the checks

DENSE = 64 * 512 * 8 + 512 * 2048 * 4 + 64 * 2048 * 32
assert DENSE == 8_650_752


def test_fake_quantized_dense_layer():
    """x [64, 512] at 8 bits times w [512, 2048] at 4 bits, float32 out."""
    def dense(w, x):
        return fake_quant(x, 8) @ fake_quant(w, 4)

    rep = acecost.analyze(dense, S((512, 2048), F32), S((64, 512), F32))
    (r,) = rep.layers
    assert (r.bits_a, r.bits_w) == (8, 4)
    assert (r.read_bits, r.write_bits) == (64 * 512 * 8 + 512 * 2048 * 4, 64 * 2048 * 32)
    assert rep.totals.memory_bits == DENSE


def test_integer_dense_layer_with_int4_weights_moves_the_same_bits():
    """Sub-byte storage is exact in bits: an int4 parameter moves 4 bits per element."""
    def dense(w, x):
        return lax.dot(x, w.astype(jnp.int8), preferred_element_type=jnp.int32)

    rep = acecost.analyze(dense, S((512, 2048), jnp.int4), S((64, 512), jnp.int8))
    assert rep.totals.memory_bits == DENSE


def test_tagged_operands_are_held_at_their_declared_width():
    def dense(w, x):
        return acecost.tag(x, bits=8) @ acecost.tag(w, bits=4)

    assert acecost.analyze(dense, S((512, 2048), F32), S((64, 512), F32)).totals.memory_bits == DENSE


def _scan(w, h):
    return lax.scan(lambda h, wi: (jnp.tanh(h @ wi), None), h, w)[0]


def test_bfloat16_scan_counts_every_step():
    """12 steps of h = tanh(h @ w[i]), h [32, 512], w [12, 512, 512], bfloat16."""
    args = (S((12, 512, 512), BF16), S((32, 512), BF16))
    rep = acecost.analyze(_scan, *args)
    step = (32 * 512 + 512 * 512 + 32 * 512) * 16
    assert rep.totals.memory_bits == 12 * step == 56_623_104
    (r,) = rep.layers
    assert (r.multiplier, r.read_bits, r.write_bits) == (12, 12 * (32 * 512 + 512 * 512) * 16, 12 * 32 * 512 * 16)
    # the tanh of each step reads and writes h: the unfused total adds it
    assert rep.totals.memory_bits_unfused == 12 * (step + 2 * 32 * 512 * 16)
    # roofline prices the scan body once
    _, res = roofline.roofline(_scan)(*args)
    assert 8 * res.hbm_bytes == step


# ------------------------------------------------------------ against roofline

def _corpus_models():
    pytest.importorskip("transformers")
    pytest.importorskip("haiku")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "corpus"))
    import test_corpus_transformers as T
    import test_corpus_vision as V

    model, params = T.build("FlaxBertModel", T.bert_config(), (T.B, T.T))

    def bert(params, a, b, c, d):
        return model.module.apply({"params": params}, a, b, c, d, deterministic=True)

    out = {"bert": (bert, params, T.ids(), T.ids(), T.ids(), T.ids())}
    for kind in ("llama", "gemma"):
        cls, config, _, _ = T.llama_like(kind)
        m, p = T.build(cls, config, (T.B, T.T))
        out[kind] = (T.decoder_apply(m), p, T.ids(), T.ids())
    apply, params, x = V.haiku_mlp()
    out["haiku-mlp"] = (apply, params, x)
    return out


@pytest.mark.filterwarnings("ignore")
def test_float_corpus_models_without_loops_move_what_roofline_counts():
    """On an unrolled float model every operand is held at its dtype's width, as roofline
    counts it: memory_bits = 8 x hbm_bytes (the contractions' operands and results)."""
    for name, (fn, *args) in _corpus_models().items():
        rep = acecost.analyze(fn, *args)
        assert not rep.loops and rep.totals.complete, name
        assert all(r.origin("a").is_float and r.origin("w").is_float for r in rep.layers), name
        _, res = roofline.roofline(fn)(*args)
        assert rep.totals.memory_bits == 8 * res.hbm_bytes, name


def test_a_convolution_moves_its_input_kernel_and_output():
    """roofline counts a conv only in its unfused total: the conv's own rule, lhs + rhs + out."""
    def conv(w, x):
        return lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))

    args = (S((3, 3, 16, 32), F32), S((2, 10, 10, 16), F32))
    rep = acecost.analyze(conv, *args)
    expected = (3 * 3 * 16 * 32 + 2 * 10 * 10 * 16 + 2 * 10 * 10 * 32) * 32
    assert rep.totals.memory_bits == rep.totals.memory_bits_unfused == expected
    _, res = roofline.roofline(conv)(*args)
    assert 8 * res.unfused_hbm_bytes == expected


# ------------------------------------------------------------ held widths

def test_a_float_operand_is_held_at_its_dtype_width_not_float_bits():
    args = (S((256, 128), F32), S((8, 256), BF16))
    expected = 8 * 256 * 16 + 256 * 128 * 32 + 8 * 128 * 32  # bf16 x, float32 w, float32 out
    for float_bits in (8, 16, 32, "dtype"):
        rep = acecost.analyze(lambda w, x: x.astype(F32) @ w, *args, float_bits=float_bits)
        # the bf16 input is converted to float32 before the product: it is read as float32
        assert rep.totals.memory_bits == 8 * 256 * 32 + 256 * 128 * 32 + 8 * 128 * 32, float_bits
    rep = acecost.analyze(lambda w, x: lax.dot(x, w.astype(BF16), preferred_element_type=F32), *args, float_bits=8)
    assert (rep.layers[0].bits_a, rep.layers[0].bits_w) == (8, 8)
    assert rep.totals.memory_bits == 8 * 256 * 16 + 256 * 128 * 16 + 8 * 128 * 32
    assert expected != rep.totals.memory_bits  # the weight was converted to bf16 first


def test_an_override_sets_the_width_held():
    rep = acecost.analyze(lambda w, x: x @ w, S((256, 128), F32), S((8, 256), F32), overrides=[".*=4,2"])
    r = rep.layers[0]
    assert (r.bits_a, r.bits_w) == (4, 2)
    assert (r.read_bits, r.write_bits) == (8 * 256 * 4 + 256 * 128 * 2, 8 * 128 * 32)
    assert r.held_bits == (4, 2, 32)


def test_the_pure_functions():
    assert memory_traffic((64, 512), (512, 2048), (64, 2048), 8, 4, 32) == (64 * 512 * 8 + 512 * 2048 * 4,
                                                                           64 * 2048 * 32)
    assert held_width(BitsOrigin.FLOAT_FALLBACK, 16, 32) == 32  # --float-bits 16, a float32 in memory
    assert held_width(BitsOrigin.INFERRED, 3, 32) == 3
    assert held_width(BitsOrigin.OVERRIDE, 4, 32) == 4
    assert held_width(BitsOrigin.DECLARED, 2, 16) == 2
    assert held_width(BitsOrigin.FLOAT_WIDTH, 16, 32, proven=20) == 20  # proven levels, as size counts them


# ------------------------------------------------------------ the unfused total

def test_unfused_counts_every_equation_at_its_storage_width():
    M, K, N = 8, 256, 128

    def layer(p, x):
        return jnp.tanh(x @ p["w"] + p["b"])

    rep = acecost.analyze(layer, {"w": S((K, N), F32), "b": S((N,), F32)}, S((M, K), F32))
    dot = (M * K + K * N + M * N) * 32
    assert rep.totals.memory_bits == dot
    # jnp broadcasts the bias to [1, N] (weight preparation: [N] in, [1, N] out); the add reads
    # [M, N] and [1, N] and writes [M, N]; tanh reads and writes [M, N]
    assert rep.totals.memory_bits_unfused == dot + (2 * M * N + N) * 32 + 2 * M * N * 32
    prep = rep.totals.weight_prep
    assert (prep.memory_bits, prep.memory_bits_unfused) == (0, (N + N) * 32)


def test_loops_multiply_and_dead_code_does_not_count():
    def f(w, x):
        _ = x @ (2 * w)  # dead: nothing reads it
        return lax.fori_loop(0, 5, lambda i, h: h @ w, x)

    rep = acecost.analyze(f, S((64, 64), F32), S((4, 64), F32))
    step = (4 * 64 + 64 * 64 + 4 * 64) * 32
    assert rep.totals.memory_bits == 5 * step
    assert len(rep.layers) == 1 and rep.layers[0].multiplier == 5


def test_weight_preparation_is_reported_apart():
    """A LoRA merge W + A @ B is done once: its contraction moves bits in weight_prep, not the totals."""
    K, N, R, M = 128, 64, 4, 8

    def lora(p, x):
        return x @ (p["w"] + p["a"] @ p["b"])

    params = {"w": S((K, N), F32), "a": S((K, R), F32), "b": S((R, N), F32)}
    rep = acecost.analyze(lora, params, S((M, K), F32))
    assert rep.totals.memory_bits == (M * K + K * N + M * N) * 32
    prep = rep.totals.weight_prep
    assert prep.memory_bits == (K * R + R * N + K * N) * 32
    assert prep.memory_bits_unfused == prep.memory_bits + 3 * K * N * 32  # the add
    assert [r.read_bits for r in rep.weight_prep_layers] == [(K * R + R * N) * 32]


def test_a_training_step_counts_both_phases():
    rep = acecost.analyze_train(lambda w, x: x @ w, S((32, 16), F32), S((4, 32), F32))
    phases = rep.phases
    assert phases["forward"]["memory_bits"] + phases["backward"]["memory_bits"] == rep.totals.memory_bits
    assert rep.totals.memory_bits == sum(r.read_bits + r.write_bits for r in rep.layers)


# ------------------------------------------------------------ reports and commands

def _dense_report():
    return acecost.analyze(lambda w, x: fake_quant(x, 8) @ fake_quant(w, 4), S((512, 2048), F32), S((64, 512), F32))


def _older(data: dict) -> dict:
    """The report as saved before memory was counted."""
    old = json.loads(json.dumps(data))
    for key in ("memory_bits", "memory_bits_unfused", "time_s"):
        del old["totals"][key]
        old["totals"]["weight_prep"].pop(key, None)
    for r in old["layers"]:
        del r["read_bits"], r["write_bits"]
    return old


def test_json_carries_the_fields_and_an_older_report_loads_as_unknown():
    rep = _dense_report()
    data = json.loads(json.dumps(rep.to_dict()))
    assert data["totals"]["memory_bits"] == DENSE and data["totals"]["time_s"] is None
    assert data["layers"][0]["read_bits"] + data["layers"][0]["write_bits"] == DENSE
    assert "time_s" not in data["layers"][0]  # only with --hardware
    assert Report.from_dict(data).totals == rep.totals

    old = Report.from_dict(_older(data))
    assert old.totals.memory_bits is None and old.totals.memory_bits_unfused is None
    assert old.layers[0].read_bits is None
    assert "memory unknown" in old.summary()
    assert ("Memory traffic", "unknown", "not counted in this report") in total_lines(old.totals)
    with pytest.raises(ConfigError, match="memory_bits is unknown"):
        evaluate(_older(data)["totals"] | {"memory_bits": None}, {"memory_bits": 1})
    with pytest.raises(AcecostError, match="read_bits"):
        breakdown("old", _older(data), x="memory_bits")
    validate_report(_older(data) | {"totals": {**_older(data)["totals"], "memory_bits": None}}, "old.json")
    diff = diff_reports(_older(data), data)  # unknown on one side: no delta, never a 0
    assert "memory_bits" not in {t.key for t in diff.totals} and "ace" in {t.key for t in diff.totals}


def test_budget_csv_breakdown_and_diff_read_memory_bits():
    rep = _dense_report()
    data = rep.to_dict()
    (row,) = evaluate(data["totals"], {"memory_bits": DENSE})
    assert row.passed and row.value == DENSE
    (row,) = evaluate(data["totals"], {"memory_bits": DENSE - 1})
    assert not row.passed
    header, line = to_csv(rep, group_rows(rep)).splitlines()
    assert dict(zip(header.split(","), line.split(",")))["memory_bits"] == str(DENSE)
    assert breakdown("dense", rep, x="memory_bits").known == DENSE
    wider = acecost.analyze(lambda w, x: x @ w, S((512, 2048), F32), S((64, 512), F32))
    (memory,) = [t for t in diff_reports(data, wider.to_dict()).totals if t.key == "memory_bits"]
    assert memory.delta == (64 * 512 + 512 * 2048) * 32 - (64 * 512 * 8 + 512 * 2048 * 4)


def test_plot_draws_memory_bits_and_leaves_out_a_reference_without_the_metric(tmp_path):
    from click.testing import CliRunner

    from acecost.cli import main

    report = tmp_path / "dense.json"
    report.write_text(json.dumps(_dense_report().to_dict()))
    res = CliRunner().invoke(main, ["plot", f"dense={report}", "--accuracy", "dense=50", "--x", "memory_bits",
                                    "-o", str(tmp_path / "p.png")])
    assert res.exit_code == 0, res.output
    assert "drawn without the reference" not in res.output  # the stored zoo costs hold memory_bits
    assert "8.65Mbit" in res.output  # the point, at DENSE bits
    timed = tmp_path / "timed.json"
    timed.write_text(json.dumps(acecost.analyze(lambda w, x: x @ w, S((64, 32), F32), S((16, 64), F32),
                                                hardware="h100-sxm").to_dict()))
    res = CliRunner().invoke(main, ["plot", f"timed={timed}", "--accuracy", "timed=50", "--x", "time_s",
                                    "-o", str(tmp_path / "t.png")])
    assert res.exit_code == 0, res.output
    assert "the bundled PokeBNN reference has no time_s in its stored costs: drawn without the reference" \
        in res.output
    old = tmp_path / "old.json"
    old.write_text(json.dumps(_older(_dense_report().to_dict())))
    res = CliRunner().invoke(main, ["plot", f"old={old}", "--accuracy", "old=50", "--x", "memory_bits",
                                    "--reference", "none", "-o", str(tmp_path / "q.png")])
    assert res.exit_code == 2 and "the analysis has no totals.memory_bits" in res.output, res.output


def test_a_cond_moves_the_bits_of_the_branch_it_prices():
    def f(p, x):
        return lax.cond(x[0, 0] > 0, lambda x: x @ p["big"], lambda x: (x @ p["small"]) @ p["up"], x)

    params = {"big": S((64, 64), F32), "small": S((64, 8), F32), "up": S((8, 64), F32)}
    rep = acecost.analyze(f, params, S((4, 64), F32))  # --cond max: the costlier branch (big: 16,384 MACs)
    assert rep.totals.macs == 4 * 64 * 64
    assert rep.totals.memory_bits == (4 * 64 + 64 * 64 + 4 * 64) * 32
