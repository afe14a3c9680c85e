"""Converts a Keras model to TFLite: float32, and full-integer int8 post-training quantization."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from toolkit.errors import ModelError


def _converter(model):
    """A converter over a batch-1 concrete function, so no SHAPE/PACK ops appear for dynamic batch."""
    import tensorflow as tf

    shape = [1, *model.inputs[0].shape[1:]]
    fn = tf.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec(shape, tf.float32))
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from toolkit.capture import quiet_native

    frozen = convert_variables_to_constants_v2(concrete)  # Keras 3 variables as constants
    with quiet_native():  # the deprecation notice about trackable_obj is for a path we take on purpose
        return tf.lite.TFLiteConverter.from_concrete_functions([frozen])


def _convert(conv, what: str) -> bytes:
    from toolkit.capture import quiet_native

    try:
        with quiet_native():
            return bytes(conv.convert())
    except Exception as exc:  # the converter raises many unrelated types; name the model and the cause
        first = str(exc).strip().splitlines()
        raise ModelError(f"the TFLite converter could not convert the model to {what}: "
                         f"{first[-1] if first else type(exc).__name__}",
                         hint="use layers the TFLite builtin int8 op set supports") from None


def to_float_tflite(model) -> bytes:
    """The float32 TFLite model, batch size 1."""
    return _convert(_converter(model), "float32 TFLite")


def to_int8_tflite(model, calibration: np.ndarray, max_samples: int = 200, float_io: bool = False) -> bytes:
    """Full-integer int8 TFLite: per-channel int8 weights, int32 biases, int8 input and output
    (float_io=True: float32 input and output around the same int8 core, as mobile apps like it).

    `calibration` holds float inputs in the model's input range (the calibration split); the
    representative data set feeds them one at a time, as the batch-1 signature requires.
    """
    import tensorflow as tf

    if len(calibration) == 0:
        raise ModelError("int8 quantization needs calibration samples, and the calibration split is empty",
                         hint="use a data set with more samples")
    calib = np.asarray(calibration[:max_samples], dtype=np.float32)
    if not np.all(np.isfinite(calib)):
        raise ModelError("the calibration data holds NaN or infinite values", hint="clean the data set")

    def representative():
        for x in calib:
            yield [x[None, ...]]

    conv = _converter(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    io_type = tf.float32 if float_io else tf.int8
    conv.inference_input_type = io_type
    conv.inference_output_type = io_type
    data = _convert(conv, "int8 TFLite" + (" with float32 input/output" if float_io else ""))
    _check_int8_core(data)
    return data


def _check_int8_core(data: bytes) -> None:
    """Every op computes in int8; only the QUANTIZE/DEQUANTIZE at the ends of a float-I/O model touch float."""
    from deploy.engine.tflite_reader import read_tflite

    g = read_tflite(data)
    for op in g.operators:
        if op.op in ("QUANTIZE", "DEQUANTIZE") and any(g.tensors[i].dtype == "float32"
                                                       for i in op.inputs + op.outputs if i >= 0):
            continue
        for t in (g.tensors[i] for i in op.inputs + op.outputs if i >= 0):
            if t.dtype == "float32" and not t.is_constant:
                raise ModelError(f"layer {op.name} ({op.op}) still computes in float32 after int8 quantization "
                                 f"(tensor '{t.name}')", hint="replace that layer with one TFLite can quantize")


def convert_contained(model, calibration: np.ndarray, max_samples: int = 200, what: str = "the model",
                      keras_file: Path | None = None) -> tuple[bytes, bytes]:
    """(float32, int8) TFLite of `model`, converted in a child process (deploy.convert.convert_worker): TensorFlow's
    converter and calibrator are native code that can crash (a segfault in MinMax::Update on an LSTM), and a crash
    there must fail the build with a message, not kill it with nothing said and nothing cleaned up. `keras_file`: the
    .keras `model` was loaded from, which the child reads as it is (no copy saved)."""
    with tempfile.TemporaryDirectory(prefix="edgecnn-convert-") as tmp:
        work = Path(tmp)
        source = Path(keras_file).resolve() if keras_file is not None else work / "model.keras"
        if keras_file is None:
            try:
                model.save(source)
            except Exception as exc:  # Keras raises many types for a model it cannot serialise
                raise ModelError(f"cannot save {what} for conversion: {str(exc).strip().splitlines()[0][:200]}",
                                 hint="use layers Keras can save (no Lambda of a closure)") from None
        np.save(work / "calibration.npy", np.asarray(calibration[:max_samples], dtype=np.float32))
        (work / "job.json").write_text(json.dumps({"max_samples": int(max_samples), "model": str(source)}))
        r = subprocess.run([sys.executable, "-m", "deploy.convert.convert_worker", str(work)], capture_output=True,
                           text=True, stdin=subprocess.DEVNULL)
        if r.returncode == 0:
            return (work / "model_float.tflite").read_bytes(), (work / "model_int8.tflite").read_bytes()
        if (work / "error.json").is_file():
            err = json.loads((work / "error.json").read_text())
            raise ModelError(err["message"], hint=err["hint"])
        phases = [ln[7:] for ln in r.stdout.splitlines() if ln.startswith("phase: ")]
        stage = phases[-1] if phases else "starting"
        how = (f"crashed ({signal.Signals(-r.returncode).name})" if r.returncode < 0
               else f"failed (exit {r.returncode})")
        said = " ".join(r.stderr.split())[-300:]
        raise ModelError(f"TensorFlow {how} while {stage} for {what}" + (f": {said}" if said else ""),
                         hint="TensorFlow's TFLite converter cannot quantize this model (recurrent layers such as "
                              "LSTM often crash its int8 calibrator); use layers the TFLite builtin int8 op set "
                              "supports, or convert the model yourself and build from the int8 .tflite")

