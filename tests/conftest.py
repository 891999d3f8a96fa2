"""Session plumbing shared by every test module.

Several modules keep a per-process cache of expensive work (a zoo model
compiled and run at 32x32, its gradient, the PokeBNN reference curve, an
example's report) that more than one of their tests reads. Under
``pytest -n 2`` such tests may land on both workers and each worker would
redo the work, so each of these modules is one ``xdist_group``: with
``--dist loadgroup`` (set in pyproject.toml) its tests run in one worker and
the cache is filled once. Other tests are spread as usual.
"""
from __future__ import annotations

import sys

import pytest

#: modules whose tests share per-process caches
SHARED_CACHES = ("test_zoo_models.py", "test_zoo_costs.py", "test_plot.py", "test_examples.py",
                 "test_aqt_pokebnn.py", "test_corpus_qwix.py", "test_corpus_aqt_legacy.py")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SHARED_CACHES:
            item.add_marker(pytest.mark.xdist_group(item.path.stem))


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
