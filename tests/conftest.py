"""Session plumbing shared by every test module.

Several modules keep a per-process cache of expensive work (a zoo model
compiled and run at 32x32, its gradient, the PokeBNN reference curve, an
example's report) that more than one of their tests reads. Under
``pytest -n 2`` with xdist's default scheduling such tests land on both
workers and each worker redoes the work; ``--dist loadfile`` (set in
pyproject.toml) runs each module in one worker, so each cache is filled
once.
"""
from __future__ import annotations

import os
import sys
import tempfile

import pytest

# Keras reads its backend and defaults (floatx, epsilon) from ~/.keras/keras.json and writes that
# file on first import: the tests get a fresh, private KERAS_HOME and the JAX backend, whatever
# the user has configured. TensorFlow (imported by keras_hub) is kept quiet on stderr.
_KERAS_HOME = tempfile.TemporaryDirectory(prefix="acecost-tests-keras-")
os.environ["KERAS_HOME"] = _KERAS_HOME.name
os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True, scope="module")
def _drop_tensorflow_placeholders():
    """No module inherits the placeholder ``tensorflow`` modules another one left.

    examples/aqt_pokebnn.py registers spec-less stand-ins for the TensorFlow
    protos AQT's annotations name, and (a model file) leaves them in
    ``sys.modules``; a later ``importlib.util.find_spec("tensorflow")``, as
    transformers and the AQT corpus make, then raises. Which modules share a
    worker depends on the scheduling, so every module ends by removing them.
    """
    yield
    for name in [n for n in sys.modules if n == "tensorflow" or n.startswith("tensorflow.")]:
        if getattr(sys.modules[name], "__spec__", None) is None:
            del sys.modules[name]
