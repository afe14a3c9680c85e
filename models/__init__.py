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
    # MLPerf Tiny reference architectures, at their own inputs (any input of the same rank works too)
    "ds_cnn": ModelSpec("mlperf_tiny", "ds_cnn", "MLPerf Tiny keyword spotting DS-CNN (49x10 MFCC, 12 classes)",
                        input_shape=(49, 10, 1), classes=12),
    "resnet8": ModelSpec("mlperf_tiny", "resnet8", "MLPerf Tiny CIFAR-10 ResNet-8 (32x32x3, 10 classes)",
                         input_shape=(32, 32, 3), classes=10),
    "mobilenet_v1_025": ModelSpec("mlperf_tiny", "mobilenet_v1_025",
                                  "MLPerf Tiny visual wake words MobileNetV1 0.25 (96x96x3, 2 classes)",
                                  input_shape=(96, 96, 3), classes=2),
    "fc_autoencoder": ModelSpec("mlperf_tiny", "fc_autoencoder",
                                "MLPerf Tiny anomaly detection FC autoencoder (640-128x4-8-128x4-640)",
                                input_shape=(640,), classes=640),
}


def get(name: str) -> ModelSpec:
    if name not in REGISTRY:
        raise ConfigError(f"unknown model {name!r}", hint=f"known models: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def build_model(name: str, input_shape, classes: int, conv: str = "standard", groups: int = 2,
                width: float = 1.0, shuffle: bool = False, **hp):
    """Build a registered model; --conv/--groups/--width/--shuffle go to the families that take them."""
    spec = get(name)
    if spec.takes_conv:
        hp.update(conv=conv, groups=groups, width=width, shuffle=shuffle)
    try:
        return spec.builder()(tuple(input_shape), classes, **hp)
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(f"model {name!r} cannot be built for input {tuple(input_shape)} and {classes} classes: "
                          f"{str(exc).splitlines()[0]}") from None
