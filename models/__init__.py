"""The model zoo: a registry of architectures, each build(input_shape, classes, **hp) -> keras.Model."""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from toolkit.errors import ConfigError


@dataclass(frozen=True)
class ModelSpec:
    module: str  # models.<module> holding the builder
    function: str
    description: str
    input_shape: tuple | None = None  # the architecture's own input, when it has one (MLPerf Tiny)
    classes: int | None = None
    takes_conv: bool = False  # honours --conv/--groups/--width

    def builder(self):
        return getattr(importlib.import_module(f"models.{self.module}"), self.function)


REGISTRY: dict[str, ModelSpec] = {
    "compact_cnn": ModelSpec("compact", "build", "compact CNN, standard / depthwise-separable / grouped convs",
                             takes_conv=True),
}


def get(name: str) -> ModelSpec:
    if name not in REGISTRY:
        raise ConfigError(f"unknown model {name!r}", hint=f"known models: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def build_model(name: str, input_shape, classes: int, conv: str = "standard", groups: int = 2,
                width: float = 1.0, **hp):
    """Build a registered model; --conv/--groups/--width go to the families that take them."""
    spec = get(name)
    if spec.takes_conv:
        hp.update(conv=conv, groups=groups, width=width)
    try:
        return spec.builder()(tuple(input_shape), classes, **hp)
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(f"model {name!r} cannot be built for input {tuple(input_shape)} and {classes} classes: "
                          f"{str(exc).splitlines()[0]}") from None
