"""deploy.engine.graph_passes: a Keras Flatten converted with a dynamic batch (SHAPE -> STRIDED_SLICE -> PACK into
RESHAPE's shape operand) runs on the engine, bit-exact with TFLM, with that chain dropped."""
from __future__ import annotations

import numpy as np

from deploy.engine.graph_passes import simplify
from deploy.engine.tflite_reader import read_tflite
from deploy.convert.tflm import run_tflm
from engine_support import engine_outputs, make_inputs


def _convert(model) -> bytes:
    """TensorFlow's converter called directly, as a notebook does (not edgecnn's own quantize, which fixes the
    batch), with a seeded representative data set."""
    import tensorflow as tf

    calib = np.random.RandomState(0).randn(16, *model.inputs[0].shape[1:]).astype(np.float32)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([x[None]] for x in calib)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def _dynamic_batch_flatten_model():
    import keras
    from keras import layers

    keras.utils.set_random_seed(4)
    inp = keras.Input((6, 5, 3))  # batch None: the converter computes Flatten's shape at run time
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x = layers.Flatten()(x)
    return keras.Model(inp, layers.Dense(5)(x))


def test_dynamic_batch_flatten_runs_on_the_engine(tmp_path):
    tfl = _convert(_dynamic_batch_flatten_model())
    graph = read_tflite(tfl)
    ops = [o.op for o in graph.operators]
    assert "SHAPE" in ops, f"the converter no longer emits the run-time shape chain: {ops}"
    kept = [o.op for o in simplify(graph).operators]
    assert "SHAPE" not in kept and "PACK" not in kept and "RESHAPE" in kept, kept
    x = make_inputs((6, 5, 3), n=8)
    got, _ = engine_outputs(tfl, x, tmp_path)
    np.testing.assert_array_equal(np.asarray(got).reshape(len(x), -1), run_tflm(tfl, x).reshape(len(x), -1))


def test_a_computed_shape_that_is_read_elsewhere_is_kept():
    """Only RESHAPE's own operand is detached; an op whose output another op reads stays."""
    from dataclasses import replace

    from deploy.engine.graph_passes import drop_dead_ops

    graph = read_tflite(_convert(_dynamic_batch_flatten_model()))
    assert [o.op for o in drop_dead_ops(graph).operators] == [o.op for o in graph.operators]
    lone = replace(graph, operators=graph.operators[:1], outputs=graph.operators[0].outputs)
    assert len(drop_dead_ops(lone).operators) == 1
