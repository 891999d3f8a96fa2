"""Why an operand's width is what it is, as data: ``OpRecord.bits_*_origin`` and ``bits_*_cause``.

Each small function makes its operands one way (a tag, a sign, a float parameter,
the output of a sum...), so the origin and cause each operand must get follow
from how it is built, not from the tool. The fallback summary and the energy
estimate are checked against the rules they used when they read the source
text, restated here as they were, and the JSON is checked to hold none of it.
"""
import itertools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.core import ShapedArray
from jax.extend.core import Primitive

import acecost
from acecost.report.energy import estimate, load_table, mac_pj
from acecost.report.model import BitsOrigin, FallbackCause, Report, to_json
from acecost.report.render import fallback_summary

S, F32 = jax.ShapeDtypeStruct, jnp.float32
X = S((4, 8), F32)
W = S((8, 3), F32)
V = S((3, 5), F32)

D, I, O, FB, SW, FW, M = (BitsOrigin.DECLARED, BitsOrigin.INFERRED, BitsOrigin.OVERRIDE,
                          BitsOrigin.FLOAT_FALLBACK, BitsOrigin.STORAGE_WIDTH, BitsOrigin.FLOAT_WIDTH,
                          BitsOrigin.MEASURED)
C = FallbackCause

_IDS = itertools.count()


def _no_bit_rule_primitive() -> Primitive:
    """A primitive of this file only: jax knows its shape, acecost has no bit rule for it."""
    prim = Primitive(f"acecost_test_opaque_{next(_IDS)}")
    prim.def_abstract_eval(lambda x: ShapedArray(x.shape, x.dtype))
    prim.def_impl(lambda x: x)
    return prim


OPAQUE = _no_bit_rule_primitive()


def _scan_of_dots(p, x):
    """A carry that starts as zeros and is then a dot's output: the dot in the body reads it."""
    def body(h, _):
        return (h + x) @ jnp.sign(p["w"]) @ jnp.sign(p["v"]) @ jnp.sign(p["u"]), None
    return jax.lax.scan(body, jnp.zeros((4, 8), F32), None, length=3)[0]


