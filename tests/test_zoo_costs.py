"""The bundled reference models reproduce the reference figures, by inference.

Expected numbers are the PokeBNN reference code's own regression figures and
the AQT ResNet-50 cost test's (../shared/reference/pokebnn.md, metrics.md);
the ResNet-50 MAC count is also re-derived here layer by layer. The costs
stored with the package (acecost/zoo/costs.json) are compared with a fresh
analysis of every model, and with the same figures.
"""
from __future__ import annotations

import functools

import pytest

import acecost
from acecost import zoo
from acecost.zoo import costs


@functools.lru_cache(maxsize=None)
def report(name: str) -> acecost.Report:
    return acecost.analyze_target(zoo.get(name).build())


def test_pokebnn_1x_total_and_split():
    rep = report("pokebnn-1.0x")
    convs = sum(r.ace for r in rep.layers if r.primitive == "conv_general_dilated")
    dense = sum(r.ace for r in rep.layers if r.primitive == "dot_general")
    assert rep.totals.ace == 4_222_541_824
    assert convs == 4_091_469_824
    assert dense == 131_072_000 == 2048 * 1000 * 8 * 8
    assert rep.totals.binary_macs == 3_609_460_736
    assert rep.totals.complete and not rep.unsupported


def test_pokebnn_1x_breakdown_by_part():
    """PokeInit at 8x8, binary convs at 1x1, SE at 4x4, head at 8x8 (pokebnn.md decomposition)."""
    rep = report("pokebnn-1.0x")
    parts = {"init": [], "binary": [], "se": [], "head": []}
    for r in rep.layers:
        if "PokeInit" in r.name:
            parts["init"].append(r)
        elif "/se/" in r.name:
            parts["se"].append(r)
        elif "head" in r.name:
            parts["head"].append(r)
        else:
            parts["binary"].append(r)
    assert {(r.bits_a, r.bits_w) for r in parts["init"]} == {(8, 8)}
    assert {(r.bits_a, r.bits_w) for r in parts["binary"]} == {(1, 1)}
    assert {(r.bits_a, r.bits_w) for r in parts["se"]} == {(4, 4)}
    assert sum(r.macs for r in parts["init"]) == 6_623_232
    assert sum(r.ace for r in parts["init"]) == 423_886_848
    assert sum(r.macs for r in parts["se"]) == 3_632_640
    assert sum(r.ace for r in parts["se"]) == 58_122_240
    assert sum(r.ace for r in parts["binary"]) == 3_609_460_736
    assert sum(r.ace for r in parts["head"]) == 131_072_000
    # 16 blocks x 3 PokeConvs, each a binary conv and a two-conv SE
    assert len(parts["binary"]) == 48 and len(parts["se"]) == 96


def test_pokebnn_cpu64_and_size_follow_the_definitions():
    rep = report("pokebnn-1.0x")
    t = rep.totals
    assert t.binary_macs % 64 == 0
    assert t.cpu64 == t.binary_macs // 64 + (t.macs - t.binary_macs)
    by_path = {p.path: p for p in rep.params}
    for p in rep.params:
        assert p.size_bits == p.bits * __import__("math").prod(p.shape)
    binary_kernels = [p for path, p in by_path.items() if path.endswith("/conv/kernel")]
    assert binary_kernels and all(p.bits == 1 for p in binary_kernels)
    assert by_path["params/head/dense/kernel"].bits == 8
    assert all(p.bits == 32 for path, p in by_path.items() if path.startswith("batch_stats/"))


def test_pokebnn_layer_names_map_to_the_paper():
    names = {r.name for r in report("pokebnn-1.0x").layers}
    assert "PokeBNN/PokeInit/conv1" in names and "PokeBNN/head/dense" in names
    assert any(n.startswith("PokeBNN/stage3/block5/pokeconv2") for n in names)
    assert any(n.endswith("pokeconv1/se/conv1") for n in names)


@pytest.mark.parametrize("name, ace", [
    ("pokebnn-0.5x", 1_409_538_048),
    ("pokebnn-0.75x", 2_587_619_840),
    ("pokebnn-2.0x", 15_330_631_680),
])
def test_pokebnn_widths(name, ace):
    assert report(name).totals.ace == ace


def resnet50_macs(resolution: int = 224) -> int:
    """ResNet-50 v1.5 MACs by formula: stem, 16 bottlenecks (+4 projections), dense."""
    def conv(h, k, cin, cout, stride):
        out = -(-h // stride)
        return out, out * out * k * k * cin * cout

    h, total = conv(resolution, 7, 3, 64, 2)
    total_macs = total
    h = -(-h // 2)  # 3x3 max pool, stride 2
    cin = 64
    for stage, (blocks, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512))):
        for b in range(blocks):
            stride = 2 if b == 0 and stage > 0 else 1
            _, m1 = conv(h, 1, cin, width, 1)
            h2, m2 = conv(h, 3, width, width, stride)
            _, m3 = conv(h2, 1, width, 4 * width, 1)
            total_macs += m1 + m2 + m3
            if b == 0:
                total_macs += conv(h, 1, cin, 4 * width, stride)[1]
            h, cin = h2, 4 * width
    return total_macs + 2048 * 1000


