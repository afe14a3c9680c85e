"""The compact CNN family: a stem and stride-2 blocks of standard, depthwise-separable or grouped convolutions."""
from __future__ import annotations

import math

from toolkit.errors import ConfigError


def _channels(base: int, width: float, multiple: int) -> int:
    c = max(multiple, int(round(base * width / multiple)) * multiple)
    return c


def build(input_shape, classes: int, conv: str = "standard", width: float = 1.0, groups: int = 2,
          shuffle: bool = False, dropout: float = 0.2, max_channels: int = 64, depth: int = 1):
    """A compact CNN for any HxWxC input: conv stem, ceil(log2(min(H,W)/4)) stride-2 blocks, `depth` more
    stride-1 blocks at the full width (one by default), global average pooling, dropout and a dense softmax
    classifier.

    conv="standard": 3x3 convolution per block; "depthwise": depthwise 3x3 + pointwise 1x1 (MobileNet);
    "grouped": 3x3 convolution in `groups` groups followed by a 1x1 pointwise mix, or, with shuffle=True,
    by a ShuffleNet channel shuffle instead. BatchNorm follows every convolution (folded at conversion).
    """
    import keras
    from keras import layers

    if len(input_shape) != 3:
        raise ConfigError(f"compact_cnn needs an image input (H, W, C), got shape {tuple(input_shape)}")
    if conv not in ("standard", "depthwise", "grouped"):
        raise ConfigError(f"--conv {conv!r} is not one of standard, depthwise, grouped")
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 0:
        raise ConfigError(f"depth (stride-1 blocks after the downsampling) must be 0 or more, got {depth!r}")
    if conv == "grouped" and groups < 2:
        raise ConfigError(f"--groups must be at least 2 for grouped convolutions, got {groups}")
    h, w, _ = input_shape
    multiple = groups if conv == "grouped" else 1
    n_down = min(4, max(1, math.ceil(math.log2(max(min(h, w), 2) / 4))))
    stem_c = _channels(16, width, multiple)
    plan = [(_channels(min(32 * 2 ** i, max_channels), width, multiple), 2) for i in range(n_down)]
    plan += [(_channels(max_channels, width, multiple), 1)] * depth

    def bn_relu(x, name):
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
        return layers.ReLU(name=f"{name}_relu")(x)

    inp = keras.Input(shape=tuple(input_shape), name="input")
    x = bn_relu(layers.Conv2D(stem_c, 3, padding="same", use_bias=False, name="stem_conv")(inp), "stem")
    for i, (c, stride) in enumerate(plan, start=1):
        name = f"block{i}"
        if conv == "standard":
            x = bn_relu(layers.Conv2D(c, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(x),
                        name)
        elif conv == "depthwise":
            x = bn_relu(layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False,
                                               name=f"{name}_dw")(x), f"{name}_dw")
            x = bn_relu(layers.Conv2D(c, 1, use_bias=False, name=f"{name}_pw")(x), f"{name}_pw")
        else:
            x = bn_relu(layers.Conv2D(c, 3, strides=stride, padding="same", groups=groups, use_bias=False,
                                      name=f"{name}_gconv")(x), f"{name}_g")
            if shuffle:
                hh, ww = x.shape[1], x.shape[2]
                x = layers.Reshape((hh, ww, groups, c // groups), name=f"{name}_shuffle_split")(x)
                x = layers.Permute((1, 2, 4, 3), name=f"{name}_shuffle")(x)
                x = layers.Reshape((hh, ww, c), name=f"{name}_shuffle_merge")(x)
            else:
                x = bn_relu(layers.Conv2D(c, 1, use_bias=False, name=f"{name}_pw")(x), f"{name}_pw")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Dense(classes, name="logits")(x)
    out = layers.Softmax(name="probs")(x)
    return keras.Model(inp, out, name=f"compact_cnn_{conv}")
