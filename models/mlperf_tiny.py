"""The four MLPerf Tiny reference architectures (DS-CNN KWS, ResNet-8, MobileNetV1 0.25, FC autoencoder) in Keras.

Rebuilt layer by layer after the reference training scripts of the MLCommons `tiny` benchmark
(`keras_model.py` / `vww_model.py` / the anomaly-detection `keras_model.py`). They are used as
realistic deployment workloads (code generation, memory planning, benchmarks); the weights come from
training or, in tests, from random initialisation. Parameter counts match the published ones:
DS-CNN 24,908 and ResNet-8 78,666 (BatchNormalization statistics included, as Keras counts them).
"""
from __future__ import annotations


def _keras():
    import keras
    from keras import layers

    return keras, layers


def ds_cnn(input_shape=(49, 10, 1), classes: int = 12, filters: int = 64, blocks: int = 4, dropout: bool = True,
           **hp):
    """DS-CNN keyword spotting: 10x4/2 conv, `blocks` depthwise-separable blocks, average pool, dense softmax."""
    keras, layers = _keras()
    inputs = keras.Input(shape=tuple(input_shape))
    x = layers.Conv2D(filters, (10, 4), strides=(2, 2), padding="same")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    if dropout:
        x = layers.Dropout(0.2)(x)
    for _ in range(blocks):
        x = layers.DepthwiseConv2D((3, 3), padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.Conv2D(filters, (1, 1), padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
    if dropout:
        x = layers.Dropout(0.4)(x)
    x = layers.AveragePooling2D(pool_size=(int(input_shape[0] / 2), int(input_shape[1] / 2)))(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="ds_cnn")


def resnet8(input_shape=(32, 32, 3), classes: int = 10, filters: int = 16, **hp):
    """ResNet-8 (MLPerf Tiny image classification): three residual stacks of 16/32/64 filters."""
    keras, layers = _keras()
    inputs = keras.Input(shape=tuple(input_shape))
    x = layers.Conv2D(filters, 3, padding="same", kernel_initializer="he_normal")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    for stack in range(3):
        n = filters * (2 ** stack)
        stride = 1 if stack == 0 else 2
        y = layers.Conv2D(n, 3, strides=stride, padding="same", kernel_initializer="he_normal")(x)
        y = layers.BatchNormalization()(y)
        y = layers.Activation("relu")(y)
        y = layers.Conv2D(n, 3, padding="same", kernel_initializer="he_normal")(y)
        y = layers.BatchNormalization()(y)
        if stack > 0:
            x = layers.Conv2D(n, 1, strides=2, padding="same", kernel_initializer="he_normal")(x)
        x = layers.Add()([x, y])
        x = layers.Activation("relu")(x)
    x = layers.AveragePooling2D(pool_size=int(min(x.shape[1:3])))(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(classes, activation="softmax", kernel_initializer="he_normal")(x)
    return keras.Model(inputs, outputs, name="resnet8")


def mobilenet_v1_025(input_shape=(96, 96, 3), classes: int = 2, alpha: float = 0.25, **hp):
    """MobileNetV1 width 0.25 (MLPerf Tiny visual wake words): 3x3/2 conv and 13 depthwise-separable blocks."""
    keras, layers = _keras()
    n = int(32 * alpha)
    inputs = keras.Input(shape=tuple(input_shape))
    x = layers.Conv2D(n, 3, strides=2, padding="same", kernel_initializer="he_normal")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    # (stride of the depthwise conv, factor applied to the filters before the pointwise conv)
    plan = [(1, 2), (2, 2), (1, 1), (2, 2), (1, 1), (2, 2), (1, 1), (1, 1), (1, 1), (1, 1), (1, 1), (2, 2), (1, 1)]
    for stride, grow in plan:
        n *= grow
        x = layers.DepthwiseConv2D(3, strides=stride, padding="same", depthwise_initializer="he_normal")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.Conv2D(n, 1, padding="same", kernel_initializer="he_normal")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
    x = layers.AveragePooling2D(pool_size=tuple(int(d) for d in x.shape[1:3]))(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(classes, activation="softmax", kernel_initializer="he_normal")(x)
    return keras.Model(inputs, outputs, name="mobilenet_v1_025")


def fc_autoencoder(input_shape=(640,), classes: int = 640, units: int = 128, bottleneck: int = 8, **hp):
    """FC autoencoder (MLPerf Tiny anomaly detection): 640-128x4-8-128x4-640 dense layers with BN and ReLU."""
    keras, layers = _keras()
    inputs = keras.Input(shape=tuple(input_shape))
    x = inputs
    for width in [units] * 4 + [bottleneck] + [units] * 4:
        x = layers.Dense(width)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
    outputs = layers.Dense(classes)(x)
    return keras.Model(inputs, outputs, name="fc_autoencoder")


MLPERF_TINY = {
    "ds_cnn": ds_cnn,
    "resnet8": resnet8,
    "mobilenet_v1_025": mobilenet_v1_025,
    "fc_autoencoder": fc_autoencoder,
}


def calibrate_batchnorm(model, x, seed: int = 0, spread: float = 0.3):
    """Set every BatchNormalization's moving statistics from the data `x`, layer by layer, in place.

    A freshly initialised deep network (ReLU after ReLU) shrinks or blows up its activations, and
    int8 quantization of such a network is meaningless (TFLM even refuses a softmax whose input scale
    underflows). Normalising each BN with the statistics it actually sees, and drawing gamma and beta
    around 1 and 0, gives random but realistically scaled weights for tests and benchmarks.
    """
    import keras
    import numpy as np

    rng = np.random.RandomState(seed)
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        probe = keras.Model(model.inputs, layer.input)
        a = np.asarray(probe(x, training=False))
        axes = tuple(range(a.ndim - 1))
        n = a.shape[-1]
        gamma = 1.0 + spread * rng.uniform(-1, 1, n)
        beta = spread * rng.randn(n)
        layer.set_weights([gamma.astype("float32"), beta.astype("float32"),
                           a.mean(axis=axes).astype("float32"), (a.var(axis=axes) + 1e-3).astype("float32")])
    return model
