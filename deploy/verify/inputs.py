"""A user's own inputs for `edgecnn verify OUT --inputs FILE`, turned into a reference record like golden.npz's.

    golden = load_user_inputs("my_inputs.npz", "build/compact_cnn", samples=100)

FILE is a .npy array of inputs, or a .npz with `x` (the inputs) and optionally `y` (integer class labels, for
accuracy). The inputs are N samples of the model's input shape, channels last, e.g. (N, 8, 8, 1) for digits
(a single sample of (8, 8, 1) is one input). Their dtype says what they are:

- float (float16/32/64): the model's float input, in the scale it was trained on (as golden.npz's
  `inputs_float`, e.g. pixels in [0, 1]); quantized with the int8 model's input scale and zero point, as the
  build quantized its test inputs.
- int8: already the int8 model's input (as golden.npz's `inputs_int8`), sent to the device as they are.

Any other dtype (uint8 images, int64...) is refused: convert to float in the model's input scale first. The
reference outputs are TensorFlow Lite Micro's (deploy.convert.tflm) on the same int8 inputs; the float figures come
from model_float.tflite through LiteRT when the build has one. Every problem is an InputError naming the file.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from toolkit.errors import InputError, OutputError

NPZ_KEYS = ("x", "y")
MAGIC = {".npy": b"\x93NUMPY", ".npz": b"PK"}  # a .npz is a zip archive of .npy files
CLIPPED_CAVEAT_FRACTION = 0.01  # more than this share of clipped input values earns a caveat


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """{'x': ..., 'y': ...} from a .npy or .npz file; InputError naming the file for anything else."""
    if path.suffix not in (".npy", ".npz"):
        raise InputError(f"--inputs {path}: expected a .npy or .npz file",
                         hint="save the inputs with numpy.save (.npy) or numpy.savez (.npz with x and y)")
    if not path.is_file():
        raise InputError(f"--inputs {path} does not exist", hint="check the path")
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic[:len(MAGIC[path.suffix])] != MAGIC[path.suffix]:
        raise InputError(f"--inputs {path} is not a {path.suffix} file (it does not start as one)",
                         hint="save the inputs with numpy.save (.npy) or numpy.savez (.npz with x and y)")
    try:
        if path.suffix == ".npy":
            return {"x": np.asarray(np.load(path, allow_pickle=False))}
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"--inputs {path} cannot be read as {path.suffix}: {exc}",
                         hint="save it with numpy.save or numpy.savez (no pickled objects)") from None
    if "x" not in arrays:
        raise InputError(f"--inputs {path} has no array 'x' (it has {', '.join(sorted(arrays)) or 'none'})",
                         hint="save the inputs as x and the optional labels as y: numpy.savez(FILE, x=..., y=...)")
    unknown = sorted(set(arrays) - set(NPZ_KEYS))
    if unknown:
        raise InputError(f"--inputs {path} has an array {unknown[0]!r} that edgecnn does not read",
                         hint="a .npz of inputs holds x (the inputs) and optionally y (the labels)")
    return arrays


def _model_input(build_dir: Path):
    """The int8 model's graph, input tensor and output size, from <build>/model_int8.tflite."""
    from deploy.engine.tflite_reader import read_tflite

    model = Path(build_dir) / "model_int8.tflite"
    if not model.is_file():
        raise OutputError(f"{model} does not exist", hint="point at the output folder of `edgecnn build`")
    graph = read_tflite(model)
    tin, tout = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    if tin.dtype != "int8" or tin.quant is None:
        raise OutputError(f"{model} does not take int8 inputs", hint="rebuild with this version of edgecnn")
    return graph, tin, int(np.prod(tout.shape[1:], dtype=np.int64))


