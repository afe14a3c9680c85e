"""The child process that runs the TFLite converter for deploy.convert.quantize.convert_contained:
`python -m deploy.convert.convert_worker DIR`.

DIR holds calibration.npy and job.json ({"max_samples": N, "model": the .keras file}); the worker writes
model_float.tflite and model_int8.tflite there. Exit status: 0 done; 3 the converter refused the model (error.json holds the ModelError's
message and hint). A native crash of TensorFlow (the calibrator's MinMax::Update on an LSTM, seen) ends the process
by a signal, which the parent reports, naming the model and the stage, instead of losing the build to it.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

EXIT_REFUSED = 3


def phase(what: str) -> None:
    """Tell the parent what the worker is doing, so that a native crash can be placed."""
    sys.stdout.write(f"phase: {what}\n")
    sys.stdout.flush()


def main(argv: list[str]) -> None:
    work = Path(argv[0])
    from toolkit.capture import import_tensorflow_quietly, quiet_libraries

    quiet_libraries()
    import_tensorflow_quietly()
    import keras
    import numpy as np

    import models  # noqa: F401  (registers the zoo's own layers, so that its models load)
    from deploy.convert.quantize import to_float_tflite, to_int8_tflite
    from toolkit.errors import EdgecnnError

    job = json.loads((work / "job.json").read_text())
    try:
        phase("loading the Keras model")
        model = keras.models.load_model(job["model"], compile=False, safe_mode=False)
        phase("converting it to float32 TFLite")
        (work / "model_float.tflite").write_bytes(to_float_tflite(model))
        phase("calibrating and quantizing it to int8 TFLite")
        calib = np.load(work / "calibration.npy")
        (work / "model_int8.tflite").write_bytes(to_int8_tflite(model, calib, max_samples=job["max_samples"]))
    except EdgecnnError as exc:
        (work / "error.json").write_text(json.dumps({"message": exc.message, "hint": exc.hint}))
        sys.exit(EXIT_REFUSED)


if __name__ == "__main__":
    main(sys.argv[1:])
