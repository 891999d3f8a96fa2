"""Bundled reference models: PokeBNN at four widths and ResNet-50 v1.5 variants.

Each entry builds an abstract :class:`acecost.load.target.Target`: variables come
from ``jax.eval_shape`` of ``init``, so no weights are ever allocated and a
model of any size is priced in the time it takes to trace it.

The registry itself imports neither jax nor flax (the networks load on the
first build), so listing the zoo and reading its stored costs
(:mod:`acecost.zoo.costs`) is as quick as starting Python.
"""

from __future__ import annotations

import functools
import importlib
import importlib.resources
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from acecost.errors import ConfigError, TargetError

if TYPE_CHECKING:  # pragma: no cover
    import flax.linen as nn
    import pandas as pd

    from acecost.load.target import Target
    from acecost.zoo.pokebnn_net import PokeBNN
    from acecost.zoo.resnet import ResNet50

__all__ = ["ZooModel", "MODELS", "get", "names", "published_points", "PokeBNN", "ResNet50",
           "RESOLUTION", "BATCH"]

PUBLISHED_CSV = "published.csv"
RESOLUTION = 224  # the input every published figure of these models is quoted at
BATCH = 1

_NETWORKS = {"PokeBNN": "pokebnn_net", "ResNet50": "resnet"}


def __getattr__(name: str) -> Any:
    """The network classes, imported on first use (they need flax)."""
    if name in _NETWORKS:
        return getattr(importlib.import_module(f"{__name__}.{_NETWORKS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _network(cls: str, **kwargs: Any) -> nn.Module:
    return __getattr__(cls)(**kwargs)


def _resnet_bf16() -> nn.Module:
    import jax.numpy as jnp

    return _network("ResNet50", quant=None, dtype=jnp.bfloat16)


@dataclass(frozen=True)
class ZooModel:
    """One bundled model: what it is and how to build it for analysis."""

    name: str
    family: str
    variant: str
    description: str
    make: Callable[[], nn.Module] = field(repr=False, compare=False)
    width_multiplier: float | None = None

    def module(self) -> nn.Module:
        """A fresh Flax module (unbound) for this entry."""
        return self.make()

    def build(self, resolution: int = RESOLUTION, batch: int = BATCH) -> Target:
        """An abstract target: eval-mode ``apply`` on ``batch`` NHWC images of ``resolution``^2."""
        if not isinstance(resolution, int) or resolution < 4:
            raise ConfigError(f"resolution must be an integer >= 4, got {resolution!r}")
        if not isinstance(batch, int) or batch < 1:
            raise ConfigError(f"batch must be a positive integer, got {batch!r}")
        import jax
        import jax.numpy as jnp

        from acecost.load.target import Target

        model = self.make()
        x = jax.ShapeDtypeStruct((batch, resolution, resolution, 3), jnp.float32)
        key = jax.ShapeDtypeStruct((2,), jnp.uint32)
        variables = jax.eval_shape(lambda k, x: model.init(k, x, train=False), key, x)

        def apply(variables, x):
            return model.apply(variables, x, train=False)

        return Target(
            fn=apply,
            args=(variables, x),
            params_argnums=(0,),
            name=self.name,
            description=f"{self.description} ({batch}x{resolution}x{resolution}x3 input)",
        )


def pokebnn(m: float, label: str | None = None, *, name: str | None = None) -> ZooModel:
    """The bundled PokeBNN architecture at width multiplier ``m`` (any width, not only the listed ones)."""
    label = label or f"{m}x"
    return ZooModel(
        name=name or f"pokebnn-{label}",
        family="PokeBNN",
        variant=label,
        description=f"PokeBNN {label}: binary blocks, 4-bit SE, 8-bit stem and head",
        make=functools.partial(_network, "PokeBNN", width_multiplier=m),
        width_multiplier=m,
    )


def resnet_variant(variant: str, quant: tuple[int, int] | None, float_ends: bool = False) -> ZooModel:
    if quant is None:
        text = "ResNet-50 v1.5, bfloat16"
        make = _resnet_bf16
    elif float_ends:
        a, w = quant
        text = (f"ResNet-50 v1.5, w{w}a{a} with the stem conv and classifier in bfloat16 "
                f"(AQT's resnet50_w{w}_a{a}_fixed config)")
        make = functools.partial(_network, "ResNet50", quant=quant, float_ends=True)
    else:
        a, w = quant
        text = f"ResNet-50 v1.5, every layer w{w}a{a}"
        make = functools.partial(_network, "ResNet50", quant=quant)
    return ZooModel(name=f"resnet50-{variant}", family="ResNet-50", variant=variant, description=text, make=make)


MODELS: dict[str, ZooModel] = {
    z.name: z
    for z in (
        pokebnn(0.5, "0.5x"),
        pokebnn(0.75, "0.75x"),
        pokebnn(1.0, "1.0x"),
        pokebnn(2.0, "2.0x"),
        resnet_variant("bf16", None),
        resnet_variant("w8a8", (8, 8)),
        resnet_variant("w4a4", (4, 4)),
        resnet_variant("w4a2", (2, 4)),
        resnet_variant("w4a4-bf16ends", (4, 4), float_ends=True),
        resnet_variant("w4a2-bf16ends", (2, 4), float_ends=True),
    )
}


def names() -> list[str]:
    """Names of the bundled models, in registry order."""
    return list(MODELS)


def get(name: str) -> ZooModel:
    """The zoo entry called ``name``; a TargetError lists the known names otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise TargetError(f"unknown zoo model {name!r}; known: {', '.join(MODELS)}") from None


def published_points() -> pd.DataFrame:
    """Published accuracy/cost points shipped with the package (sourced, one row per model)."""
    import pandas as pd

    with importlib.resources.files(__package__).joinpath(PUBLISHED_CSV).open("r", encoding="utf-8") as f:
        return pd.read_csv(f)
