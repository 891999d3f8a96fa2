"""The PokeBNN widths run concretely at 32x32 and train through their quantizers."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from acecost import zoo
from acecost.zoo.pokebnn_net import Bottleneck
from zoo_concrete import RUN_CONCRETELY, SMALL, check_output, compiled, host_variables, image, run_on_host_variables


@pytest.mark.parametrize("name", [n for n in RUN_CONCRETELY if n.startswith("pokebnn")])
def test_every_pokebnn_runs_concretely_at_32x32(name):
    if name == "pokebnn-0.5x":  # its forward pass is compiled with the gradient
        variables, y, _ = pokebnn_logits_and_grads(name)
    else:
        variables, y = run_on_host_variables(name)
    check_output(variables, y)


def test_pokebnn_block_initialisers():
    """A bottleneck initialised by Flax: the third PokeConv's first BN starts at
    zero scale (the block starts as its shortcuts), DPReLU slopes at 1 and 0.25."""
    block = Bottleneck(features=8, stride=2)
    x = np.repeat(image(size=8)[..., :1], 16, axis=-1)
    key = jax.random.key(0)
    y, variables = compiled(block.init_with_output, key, x)(key, x)
    assert y.shape == (1, 4, 4, 32) and np.all(np.isfinite(np.asarray(y)))
    p = jax.device_get(variables["params"])
    assert np.all(p["pokeconv3"]["bn1"]["scale"] == 0)
    assert np.all(p["pokeconv1"]["bn1"]["scale"] == 1)
    assert np.all(p["pokeconv2"]["dprelu"]["neg_slope"] == 0.25)
    assert p["pokeconv2"]["conv"]["kernel"].shape == (3, 3, 8, 8)
    assert p["pokeconv1"]["se"]["conv1"]["kernel"].shape == (1, 1, 16, 2)
    assert p["pokeconv3"]["se"]["conv2"]["kernel"].shape == (1, 1, 1, 32)


_GRAD_CACHE: dict[str, tuple] = {}


def pokebnn_logits_and_grads(name: str = "pokebnn-0.5x"):
    """Eval-mode logits and the cross-entropy gradient wrt params, in one compile.

    Batch-norm uses its running statistics: in training mode a batch of one
    32x32 image leaves stage 4 at 1x1, where batch-norm maps every value to
    its bias and so zeroes the gradient of everything before it.
    """
    if name not in _GRAD_CACHE:
        model = zoo.get(name).module()
        variables = host_variables(zoo.get(name).build(resolution=SMALL).args[0])
        x = image()

        def loss(params):
            logits = model.apply({"params": params, "batch_stats": variables["batch_stats"]}, x, train=False)
            return -jax.nn.log_softmax(logits)[0, 3], logits

        params = variables["params"]
        (_, logits), grads = compiled(jax.value_and_grad(loss, has_aux=True), params)(params)
        _GRAD_CACHE[name] = (variables, logits, grads)
    return _GRAD_CACHE[name]


def test_pokebnn_gradient_flows_through_the_quantizers():
    """One cross-entropy gradient of pokebnn-0.5x: finite, and non-zero even for
    binary kernels (floor has zero gradient; only the STE makes it flow)."""
    variables, _, grads = pokebnn_logits_and_grads()
    grads = jax.device_get(grads)  # numpy from here: no per-shape eager compiles
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
    for path in (("stage1", "block0", "pokeconv1", "conv"), ("stage4", "block2", "pokeconv2", "conv"),
                 ("stage2", "block0", "pokeconv1", "se", "conv1"), ("PokeInit", "conv1"), ("head", "dense")):
        g = grads
        for key in path:
            g = g[key]
        assert np.any(g["kernel"] != 0), path
    params = jax.device_get(variables["params"])
    stepped = jax.tree.map(lambda p, g: p - 0.1 * g, params, grads)
    assert any(np.any(a != b) for a, b in zip(jax.tree.leaves(stepped), jax.tree.leaves(params)))
