"""Re-pricing a walked report equals a fresh analysis, field for field.

``Report.reprice(bits=..., float_bits=...)`` prices the walk's records again
without tracing or walking. The property: for random ``--bits`` override sets
(exact layer names, scopes, aliases, every layer) and ``float_bits``, on zoo,
example, corpus and hand-written models (replayed calls, a scan, packed
nibbles, int8 storage widths, float fallbacks, a LoRA merge, an int32
accumulator capped at a float's width, a training step), the re-priced report
equals ``analyze`` with those options: its JSON (``to_dict``), every record's
origins and causes, and the set of fallback warnings.
"""
from __future__ import annotations

import json
import re

import jax
import jax.numpy as jnp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import acecost
from acecost.api import analyze_target
from acecost.engine.contraction import exact_pattern
from acecost.errors import AcecostError
from acecost.load.resolve import resolve
from acecost.load.target import Target
from acecost.report.model import Report, _fact_dict
from acecost.report.reprice import NotRepriceable

S = jax.ShapeDtypeStruct
F32 = jnp.float32
EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[1] / "examples"


def facts(report: Report):
    return [_fact_dict(r) for r in (*report.layers, *report.weight_prep_layers)]


def assert_same(repriced: Report, fresh: Report) -> None:
    assert json.dumps(repriced.to_dict()) == json.dumps(fresh.to_dict())
    assert facts(repriced) == facts(fresh)
    assert repriced.fallback_warnings == fresh.fallback_warnings


# ------------------------------------------------------------------ models

def _quant(x, bits):
    n = 2 ** (bits - 1) - 1
    return jnp.clip(jnp.round(x), -n, n)


def replayed_calls():
    """One jitted layer applied three times (the walk replays it), float head."""
    @jax.jit
    def layer(w, h):
        return _quant(h, 4) @ _quant(w, 2)

    def f(p, x):
        h = x
        for k in range(3):
            h = jax.nn.relu(layer(p["w"], h))
        return h @ p["head"]

    return Target(f, ({"w": S((64, 64), F32), "head": S((64, 10), F32)}, S((2, 64), F32)), name="replayed")


def unnamed_calls():
    """A jitted function of activations alone (its contraction is named by a counter) called twice:
    with or without overrides, its contractions keep the names a replay gives them."""
    @jax.jit
    def gram(h):
        return _quant(h, 4) @ _quant(h, 4).T

    def f(w, x):
        return jnp.dot(gram(x) + gram(x + 1.0), w)

    return Target(f, (S((2, 8), F32), S((2, 8), F32)), name="unnamed")


def packed_int8():
    """int4 pairs packed in an int8 parameter, an int8 weight at its storage width, an int32 operand."""
    def f(p, x):
        lo, hi = (p["packed"] << 4) >> 4, p["packed"] >> 4
        w = jnp.concatenate([lo, hi], axis=1).astype(F32)
        h = _quant(x, 8) @ w
        g = _quant(h, 8) @ p["int8"].astype(F32)
        acc = jnp.round(g).astype(jnp.int32)  # an int32 reused as an operand: capped at a float's width
        return acc.astype(F32) @ p["out"]

    return Target(f, ({"packed": S((32, 16), jnp.int8), "int8": S((32, 32), jnp.int8),
                       "out": S((32, 8), F32)}, S((4, 32), F32)), name="packed")


def lora_scan():
    """A LoRA merge (weight preparation) and a scan over stacked quantized layers."""
    def f(p, x):
        w = p["w"] + p["a"] @ p["b"]
        h = _quant(x, 4) @ _quant(w, 4)

        def step(c, wl):
            return jax.nn.relu(_quant(c, 2) @ _quant(wl, 3)), None

        h, _ = jax.lax.scan(step, h, p["stack"])
        return h

    return Target(f, ({"w": S((16, 16), F32), "a": S((16, 4), F32), "b": S((4, 16), F32),
                       "stack": S((5, 16, 16), F32)}, S((2, 16), F32)), name="lora_scan")


def example(name: str):
    def make():
        return resolve(str(EXAMPLES / name))
    return make


def zoo(name: str):
    def make():
        from acecost import zoo as z
        return z.get(name).build()
    return make


def qwix_tiled():
    """The corpus's Qwix PTQ MLP with group-wise (tiled) weight scales."""
    pytest.importorskip("qwix")
    import flax.linen as nn
    import qwix

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(16)(nn.relu(nn.Dense(64)(x)))

    rules = [qwix.QuantizationRule(module_path=".*", weight_qtype="int4", act_qtype="int8", tile_size=16)]
    model = qwix.quantize_model(MLP(), qwix.PtqProvider(rules))
    x = S((4, 64), F32)
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    variables = jax.tree.map(lambda a: S(a.shape, a.dtype), variables)
    return Target(lambda v, x: model.apply(v, x), (variables, x), name="qwix_tiled")


