"""XNOR-Net layers shared by the training-step tests (and copied beside their model files).

``ste_sign`` is sign with a straight-through gradient; ``BinConv`` is a
K x K SAME conv of sign activations by sign weights times alpha, the mean
absolute weight per output channel.
"""
import flax.linen as nn
import jax.numpy as jnp
from jax import lax

K = 3


def ste_sign(x):
    clipped = jnp.clip(x, -1, 1)
    return clipped + lax.stop_gradient(jnp.sign(x) - clipped)


class BinConv(nn.Module):
    """XNOR-Net conv: sign activations, sign weights times alpha per output channel."""

    features: int

    @nn.compact
    def __call__(self, x):
        w = self.param("kernel", nn.initializers.lecun_normal(), (K, K, x.shape[-1], self.features))
        alpha = lax.stop_gradient(jnp.mean(jnp.abs(w), axis=(0, 1, 2)))
        return lax.conv_general_dilated(ste_sign(x), ste_sign(w) * alpha, (1, 1), "SAME",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))
