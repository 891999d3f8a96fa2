"""Running the bundled models concretely at 32x32, for the two ``test_zoo_run_*`` modules.

The forward passes are the slowest tests; in two modules the test run can
spread them over both workers. Each module compiles its own graphs once.
"""

from __future__ import annotations

import math

import jax
import numpy as np

from acecost import zoo

SMALL = 32
#: the -bf16ends variants share every module with the others: one of them runs
RUN_CONCRETELY = [n for n in zoo.names() if n != "resnet50-w4a4-bf16ends"]
# Compiling Flax's random initialisers costs XLA several times what the
# forward pass does, so one model is initialised by Flax concretely and the
# others run on host-made variables of the abstract shapes (host_variables);
# PokeBNN's own initialisers are run concretely on one block below.
FLAX_INIT = {"resnet50-w4a2"}

# Cheap XLA settings: these graphs are compiled once and run once on 32x32.
_FAST_COMPILE = {
    "xla_backend_optimization_level": 0,
    "xla_llvm_disable_expensive_passes": True,
    "xla_cpu_use_fusion_emitters": False,
    "xla_cpu_enable_concurrency_optimized_scheduler": False,
}


def compiled(fn, *args):
    lowered = jax.jit(fn).lower(*args)
    try:
        return lowered.compile(compiler_options=_FAST_COMPILE)
    except Exception:  # an XLA build without these debug options
        return lowered.compile()


def image(seed: int = 0, size: int = SMALL) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((1, size, size, 3)).astype(np.float32)


def host_variables(abstract, seed: int = 0):
    """Concrete variables with the shapes of ``abstract``: He-normal kernels, neutral everything else.

    Plain numpy arrays, so making them compiles nothing.
    """
    rng = np.random.default_rng(seed)

    def leaf(path, s):
        name = path[-1].key
        if name == "kernel":
            fan_in = math.prod(s.shape[:-1])
            return (rng.standard_normal(s.shape) * math.sqrt(2.0 / fan_in)).astype(s.dtype)
        if name in ("var", "scale", "pos_slope"):
            return np.ones(s.shape, s.dtype)
        if name == "neg_slope":
            return np.full(s.shape, 0.25, s.dtype)
        return np.zeros(s.shape, s.dtype)  # mean, bias, bias_x, bias_y

    return jax.tree_util.tree_map_with_path(leaf, abstract)


def run_on_host_variables(name: str):
    """(variables, logits) of zoo model ``name`` run at 32x32 on :func:`host_variables`."""
    target = zoo.get(name).build(resolution=SMALL)
    variables = host_variables(target.args[0])
    x = image()
    return variables, compiled(target.fn, variables, x)(variables, x)


def check_output(variables, y) -> None:
    """A forward pass's logits: ImageNet-shaped, finite, not constant; the variables Flax makes."""
    y = np.asarray(y)
    assert y.shape == (1, 1000)
    assert np.all(np.isfinite(y))
    assert np.std(y) > 0  # not a constant output
    assert set(variables) == {"params", "batch_stats"}