def gpt2():
    """The corpus's Hugging Face Flax GPT-2 (2 layers, d 32): attention einsums, a tied LM head."""
    pytest.importorskip("transformers")
    import functools
    import warnings

    import transformers

    config = transformers.GPT2Config(vocab_size=64, n_embd=32, n_layer=2, n_head=4, n_positions=32,
                                     bos_token_id=0, eos_token_id=0, pad_token_id=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = transformers.FlaxGPT2LMHeadModel(config, _do_init=False)
        params = jax.eval_shape(functools.partial(model.init_weights, input_shape=(2, 8)), jax.random.PRNGKey(0))
    params = jax.tree.map(lambda a: S(a.shape, a.dtype), params)

    def fn(params, input_ids):
        positions = jnp.broadcast_to(jnp.arange(input_ids.shape[1]), input_ids.shape)
        return model.module.apply({"params": params}, input_ids, jnp.ones_like(input_ids), positions,
                                  deterministic=True)

    return Target(fn, (params, S((2, 8), jnp.int32)), name="gpt2")


MODELS = {
    "replayed": replayed_calls, "unnamed": unnamed_calls, "packed": packed_int8, "lora_scan": lora_scan,
    "binary_mlp": example("binary_mlp.py"), "quantized_cnn": example("quantized_cnn.py"),
    "scan_layers": example("scan_layers.py"), "tagged": example("tagged.py"),
    "nnx_mlp": example("nnx_mlp.py"),
    "pokebnn": zoo("pokebnn-0.5x"), "resnet50-bf16ends": zoo("resnet50-w4a2-bf16ends"),
    "qwix_tiled": qwix_tiled, "gpt2": gpt2,
}
_BUILT: dict = {}


def built(name: str):
    """(target, the report of a walk with no option given), once per model."""
    if name not in _BUILT:
        target = MODELS[name]()
        _BUILT[name] = target, analyze_target(target)
    return _BUILT[name]


def patterns_of(report: Report) -> list[str]:
    """Patterns that pick layers as users would: whole names, scopes, parts of names, everything."""
    out = {".*", "^nothing-matches$"}
    for r in report.layers + report.weight_prep_layers:
        out.add(exact_pattern(r.name))
        parts = r.name.split("/")
        out.update(re.escape(p) for p in parts if p)
        if len(parts) > 1:
            out.add("^" + re.escape("/".join(parts[:2])))
    return sorted(out)


WIDTH = st.one_of(st.none(), st.sampled_from([1, 2, 3, 4, 8, 16, 32]))
FLOAT_BITS = st.sampled_from([16, 16, 8, 4, 32, "dtype"])


def override_sets(report: Report):
    pats = patterns_of(report)
    one = st.tuples(st.sampled_from(pats), WIDTH, WIDTH).filter(lambda t: t[1] is not None or t[2] is not None)
    return st.lists(one, max_size=5).map(
        lambda items: [f"{p}=" + ",".join("" if b is None else str(b) for b in (a, w)) for p, a, w in items])


def check(name: str, data, examples_seen: list) -> None:
    target, base = built(name)
    bits = data.draw(override_sets(base), label="bits")
    fb = data.draw(FLOAT_BITS, label="float_bits")
    fresh = analyze_target(target, overrides=bits, float_bits=fb)
    try:
        repriced = base.reprice(bits=bits, float_bits=fb)
    except NotRepriceable:
        # only a float_bits that a group-wise scale's pricing compared against is refused
        assert fb != base.meta["float_bits"]
        assert any(r.sides[0].float_decided for r in base.pricing.every)
        return
    assert_same(repriced, fresh)
    # and back: the re-priced report re-prices to the plain one (its hidden warnings come back)
    if fb == base.meta["float_bits"]:
        assert_same(repriced.reprice(bits=[]), base)
    examples_seen.append(name)


SMALL = ["replayed", "unnamed", "packed", "lora_scan", "binary_mlp", "quantized_cnn", "scan_layers", "tagged", "nnx_mlp",
         "qwix_tiled", "gpt2"]


@pytest.mark.parametrize("name", SMALL)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_reprice_equals_a_fresh_analysis(name, data):
    check(name, data, [])


@pytest.mark.parametrize("name", ["pokebnn", "resnet50-bf16ends"])
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_reprice_equals_a_fresh_analysis_zoo(name, data):
    check(name, data, [])


def test_the_models_exercise_what_reprice_must_redo():
    """The models above hold each case re-pricing handles: fallback and storage-width warnings,
    a packed parameter, weight preparation, a FLOAT_WIDTH cap, a replayed call, a scan."""
    kinds = set()
    for name in ("replayed", "packed", "lora_scan", "binary_mlp"):
        _, rep = built(name)
        kinds |= {o for r in rep.layers + rep.weight_prep_layers for o in (r.origin("a").value, r.origin("w").value)}
        if any("storage width" in w for w in rep.warnings):
            kinds.add("storage warning")
        if rep.fallback_warnings:
            kinds.add("fallback warning")
        if rep.weight_prep_layers:
            kinds.add("weight prep")
        if any(r.multiplier > 1 for r in rep.layers):
            kinds.add("loop")
        if any(s.packed for r in rep.layers for s in r.sides):
            kinds.add("packed")
    assert {"float_width", "storage_width", "float_fallback", "inferred", "storage warning", "fallback warning",
            "weight prep", "loop", "packed"} <= kinds


def test_a_training_step_reprices_exactly():
    target = lora_scan()
    base = analyze_target(target, mode="train")
    for bits, fb in ((["stack=1,1"], 16), ([".*=8,"], 8), (["^nothing$=2,2"], "dtype")):
        assert_same(base.reprice(bits=bits, float_bits=fb), analyze_target(target, mode="train", overrides=bits,
                                                                          float_bits=fb))


def test_reprice_from_overrides_back_to_none():
    target, base = built("binary_mlp")
    over = analyze_target(target, overrides=[".*=4,4"])
    assert over.totals.ace != base.totals.ace and not over.fallback_warnings and base.fallback_warnings
    assert_same(over.reprice(bits=[]), base)
    assert_same(acecost.reprice(over), base)


def test_a_cond_chosen_by_cost_is_not_repriced():
    def f(p, x):
        return jax.lax.cond(x[0, 0] > 0, lambda h: _quant(h, 2) @ p, lambda h: h @ p, x)

    rep = acecost.analyze(f, S((8, 8), F32), S((2, 8), F32))
    with pytest.raises(NotRepriceable, match="cond"):
        rep.reprice(bits=[".*=1,1"])


def test_a_report_read_from_json_cannot_be_repriced():
    _, base = built("replayed")
    with pytest.raises(AcecostError, match="no walk to re-price"):
        Report.from_dict(base.to_dict()).reprice(bits=[".*=1,1"])


def test_bad_options_are_refused_as_analyze_refuses_them():
    _, base = built("replayed")
    with pytest.raises(AcecostError, match="invalid float_bits"):
        base.reprice(float_bits=100)
    with pytest.raises(AcecostError, match="bit-widths must be from 1 to 64"):
        base.reprice(bits=["x=0,1"])


def test_the_greedy_example_allocation_equals_a_fresh_analysis():
    import importlib.util

    spec = importlib.util.spec_from_file_location("greedy_bits", EXAMPLES / "greedy_bits.py")
    greedy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(greedy)
    target, base = built("quantized_cnn")
    widest = analyze_target(target, overrides=[".*=8,8"]).totals.ace
    budget = widest // 3
    bits, rep = greedy.allocate(base, budget)
    fresh = analyze_target(target, overrides=bits)
    assert_same(rep, fresh)
    # each layer at its step's widths: ACE is the sum of MACs x A x W, within the budget
    steps = {re.match(r"\^(.*)\$=", b)[1].replace("\\", ""): tuple(map(int, b.rpartition("=")[2].split(",")))
             for b in bits}
    assert sum(r.macs * steps[r.name][0] * steps[r.name][1] for r in base.layers) == fresh.totals.ace <= budget
    assert fresh.totals.ace < widest and any(a < 8 for a, _ in steps.values())
    with pytest.raises(ValueError, match="no allocation reaches"):
        greedy.allocate(base, 1)


def test_names_do_not_depend_on_whether_overrides_are_given():
    target, base = built("unnamed")
    assert [r.name for r in base.layers] == ["dot_general_1#1", "dot_general_1#2", "arg0"]
    for bits in (["nothing=1,1"], ["dot_general_2=1,1"], ["#2=2,2"]):
        assert [r.name for r in analyze_target(target, overrides=bits).layers] == [r.name for r in base.layers]
    picked = analyze_target(target, overrides=["#2=2,2"])
    assert [(r.bits_a, r.bits_w) for r in picked.layers] == [(4, 4), (2, 2), (16, 16)]