# name -> (fn, params, inputs, options, [(bits_a, origin_a, cause_a, bits_w, origin_w, cause_w) per layer])
CASES = {
    "tagged": (lambda p, x: acecost.tag(x, bits=4) @ acecost.tag(p["w"], bits=2), {"w": W}, (X,), {},
               [(4, D, None, 2, D, None)]),
    "sign_binarized": (lambda p, x: jnp.sign(x) @ jnp.sign(p["w"]), {"w": W}, (X,), {},
                       [(1, I, None, 1, I, None)]),
    # a float parameter and a float model input, both without a quantizer (float_bits 16)
    "float_parameter_and_input": (lambda p, x: x @ p["w"], {"w": W}, (X,), {},
                                  [(16, FB, C.MODEL_INPUT, 16, FB, C.FLOAT_PARAMETER)]),
    # a float32 parameter holding 3 values (-1, 0, 1) in each column: 2 bits once measured
    "measured": (lambda p, x: x @ p["w"], {"w": np.array([[-1, 0, 1], [0, 1, -1], [1, -1, 0]] * 3, np.float32)[:8]},
                 (X,),
                 {"levels": "measured"}, [(16, FB, C.MODEL_INPUT, 2, M, None)]),
    "override": (lambda p, x: x @ p["w"], {"w": W}, (X,), {"overrides": ["^w$=8,4"]},
                 [(8, O, None, 4, O, None)]),
    # the first dot's output feeds the second dot unquantized
    "dot_output": (lambda p, x: (jnp.sign(x) @ jnp.sign(p["w"])) @ jnp.sign(p["v"]), {"w": W, "v": V}, (X,), {},
                   [(1, I, None, 1, I, None), (16, FB, C.DOT_OUTPUT, 1, I, None)]),
    "sum": (lambda p, x: jnp.sum(jnp.sign(x), axis=0, keepdims=True) @ jnp.sign(p["w"]), {"w": W}, (X,), {},
            [(16, FB, C.SUM, 1, I, None)]),
    "unbounded_round": (lambda p, x: jnp.round(x * 3.0) @ jnp.sign(p["w"]), {"w": W}, (X,), {},
                        [(16, FB, C.UNBOUNDED_ROUNDING, 1, I, None)]),
    "no_bit_rule": (lambda p, x: OPAQUE.bind(jnp.sign(x)) @ jnp.sign(p["w"]), {"w": W}, (X,), {},
                    [(16, FB, C.NO_BIT_RULE, 1, I, None)]),
    # int8 codes frozen in the parameter: 256 levels, 8 bits, as stored
    "int8_parameter": (lambda p, x: jnp.sign(x) @ p["w"].astype(F32), {"w": S((8, 3), jnp.int8)}, (X,), {},
                       [(1, I, None, 8, SW, None)]),
    # sign codes times a per-row scale of the contracting dimension: the scale does not factor out
    "scale_along_k": (lambda p, x: jnp.sign(x) @ (jnp.sign(p["w"]) * p["s"][:, None]),
                      {"w": W, "s": S((8,), F32)}, (X,), {}, [(1, I, None, 16, FB, C.SCALE_VARIES)]),
    # ... which --scales codes prices by its 2 codes
    "scale_along_k_codes": (lambda p, x: jnp.sign(x) @ (jnp.sign(p["w"]) * p["s"][:, None]),
                            {"w": W, "s": S((8,), F32)}, (X,), {"scales": "codes"}, [(1, I, None, 1, I, None)]),
    # an int32 sum of 8 int8 x int8 products: in [8 * -128 * 127, 8 * 128 * 128], 261121 levels = 18 bits,
    # more than a 16-bit float: multiplied as a float of 16 bits
    "wider_than_float": (lambda p, x: jax.lax.dot(x, p["w"], preferred_element_type=jnp.int32).astype(F32)
                         @ jnp.sign(p["v"]), {"w": S((8, 3), jnp.int8), "v": V}, (S((4, 8), jnp.int8),), {},
                         [(8, I, None, 8, SW, None), (16, FW, None, 1, I, None)]),
    # integers read as the bits of floats: a cause with no category of its own
    "bitcast": (lambda p, x: jax.lax.bitcast_convert_type(jnp.sign(x).astype(jnp.int32), F32) @ jnp.sign(p["w"]),
                {"w": W}, (X,), {}, [(16, FB, C.OTHER, 1, I, None)]),
    # a float parameter through elementwise work and a reshape keeps its cause
    "parameter_through_elementwise": (lambda p, x: jnp.sign(x) @ jnp.tanh(p["w"] * 2.0).reshape(8, 3),
                                      {"w": S((24,), F32)}, (X,), {}, [(1, I, None, 16, FB, C.FLOAT_PARAMETER)]),
    # data meets a float parameter constant along an axis (a bias, a class token): the account is the
    # data's, whichever operand comes first (a quantized bias would leave the sum unstructured)
    "parameter_added_before_data": (lambda p, x: (p["b"] + x) @ jnp.sign(p["w"]), {"b": S((8,), F32), "w": W},
                                    (X,), {}, [(16, FB, C.MODEL_INPUT, 1, I, None)]),
    "parameter_concatenated_before_data": (
        lambda p, x: jnp.concatenate([p["cls"][None, :], x]) @ jnp.sign(p["w"]), {"cls": S((8,), F32), "w": W},
        (X,), {}, [(16, FB, C.MODEL_INPUT, 1, I, None)]),
    "data_before_parameter": (lambda p, x: (x + p["b"]) @ jnp.sign(p["w"]), {"b": S((8,), F32), "w": W},
                              (X,), {}, [(16, FB, C.MODEL_INPUT, 1, I, None)]),
    # two values that vary alike: the first's account
    "two_parameters": (lambda p, x: jnp.sign(x) @ (p["a"] + p["b"]), {"a": W, "b": W}, (X,), {},
                       [(1, I, None, 16, FB, C.FLOAT_PARAMETER)]),
    # a loop carry that is a dot's output keeps that cause through the fixpoint: ``h + x`` is
    # first of all ``h``, the last dot's output once the carry has settled
    "loop_carry": (_scan_of_dots, {"w": S((8, 3), F32), "v": V, "u": S((5, 8), F32)}, (X,), {},
                   [(16, FB, C.DOT_OUTPUT, 1, I, None)] * 3),
}


