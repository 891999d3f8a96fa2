"""Real AQT v2 and Qwix models: exact MACs and ACE against independent formulas.

The models come from :mod:`quantlibs.models`, which builds tiny linen and NNX
networks with each library's own API, abstractly, and computes the expected
MACs and ACE from the layer shapes and the bit-widths metrics.md assigns to
each operand. A test is skipped only when its library is not installed.
"""
from __future__ import annotations

import pytest

import acecost
from quantlibs import models

# flax/qwix deprecation chatter from the libraries themselves, not from acecost
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _need(module: str, extra: str) -> None:
    pytest.importorskip(module, reason=f"{module} is not installed (pip install 'acecost[{extra}]')")


def need_aqt() -> None:
    _need("aqt.jax.v2.flax.aqt_flax", "aqt")


def need_qwix() -> None:
    _need("qwix", "qwix")


def check(builder, **analyze_kw) -> acecost.Report:
    """Analyze ``builder()``'s model and compare every layer and total with ``expected``."""
    fn, args, expected = builder()
    rep = acecost.analyze(fn, *args, **analyze_kw)
    got = [(r.macs, r.bits_a, r.bits_w) for r in rep.layers]
    want = [(l.macs, l.bits_a, l.bits_w) for l in expected["layers"]]
    assert got == want, [(r.name, r.bits_a_source, r.bits_w_source) for r in rep.layers]
    assert rep.totals.macs == expected["macs"]
    assert rep.totals.ace == expected["ace"]
    assert rep.totals.binary_macs == expected["binary_macs"]
    assert rep.totals.complete, rep.unsupported
    for rec, layer in zip(rep.layers, expected["layers"]):
        assert layer.name in rec.name.split("/"), (rec.name, layer.name)
        assert ("zero_point" in rec.name) == layer.zero_point, rec.name
    return rep


# ------------------------------------------------------------------ AQT v2

@pytest.mark.parametrize("case", list(models.AQT_CASES))
def test_aqt(case):
    need_aqt()
    check(models.AQT_CASES[case])


@pytest.mark.parametrize("case", ["aqt_train_int4", "aqt_train_int8", "aqt_serve_int8"])
def test_aqt_layers_are_named_after_the_users_modules(case):
    # AQT runs the contraction in its own submodule and forward function
    # (ConvNet/fc/AqtDotGeneral_0/AqtDotGeneral_0.shared_forward_fn/aqt_fwd);
    # the layer, and its elementwise work, is the user's ConvNet/fc
    need_aqt()
    fn, args, _ = models.AQT_CASES[case]()
    rep = acecost.analyze(fn, *args)
    assert [r.name for r in rep.layers] == ["ConvNet/conv", "ConvNet/fc"]
    scopes = set(rep.elementwise_by_layer)
    assert {"ConvNet/conv", "ConvNet/fc"} <= scopes  # (+ "top level": the rng key's split, if any)
    assert not [s for s in scopes if "Aqt" in s or "aqt_" in s]


def test_aqt_contractions_of_one_module_keep_names_that_tell_them_apart():
    # one module making three AqtEinsum contractions itself: dropping AQT's parts
    # would give all three the same name, so they keep their full names, and an
    # override naming one of them still picks exactly that one
    need_aqt()
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    from aqt.jax.v2 import config as aqt_config
    from aqt.jax.v2.flax import aqt_flax

    cfg = aqt_config.fully_quantized(fwd_bits=8, bwd_bits=8)

    class QKV(nn.Module):
        @nn.compact
        def __call__(self, x):
            return [aqt_flax.AqtEinsum(cfg, prng_name=None)(
                "btd,dh->bth", x, self.param(f"w{n}", nn.initializers.lecun_normal(), (8, 8)))
                for n in "qkv"]

    model, x = QKV(), jax.ShapeDtypeStruct((2, 4, 8), jnp.float32)
    variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(x.shape)))
    rep = acecost.analyze(lambda v, x: model.apply(v, x), variables, x, overrides=["AqtEinsum_2=4,4"])
    names = [r.name for r in rep.layers]
    assert len(set(names)) == 3 and all(n.startswith(f"QKV/AqtEinsum_{i}/") for i, n in enumerate(names))
    assert [(r.bits_a, r.bits_w) for r in rep.layers] == [(8, 8), (8, 8), (4, 4)]


def test_aqt_serve_int2_weights_declared_by_override():
    """AQT freezes 2-bit weights into int8 with no range: the user declares the width."""
    need_aqt()
    fn, args, expected = models.aqt_serve(2)
    rep = acecost.analyze(fn, *args, overrides={r"ConvNet/(conv|fc)": (None, 2)})
    assert [(r.bits_a, r.bits_w) for r in rep.layers] == [(2, 2), (2, 2)]
    assert rep.totals.ace == expected["macs"] * 2 * 2


def test_aqt_serve_int2_warns_how_to_declare():
    """Without a declaration the int8 container is priced at 8 bits, and the report says so."""
    need_aqt()
    fn, args, _ = models.aqt_serve(2)
    rep = acecost.analyze(fn, *args)
    hints = [w for w in rep.warnings if "--bits" in w and "storage width" in w]
    assert len(hints) == 2, rep.warnings  # the frozen conv kernel and the frozen dense kernel


# -------------------------------------------------------------------- Qwix

@pytest.mark.parametrize("case", list(models.QWIX_CASES))
def test_qwix(case):
    need_qwix()
    check(models.QWIX_CASES[case])


def test_qwix_rule_matching_nothing_leaves_float_dots():
    """The same network under a rule that matches no module costs bf16 x bf16."""
    need_qwix()
    import qwix

    rule = qwix.QtRule(module_path="no_such_module", weight_qtype="int4", act_qtype="int4")
    model = qwix.quantize_model(models._linen_convnet(), qwix.QtProvider([rule]))
    variables = models._linen_init(model, models.IMG)
    rep = acecost.analyze(lambda v, x: model.apply(v, x), variables, models._sds(models.IMG))
    f = models.FLOAT_BITS
    assert rep.totals.ace == (models.CONV_MACS + models.FC_MACS) * f * f


def test_qwix_zero_point_dot_is_counted_separately():
    """Asymmetric activations: each layer has its main dot and a zero-point dot of equal MACs."""
    need_qwix()
    rep = check(models.QWIX_CASES["qwix_qat_asym_int8_linen"])
    zp = [r for r in rep.layers if "zero_point" in r.name]
    main = [r for r in rep.layers if "zero_point" not in r.name]
    assert [r.macs for r in zp] == [r.macs for r in main] == [models.FC1_MACS, models.FC2_MACS]
    assert sum(r.ace for r in zp) == (models.FC1_MACS + models.FC2_MACS) * 1 * 8


def test_aqt_serve_float_kernels_are_not_in_size():
    """SERVE reads the frozen int8 codes; the float kernels beside them are dead."""
    need_aqt()
    fn, args, _ = models.aqt_serve(8)
    rep = acecost.analyze(fn, *args)
    paths = {p.path for p in rep.params}
    assert not {"params/conv/kernel", "params/fc/kernel"} & paths
    # frozen codes at 8 bits; scales and biases float32 (conv 3x3x2->4, fc 144->3)
    expected = (3 * 3 * 2 * 4 + 144 * 3) * 8 + (4 + 3 + 4 + 3) * 32
    assert rep.totals.size_bits == expected
    assert any("never used" in w and "params/fc/kernel" in w for w in rep.warnings)
