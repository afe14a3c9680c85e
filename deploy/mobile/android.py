"""Writes the Android bundle: TFLite and ONNX/ORT variants, labels, a Kotlin classifier, gradle lines, README, parity.

Every file in the bundle is run in the runtime a phone would use (ai-edge-litert's Interpreter for .tflite,
onnxruntime's InferenceSession for .onnx/.ort, both through `toolkit.runtime`, the same code `edgecnn-run` uses)
against the Keras model on the test split, and the figures go to parity.json.
"""
from __future__ import annotations

import contextlib
import importlib.metadata
import io
import json
import logging
import math
import os
import re
import shutil
import struct
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deploy.convert.export import run_litert
from toolkit.datasets import Dataset
from toolkit.errors import ConfigError, DatasetError, ModelError, OutputError

# Maven coordinates, checked against the LiteRT and ONNX Runtime docs and Maven listings. litert 1.4.1 is the
# newest line whose Interpreter API (the one the generated class uses) supports minSdk 21; litert-support is
# versioned with it. onnxruntime-android 1.27.0 reads ORT format v6, which is what onnxruntime >= 1.16 writes.
LITERT_VERSION = "1.4.1"
LITERT_SUPPORT_VERSION = "1.4.1"
ORT_ANDROID_VERSION = "1.27.0"
ONNX_OPSET = 17
FLOAT_MAX_ABS_DIFF = 1e-4   # goal for float files: max |p_file - p_keras| over the test split
INT8_TOP1_AGREEMENT = 0.99  # goal for int8 files: fraction of test samples whose top-1 class equals Keras's
DEFAULT_PACKAGE = "com.example.edgecnn"
ORT_FORMAT_MIN_RUNTIME = {5: "1.13", 6: "1.16"}  # ORT format version -> first onnxruntime that reads it


@dataclass(frozen=True)
class Variant:
    file: str
    runtime: str     # "litert" or "onnxruntime"
    precision: str   # "float" or "int8"
    io: str          # input/output type a caller sees
    use: str         # one line for the README


VARIANTS: tuple[Variant, ...] = (
    Variant("model_float.tflite", "litert", "float", "float32", "float32 reference; largest, exact"),
    Variant("model_int8_float_io.tflite", "litert", "int8", "float32",
            "int8 weights and activations, float32 input/output: the easy default for apps"),
    Variant("model_int8.tflite", "litert", "int8", "int8",
            "fully int8, int8 input/output, for int8-only accelerators (the class quantizes for you)"),
    Variant("model.onnx", "onnxruntime", "float", "float32", "float ONNX for the full onnxruntime-android package"),
    Variant("model_int8.onnx", "onnxruntime", "int8", "float32", "int8 QDQ ONNX (static, per-channel)"),
    Variant("model.ort", "onnxruntime", "float", "float32", "float model in ORT format for ONNX Runtime Mobile"),
    Variant("model_int8.ort", "onnxruntime", "int8", "float32", "int8 model in ORT format for ONNX Runtime Mobile"),
)
TEXT_FILES = ("labels.txt", "model_meta.json", "EdgecnnClassifier.kt", "build.gradle.snippet", "README.md",
              "parity.json")

_KOTLIN_KEYWORDS = {"as", "break", "class", "continue", "do", "else", "false", "for", "fun", "if", "in",
                    "interface", "is", "null", "object", "package", "return", "super", "this", "throw", "true",
                    "try", "typealias", "typeof", "val", "var", "when", "while"}


# ---------------------------------------------------------------- number and string formatting (the one helper)

def kotlin_string(s: str) -> str:
    """A Kotlin string literal for s: quotes, backslashes, `$` templates and control characters escaped,
    non-ASCII written as \\uXXXX (UTF-16 surrogate pairs above U+FFFF), so the file is plain ASCII."""
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch in _KOTLIN_ESCAPES:
            out.append(_KOTLIN_ESCAPES[ch])
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04X}")
        else:
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04X}\\u{0xDC00 + (code & 0x3FF):04X}")
    out.append('"')
    return "".join(out)