def run(name) -> Report:
    fn, params, inputs, options, _ = CASES[name]
    return acecost.analyze(fn, params, *inputs, **options)


@pytest.fixture(scope="module")
def reports():
    return {name: run(name) for name in CASES}


@pytest.mark.parametrize("name", list(CASES))
def test_origin_and_cause_of_each_operand(reports, name):
    got = [(r.bits_a, r.bits_a_origin, r.bits_a_cause, r.bits_w, r.bits_w_origin, r.bits_w_cause)
           for r in reports[name].layers]
    assert got == CASES[name][4]


def test_every_origin_and_cause_is_covered():
    rows = [row for case in CASES.values() for row in case[4]]
    assert {row[k] for row in rows for k in (1, 4)} == set(BitsOrigin)
    assert {row[k] for row in rows for k in (2, 5)} - {None} == set(FallbackCause)


def test_a_loop_carry_walk_ends_with_the_same_records(reports):
    """Causes follow the why, which the loop fixpoint does not compare: the walk is as before
    (3 MACs per dot per trip, 3 trips, the carry at float width from the second dot on)."""
    rep = reports["loop_carry"]
    assert [r.macs for r in rep.layers] == [3 * 4 * 8 * 3, 3 * 4 * 3 * 5, 3 * 4 * 5 * 8]


# ------------------------------------------------- consumers: same results as the text rules gave
OLD_CAUSES = (  # what render.py matched in the source text before the causes were data
    ("parameter '", "float parameter used without a quantizer"),
    ("a sum of products has no level structure", "output of a previous dot/conv, not requantized"),
    ("model input '", "model input used without a quantizer"),
    ("scale varies along contracting", "scale varies along a contracting dimension"),
    ("are unbounded", "round/floor/ceil with no clip to a range"),
    ("no bit rule for", "passes through a primitive with no bit rule"),
    ("has no level structure", "output of a sum or reduction, not requantized"),
)


def old_summary(rep: Report) -> list[tuple[str, int, str]]:
    found: dict[str, list] = {}
    for r in rep.layers:
        for role, source in (("activation", r.bits_a_source), ("weight", r.bits_w_source)):
            if "no level structure" in source:
                cause = next((c for p, c in OLD_CAUSES if p in source),
                             "other: " + source.split("(", 1)[-1].rstrip(")"))
                entry = found.setdefault(cause, [0, f"{r.name} ({role})"])
                entry[0] += 1
    return sorted(((c, n, e) for c, (n, e) in found.items()), key=lambda e: -e[1])


def old_mac_pj(r, table):
    widths = [b for b, src in ((r.bits_a, r.bits_a_source), (r.bits_w, r.bits_w_source)) if src.startswith("float")]
    if widths:
        return table.float_mac_pj(max(widths)), max(widths)
    return table.int_mult_pj(r.bits_a, r.bits_w) + table.int_add_pj(table.accumulator_bits), None


@pytest.mark.parametrize("name", list(CASES))
def test_fallbacks_summary_and_energy_as_the_text_rules_gave(reports, name):
    rep, table = reports[name], load_table("horowitz45")
    assert fallback_summary(rep) == old_summary(rep)
    assert [r.name for r in rep.fallbacks] == [r.name for r in rep.layers
                                               if "no level structure" in r.bits_a_source + r.bits_w_source]
    assert [mac_pj(r, table) for r in rep.layers] == [old_mac_pj(r, table) for r in rep.layers]


