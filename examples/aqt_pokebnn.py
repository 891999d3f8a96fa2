"""PokeBNN-1.0x exactly as its authors ship it in the aqtp wheel.

The model is ``aqt.jax_legacy.jax.imagenet.pokebnn.PokeBNN`` with the first
configuration of ``aqt.jax_legacy.jax.imagenet.configs.pokebnn.pokebnn_config``
(binary bottleneck convs, 4-bit squeeze-excite, 8-bit stem and classifier),
in inference mode at 224x224, batch 1, bfloat16: nothing here restates the
architecture.

    pip install 'acecost[aqt]'
    acecost analyze examples/aqt_pokebnn.py --cond quantized --scales codes

gives 4,222,541,824 ACE and 3,609,460,736 BOPs, the figures the authors'
own cost code (``PokeBNN.size_stats``) computes. Both options are needed,
and each says a convention:

* every AQT layer switches its activation quantizer at run time,
  ``cond(bounds != -1, quantized, input)``; ``--cond quantized`` takes the
  quantizing side (the default, ``max``, prices the costliest branch and
  keeps what is common to both: float).
* the activation bounds are per input channel, so each activation's scale
  varies along the contraction; ``--scales codes`` prices it by its codes,
  as AQT's cost code does (the default, ``strict``, prices such an operand
  as float: the sum cannot run on the codes alone).

The legacy AQT package imports TensorFlow at module level only to name XLA
protocol buffers in type annotations (``hlo_pb2``), used by its HLO-based
cost utilities, which are not run here. Without TensorFlow installed,
:func:`stub_tensorflow` registers placeholder modules for exactly those
names; any use of them raises. It also needs ``ml_collections`` and
``dacite`` (in the ``aqt`` extra).
"""
import importlib.util
import sys
import types

import jax
import jax.numpy as jnp

import acecost

#: The only TensorFlow names the legacy AQT modules touch on import.
_TF_MODULES = ("tensorflow", "tensorflow.compiler", "tensorflow.compiler.xla",
               "tensorflow.compiler.xla.service", "tensorflow.compiler.xla.service.hlo_pb2")
_TF_PROTOS = ("HloModuleProto", "HloComputationProto", "HloInstructionProto")


class _Placeholder:
    def __init__(self, *args, **kwargs):
        raise RuntimeError("TensorFlow is not installed: this is a placeholder registered by "
                           "examples/aqt_pokebnn.py for an import-time type annotation")

    @classmethod
    def FromString(cls, *args):  # noqa: N802 (the protobuf name)
        cls()


def stub_tensorflow() -> None:
    """Register placeholder ``tensorflow...hlo_pb2`` modules, unless TensorFlow is installed."""
    if "tensorflow" in sys.modules or importlib.util.find_spec("tensorflow") is not None:
        return
    modules = {name: types.ModuleType(name) for name in _TF_MODULES}
    for parent, child in zip(_TF_MODULES, _TF_MODULES[1:]):
        setattr(modules[parent], child.rpartition(".")[2], modules[child])
    for proto in _TF_PROTOS:
        setattr(modules[_TF_MODULES[-1]], proto, type(proto, (_Placeholder,), {}))
    sys.modules.update(modules)


def build(resolution: int = 224, batch: int = 1):
    """(the PokeBNN module, abstract variables, abstract input), from the shipped config."""
    stub_tensorflow()
    from absl import flags

    from aqt.jax_legacy.jax.imagenet import hparams_config, models, pokebnn
    from aqt.jax_legacy.jax.imagenet.configs.pokebnn import pokebnn_config
    from aqt.jax_legacy.utils import hparams_utils

    if not flags.FLAGS.is_parsed():  # AQT layers read absl flags; no command line here
        flags.FLAGS.mark_as_parsed()
    config = pokebnn_config.get_config().configs[0]
    hparams = hparams_utils.load_hparams_from_config_dict(
        hparams_config.TrainingHParams, models.ResNet.HParams, config)
    model = pokebnn.create_pokebnn(hparams=hparams.model_hparams, train=False)
    x = jax.ShapeDtypeStruct((batch, resolution, resolution, 3), jnp.bfloat16)
    variables = jax.eval_shape(model.init, jax.random.key(0), x)  # no allocation
    return model, variables, x


def acecost_model():
    model, variables, x = build()
    return acecost.Target(model.apply, (variables, x), params_argnums=(0,), name="aqt-pokebnn-1.0x")
