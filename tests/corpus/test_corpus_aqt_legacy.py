"""AQT's own legacy ImageNet ResNet-50 (``aqt.jax_legacy.jax.imagenet``, aqtp
0.9.0), under AQT's own configs, built with ``jax.eval_shape`` of its init.

The model code needs ``dacite`` and ``ml_collections`` (the ``corpus``
extra) and imports TensorFlow only for the XLA protocol buffers of AQT's
HLO-based cost code (``hlo_utils``, ``compute_cost_utils``), which building
and tracing a model never calls. Rather than install TensorFlow, the import
is given a stand-in ``hlo_pb2`` module for the duration of the import only
(``_legacy_modules``); nothing of it is left in ``sys.modules``.

AQT's cost test (``resnet_cost_test.py``) prices this model per image as
MACs x bits_w x bits_a over every layer (1,046,831,169,536 unquantized;
523,415,584,768 w8; 261,707,792,384 w4 and w8a8): these are the expected
figures, and they follow from ``resnet()``'s MACs. AQT's w4a4 and w4a2
configs leave the stem and the classifier float (their docstrings say so),
so those two layers count 16 x 16.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import sys
import types

import jax
import jax.numpy as jnp
import pytest

import acecost
from corpus_common import F32, FLOAT_BITS, abstract, check, leaf_count, need, resnet, sds

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

NET = resnet(224, (3, 4, 6, 3), bottleneck=True, classes=1000)
STEM_MACS, STEM_KERNEL = 112 * 112 * 64 * 7 * 7 * 3, 7 * 7 * 3 * 64
FC_MACS = FC_KERNEL = 2048 * 1000


@contextlib.contextmanager
def _hlo_protos_stand_in():
    """A stand-in for ``tensorflow.compiler.xla.service.hlo_pb2`` while AQT
    legacy imports (only its annotations touch it); removed afterwards."""
    if importlib.util.find_spec("tensorflow") is not None:
        yield
        return
    names = ["tensorflow", "tensorflow.compiler", "tensorflow.compiler.xla", "tensorflow.compiler.xla.service",
             "tensorflow.compiler.xla.service.hlo_pb2"]
    for name in names:
        sys.modules[name] = types.ModuleType(name)
    sys.modules[names[-1]].__getattr__ = lambda attr: type(attr, (), {})  # message classes, as annotations
    sys.modules[names[-2]].hlo_pb2 = sys.modules[names[-1]]
    try:
        yield
    finally:
        for name in names:
            sys.modules.pop(name, None)


def _legacy_modules():
    need("aqt")
    need("dacite")
    need("ml_collections")
    with _hlo_protos_stand_in():
        from aqt.jax_legacy.jax.imagenet import hparams_config, models
        from aqt.jax_legacy.utils import hparams_utils
    from absl import flags

    if not flags.FLAGS.is_parsed():  # AQT's layers read absl flags (defaults) at call time
        flags.FLAGS.mark_as_parsed()
    return hparams_config, models, hparams_utils


def aqt_resnet50(config_module: str):
    hparams_config, models, hparams_utils = _legacy_modules()
    config = importlib.import_module(f"aqt.jax_legacy.jax.imagenet.configs.{config_module}").get_config()
    hparams = hparams_utils.load_hparams_from_config_dict(hparams_config.TrainingHParams, models.ResNet.HParams,
                                                          config)
    model = models.create_resnet(hparams.model_hparams, jnp.float32, train=False)
    x = sds((1, 224, 224, 3))
    variables = abstract(jax.eval_shape(model.init, jax.random.PRNGKey(0), x))
    return (lambda v, x: model.apply(v, x)), variables, x


@functools.lru_cache(maxsize=None)
def report(name: str):
    """One analysis per config, shared by the tests below."""
    fn, variables, x = aqt_resnet50(name)
    return acecost.analyze(fn, variables, x), variables


def expected(bits_w: int | None, bits_a: int | None, float_edges: bool, variables):
    """ACE and size of AQT's config: ``None`` bits is a float operand; with
    ``float_edges`` the stem and the classifier stay float."""
    bw, ba = bits_w or FLOAT_BITS, bits_a or FLOAT_BITS
    edges_macs, edges_kernels = STEM_MACS + FC_MACS, STEM_KERNEL + FC_KERNEL
    if float_edges:
        ace = (NET.macs - edges_macs) * bw * ba + edges_macs * FLOAT_BITS ** 2
        kernel_bits = (NET.kernels - edges_kernels) * bw + edges_kernels * FLOAT_BITS
    else:
        ace, kernel_bits = NET.macs * bw * ba, NET.kernels * bw
    # batch-norm scales, offsets and statistics and the classifier bias: float32
    return ace, kernel_bits + F32 * (leaf_count(variables) - NET.kernels)


CASES = {
    # config module: (weight bits, activation bits, stem and classifier float)
    "paper.resnet50_bfloat16": (None, None, False),
    "resnet50_w8": (8, None, False),
    "resnet50_w4": (4, None, False),
    "resnet50_w8_a8_fixed": (8, 8, False),
    "resnet50_w4_a4_fixed": (4, 4, True),
    "resnet50_w4_a2_fixed": (4, 2, True),
}
AQT_OWN_FIGURES = {"paper.resnet50_bfloat16": 1_046_831_169_536, "resnet50_w8": 523_415_584_768,
                   "resnet50_w4": 261_707_792_384, "resnet50_w8_a8_fixed": 261_707_792_384}

def test_closed_form_is_aqts_own_figure():
    # the closed form agrees with AQT's HLO-based cost test where AQT prices every layer
    for name, figure in AQT_OWN_FIGURES.items():
        bw, ba, _ = CASES[name]
        assert NET.macs * (bw or FLOAT_BITS) * (ba or FLOAT_BITS) == figure
    assert NET.kernels * 8 == 204_023_296  # AQT's memory figure for w8 (kernels only)


@pytest.mark.parametrize("name", list(CASES))
def test_aqt_resnet50_macs_and_weight_bits(name):
    rep, _ = report(name)
    check(rep, macs=NET.macs)
    bw, _, float_edges = CASES[name]
    weight_bits = [r.bits_w for r in rep.layers]
    edges = {0, len(weight_bits) - 1} if float_edges else set()
    assert [FLOAT_BITS if i in edges else (bw or FLOAT_BITS) for i in range(len(weight_bits))] == weight_bits


@pytest.mark.parametrize("name", list(CASES))
def test_aqt_resnet50_ace_and_size(name):
    rep, variables = report(name)
    ace, size = expected(*CASES[name], variables)
    check(rep, macs=NET.macs, ace=ace, size_bits=size)
