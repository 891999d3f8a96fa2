"""Re-pricing a report whose weights were measured, whose zeros were discounted, or that was
timed on a device: the re-priced report equals a fresh analysis field for field, memory traffic
and roofline times included, and a float_bits that measuring compared against is refused."""
from __future__ import annotations

import jax
import pytest

import acecost
from acecost.report.reprice import NotRepriceable
from tests.test_measured_levels import X, example, example_weights
from tests.test_reprice import assert_same

OVERRIDES = ([], ["w1=2,"], [".*=8,8"], ["w2=,1", "w1=1,"], ["^nothing$=3,3"])


@pytest.mark.parametrize("options", [dict(levels="measured"), dict(sparsity="discount"),
                                     dict(levels="measured", sparsity="discount"),
                                     dict(levels="measured", hardware="h100-sxm"), dict(hardware="tpu-v5e")])
def test_a_measured_or_timed_report_reprices_exactly(options):
    w = example_weights()
    base = acecost.analyze(example, w, X, **options)
    for bits in OVERRIDES:
        fresh = acecost.analyze(example, w, X, overrides=bits, **options)
        assert_same(base.reprice(bits=bits), fresh)
        assert base.reprice(bits=bits).totals.memory_bits == fresh.totals.memory_bits is not None


@pytest.mark.parametrize("walked,device", [(None, "h100-sxm"), ("a100-sxm", "tpu-v5e"), (None, "jetson-agx-orin")])
@pytest.mark.parametrize("options", [{}, dict(levels="measured"), dict(sparsity="discount")])
def test_a_device_is_a_re_price(walked, device, options):
    """Another device (or one where the walk had none) changes no width: the re-priced report, times,
    bounds, classes, notes and meta included, is a fresh analysis with that device."""
    w = example_weights()
    base = acecost.analyze(example, w, X, hardware=walked, **options)
    for bits in OVERRIDES[:3]:
        fresh = acecost.analyze(example, w, X, overrides=bits, hardware=device, **options)
        repriced = base.reprice(bits=bits, hardware=device)
        assert_same(repriced, fresh)
        assert repriced.to_dict()["meta"] == fresh.to_dict()["meta"] and repriced.warnings == fresh.warnings
        assert repriced.totals.time_s == fresh.totals.time_s is not None
        assert [r.time_s for r in repriced.layers] == [r.time_s for r in fresh.layers]
    # the device sticks: a re-price without one keeps it
    assert base.reprice(hardware=device).reprice(bits=["w1=2,"]).totals.time_s == acecost.analyze(
        example, w, X, overrides=["w1=2,"], hardware=device, **options).totals.time_s


def test_memory_traffic_follows_an_override_of_a_float_operand():
    """x [8,256] float32 @ w1 [256,512] float32 -> [8,512] float32, then @ w2 [512,10]: overridden
    to 4 bits, w1 is held at 4 bits (256*512*4) where it was held at its storage width (32)."""
    shapes = {"w1": jax.ShapeDtypeStruct((256, 512), "float32"), "w2": jax.ShapeDtypeStruct((512, 10), "float32")}
    base = acecost.analyze(example, shapes, X)
    fresh = acecost.analyze(example, shapes, X, overrides=["w1=,4"])
    repriced = base.reprice(bits=["w1=,4"])
    assert_same(repriced, fresh)
    assert base.totals.memory_bits - repriced.totals.memory_bits == 256 * 512 * (32 - 4)


def test_another_float_bits_on_measured_weights_is_walked_again():
    base = acecost.analyze(example, example_weights(), X, levels="measured")
    with pytest.raises(NotRepriceable):
        base.reprice(float_bits=8)