_KOTLIN_ESCAPES = {"\\": "\\\\", '"': '\\"', "$": "\\$", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b"}


def kotlin_float(x: float) -> str:
    """A Kotlin Float literal that reads back as the same float32 (16 -> 16.0f, 1/255 -> 0.003921569f)."""
    x = float(np.float32(x))
    if not math.isfinite(x):
        raise ModelError(f"cannot write the non-finite number {x} into Kotlin")
    text = np.format_float_positional(np.float32(x), unique=True, trim="0") if 1e-4 <= abs(x) < 1e7 or x == 0 \
        else np.format_float_scientific(np.float32(x), unique=True, trim="0").replace("e+", "e")
    return f"{text}f"


def _fmt(value: float, digits: int = 4) -> str:
    """Report numbers: fixed digits, or scientific for tiny differences."""
    if value == 0:
        return "0"
    if abs(value) < 10 ** -digits:
        return f"{value:.2e}"
    return f"{value:.{digits}f}"


def _fmt_bytes(n: int) -> str:
    return f"{n:,} B" if n < 10_000 else f"{n / 1024:,.1f} KiB"


# ---------------------------------------------------------------- conversions

def int8_float_io_tflite(model, calibration: np.ndarray, max_samples: int = 200) -> bytes:
    """Full-integer int8 TFLite (int8 weights and activations) with float32 input and output tensors."""
    from deploy.convert.quantize import to_int8_tflite

    return to_int8_tflite(model, calibration, max_samples=max_samples, float_io=True)


def quantize_onnx(float_onnx: Path, int8_onnx: Path, calibration: np.ndarray) -> None:
    """Static int8 QDQ quantization with onnxruntime: per-channel int8 weights, int8 activations, MinMax
    calibration on `calibration` (the same calibration split the int8 TFLite files were calibrated on)."""
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    input_name = ort.InferenceSession(str(float_onnx), providers=["CPUExecutionProvider"]).get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(np.asarray(calibration, dtype=np.float32))

        def get_next(self):
            x = next(self._it, None)
            return None if x is None else {input_name: x[None, ...]}

    with tempfile.TemporaryDirectory(prefix="edgecnn-onnxq-") as tmp:
        pre = Path(tmp) / "preprocessed.onnx"
        try:
            quant_pre_process(str(float_onnx), str(pre))
            quantize_static(str(pre), str(int8_onnx), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
        except Exception as exc:  # onnxruntime.quantization raises many types
            raise ModelError(f"onnxruntime could not quantize {float_onnx.name} to int8: {_first_line(exc)}",
                             hint="check that every layer has an int8 ONNX Runtime kernel") from None


def onnx_to_ort(onnx_path: Path, ort_path: Path) -> None:
    """ORT-format model for ONNX Runtime Mobile, with onnxruntime's convert_onnx_models_to_ort tool (fixed
    optimizations for ARM, as the tool does for target_platform='arm')."""
    from onnxruntime.tools.convert_onnx_models_to_ort import OptimizationStyle, convert_onnx_models_to_ort

    with tempfile.TemporaryDirectory(prefix="edgecnn-ort-") as tmp:
        src = Path(tmp) / "in" / onnx_path.name
        src.parent.mkdir()
        shutil.copyfile(onnx_path, src)
        out = Path(tmp) / "out"
        logger = logging.getLogger("ort_format_model.utils")
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                convert_onnx_models_to_ort(src, output_dir=out, optimization_styles=[OptimizationStyle.Fixed],
                                           target_platform="arm")
        except Exception as exc:
            raise ModelError(f"onnxruntime could not convert {onnx_path.name} to ORT format: {_first_line(exc)}")\
                from None
        finally:
            logger.setLevel(level)
        shutil.move(str(out / src.with_suffix(".ort").name), ort_path)


def ort_format_version(data: bytes) -> int | None:
    """The ORT format version stored in an .ort file (its InferenceSession.ort_version string), or None."""
    try:
        if data[4:8] != b"ORTM":
            return None
        root = struct.unpack_from("<I", data, 0)[0]
        vtable = root - struct.unpack_from("<i", data, root)[0]
        if struct.unpack_from("<H", data, vtable)[0] < 6:
            return None
        field = struct.unpack_from("<H", data, vtable + 4)[0]
        if not field:
            return None
        at = root + field
        s = at + struct.unpack_from("<I", data, at)[0]
        n = struct.unpack_from("<I", data, s)[0]
        return int(data[s + 4:s + 4 + n].decode("ascii"))
    except (struct.error, ValueError, UnicodeDecodeError):
        return None


def _first_line(exc: BaseException) -> str:
    lines = [s.strip() for s in str(exc).strip().splitlines() if s.strip()]
    return lines[-1][:300] if lines else type(exc).__name__


# ---------------------------------------------------------------- metadata

def model_meta(data: Dataset, model_name: str, input_shape, num_classes: int, calibration_samples: int,
               files: dict | None = None) -> dict:
    """model_meta.json: what a runtime needs to feed the model (shape, normalisation, labels, quantization)."""
    h, w, c = (int(v) for v in input_shape)
    meta = {
        "format": "edgecnn-model-meta",
        "version": 1,
        "model_name": model_name,
        "input_shape": [h, w, c],
        "layout": "NHWC",
        "pixel_scale": float(data.pixel_scale),
        "normalization": "model input = raw pixel / pixel_scale (pixels 0..pixel_scale map to 0..1)",
        "grayscale": ("RGB images become one channel as Pillow's convert('L') does: "
                      "(19595 R + 38470 G + 7471 B + 32768) >> 16") if c == 1 else None,
        "labels": list(data.labels),
        "num_classes": int(num_classes),
        "quantization": {
            "scheme": "post-training int8, per-channel weights, per-tensor activations",
            "calibration_split": "x_calib",
            "calibration_samples": int(calibration_samples),
        },
        "files": files or {},
    }
    return meta


def _file_info(path: Path, variant: Variant) -> dict:
    from toolkit.runtime import Model

    m = Model(path)
    info = {"runtime": variant.runtime, "precision": variant.precision, "bytes": path.stat().st_size,
            "input": {"dtype": m.input_dtype.name}, "output": {"dtype": m.output_dtype.name}}
    if m.input_quant:
        info["input"].update(scale=m.input_quant[0], zero_point=m.input_quant[1])
    if m.output_quant:
        info["output"].update(scale=m.output_quant[0], zero_point=m.output_quant[1])
    if path.suffix == ".ort":
        info["ort_format_version"] = ort_format_version(path.read_bytes())
    return info


# ---------------------------------------------------------------- parity

def _runtime_versions() -> dict:
    out = {}
    for dist, key in (("ai-edge-litert", "litert"), ("onnxruntime", "onnxruntime")):
        try:
            out[key] = f"{dist} {importlib.metadata.version(dist)}"
        except importlib.metadata.PackageNotFoundError:
            out[key] = dist
    return out


def measure_parity(bundle_dir: Path, x: np.ndarray, y: np.ndarray, reference: np.ndarray,
                   variants=VARIANTS) -> dict:
    """Run every variant in its phone runtime on x (batch 1) and compare with the Keras probabilities."""
    from toolkit.runtime import Model

    versions = _runtime_versions()
    ref_top = np.argmax(reference, axis=-1)
    files = {}
    for v in variants:
        probs = Model(bundle_dir / v.file).predict(x)
        diff = float(np.max(np.abs(probs - reference))) if len(x) else 0.0
        agree = float(np.mean(np.argmax(probs, axis=-1) == ref_top)) if len(x) else float("nan")
        acc = float(np.mean(np.argmax(probs, axis=-1) == y)) if len(y) else float("nan")
        entry = {"runtime": versions[v.runtime], "precision": v.precision, "io": v.io,
                 "bytes": (bundle_dir / v.file).stat().st_size, "max_abs_diff": diff, "top1_agreement": agree,
                 "accuracy": acc}
        if v.precision == "float":
            entry["goal"] = f"max_abs_diff <= {FLOAT_MAX_ABS_DIFF:g}"
            entry["ok"] = bool(diff <= FLOAT_MAX_ABS_DIFF)
        else:
            entry["goal"] = f"top1_agreement >= {INT8_TOP1_AGREEMENT:g}"
            entry["ok"] = bool(agree >= INT8_TOP1_AGREEMENT)
        files[v.file] = entry
    return {
        "reference": "keras",
        "split": "test",
        "samples": int(len(x)),
        "keras_accuracy": float(np.mean(ref_top == y)) if len(y) else float("nan"),
        "goals": {"float_max_abs_diff": FLOAT_MAX_ABS_DIFF, "int8_top1_agreement": INT8_TOP1_AGREEMENT},
        "files": files,
        "ok": all(f["ok"] for f in files.values()),
    }


# ---------------------------------------------------------------- templates

def _render(name: str, **context) -> str:
    import jinja2

    from deploy.engine.templates import TEMPLATE_DIR, render

    try:
        return render(f"android/{name}", **context)
    except jinja2.TemplateNotFound:
        raise OutputError(f"template {TEMPLATE_DIR / 'android' / name} is missing", hint="reinstall edgecnn") from None


def _check_package(package: str) -> None:
    parts = package.split(".")
    if not all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p) and p not in _KOTLIN_KEYWORDS for p in parts):
        raise ConfigError(f"Kotlin package {package!r} is not a valid package name",
                          hint="use dot-separated identifiers such as com.example.myapp")


