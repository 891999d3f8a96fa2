"""The ResNet-50 variants run concretely at 32x32; one is initialised by Flax itself."""

from __future__ import annotations

import jax
import pytest

from acecost import zoo
from zoo_concrete import FLAX_INIT, RUN_CONCRETELY, SMALL, check_output, compiled, image, run_on_host_variables


_FLAX_INIT_CACHE: dict[str, tuple] = {}


def flax_init_and_output(name: str):
    """(module, variables, eval output) from Flax's own init at 32x32, computed once."""
    if name not in _FLAX_INIT_CACHE:
        model = zoo.get(name).module()
        key, x = jax.random.key(0), image()
        run = compiled(lambda k, x: model.init_with_output(k, x, train=False), key, x)
        y, variables = run(key, x)
        _FLAX_INIT_CACHE[name] = (model, variables, y)
    return _FLAX_INIT_CACHE[name]


@pytest.mark.parametrize("name", [n for n in RUN_CONCRETELY if n.startswith("resnet")])
def test_every_resnet_runs_concretely_at_32x32(name):
    if name in FLAX_INIT:
        _, variables, y = flax_init_and_output(name)
    else:
        variables, y = run_on_host_variables(name)
    check_output(variables, y)


def test_flax_init_matches_the_abstract_variables():
    _, variables, _ = flax_init_and_output("resnet50-w4a2")
    abstract = zoo.get("resnet50-w4a2").build(resolution=SMALL).args[0]
    shapes = jax.tree.map(lambda a: (a.shape, a.dtype), variables)
    assert shapes == jax.tree.map(lambda s: (s.shape, s.dtype), abstract)
