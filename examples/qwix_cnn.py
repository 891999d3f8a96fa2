"""A small CNN quantized by Qwix PTQ rules, one per group of layers (needs the ``qwix`` extra).

What the rules show (examples/README.md, "Qwix: which layer a rule
quantizes"):

* a rule's ``module_path`` is a regex matched in full against the Flax path
  of the module that makes the op, without the top module's name (``conv1``,
  ``mix``, not ``Net/mix``); the first rule that matches wins;
* the convs are w8a8: a conv whose rule has different weight and activation
  types (w4a8) is refused by Qwix;
* ``mix`` is a layer written by hand, an input times a parameter: written
  ``jnp.einsum`` (or ``jnp.dot``, ``jax.lax.dot_general``) Qwix PTQ quantizes
  it; written ``x @ w`` (``--param matmul=true``) the model fails under PTQ.

Input 1x16x16x3 -> conv1 3x3 16 (w8a8) -> conv2 3x3/2 32 (w8a8) -> mean
over positions -> mix 32->64 (w4a8) -> head 64->10 (w8a8).
"""
import jax
import jax.numpy as jnp
import flax.linen as nn
import qwix


class Mix(nn.Module):
    """A layer written by hand: ``x`` times a parameter, no ``nn.Dense``."""

    features: int
    matmul: bool = False

    @nn.compact
    def __call__(self, x):
        w = self.param("w", nn.initializers.lecun_normal(), (x.shape[-1], self.features))
        if self.matmul:
            # quantized when the model is initialized, then w is Qwix's WithAux, which `@` refuses
            return x @ w
        return jnp.einsum("bi,io->bo", x, w)  # w is a param: Qwix quantizes it as a weight


class Net(nn.Module):
    matmul: bool = False

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(16, (3, 3), name="conv1")(x))
        x = nn.relu(nn.Conv(32, (3, 3), strides=2, name="conv2")(x))
        x = jnp.mean(x, axis=(1, 2))
        x = nn.relu(Mix(64, self.matmul, name="mix")(x))
        return nn.Dense(10, name="head")(x)


RULES = [
    # full match of the module path: conv1 and conv2, not a module named "myconv"
    qwix.QuantizationRule(module_path="conv.*", weight_qtype=jnp.int8, act_qtype=jnp.int8),
    # w4a8 is fine for an einsum/dot_general; on a conv Qwix PTQ raises
    qwix.QuantizationRule(module_path="mix", weight_qtype=jnp.int4, act_qtype=jnp.int8),
    qwix.QuantizationRule(module_path="head", weight_qtype=jnp.int8, act_qtype=jnp.int8),
]


def acecost_model(matmul: bool = False):
    model = qwix.quantize_model(Net(matmul), qwix.PtqProvider(RULES))
    x = jax.ShapeDtypeStruct((1, 16, 16, 3), jnp.float32)
    variables = jax.eval_shape(model.init, jax.random.key(0), x)  # abstract: no weight is allocated
    return (lambda variables, x: model.apply(variables, x)), (variables, x)
