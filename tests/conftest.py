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


# ------------------------------------------------ progress lines for a long run (make test)

def pytest_addoption(parser):
    parser.addoption("--progress-every", type=float, default=0, metavar="SECONDS",
                     help="Every SECONDS, print 'N of M tests done, X failed' (make test: 60); 0: never.")


class _Progress:
    """A line every ``every`` seconds from a background thread, so a run whose tests are slow
    (or a machine that is busy) still shows it is moving. It writes to the terminal as it was
    when pytest started (a duplicate of its stdout), never into a test's captured output."""

    def __init__(self, config, every: float):
        import threading
        import time

        self.config, self.every, self.clock = config, every, time.monotonic
        self.start = self.clock()
        self.total = 0
        self.done = 0
        self.failed: set[str] = set()
        self.fd = os.dup(1)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="progress", daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stop.wait(self.every):
            self.emit()

    def emit(self):
        minutes, seconds = divmod(int(self.clock() - self.start), 60)
        what = (f"{self.done} of {self.total} tests done, {len(self.failed)} failed" if self.total
                else "collecting tests")
        writer = self.config.get_terminal_writer()
        newline = "\n" if writer.width_of_current_line else ""
        try:
            os.write(self.fd, f"{newline}[{minutes}:{seconds:02d}] {what}\n".encode())
        except OSError:
            pass

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids):
        self.total = max(self.total, len(ids))

    def pytest_collection_finish(self, session):
        self.total = max(self.total, len(session.items))

    def pytest_runtest_logreport(self, report):
        if report.failed:
            self.failed.add(report.nodeid)
        if report.when == "teardown":
            self.done += 1

    def pytest_sessionfinish(self):
        self.stop.set()  # pytest's own summary follows

    def close(self):
        self.stop.set()
        self.thread.join(timeout=5)
        os.close(self.fd)


def pytest_configure(config):
    every = config.getoption("--progress-every", 0)
    worker = hasattr(config, "workerinput")  # an xdist worker: its controller reports
    if every and every > 0 and not worker:
        config._acecost_progress = _Progress(config, every)
        config.pluginmanager.register(config._acecost_progress, "acecost-progress")


def pytest_unconfigure(config):
    progress = getattr(config, "_acecost_progress", None)
    if progress is not None:
        progress.close()