def _check_labels(labels) -> None:
    for i, label in enumerate(labels):
        if any(ch in label for ch in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"):
            raise DatasetError(f"class name {i} ({label!r}) contains a line break, which labels.txt cannot hold",
                               hint="rename that class (its folder) without line breaks")


def _template_context(model_name: str, meta: dict, parity: dict, package: str) -> dict:
    h, w, c = meta["input_shape"]
    rows = []
    for v in VARIANTS:
        p = parity["files"][v.file]
        rows.append({
            "file": v.file, "runtime": "LiteRT Interpreter" if v.runtime == "litert" else "ONNX Runtime",
            "precision": v.precision, "io": v.io, "size": _fmt_bytes(p["bytes"]), "use": v.use,
            "max_abs_diff": _fmt(p["max_abs_diff"], 6), "agreement": _fmt(p["top1_agreement"], 4),
            "accuracy": _fmt(p["accuracy"], 4), "ok": "yes" if p["ok"] else "NO",
        })
    ort_versions = sorted({f.get("ort_format_version") for f in meta["files"].values()
                           if f.get("ort_format_version") is not None})
    ort_format = ", ".join(f"v{v}" for v in ort_versions) or "unknown"
    ort_min = max((ORT_FORMAT_MIN_RUNTIME.get(v, "?") for v in ort_versions), default="?")
    return {
        "model_name": model_name,
        "model_name_kt": kotlin_string(model_name),
        "package": package,
        "package_path": package.replace(".", "/"),
        "height": str(h), "width": str(w), "channels": str(c),
        "channels_word": {1: "grayscale", 3: "RGB"}.get(c, f"{c}-channel"),
        "pixel_scale": f"{meta['pixel_scale']:g}",
        "pixel_scale_kt": kotlin_float(meta["pixel_scale"]),
        "pixel_scale_is_8bit": abs(meta["pixel_scale"] - 255.0) < 1e-9,
        "num_classes": str(meta["num_classes"]),
        "labels_kt": [kotlin_string(s) for s in meta["labels"]],
        "labels_preview": ", ".join(meta["labels"][:10]) + (", ..." if len(meta["labels"]) > 10 else ""),
        "default_asset": "model_int8_float_io.tflite",
        "float_asset": "model_float.tflite",
        "int8_asset": "model_int8.tflite",
        "litert_version": LITERT_VERSION,
        "litert_support_version": LITERT_SUPPORT_VERSION,
        "ort_version": ORT_ANDROID_VERSION,
        "ort_format": ort_format,
        "ort_min_runtime": ort_min,
        "ort_writer": _runtime_versions()["onnxruntime"],
        "rows": rows,
        "samples": str(parity["samples"]),
        "keras_accuracy": _fmt(parity["keras_accuracy"], 4),
        "float_goal": f"{FLOAT_MAX_ABS_DIFF:g}",
        "int8_goal": f"{INT8_TOP1_AGREEMENT:g}",
        "calibration_samples": str(meta["quantization"]["calibration_samples"]),
    }


# ---------------------------------------------------------------- the bundle

@contextlib.contextmanager
def _staged_bundle(out_dir: Path):
    """A fresh folder beside out_dir to write a bundle into; it replaces out_dir only when the body succeeds, so
    nothing is lost or half-written otherwise (an OSError becomes an OutputError naming the folder)."""
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()  # not mkdtemp: the bundle gets the usual permissions, not 0700
    except OSError as exc:
        raise OutputError(f"cannot create the Android bundle folder next to {out_dir}: {exc.strerror or exc}",
                          hint="check that the output folder is writable") from None
    try:
        yield tmp
        if out_dir.exists():
            shutil.rmtree(out_dir) if out_dir.is_dir() else out_dir.unlink()
        tmp.rename(out_dir)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"cannot write the Android bundle {out_dir}: {exc.strerror or exc}",
                          hint="check free disk space and permissions") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_android_bundle(model, data: Dataset, out_dir: Path, model_name: str, *,
                         kotlin_package: str = DEFAULT_PACKAGE, calibration_samples: int = 200,
                         float_tflite: bytes | None = None, int8_tflite: bytes | None = None) -> dict:
    """Write the Android bundle into out_dir (`<build>/android/`) and return its parity figures.

    Files: model_float.tflite, model_int8_float_io.tflite, model_int8.tflite, model.onnx, model_int8.onnx,
    model.ort, model_int8.ort, labels.txt, model_meta.json, EdgecnnClassifier.kt, build.gradle.snippet,
    README.md and parity.json (the returned dict). All int8 variants are calibrated on the same first
    `calibration_samples` images of data.x_calib. `float_tflite`/`int8_tflite` may pass TFLite files the
    build already converted (they must come from `model` and the same calibration). The folder is written
    next to out_dir first and moved into place at the end, so a failure leaves no half-written bundle.
    """
    out_dir = Path(out_dir)
    _check_package(kotlin_package)
    _check_labels(data.labels)
    input_shape = tuple(int(v) for v in model.inputs[0].shape[1:])
    num_classes = int(model.outputs[0].shape[-1])
    if input_shape != tuple(data.input_shape):
        raise ModelError(f"the model takes input {input_shape} but the data set's images are {data.input_shape}",
                         hint="build the model for the data set")
    if len(input_shape) != 3:
        raise ModelError(f"the Android bundle needs an image model (H, W, C input), got input {input_shape}")
    if num_classes != data.num_classes:
        raise ModelError(f"the model has {num_classes} outputs but the data set has {data.num_classes} classes")
    if not (math.isfinite(data.pixel_scale) and data.pixel_scale > 0):
        raise DatasetError(f"the data set's pixel_scale is {data.pixel_scale}, expected a positive number")
    calib = np.asarray(data.x_calib[:calibration_samples], dtype=np.float32)

    with _staged_bundle(out_dir) as tmp:
        from deploy.convert.export import onnx_from_float_tflite
        from deploy.convert.quantize import to_float_tflite, to_int8_tflite

        (tmp / "model_float.tflite").write_bytes(float_tflite or to_float_tflite(model))
        (tmp / "model_int8.tflite").write_bytes(int8_tflite or to_int8_tflite(model, calib, len(calib)))
        (tmp / "model_int8_float_io.tflite").write_bytes(int8_float_io_tflite(model, calib, len(calib)))
        (tmp / "model.onnx").write_bytes(onnx_from_float_tflite((tmp / "model_float.tflite").read_bytes(),
                                                                opset=ONNX_OPSET))
        quantize_onnx(tmp / "model.onnx", tmp / "model_int8.onnx", calib)
        onnx_to_ort(tmp / "model.onnx", tmp / "model.ort")
        onnx_to_ort(tmp / "model_int8.onnx", tmp / "model_int8.ort")
        (tmp / "labels.txt").write_text("".join(f"{s}\n" for s in data.labels), encoding="utf-8")

        files = {v.file: _file_info(tmp / v.file, v) for v in VARIANTS}
        meta = model_meta(data, model_name, input_shape, num_classes, len(calib), files)
        (tmp / "model_meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n",
                                             encoding="utf-8")

        reference = np.asarray(model.predict(data.x_test, batch_size=64, verbose=0), dtype=np.float32)
        parity = measure_parity(tmp, data.x_test, data.y_test, reference)
        parity["model"] = model_name
        (tmp / "parity.json").write_text(json.dumps(parity, indent=2) + "\n", encoding="utf-8")

        ctx = _template_context(model_name, meta, parity, kotlin_package)
        (tmp / "EdgecnnClassifier.kt").write_text(_render("EdgecnnClassifier.kt.j2", **ctx), encoding="utf-8")
        (tmp / "build.gradle.snippet").write_text(_render("build.gradle.snippet.j2", **ctx), encoding="utf-8")
        (tmp / "README.md").write_text(_render("README.md.j2", **ctx), encoding="utf-8")

    return parity


