"""The light runtime: classify images or .npy arrays with a .tflite, .onnx or .ort model, without TensorFlow.

Imports only numpy, Pillow (for images, optional), ai_edge_litert (for .tflite) or onnxruntime (for .onnx and
.ort), and edgecnn's TensorFlow-free error classes, so it runs on a Raspberry Pi or any Linux edge device with
`pip install edgecnn[runtime]` and starts in well under a second.

Input normalisation is read from `model_meta.json` (written next to the models by the Android bundle, or given
with --meta): model input = raw pixel / pixel_scale, NHWC. Images of another size are resized to the model's (see
toolkit.images.resize_pixels). Labels come from --labels, else model_meta.json, else a `labels.txt` next to the
model or in the build folder it sits in, else the class names in a build's golden.npz. int8-I/O models get their
inputs quantized with the model's own input scale and zero point, and their outputs dequantized, so every variant
returns float scores.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from toolkit.errors import ConfigError, EdgecnnError, InputError, ModelFileError
from toolkit.images import read_image, resize_pixels

MODEL_SUFFIXES = (".tflite", ".onnx", ".ort")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".ppm", ".tif", ".tiff", ".webp")
META_NAME = "model_meta.json"
LABELS_NAME = "labels.txt"
GOLDEN_NAME = "golden.npz"  # a build's test inputs; its `class_labels` hold the class names
BUILD_MARKERS = ("report.json", GOLDEN_NAME)  # files every `edgecnn build` output folder holds
META_FORMAT = "edgecnn-model-meta"


@dataclass(frozen=True)
class Prediction:
    index: int
    label: str
    score: float


@dataclass(frozen=True)
class Result:
    """The top-k predictions for one input, and the latency of that inference (quantization included)."""

    source: str
    top: tuple[Prediction, ...]
    latency_ms: float


# ---------------------------------------------------------------- metadata and labels

def read_meta(path: str | Path) -> dict:
    """model_meta.json as a dict, checked: input_shape [H, W, C], pixel_scale > 0, labels (list of str)."""
    path = Path(path)
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"model metadata file {path} does not exist", hint="check --meta") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"model metadata file {path} is not readable JSON: {exc}",
                          hint="rewrite it with the Android bundle, or drop --meta") from None
    if not isinstance(meta, dict):
        raise ConfigError(f"model metadata file {path} holds {type(meta).__name__}, expected a JSON object")
    shape = meta.get("input_shape")
    if (not isinstance(shape, list) or len(shape) != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)):
        raise ConfigError(f"model metadata file {path}: input_shape is {shape!r}, expected [height, width, channels]")
    scale = meta.get("pixel_scale")
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not np.isfinite(scale) or scale <= 0:
        raise ConfigError(f"model metadata file {path}: pixel_scale is {scale!r}, expected a positive number")
    labels = meta.get("labels")
    if labels is not None and (not isinstance(labels, list) or not all(isinstance(s, str) for s in labels)):
        raise ConfigError(f"model metadata file {path}: labels must be a list of strings")
    return meta


def read_labels(path: str | Path) -> list[str]:
    """One label per line (a trailing newline is allowed, blank lines inside are not)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"label file {path} does not exist", hint="check --labels") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"label file {path} is not a readable UTF-8 text file: {exc}") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [s[:-1] if s.endswith("\r") else s for s in lines]
    if not lines:
        raise ConfigError(f"label file {path} is empty", hint="write one class name per line")
    return lines


# ---------------------------------------------------------------- the model

