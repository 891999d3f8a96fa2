"""Keras 3 models as targets (acecost.load.keras.keras_target) and examples/keras_classifier.py.

Expected figures are computed below from the example's constants and what
Keras' int8 mode does (keras/src/layers/core/dense.py, einsum_dense.py,
embedding.py): int8 kernels with one float32 scale per output, inputs of
every Dense/EinsumDense quantized per row to [-127, 127] (8 x 8 bits), int8
embedding table with one scale per row; the attention einsums stay float.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

import acecost
from acecost.load.resolve import load_file, resolve

# Keras is imported by the tests that use it, not at collection (every test worker collects)
pytestmark = [pytest.mark.skipif(importlib.util.find_spec("keras") is None,
                                 reason="keras is not installed (pip install 'acecost[keras]')"),
              pytest.mark.filterwarnings("ignore::UserWarning"),  # layers Keras cannot quantize
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]  # numpy 2 in Keras' quantize

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = str(ROOT / "examples" / "keras_classifier.py")
VOCAB, SEQ, DIM, HEADS, MLP, CLASSES = 1000, 32, 64, 4, 128, 2
FLOAT, F32 = 16, 32
SPEC = re.compile(r"/[A-Za-z]+(,[A-Za-z]+)*->[A-Za-z]+$")  # jnp.einsum's own scope under the layer's

# (layer, MACs, fin x fout of its kernel or None): the classifier's contractions in program order
LAYERS = [("attn/query", SEQ * DIM * DIM, (DIM, DIM)), ("attn/key", SEQ * DIM * DIM, (DIM, DIM)),
          ("attn/value", SEQ * DIM * DIM, (DIM, DIM)),
          ("attn", SEQ * SEQ * DIM, None), ("attn", SEQ * SEQ * DIM, None),  # scores, weighted values
          ("attn/attention_output", SEQ * DIM * DIM, (DIM, DIM)),
          ("mlp_in", SEQ * DIM * MLP, (DIM, MLP)), ("mlp_out", SEQ * MLP * DIM, (MLP, DIM)),
          ("head", DIM * CLASSES, (DIM, CLASSES))]
MACS = sum(m for _, m, _ in LAYERS)


def expected(mode: str):
    """(layer rows, ACE, size bits, parameter count) of the classifier in float or int8."""
    a_w = (8, 8) if mode == "int8" else (FLOAT, FLOAT)
    rows = [(n, m, *(a_w if k else (FLOAT, FLOAT))) for n, m, k in LAYERS]
    size = params = 0
    for bits, count in [(F32, 2 * 2 * DIM)]:  # two LayerNorms
        size, params = size + bits * count, params + count
    for _, _, k in LAYERS:
        if k:
            fin, fout = k
            extra = fout if mode == "int8" else 0  # kernel_scale
            size += fin * fout * (8 if mode == "int8" else FLOAT) + F32 * (fout + extra)  # + bias
            params += fin * fout + fout + extra
    if mode == "int8":
        size, params = size + VOCAB * DIM * 8 + VOCAB * F32, params + VOCAB * DIM + VOCAB
    else:
        size, params = size + VOCAB * DIM * F32, params + VOCAB * DIM
    return rows, sum(m * a * w for _, m, a, w in rows), size, params


def layer_rows(rep):
    return [(SPEC.sub("", r.name), r.macs, r.bits_a, r.bits_w) for r in rep.layers]


def test_formulas_by_hand():
    assert MACS == 3 * 131_072 + 2 * 65_536 + 131_072 + 2 * 262_144 + 128 == 1_179_776
    assert expected("int8")[1] == (MACS - 2 * 65_536) * 64 + 2 * 65_536 * 256 == 100_671_488
    assert expected("int8")[2:] == (844_160, 99_052)


@pytest.mark.parametrize("mode", ["int8", "float"])
def test_example(mode):
    fn = load_file(Path(EXAMPLE)).acecost_model
    model, x = fn(mode=mode)
    rep = acecost.analyze_target(acecost.keras_target(model, x))
    rows, ace, size, params = expected(mode)
    assert layer_rows(rep) == rows
    assert (rep.totals.macs, rep.totals.ace) == (MACS, ace)
    assert (rep.totals.size_bits, rep.totals.params) == (size, params)
    assert rep.totals.complete
    paths = {v.path for v in model.variables}
    assert {p.path for p in rep.params} <= paths and "attn/query/kernel" in paths


def test_example_from_the_command_line():
    from click.testing import CliRunner

    from acecost.cli import main

    result = CliRunner().invoke(main, ["analyze", EXAMPLE, "--format", "json"])
    assert result.exit_code == 0, result.output
    totals = json.loads(result.stdout)["totals"]
    _, ace, size, params = expected("int8")
    assert (totals["macs"], totals["ace"], totals["size_bits"], totals["params"]) == (MACS, ace, size, params)


def test_the_backend_is_set_to_jax_before_the_model_file_imports_keras(tmp_path):
    """Whatever KERAS_BACKEND says (here numpy, which any Keras has), a model file gets JAX."""
    env = {**os.environ, "KERAS_BACKEND": "numpy", "KERAS_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", "from acecost.cli import main; main()", "analyze", EXAMPLE,
                           "--format", "json"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["totals"]["macs"] == MACS


def _mlp(name="mlp"):
    import keras

    inp = keras.Input((32,))
    hidden = keras.layers.Dense(64, activation="relu", name="fc1")(inp)
    return keras.Model(inp, keras.layers.Dense(10, name="fc2")(hidden), name=name)


X = jax.ShapeDtypeStruct((1, 32), jnp.float32)
MLP_SIZE = FLOAT * (32 * 64 + 64 * 10) + F32 * (64 + 10)


def test_a_target_over_stateless_call_with_variable_lists_keeps_keras_paths():
    """Keras' own idiom written out: lists of variables are named by the variables' paths."""
    model = _mlp()
    target = acecost.Target(lambda tv, ntv, x: model.stateless_call(tv, ntv, x)[0],
                            (model.trainable_variables, model.non_trainable_variables, X), params_argnums=(0, 1))
    rep = acecost.analyze_target(target)
    assert sorted(p.path for p in rep.params) == ["fc1/bias", "fc1/kernel", "fc2/bias", "fc2/kernel"]
    assert [r.name for r in rep.layers] == ["fc1", "fc2"]
    assert rep.totals.size_bits == MLP_SIZE


def test_model_file_forms(tmp_path):
    """(model, inputs), a Target whose function is the model, a model instance with --input-shape."""
    (tmp_path / "net.py").write_text(
        "import jax, jax.numpy as jnp, keras, acecost\n"
        "inp = keras.Input((32,))\n"
        "h = keras.layers.Dense(64, name='fc1')(inp)\n"
        "model = keras.Model(inp, keras.layers.Dense(10, name='fc2')(h))\n"
        "x = jax.ShapeDtypeStruct((1, 32), jnp.float32)\n"
        "def pair():\n    return model, x\n"
        "def target():\n    return acecost.Target(model, (x,), name='mine')\n")
    path = str(tmp_path / "net.py")
    for target in (resolve(path, entry="pair"), resolve(path, entry="target"),
                   resolve(path, entry="model", input_shape="1,32")):
        rep = acecost.analyze_target(target)
        assert rep.totals.macs == 32 * 64 + 64 * 10 and rep.totals.size_bits == MLP_SIZE
    assert resolve(path, entry="target").name == "mine"
    with pytest.raises(acecost.TargetError, match="input shape"):
        resolve(path, entry="model")


def test_bad_keras_targets_are_target_errors():
    import keras

    with pytest.raises(acecost.TargetError, match="input specs"):
        acecost.keras_target(_mlp())

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.fc = keras.layers.Dense(4)

        def call(self, x):
            return self.fc(x)

    with pytest.raises(acecost.TargetError, match="not built"):
        acecost.keras_target(Net(), X)
    with pytest.raises(acecost.TargetError, match="not a Keras"):
        acecost.keras_target(lambda x: x, X)