# ---------------------------------------------------------------- the int8 bundle of a .tflite made elsewhere

INT8_MAX_DIFF_LSB = 21  # optimized int8 kernels (XNNPACK, ONNX Runtime) round differently from TFLM's by 1-21 LSB
INT8_VARIANTS: tuple[Variant, ...] = (
    Variant("model_int8.tflite", "litert", "int8", "int8", "the model as given: fully int8, int8 input/output"),
    Variant("model_int8.onnx", "onnxruntime", "int8", "int8",
            "the same int8 model as QDQ ONNX (tf2onnx), for the full onnxruntime-android package"),
    Variant("model_int8.ort", "onnxruntime", "int8", "int8", "model_int8.onnx in ORT format for ONNX Runtime Mobile"),
)
NEEDS_KERAS = "needs the float Keras model, which an int8 .tflite does not hold: give --from-model FILE.keras"
NOT_FROM_INT8 = {  # the Keras bundle's files that an int8 .tflite cannot give
    "model_float.tflite": f"the float model; {NEEDS_KERAS}",
    "model_int8_float_io.tflite": f"int8 with float32 input/output, converted from the float model; {NEEDS_KERAS}",
    "model.onnx": f"the float model as ONNX; {NEEDS_KERAS}",
    "model.ort": f"the float model in ORT format; {NEEDS_KERAS}",
    "EdgecnnClassifier.kt": "the Kotlin image classifier, built around model_int8_float_io.tflite (README.md shows "
                            f"LiteRT's Interpreter on model_int8.tflite instead); {NEEDS_KERAS}",
    "build.gradle.snippet": "the Gradle lines for EdgecnnClassifier.kt (README.md has the dependency line); "
                            f"{NEEDS_KERAS}",
}


