"""CIFAR ResNet-20 (He et al. 2016, 0.27M parameters at width 16) with quantized convs.

The small model of bench_sweep.py: ``acecost_model(width, abits, wbits)``.
Parameters left out fall back to the BENCH_WIDTH / BENCH_ABITS / BENCH_WBITS
environment variables, so a shell loop of plain ``acecost analyze`` runs can
price the same points.
"""
import os

import flax.linen as nn
import jax
import jax.numpy as jnp

from acecost.zoo.quant import QConv, QDense, QSpec


class Block(nn.Module):
    features: int
    stride: int
    act: QSpec
    weight: QSpec

    @nn.compact
    def __call__(self, x):
        y = QConv(self.features, (3, 3), (self.stride, self.stride), act=self.act, weight=self.weight)(x)
        y = nn.relu(nn.BatchNorm(use_running_average=True)(y))
        y = QConv(self.features, (3, 3), act=self.act, weight=self.weight)(y)
        y = nn.BatchNorm(use_running_average=True)(y)
        if x.shape != y.shape:  # option A shortcut: subsample and zero-pad channels
            x = x[:, ::2, ::2, :]
            x = jnp.pad(x, [(0, 0), (0, 0), (0, 0), (0, y.shape[-1] - x.shape[-1])])
        return nn.relu(x + y)


class ResNet20(nn.Module):
    width: int
    abits: int
    wbits: int

    @nn.compact
    def __call__(self, x):
        act, weight = QSpec("signed", self.abits), QSpec("signed", self.wbits)
        x = QConv(self.width, (3, 3), act=QSpec("signed", 8), weight=QSpec("signed", 8))(x)
        x = nn.relu(nn.BatchNorm(use_running_average=True)(x))
        for stage, mult in enumerate((1, 2, 4)):
            for block in range(3):
                stride = 2 if stage and not block else 1
                x = Block(self.width * mult, stride, act, weight)(x)
        return QDense(10, act=QSpec("signed", 8), weight=QSpec("signed", 8))(x.mean(axis=(1, 2)))


def acecost_model(width=None, abits=None, wbits=None):
    env = os.environ.get
    model = ResNet20(int(env("BENCH_WIDTH", 16)) if width is None else width,
                     int(env("BENCH_ABITS", 4)) if abits is None else abits,
                     int(env("BENCH_WBITS", 4)) if wbits is None else wbits)
    x = jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32)
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    return (lambda v, inp: model.apply(v, inp)), (variables, x)