class Model:
    """A .tflite (ai-edge-litert), .onnx or .ort (onnxruntime) classifier with batch-1 NHWC input.

    `probabilities(x)` takes one float model input (H, W, C) in the model's input range and returns the float
    class scores, quantizing and dequantizing for int8-I/O models.
    """

    def __init__(self, path: str | Path, num_threads: int | None = None):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in MODEL_SUFFIXES:
            raise ModelFileError(f"model file {self.path} has an unknown type {suffix or '(no suffix)'!r}",
                                 hint=f"give a {', '.join(MODEL_SUFFIXES)} file")
        if not self.path.is_file():
            raise ModelFileError(f"model file {self.path} does not exist", hint="check the path")
        self.runtime = "ai-edge-litert" if suffix == ".tflite" else "onnxruntime"
        if suffix == ".tflite":
            self._open_tflite(num_threads)
        else:
            self._open_onnx(num_threads)
        if len(self.input_shape) != 3:
            raise ModelFileError(f"model file {self.path} takes input of shape {list(self.input_shape)}; "
                                 "the runtime needs a batch-1 image input (1, H, W, C)")

    # -- loading
    def _open_tflite(self, num_threads):
        from ai_edge_litert.interpreter import Interpreter

        try:
            with _quiet_native_info():
                self._interp = Interpreter(model_path=str(self.path), num_threads=num_threads)
                self._interp.allocate_tensors()
        except Exception as exc:  # LiteRT raises ValueError/RuntimeError with long C++ messages
            raise ModelFileError(f"model file {self.path} is not a valid TFLite model: {_first_line(exc)}",
                                 hint="rebuild it, or check that the copy is complete") from None
        inputs, outputs = self._interp.get_input_details(), self._interp.get_output_details()
        self._check_one_input_one_output(len(inputs), len(outputs))
        self._in, self._out = inputs[0], outputs[0]
        shape = [int(v) for v in self._in["shape"]]
        self._check_batch1(shape)
        self.input_shape = tuple(shape[1:])
        self.input_dtype = np.dtype(self._in["dtype"])
        self.output_dtype = np.dtype(self._out["dtype"])
        self.input_quant = _quant(self._in)
        self.output_quant = _quant(self._out)
        self.num_outputs = int(np.prod(self._out["shape"][1:]))

    def _check_one_input_one_output(self, n_inputs: int, n_outputs: int) -> None:
        if n_inputs != 1 or n_outputs != 1:
            raise ModelFileError(f"model file {self.path} has {n_inputs} inputs and {n_outputs} outputs; "
                                 "a classifier needs exactly one of each")

    def _open_onnx(self, num_threads):
        import onnxruntime as ort

        so = ort.SessionOptions()
        if num_threads:
            so.intra_op_num_threads = int(num_threads)
        so.log_severity_level = 3
        # int8 x int8 kernels, as ONNX Runtime uses on ARM: on x86 it otherwise turns S8S8 into U8S8, whose
        # VPMADDUBSW saturates on CPUs without VNNI (1.7% of digits answers changed on an AVX2 EPYC)
        so.add_session_config_entry("session.qdqisint8allowed", "1")
        try:
            self._sess = ort.InferenceSession(str(self.path), sess_options=so, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own pybind exception types
            kind = "ORT-format" if self.path.suffix.lower() == ".ort" else "ONNX"
            raise ModelFileError(f"model file {self.path} is not a valid {kind} model: {_first_line(exc)}",
                                 hint="rebuild it, or check that the copy is complete") from None
        inputs, outputs = self._sess.get_inputs(), self._sess.get_outputs()
        self._check_one_input_one_output(len(inputs), len(outputs))
        shape = [d if isinstance(d, int) else 1 for d in inputs[0].shape]  # a symbolic batch runs as 1
        self._check_batch1(shape)
        self._in_name = inputs[0].name
        self.input_shape = tuple(int(v) for v in shape[1:])
        self.input_dtype = np.dtype(_ORT_TYPES.get(inputs[0].type, "float32"))
        self.output_dtype = np.dtype(_ORT_TYPES.get(outputs[0].type, "float32"))
        if self.input_dtype != np.float32:
            raise ModelFileError(f"model file {self.path} takes {inputs[0].type} input; the runtime runs ONNX "
                                 "models with float input (QDQ int8 models keep float input)")
        self.input_quant = self.output_quant = None
        out_shape = outputs[0].shape
        self.num_outputs = int(np.prod([d if isinstance(d, int) else 1 for d in out_shape[1:]]))

    def _check_batch1(self, shape):
        if not shape or shape[0] != 1:
            raise ModelFileError(f"model file {self.path} takes input of shape {shape}; the runtime needs "
                                 "batch size 1", hint="convert the model with a batch-1 signature")

    # -- running
    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Float class scores for one float input of shape input_shape."""
        x = np.asarray(x, dtype=np.float32).reshape((1, *self.input_shape))
        if self.runtime == "onnxruntime":
            return np.asarray(self._sess.run(None, {self._in_name: x})[0], dtype=np.float32).reshape(-1)
        if self.input_quant is not None:
            scale, zero = self.input_quant
            info = np.iinfo(self.input_dtype)
            x = np.clip(np.round(x / scale) + zero, info.min, info.max).astype(self.input_dtype)
        self._interp.set_tensor(self._in["index"], x)
        self._interp.invoke()
        y = self._interp.get_tensor(self._out["index"]).reshape(-1)
        if self.output_quant is not None:
            scale, zero = self.output_quant
            return ((y.astype(np.float32) - zero) * scale).astype(np.float32)
        return y.astype(np.float32)

    def predict(self, xs: np.ndarray) -> np.ndarray:
        """Float class scores (N, classes) for a batch, run one sample at a time as a device would."""
        return np.stack([self.probabilities(x) for x in xs]) if len(xs) else np.zeros((0, self.num_outputs),
                                                                                       np.float32)


_ORT_TYPES = {"tensor(float)": "float32", "tensor(int8)": "int8", "tensor(uint8)": "uint8",
              "tensor(float16)": "float16", "tensor(int32)": "int32", "tensor(int64)": "int64"}


def _quant(detail) -> tuple[float, int] | None:
    if np.dtype(detail["dtype"]).kind not in "iu":
        return None
    scale, zero = detail["quantization"]
    if not scale:
        raise ModelFileError(f"tensor '{detail['name']}' is {np.dtype(detail['dtype']).name} but has no "
                             "quantization scale", hint="use a model quantized with per-tensor I/O parameters")
    return float(scale), int(zero)


@contextlib.contextmanager
def _quiet_native_info():
    """Drop the native runtime's 'INFO: ...' lines from stderr (LiteRT announces its XNNPACK delegate there),
    passing every other native line through, so a bad input leaves exactly one line on stderr."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real fd 2 (embedded interpreters): leave stderr alone
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", "replace")
            kept = [line for line in text.splitlines() if line.strip() and not line.startswith("INFO: ")]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def _first_line(exc: BaseException) -> str:
    lines = [s.strip() for s in str(exc).strip().splitlines() if s.strip()]
    return lines[0] if lines else type(exc).__name__


# ---------------------------------------------------------------- inputs

def load_input(path: str | Path, input_shape: Sequence[int], pixel_scale: float,
               on_resize=None) -> list[tuple[str, np.ndarray]]:
    """Float model inputs from one file: an image (raw pixel / pixel_scale) or a .npy.

    A float .npy holds model inputs as they are (H, W, C), (H, W) for one channel, or a batch (N, H, W, C);
    an integer .npy holds raw pixels, divided by pixel_scale. An image of another size is resized to the model's
    with toolkit.images.resize_pixels, and `on_resize(path, (w, h) before, (w, h) after, method)` is called.
    Wrong channel counts, and .npy arrays of another shape, are InputErrors.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"input {path} does not exist", hint="check the path")
    h, w, c = (int(v) for v in input_shape)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise InputError(f"input {path} is not a readable .npy file: {_first_line(exc)}") from None
        if arr.dtype.kind not in "fiub":
            raise InputError(f"input {path} holds {arr.dtype} values, expected numbers")
        scale = 1.0 if arr.dtype.kind == "f" else float(pixel_scale)
        x = arr.astype(np.float32) / np.float32(scale)
        if x.ndim == 2 and c == 1:
            x = x[..., None]
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or x.shape[1:] != (h, w, c):
            raise InputError(f"input {path} has shape {arr.shape} but the model takes {h}x{w}x{c} inputs "
                             f"(H, W, C), or a batch (N, {h}, {w}, {c})", hint="reshape or resize it first")
        if not np.all(np.isfinite(x)):
            raise InputError(f"input {path} holds NaN or infinite values")
        if len(x) == 1:
            return [(str(path), x[0])]
        return [(f"{path}[{i}]", xi) for i, xi in enumerate(x)]
    if suffix not in IMAGE_SUFFIXES:
        raise InputError(f"input {path} is neither an image nor a .npy file",
                         hint=f"give {', '.join(IMAGE_SUFFIXES)} or .npy files")
    try:
        from PIL import Image  # noqa: F401  (Pillow is optional in the runtime)
    except ImportError:
        raise InputError(f"reading the image {path} needs Pillow", hint="pip install pillow, or give .npy") from None
    img = read_image(path, InputError, hint="replace the file")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif img.mode == "1":
        img = img.convert("L")
    bands = len(img.getbands())
    if bands != c:
        want = {1: "grayscale (L)", 3: "RGB"}.get(c, f"{c}-channel")
        raise InputError(f"image {path} has {bands} channel(s) ({img.mode}) but the model takes {want} images",
                         hint=f"convert it to {want} first")
    if img.size != (w, h):
        x, method = resize_pixels(img, (w, h))
        if on_resize is not None:
            on_resize(path, img.size, (w, h), method)
    else:
        x = np.asarray(img, dtype=np.float32)
    if x.ndim == 2:
        x = x[..., None]
    return [(str(path), x / np.float32(pixel_scale))]


# ---------------------------------------------------------------- the classifier

class Classifier:
    """A model plus its labels and input normalisation; `classify(path_or_array)` gives top-k Results."""

    def __init__(self, model_path: str | Path, labels: str | Path | Sequence[str] | None = None,
                 meta: str | Path | dict | None = None, num_threads: int | None = None):
        self.model = Model(model_path, num_threads=num_threads)
        model_dir = self.model.path.parent
        if meta is None and (model_dir / META_NAME).is_file():
            meta = model_dir / META_NAME
        self.meta_path = Path(meta) if isinstance(meta, (str, Path)) else None
        self.meta = read_meta(meta) if isinstance(meta, (str, Path)) else meta
        if self.meta is not None:
            shape = tuple(self.meta["input_shape"])
            if shape != self.model.input_shape:
                raise ConfigError(f"model metadata {self.meta_path or '(given)'} says input {list(shape)} but "
                                  f"{self.model.path} takes {list(self.model.input_shape)}",
                                  hint="use the model_meta.json written with this model")
        self.pixel_scale = float(self.meta["pixel_scale"]) if self.meta else None
        self.labels_source: str | None = None  # where the labels came from (None: class indices)
        self.labels = self._labels(labels, model_dir)
        self._noted: set[str] = set()  # notes already printed: each is printed once per Classifier (per run)

    def _labels(self, labels, model_dir: Path) -> list[str]:
        n = self.model.num_outputs
        source = None
        if isinstance(labels, (str, Path)):
            source, labels = str(labels), read_labels(labels)
        elif labels is not None:
            source, labels = "the given labels", [str(s) for s in labels]
        elif self.meta is not None and self.meta.get("labels") is not None:
            source, labels = str(self.meta_path or "the model metadata"), list(self.meta["labels"])
        else:
            found = _find_labels(model_dir)
            if found is None:
                return [str(i) for i in range(n)]
            source, labels = found
        if len(labels) != n:
            raise ConfigError(f"label file {source} has {len(labels)} labels but the model {self.model.path} "
                              f"has {n} outputs", hint="give the labels.txt written with this model, one per line")
        self.labels_source = source
        return list(labels)

    def _note_once(self, key: str, text: str) -> None:
        if key not in self._noted:
            self._noted.add(key)
            print(f"edgecnn-run: note: {text}", file=sys.stderr)

    def _note_resize(self, path: Path, size, model_size, method: str) -> None:
        (w0, h0), (w, h) = size, model_size
        self._note_once("resize", f"resized {path} {w0}x{h0} -> {w}x{h} ({method}); every image that is not "
                                  f"{w}x{h} is resized (area average when shrinking, else bilinear; the aspect "
                                  "ratio is not kept)")

    def inputs(self, item) -> list[tuple[str, np.ndarray]]:
        """(source, float model input) pairs for a path or an array (arrays are model inputs already)."""
        if isinstance(item, np.ndarray):
            x = np.asarray(item, dtype=np.float32)
            if x.shape == self.model.input_shape:
                return [("array", x)]
            if x.ndim == 4 and x.shape[1:] == self.model.input_shape:
                return [(f"array[{i}]", xi) for i, xi in enumerate(x)]
            raise InputError(f"array input has shape {x.shape} but the model takes {self.model.input_shape}")
        path = Path(item)
        loaded = load_input(path, self.model.input_shape, 255.0 if self.pixel_scale is None else self.pixel_scale,
                            on_resize=self._note_resize)
        if self.pixel_scale is None and (path.suffix.lower() != ".npy" or _npy_is_integer(path)):
            # after loading, so that a bad input leaves only its error line
            self._note_once("pixel_scale", f"no {META_NAME} next to {self.model.path}; assuming 8-bit pixels "
                                           "(model input = pixel / 255); pass --meta to be sure")
        return loaded

    def classify_one(self, source: str, x: np.ndarray, top: int = 3) -> Result:
        t0 = time.perf_counter()
        probs = self.model.probabilities(x)
        latency = (time.perf_counter() - t0) * 1e3
        k = max(1, min(int(top), len(probs)))
        order = np.argsort(-probs, kind="stable")[:k]
        return Result(source, tuple(Prediction(int(i), self.labels[int(i)], float(probs[i])) for i in order),
                      latency)

    def classify(self, item, top: int = 3) -> list[Result]:
        return [self.classify_one(src, x, top) for src, x in self.inputs(item)]


def _find_labels(model_dir: Path) -> tuple[str, list[str]] | None:
    """(source, labels) found beside a model: labels.txt in its folder, or in the build folder holding that folder,
    else the class names in golden.npz there (builds written before labels.txt was); None if there are none."""
    folders = [model_dir]
    parent = model_dir.parent
    if parent != model_dir and any((parent / name).is_file() for name in BUILD_MARKERS):
        folders.append(parent)
    for folder in folders:
        if (folder / LABELS_NAME).is_file():
            return str(folder / LABELS_NAME), read_labels(folder / LABELS_NAME)
    for folder in folders:
        labels = _golden_labels(folder / GOLDEN_NAME)
        if labels is not None:
            return f"{folder / GOLDEN_NAME} (class_labels)", labels
    return None


def _golden_labels(path: Path) -> list[str] | None:
    """The `class_labels` of a build's golden.npz, or None when it is absent, unreadable or holds none."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            if "class_labels" not in f.files:
                return None
            names = f["class_labels"]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):  # a damaged golden.npz: no labels from it
        return None
    if names.ndim != 1 or names.dtype.kind != "U" or len(names) == 0:
        return None
    return [str(s) for s in names.tolist()]


