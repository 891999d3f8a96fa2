"""The authors' own PokeBNN-1.0x from the aqtp wheel (examples/aqt_pokebnn.py).

The expected numbers come from the authors' cost code, ``PokeBNN.size_stats``
(it logs each conv's shapes and its configured precisions while the model is
traced, and multiplies them out), and from PokeBNN's published 1.0x figure,
4,222,541,824 ACE; never from acecost.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import acecost

pytest.importorskip("aqt.jax_legacy")
pytest.importorskip("ml_collections")
pytest.importorskip("dacite")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "aqt_pokebnn.py"
PUBLISHED_ACE = 4_222_541_824  # PokeBNN-1.0x, the authors' cost test
PUBLISHED_BOPS = 3_609_460_736
FLOAT = 16


@functools.lru_cache(maxsize=None)
def example():
    sys.path.insert(0, str(EXAMPLE.parent))
    try:
        import aqt_pokebnn
    finally:
        sys.path.pop(0)
    return aqt_pokebnn


@functools.lru_cache(maxsize=None)
def reference():
    """Per-contraction (MACs, activation bits, weight bits) by layer, as the authors' code prices them."""
    model, _, _ = example().build()
    stats = model.size_stats()
    layers = {}
    for name, conv in stats["conv_stats"].items():
        a, w = conv["input_prec"], conv["weight_prec"]
        layers[name] = (int(conv["conv_ace"]) // (a * w), a, w)
    dense = stats["dense_stats"]["dense"]
    fin, fout = dense["weight_shape"]
    layers["dense"] = (fin * fout, dense["input_prec"], dense["weight_prec"])
    return stats, layers


@functools.lru_cache(maxsize=None)
def report(cond: str, scales: str) -> acecost.Report:
    return acecost.analyze_target(example().acecost_model(), cond=cond, scales=scales)


def by_layer(rep: acecost.Report) -> dict:
    """Records keyed like the authors' stats: the conv's own name, ``dense`` for the classifier."""
    out = {}
    for r in rep.layers:
        last = r.name.split("/")[-1]
        key = "dense" if r.primitive == "dot_general" else last
        assert key not in out, key
        out[key] = r
    return out


def test_reference_is_the_published_figure():
    stats, layers = reference()
    assert stats["conv_ace"] + stats["dense_ace"] == PUBLISHED_ACE
    assert sum(m * a * w for m, a, w in layers.values()) == PUBLISHED_ACE
    assert sum(m for m, a, w in layers.values() if a == w == 1) == PUBLISHED_BOPS


def test_quantized_branches_and_codes_give_the_authors_figures():
    rep = report("quantized", "codes")
    _, layers = reference()
    records = by_layer(rep)
    assert set(records) == set(layers)
    for name, (macs, a, w) in layers.items():
        r = records[name]
        assert (r.macs, r.bits_a, r.bits_w) == (macs, a, w), name
    assert rep.totals.ace == PUBLISHED_ACE
    assert rep.totals.binary_macs == PUBLISHED_BOPS
    assert rep.totals.macs == sum(m for m, _, _ in layers.values())
    assert rep.totals.complete and not rep.fallbacks
    assert rep.meta["cond"] == "quantized" and rep.meta["scales"] == "codes"
    # one run-time switch per quantized activation, each taken on its quantizing side
    assert len(rep.branches) == len(layers)
    for br in rep.branches:
        assert br["mode"] == "quantized"
        chosen = br["branches"][br["chosen"]]
        assert chosen["output_bits"] == min(b["output_bits"] for b in br["branches"])


@pytest.mark.parametrize("cond", ["max", "quantized"])
def test_strict_scales_price_per_channel_activations_as_float(cond):
    """Activation bounds are per input channel: strictly, the sum cannot run on codes."""
    rep = report(cond, "strict")
    _, layers = reference()
    records = by_layer(rep)
    for name, (macs, _, w) in layers.items():
        assert (records[name].bits_a, records[name].bits_w) == (FLOAT, w), name
    assert rep.totals.ace == sum(m * FLOAT * w for m, _, w in layers.values())
    assert rep.totals.binary_macs == 0
    assert {br["mode"] for br in rep.branches} == {cond}


def test_cli():
    from acecost.cli import main
    import json

    res = CliRunner().invoke(main, ["analyze", str(EXAMPLE), "--cond", "quantized", "--scales", "codes",
                                    "--format", "json", "--quiet"])
    assert res.exit_code == 0, res.output
    totals = json.loads(res.stdout)["totals"]
    assert (totals["ace"], totals["binary_macs"]) == (PUBLISHED_ACE, PUBLISHED_BOPS)