def _int8_io(graph) -> dict:
    """Input and output shape, dtype, scale and zero point of an int8 graph, for model_meta.json and the README."""
    def one(t):
        q = t.quant
        return {"shape": [int(v) for v in t.shape[1:]], "dtype": t.dtype,
                "scale": float(q.scale[0]) if q is not None else None,
                "zero_point": int(q.zero_point[0]) if q is not None else None}

    return {"input": one(graph.tensors[graph.inputs[0]]), "output": one(graph.tensors[graph.outputs[0]])}


def _run_onnxruntime_int8(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    so = ort.SessionOptions()
    # int8 x int8 kernels, as ONNX Runtime uses on ARM: on x86 it otherwise turns S8S8 into U8S8, whose
    # VPMADDUBSW saturates on CPUs without VNNI (1.7% of digits answers changed on an AVX2 EPYC)
    so.add_session_config_entry("session.qdqisint8allowed", "1")
    sess = ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.stack([np.asarray(sess.run(None, {name: xi[None]})[0]).reshape(-1) for xi in x])


def _int8_onnx_from_tflite(tflite_path: Path, onnx_path: Path) -> None:
    """The int8 .tflite as a QDQ ONNX model with int8 input and output (tf2onnx's TFLite path)."""
    import tf2onnx

    from toolkit.capture import quiet_native

    try:
        with quiet_native():
            proto, _ = tf2onnx.convert.from_tflite(str(tflite_path), opset=ONNX_OPSET)
    except Exception as exc:  # tf2onnx raises assorted types
        raise ModelError(f"tf2onnx could not convert {tflite_path.name} to ONNX: {_first_line(exc)}") from None
    onnx_path.write_bytes(proto.SerializeToString())


def _int8_parity(outputs: np.ndarray, reference: np.ndarray, labels) -> dict:
    dev, ref = outputs.reshape(len(reference), -1).astype(np.int32), reference.reshape(len(reference), -1).astype(np.int32)
    diff = np.abs(dev - ref)
    worst = int(diff.max()) if diff.size else 0
    entry = {"samples": int(len(ref)), "bit_exact": float(np.mean(diff.max(axis=1) == 0)) if len(ref) else 1.0,
             "max_abs_diff_lsb": worst,
             "top1_agreement": float(np.mean(dev.argmax(1) == ref.argmax(1))) if len(ref) else 1.0,
             "accuracy": float(np.mean(dev.argmax(1) == np.asarray(labels))) if labels is not None and len(ref)
             else None,
             "goal": f"max_abs_diff_lsb <= {INT8_MAX_DIFF_LSB}", "ok": bool(worst <= INT8_MAX_DIFF_LSB)}
    return entry


def write_int8_android_bundle(int8_tflite: bytes, golden: dict, out_dir: Path, model_name: str, *,
                              data: Dataset | None = None) -> dict:
    """The Android files an int8 .tflite alone can give, checked against TFLM; returns parity.json's dict.

    Written: model_int8.tflite (the model as given), model_int8.onnx and model_int8.ort (the same int8 model as
    QDQ ONNX, int8 input and output), parity.json, README.md, and with a data set labels.txt and (for an image
    input) model_meta.json. Each model file runs in its phone runtime on golden.npz's inputs and is compared
    with TFLM's int8 outputs. `not_written` names every file of the Keras bundle that is missing and why; a
    conversion that fails is listed there too rather than failing the build. Written beside out_dir and moved
    into place at the end, like write_android_bundle."""
    from deploy.engine.tflite_reader import read_tflite

    out_dir = Path(out_dir)
    graph = read_tflite(bytes(int8_tflite))
    io_info = _int8_io(graph)
    if data is not None:
        _check_labels(data.labels)
    x, ref, labels = golden["inputs_int8"], golden["outputs_int8"], golden.get("labels")
    with _staged_bundle(out_dir) as tmp:
        versions = _runtime_versions()
        files, not_written = {}, {}
        (tmp / "model_int8.tflite").write_bytes(bytes(int8_tflite))
        try:
            _int8_onnx_from_tflite(tmp / "model_int8.tflite", tmp / "model_int8.onnx")
            onnx_to_ort(tmp / "model_int8.onnx", tmp / "model_int8.ort")
        except ModelError as exc:
            for name in ("model_int8.onnx", "model_int8.ort"):
                if not (tmp / name).is_file():
                    not_written[name] = exc.message
        for v in INT8_VARIANTS:
            path = tmp / v.file
            if not path.is_file():
                continue
            try:
                got = (run_litert if v.runtime == "litert" else _run_onnxruntime_int8)(path, x)
            except Exception as exc:  # a runtime that refuses the file: say so, keep the others
                path.unlink()
                not_written[v.file] = f"{versions[v.runtime]} cannot run it: {_first_line(exc)}"
                continue
            files[v.file] = {"runtime": versions[v.runtime], "precision": "int8", "io": v.io,
                             "bytes": path.stat().st_size, **_int8_parity(got, ref, labels)}
            if path.suffix == ".ort":
                files[v.file]["ort_format_version"] = ort_format_version(path.read_bytes())
        not_written.update(NOT_FROM_INT8)
        shape = io_info["input"]["shape"]
        if data is not None:
            (tmp / "labels.txt").write_text("".join(f"{s}\n" for s in data.labels), encoding="utf-8")
        else:
            not_written["labels.txt"] = "the class names come from a data set: give --dataset"
        if data is not None and len(shape) == 3:
            meta = model_meta(data, model_name, shape, int(np.prod(io_info["output"]["shape"])), 0, files)
            meta["quantization"] = {"scheme": f"as given in {model_name}.tflite", **io_info}
            (tmp / "model_meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n",
                                                 encoding="utf-8")
        else:
            not_written["model_meta.json"] = ("the input normalisation comes from a data set: give "
                                              "--dataset" if data is None else
                                              f"the input {tuple(shape)} is not an image (height, width, channels)")
        parity = {"reference": "tflm", "split": "golden", "samples": int(len(x)), "model": model_name,
                  "goals": {"int8_max_abs_diff_lsb": INT8_MAX_DIFF_LSB}, "io": io_info, "files": files,
                  "not_written": not_written, "ok": all(f["ok"] for f in files.values())}
        (tmp / "parity.json").write_text(json.dumps(parity, indent=2) + "\n", encoding="utf-8")
        (tmp / "README.md").write_text(_render("README_int8.md.j2", **_int8_readme_context(model_name, parity)),
                                       encoding="utf-8")
    return parity


def _plus(n: int) -> str:
    """`+ 3`, `- 2` or nothing: an offset written into a formula or a line of Kotlin."""
    return f"+ {n}" if n > 0 else f"- {-n}" if n < 0 else "+ 0"


def _int8_readme_context(model_name: str, parity: dict) -> dict:
    io = parity["io"]
    rows = [{"file": name, "runtime": f["runtime"], "size": _fmt_bytes(f["bytes"]),
             "use": next(v.use for v in INT8_VARIANTS if v.file == name), "bit_exact": _fmt(f["bit_exact"], 4),
             "max_diff": str(f["max_abs_diff_lsb"]), "agreement": _fmt(f["top1_agreement"], 4),
             "ok": "yes" if f["ok"] else "NO"} for name, f in parity["files"].items()]
    return {"model_name": model_name, "rows": rows, "not_written": parity["not_written"],
            "input_shape": " x ".join(map(str, io["input"]["shape"])),
            "output_shape": " x ".join(map(str, io["output"]["shape"])),
            "input_size": str(int(np.prod(io["input"]["shape"]))), "output_size": str(int(np.prod(io["output"]["shape"]))),
            "shape_kt": ", ".join(["1", *map(str, io["input"]["shape"])]),
            "in_scale_kt": kotlin_float(io["input"]["scale"]), "in_scale": f"{io['input']['scale']:.8g}",
            "out_scale_kt": kotlin_float(io["output"]["scale"]), "out_scale": f"{io['output']['scale']:.8g}",
            "plus_in_zero": _plus(io["input"]["zero_point"]), "minus_out_zero": _plus(-io["output"]["zero_point"]),
            "litert_version": LITERT_VERSION, "ort_version": ORT_ANDROID_VERSION, "samples": str(parity["samples"]),
            "goal": str(INT8_MAX_DIFF_LSB), "has_ort": "model_int8.ort" in parity["files"]}