def _shape_text(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def read_user_inputs(path, graph, samples: int | None = None) -> dict:
    """The user's inputs checked against `graph` (the int8 model) and quantized: inputs_int8, inputs_float,
    labels (or None), `inputs` (what was given: source file, format, count, quantization) and caveats.
    No reference outputs yet; an InputError names the file and what to fix. Used by `edgecnn verify --inputs`
    and by `edgecnn build --from-model FILE.tflite --inputs FILE`."""
    from deploy.convert.export import quantize_input

    path = Path(path).expanduser()  # as the user wrote it, for the messages; the record holds it resolved
    tin, tout = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    n_out = int(np.prod(tout.shape[1:], dtype=np.int64))
    arrays = _read_arrays(path)
    sample_shape = tuple(int(s) for s in tin.shape[1:])
    want = f"{_shape_text(('N',) + sample_shape)} float in the model's input scale or int8 (channels last)"
    x = arrays["x"]
    what = f"--inputs {path}" + (" array 'x'" if path.suffix == ".npz" else "")
    if x.ndim == len(sample_shape) and tuple(x.shape) == sample_shape:
        x = x[None]  # one sample
    if x.ndim != len(sample_shape) + 1 or tuple(x.shape[1:]) != sample_shape:
        raise InputError(f"{what} has shape {_shape_text(x.shape)}; the model takes {want}",
                         hint="reshape the inputs to N samples of the model's input shape")
    if len(x) == 0:
        raise InputError(f"{what} holds no inputs; the model takes {want}")
    given = len(x)
    scale, zero_point = float(tin.quant.scale[0]), int(tin.quant.zero_point[0])
    if np.issubdtype(x.dtype, np.floating):
        if not np.all(np.isfinite(x)):
            raise InputError(f"{what} holds NaN or infinite values", hint="give finite float inputs")
        fmt = f"{x.dtype} quantized with the input scale {scale:.8g} and zero point {zero_point}"
    elif x.dtype == np.int8:
        fmt = "int8 (sent as given)"
    else:
        raise InputError(f"{what} has dtype {x.dtype}; the model takes {want}",
                         hint="convert to float in the scale the model was trained on (as golden.npz's "
                              "inputs_float), or to the int8 model input (as golden.npz's inputs_int8)")
    labels = arrays.get("y")
    if labels is not None:
        labels = _check_labels(labels, given, n_out, path)
    n = given if samples is None else min(given, int(samples))
    x, labels = x[:n], (labels[:n] if labels is not None else None)
    if x.dtype == np.int8:
        x_int8, clipped = x, 0
        x_float = (x.astype(np.float32) - zero_point) * scale
    else:
        x_float = x.astype(np.float32)
        x_int8 = quantize_input(x_float, graph)  # the build's own rounding and clipping
        unclipped = np.round(x_float / scale) + zero_point
        clipped = int(np.count_nonzero((unclipped < -128) | (unclipped > 127)))
    info = dict(given_by="--inputs", source=str(path.resolve()), format=fmt, samples=int(n), given=int(given),
                labels=labels is not None, clipped_values=clipped)
    caveats = []
    if clipped > CLIPPED_CAVEAT_FRACTION * x_int8.size:
        lo, hi = (-128 - zero_point) * scale, (127 - zero_point) * scale
        caveats.append(f"{clipped} of {x_int8.size} input values of {path.name} lie outside the model's input range "
                       f"[{lo:.4g}, {hi:.4g}] and were clipped: are they in the scale the model was trained on?")
    return dict(inputs_int8=np.ascontiguousarray(x_int8, dtype=np.int8), inputs_float=x_float, labels=labels,
                inputs=info, caveats=caveats)


def load_user_inputs(path, build_dir, samples: int | None = None) -> dict:
    """A golden-like record for the verifiers: inputs_int8, outputs_int8 (TFLM), labels (or None),
    outputs_float (or None), and `inputs`: what was given (source file, format, count, quantization)."""
    from deploy.convert.tflm import run_tflm

    path = Path(path).expanduser()
    build_dir = Path(build_dir)
    graph, _, _ = _model_input(build_dir)
    got = read_user_inputs(path, graph, samples)
    x_int8, n = got["inputs_int8"], got["inputs"]["samples"]
    ref = run_tflm((build_dir / "model_int8.tflite").read_bytes(), x_int8, what=f"the inputs of {path}")
    flt, float_note = _float_outputs(build_dir / "model_float.tflite", got["inputs_float"])
    caveats = got["caveats"] + ([float_note] if float_note else [])
    return dict(inputs_int8=x_int8, outputs_int8=np.asarray(ref).reshape(n, -1).astype(np.int8),
                labels=got["labels"], outputs_float=flt, inputs=got["inputs"], caveats=caveats)


def _check_labels(y: np.ndarray, n: int, classes: int, path: Path) -> np.ndarray:
    if y.ndim != 1 or len(y) != n or not np.issubdtype(y.dtype, np.integer):
        raise InputError(f"--inputs {path} array 'y' has shape {_shape_text(y.shape)} and dtype {y.dtype}; "
                         f"expected ({n},) integer class indices, one per input of 'x'",
                         hint="give y as integer labels in 0..classes-1, or leave y out")
    y = y.astype(np.int64)
    bad = (y < 0) | (y >= classes)
    if bad.any():
        raise InputError(f"--inputs {path} array 'y' holds label {int(y[bad][0])}; the model has {classes} "
                         f"classes (0..{classes - 1})")
    return y


def _float_outputs(model: Path, x_float: np.ndarray) -> tuple[np.ndarray | None, str | None]:
    """The float model's outputs through LiteRT, or None with the reason (no float model in the build)."""
    if not model.is_file():
        return None, f"no float figures: {model.name} is not in the build (built --from-model an int8 .tflite)"
    try:
        import ai_edge_litert.interpreter  # noqa: F401  (present?)
    except ImportError:
        return None, "no float figures: ai-edge-litert is not installed (./install.sh)"
    from deploy.convert.export import run_litert

    return run_litert(model, x_float).astype(np.float32), None


def golden_inputs_info(build_dir: Path, samples: int, labelled: bool = True) -> dict:
    """The `inputs` record of a run on the build's own golden.npz: its labelled test split, or (a .tflite built
    without a data set, `labelled` False) unlabelled random or user-given inputs."""
    source = Path(build_dir) / "golden.npz"
    fmt = "int8 (the build's test inputs)" if labelled else "int8 (the build's golden inputs, unlabelled)"
    return dict(given_by="build", source=str(source), format=fmt, samples=int(samples), labels=labelled)


__all__ = ["load_user_inputs", "read_user_inputs", "golden_inputs_info"]