def _npy_is_integer(path: Path) -> bool:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False).dtype.kind != "f"
    except Exception:  # reported properly when it is loaded
        return False


def classify(model_path: str | Path, inputs: Iterable, labels: str | Path | Sequence[str] | None = None,
             top: int = 3, meta: str | Path | dict | None = None) -> list[Result]:
    """Classify image/.npy paths (or float arrays) with a .tflite/.onnx/.ort model; one Result per input."""
    if isinstance(inputs, (str, Path, np.ndarray)):
        inputs = [inputs]
    clf = Classifier(model_path, labels=labels, meta=meta)
    results: list[Result] = []
    for item in inputs:
        results.extend(clf.classify(item, top))
    return results


# ---------------------------------------------------------------- command line

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="edgecnn-run",
        description="Classify images (PNG/JPEG with the model's channels; other sizes are resized) or .npy arrays "
                    "with an edgecnn .tflite, .onnx or .ort model. Needs no TensorFlow.")
    p.add_argument("model", help="model file: .tflite (ai-edge-litert) or .onnx/.ort (onnxruntime)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image or .npy files")
    p.add_argument("--labels", help="labels.txt, one class per line (default: model_meta.json's labels, else "
                                    "labels.txt next to the model or in its build folder, else the build's "
                                    "golden.npz class names)")
    p.add_argument("--meta", help=f"{META_NAME} with input shape and pixel_scale (default: next to the model)")
    p.add_argument("--top", type=int, default=3, help="how many classes to print per input (default 3)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for the runtime")
    p.add_argument("--json", action="store_true", help="print one JSON object per input instead of text")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `edgecnn-run` console script; returns the exit code (0 ok, 2 bad input)."""
    args = _parser().parse_args(argv)
    try:
        if args.top < 1:
            raise ConfigError(f"--top must be a positive integer, got {args.top}")
        if args.threads is not None and args.threads < 1:
            raise ConfigError(f"--threads must be a positive integer, got {args.threads}")
        clf = Classifier(args.model, labels=args.labels, meta=args.meta, num_threads=args.threads)
        for item in args.inputs:
            for res in clf.classify(item, args.top):
                if args.json:
                    print(json.dumps({"input": res.source, "latency_ms": round(res.latency_ms, 4),
                                      "top": [{"index": p.index, "label": p.label, "score": round(p.score, 6)}
                                              for p in res.top]}, ensure_ascii=False))
                else:
                    ranked = "  ".join(f"{p.label} {p.score:.4f}" for p in res.top)
                    print(f"{res.source}\t{ranked}\t{res.latency_ms:.3f} ms")
                sys.stdout.flush()
    except EdgecnnError as exc:
        print(f"edgecnn-run: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