def test_summary_counts_each_cause_once_per_operand(reports):
    assert fallback_summary(reports["float_parameter_and_input"]) == [
        ("model input used without a quantizer", 1, "w (activation)"),
        ("float parameter used without a quantizer", 1, "w (weight)")]
    assert fallback_summary(reports["loop_carry"]) == [
        ("output of a previous dot/conv, not requantized", 3, "w (activation)")]


def test_other_is_named_by_its_account(reports):
    assert fallback_summary(reports["bitcast"]) == [("other: bitcast at top level", 1, "w (activation)")]


def test_a_wider_than_float_operand_is_a_float_mac_but_not_a_fallback(reports):
    rep, table = reports["wider_than_float"], load_table("horowitz45")
    assert not rep.fallbacks
    assert mac_pj(rep.layers[1], table) == (table.fp16_mult_pj + table.fp32_add_pj, 16)


def test_an_integer_container_sum_is_priced_by_its_levels_not_a_fallback():
    """An int8 sum re-read as an operand is 256 levels: 8 bits, an integer MAC. Its account says
    "a sum ... has no level structure", which the text rule took for a float fallback."""
    rep = acecost.analyze(lambda p, x: jnp.sum(x, axis=1, keepdims=True, dtype=jnp.int8).astype(F32)
                          @ jnp.sign(p["w"]), {"w": S((1, 4), F32)}, S((8, 64), jnp.int8))
    (r,) = rep.layers
    assert (r.bits_a, r.bits_a_origin, r.bits_a_cause) == (8, I, None)
    assert "no level structure" in r.bits_a_source and not rep.fallbacks and fallback_summary(rep) == []


# --------------------------------------------------------------------- JSON: nothing new in it
@pytest.mark.parametrize("name", list(CASES))
def test_json_holds_no_origin_and_a_loaded_report_reads_its_sources(reports, name):
    rep, table = reports[name], load_table("horowitz45")
    data = rep.to_dict()
    assert not any(k.endswith(("_origin", "_cause")) for layer in data["layers"] for k in layer)
    back = Report.from_dict(json.loads(to_json(data)))
    assert all(r.bits_a_origin is r.bits_w_origin is r.bits_a_cause is r.bits_w_cause is None for r in back.layers)
    # a loaded record's origin is read from its source's opening; a storage width reads as inferred
    expected = [tuple(I if o is SW else o for o in (r.bits_a_origin, r.bits_w_origin)) for r in rep.layers]
    assert [(r.origin("a"), r.origin("w")) for r in back.layers] == expected
    assert [r.name for r in back.fallbacks] == [r.name for r in rep.fallbacks]
    assert estimate(back, table).to_dict() == estimate(rep, table).to_dict()
    assert to_json(back.to_dict()) == to_json(data)


def test_pandas_shows_the_origins_as_strings(reports):
    df = reports["float_parameter_and_input"].to_pandas()
    assert list(df[["bits_a_origin", "bits_w_origin", "bits_a_cause", "bits_w_cause"]].iloc[0]) == [
        "float_fallback", "float_fallback", "model_input", "float_parameter"]


def test_the_warnings_panel_groups_fallback_warnings_by_their_kind_not_their_words():
    """A float-fallback warning is marked when it is made; the panel lists every other warning."""
    from rich.console import Console

    from acecost.report.render import warnings_panel

    w = jax.ShapeDtypeStruct((256, 64), jnp.float32)
    x = jax.ShapeDtypeStruct((16, 256), jnp.float32)
    rep = acecost.analyze(lambda w, x, y: (x @ w, y * 2.0 - 1.0), w, x, jax.ShapeDtypeStruct((3,), jnp.float32))
    fallback = [t for t in rep.warnings if "counted as 16-bit float" in t]
    assert fallback and rep.fallback_warnings == frozenset(fallback)
    console = Console(width=400, record=True)
    for panel in warnings_panel(rep, limit=20):
        console.print(panel)
    text = console.export_text()
    assert "count as float" in text and not any(t in text for t in fallback)
    loaded = Report.from_dict(json.loads(to_json(rep.to_dict())))
    assert loaded.fallback_warnings == frozenset()  # not in the JSON: every warning is listed