@pytest.mark.parametrize("name, bits", [
    ("resnet50-bf16", 16 * 16), ("resnet50-w8a8", 8 * 8), ("resnet50-w4a4", 4 * 4), ("resnet50-w4a2", 4 * 2),
])
def test_resnet50(name, bits):
    rep = report(name)
    assert rep.totals.macs == resnet50_macs() == 4_089_184_256
    assert rep.totals.ace == rep.totals.macs * bits
    expected = {"resnet50-bf16": 1_046_831_169_536, "resnet50-w8a8": 261_707_792_384,
                "resnet50-w4a4": 65_426_948_096, "resnet50-w4a2": 32_713_474_048}[name]
    assert rep.totals.ace == expected


# AQT's resnet50_w4_a4_fixed / resnet50_w4_a2_fixed configs leave the stem conv
# and the classifier unquantized (bfloat16): 16 x 16 bits there.
STEM_MACS = (224 // 2) ** 2 * 7 * 7 * 3 * 64
DENSE_MACS = 2048 * 1000


@pytest.mark.parametrize("name, bits, aqt_config_figure", [
    ("resnet50-w4a4-bf16ends", 4 * 4, 94_241_816_576), ("resnet50-w4a2-bf16ends", 4 * 2, 62_488_838_144),
])
def test_resnet50_with_bfloat16_ends(name, bits, aqt_config_figure):
    rep = report(name)
    ends = STEM_MACS + DENSE_MACS
    assert rep.totals.macs == resnet50_macs()
    assert rep.totals.ace == (resnet50_macs() - ends) * bits + ends * 16 * 16 == aqt_config_figure
    float_layers = {r.name: (r.bits_a, r.bits_w, r.macs) for r in rep.layers if r.bits_a == 16}
    assert float_layers == {"ResNet50/stem/conv": (16, 16, STEM_MACS), "ResNet50/head/dense": (16, 16, DENSE_MACS)}
    assert {(r.bits_a * r.bits_w) for r in rep.layers if r.bits_a != 16} == {bits}


# ------------------------------------------------------------------ stored costs

def test_stored_costs_match_a_fresh_analysis():
    """Every number in acecost/zoo/costs.json is what analysing the model gives now."""
    fresh = {"resolution": zoo.RESOLUTION, "batch": zoo.BATCH,
             "models": {name: costs.entry(report(name)) for name in zoo.MODELS}}
    lines = costs.drift(costs.load(), fresh)
    assert not lines, costs.drift_message(lines)


def test_stored_costs_hold_the_reference_figures():
    """The shipped file, read without tracing, against the figures checked above by formula."""
    stored = {name: costs.stored(name)["totals"] for name in zoo.MODELS}
    assert stored["pokebnn-1.0x"]["ace"] == 4_222_541_824
    assert stored["pokebnn-1.0x"]["binary_macs"] == 3_609_460_736
    assert stored["pokebnn-0.75x"]["ace"] == 2_587_619_840
    for name, bits in (("resnet50-bf16", 16 * 16), ("resnet50-w8a8", 8 * 8), ("resnet50-w4a4", 4 * 4),
                       ("resnet50-w4a2", 4 * 2)):
        assert stored[name]["macs"] == resnet50_macs()
        assert stored[name]["ace"] == resnet50_macs() * bits
        assert stored[name]["binary_macs"] == 0 and stored[name]["cpu64"] == resnet50_macs()
    ends = STEM_MACS + DENSE_MACS
    assert stored["resnet50-w4a4-bf16ends"]["ace"] == (resnet50_macs() - ends) * 16 + ends * 256
    for t in stored.values():
        assert t["cpu64"] == t["binary_macs"] / 64 + t["macs"] - t["binary_macs"]
        assert t["complete"] is True


def test_a_drift_names_the_number_and_how_to_regenerate():
    stored = costs.load()
    fresh = costs.load()
    fresh["models"]["pokebnn-1.0x"]["totals"]["ace"] += 1
    fresh["models"]["new-model"] = fresh["models"]["pokebnn-0.5x"]
    del fresh["models"]["resnet50-bf16"]
    lines = costs.drift(stored, fresh)
    assert lines == ["resnet50-bf16: not in the zoo any more",
                     "pokebnn-1.0x: totals.ace stored 4222541824, analysed 4222541825",
                     "new-model: no stored costs"]
    assert "python -m acecost.zoo.costs" in costs.drift_message(lines)
    assert costs.drift(stored, costs.load()) == []
