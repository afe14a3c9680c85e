"""Helpers shared by the firmware tests: a private copy of a session build to build firmware in (copy_build for the
trained CLI build, copy_untrained for the untrained one that untrained_build makes in the test process)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

ARTIFACTS = ("model_int8.tflite", "golden.npz", "report.json")


def copy_build(src: Path, dest: Path) -> Path:
    """The artifacts the firmware stages read, copied so that firmware/ is written only into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ARTIFACTS:
        shutil.copy(Path(src) / name, dest / name)
    return dest


def corrupt_second_conv(build: Path) -> None:
    """Flip the first weight of the second convolution in a build's generated engine to the other int8
    extreme, so that verification must fail there (conv_2d_1, op 1); in the DSP cores' column-pair copy of the
    filter too, where the layer has one (its first word: the low byte is that weight)."""
    import re

    src = Path(build) / "firmware" / "engine" / "edgecnn_model.c"
    text = src.read_text()
    m = re.search(r"static const int8_t (conv_2d_1_filter)\[\d+\] = \{\n    (-?\d+),", text)
    assert m, "the second convolution's filter array was not found"
    text = text[:m.start(2)] + str(127 if int(m.group(2)) < 0 else -128) + text[m.end(2):]
    m = re.search(r"static const int32_t conv_2d_1_pairs\[\d+\] = \{\n    (-?\d+),", text)
    if m:
        text = text[:m.start(1)] + str(int(m.group(1)) ^ 0x40) + text[m.end(1):]
    src.write_text(text)


def copy_untrained(src: Path, dest: Path) -> Path:
    """A private copy of an untrained_build folder (its engine included), for a test module's firmware."""
    shutil.copytree(src, dest)
    return dest


def untrained_build(dest: Path, seed: int = 0) -> Path:
    """A build folder for cortex-m4 with what the firmware and verify stages read (ARTIFACTS and firmware/engine),
    made in this process without training and without the CLI, in a few seconds instead of a CLI build's training.

    The model is the default build's (models/ compact_cnn, standard convolutions, for the digits input 8x8x1 and
    10 classes), untrained: only a label-free initialization from digits training images (each BatchNorm's moving
    mean and variance are its input's over 256 images, and the classifier is centred and scaled so that the
    logits spread, so top-1 varies from sample to sample instead of one class winning every time) and int8
    quantization calibrated on random uniform [0, 1] images. golden.npz is what `edgecnn build` writes
    (deploy.convert.export.golden_arrays on the digits test split: int8 inputs, TFLM's int8 outputs, the
    untrained Keras model's float outputs, the data set's labels, class_labels), so the accuracies the verifiers
    compute are of an untrained classifier on the real labels, near chance (10 classes), and compare device,
    TFLM and report on the same labelled samples. report.json holds the fields the verifiers and tests read:
    model (macs from deploy.report.layer_stats, target cortex-m4, ...) and accuracy (int8 over golden.npz, the
    whole test split as in a CLI build)."""
    import keras
    import numpy as np

    from deploy.convert.export import golden_arrays
    from deploy.convert.quantize import to_int8_tflite
    from deploy.engine.codegen import plan_engine, write_engine
    from deploy.engine.tflite_reader import read_tflite
    from deploy.report.layer_stats import all_layer_stats
    from models import build_model
    from toolkit.datasets import load_digits
    from toolkit.targets import TARGETS

    data = load_digits(seed)
    keras.utils.set_random_seed(seed)
    model = build_model("compact_cnn", data.input_shape, data.num_classes)
    x_init = data.x_train[:256]  # images only: no label is seen before golden.npz
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            a = np.asarray(keras.Model(model.input, layer.input)(x_init, training=False))
            gamma, beta, _, _ = layer.get_weights()
            layer.set_weights([gamma, beta, a.mean(axis=(0, 1, 2)), a.var(axis=(0, 1, 2))])
    dense = model.get_layer("logits")
    feat = np.asarray(keras.Model(model.input, dense.input)(x_init, training=False))
    kernel = dense.get_weights()[0] / feat.std(axis=0).mean()
    dense.set_weights([kernel, -feat.mean(axis=0) @ kernel])

    calib = np.random.RandomState(seed).uniform(0, 1, (64, *data.input_shape)).astype(np.float32)
    tfl = to_int8_tflite(model, calib)
    float_out = np.asarray(model(data.x_test, training=False))
    golden = golden_arrays(tfl, data.x_test, data.y_test, float_out)
    top1 = golden["outputs_int8"].argmax(axis=1)
    # the accuracy comparisons mean something only if the answers differ between samples
    assert len(np.unique(top1)) >= 5 and len(np.unique(golden["outputs_int8"])) >= 64, np.unique(top1)

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "model_int8.tflite").write_bytes(tfl)
    np.savez_compressed(dest / "golden.npz", **golden, class_labels=np.array(data.labels))
    graph = read_tflite(tfl)
    layers = all_layer_stats(graph)
    n = len(golden["labels"])
    report = {
        "model": {"name": "compact_cnn", "conv": "standard", "params": sum(x.params for x in layers),
                  "keras_params": int(model.count_params()), "macs": sum(x.macs for x in layers),
                  "input_shape": list(data.input_shape), "classes": data.num_classes, "labels": list(data.labels),
                  "ops": graph.op_names(), "target": "cortex-m4"},
        "accuracy": {"float": round(float(np.mean(float_out.argmax(axis=1) == data.y_test)), 6),
                     "int8": round(float(np.mean(top1 == golden["labels"])), 6), "test_samples": n},
        "golden_inputs": {"source": "dataset", "dataset": data.name, "split": "test", "samples": n,
                          "labelled": True},
        "untrained": "tests/firmware_support.untrained_build: initialized from digits images, not trained",
    }
    (dest / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    write_engine(plan_engine(tfl, list(data.labels)), dest / "firmware" / "engine", target=TARGETS["cortex-m4"])
    return dest
