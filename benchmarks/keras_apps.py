"""Benchmark: whole Keras applications no one tuned for, built from their int8 .tflite as a user would.

Keras' MobileNetV2 (alpha 0.35) and MobileNetV3-Small (alpha 0.75 and 1.0, minimalistic=False), all at
96x96x3 with random weights (weights=None), converted to full-integer int8 .tflite by TensorFlow's own
converter with a seeded random representative data set. For each model:

    edgecnn build --from-model X.tflite --target cortex-m4 --verify host --out DIR

(a subprocess of the installed `edgecnn`, no data set), then from DIR/report.json: the deploy route
(engine, or the TFLM fallback), bit-exact fraction and samples of the host verification, the engine's peak
RAM against the TFLM arena, flash, the ops in the model and the build's wall time; then

    edgecnn verify DIR --device qemu:cortex-m55 --samples 3   (and qemu:cortex-m4, qemu:cortex-m7)

for instructions per inference and bit-exactness on the emulated cores, or the error line when the model
does not fit. (Op coverage against TFLM's int8 kernels: benchmarks/op_coverage.py.)

Writes benchmarks/results/keras_apps.md.
Usage: python benchmarks/keras_apps.py [--models mobilenet_v2_035,...] [--cpus cortex-m55,cortex-m4,cortex-m7] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provenance import commit

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# `edgecnn` of this checkout (a git worktree too): the interpreter running this script, with ROOT first on its path
EDGECNN = [sys.executable, "-m", "toolkit.cli"]
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
SHAPE = (96, 96, 3)
CALIBRATION = 32  # seeded random representative samples
BUILD_TIMEOUT = 3600
VERIFY_TIMEOUT = 1800

# name -> (Keras application, keyword arguments, representative input range, conversions to try in order as
# (classifier activation, input batch: None = Keras' dynamic batch, 1 = a fixed batch-1 input)). Random weights
# make the logits nearly constant, and TFLM's own int8 softmax then aborts (a colleague's finding): a softmax
# model is tried first where the table says so, and on failure the model is converted again with
# classifier_activation=None (logits out). Keras 3's Flatten on a dynamic batch converts to a SHAPE ->
# STRIDED_SLICE -> PACK -> RESHAPE int32 subgraph that the engine refuses (the build falls back to TFLM); a
# fixed batch-1 input folds it away. The next conversion is tried after a failed build or a TFLM-fallback
# build; every attempt is kept in the results.
MODELS = {
    "mobilenet_v2_035": ("MobileNetV2", dict(alpha=0.35), (-1.0, 1.0), (("softmax", None), (None, None), (None, 1))),
    "mobilenet_v3_small_075": ("MobileNetV3Small", dict(alpha=0.75, minimalistic=False), (0.0, 255.0),
                               ((None, None), (None, 1))),
    "mobilenet_v3_small_100": ("MobileNetV3Small", dict(alpha=1.0, minimalistic=False), (0.0, 255.0),
                               ((None, None), (None, 1))),
}
CLASSES = (1000, 10)  # Keras' ImageNet head, and a 10-class head as a microcontroller application would have
# the M7 (QEMU mps2-an500) has the 2 MiB of flash MobileNetV3-Small needs even with a 10-class head
CPUS = ("cortex-m55", "cortex-m4", "cortex-m7")

def make_tflite(name: str, activation: str | None, batch: int | None, classes: int) -> bytes:
    """The Keras application with random weights, converted by TensorFlow's converter to full int8."""
    import keras
    import tensorflow as tf

    app, kwargs, (lo, hi), _ = MODELS[name]
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, app)(input_shape=SHAPE, weights=None, classifier_activation=activation,
                                             classes=classes, **kwargs)
    if batch is not None:
        inp = keras.Input(SHAPE, batch_size=batch)
        model = keras.Model(inp, model(inp))
    calib = np.random.default_rng(0).uniform(lo, hi, (CALIBRATION, *SHAPE)).astype(np.float32)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([x[None]] for x in calib)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    errs = [ln for ln in lines if ln.lower().startswith(("error", "edgecnn: error"))]
    return (errs or lines or ["(no output)"])[-1][:400]


def run(cmd: list[str], timeout: int) -> tuple[int, str, float]:
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        code, out = r.returncode, r.stdout + "\n" + r.stderr
    except subprocess.TimeoutExpired as exc:
        code, out = -1, f"timed out after {timeout} s: {(exc.stdout or b'')[-300:]!r}"
    return code, out, time.perf_counter() - t0


def build(name: str, classes: int, work: Path) -> list[dict]:
    """Convert and build, trying the conversions in order until one builds on the engine route; one row per
    attempt (a row with a report is a successful build)."""
    rows = []
    for activation, batch in MODELS[name][3]:
        tag = activation or "none"
        row = dict(model=name, classes=classes, activation=tag, batch="1" if batch else "dynamic", attempts=[])
        rows.append(row)
        tfl_path = work / f"{name}_{classes}_{tag}_b{row['batch']}.tflite"
        t0 = time.perf_counter()
        tfl_path.write_bytes(make_tflite(name, activation, batch, classes))
        convert_s = time.perf_counter() - t0
        out = tfl_path.with_suffix("")
        code, text, secs = run([*EDGECNN, "build", "--from-model", str(tfl_path), "--target", "cortex-m4",
                                "--verify", "host", "--out", str(out)], BUILD_TIMEOUT)
        attempt = dict(activation=tag, tflite_bytes=tfl_path.stat().st_size, convert_s=convert_s, exit=code,
                       seconds=secs, error=None if code == 0 else last_line(text))
        row["attempts"].append(attempt)
        print(f"{name} classes={classes} classifier_activation={tag} batch={row['batch']}: build exit {code} in {secs:.0f} s"
              + ("" if code == 0 else f": {attempt['error']}"), flush=True)
        if code == 0:
            row.update(out=out, build_s=secs, tflite_bytes=attempt["tflite_bytes"])
            row["report"] = json.loads((out / "report.json").read_text())
            vj = out / "verify.json"
            row["host_verify"] = json.loads(vj.read_text()) if vj.is_file() else None
            if row["report"].get("deploy_route", "engine") == "engine":
                break
    return rows


def verify(out: Path, cpu: str) -> dict:
    code, text, secs = run([*EDGECNN, "verify", str(out), "--device", f"qemu:{cpu}", "--samples", "3"],
                           VERIFY_TIMEOUT)
    if code != 0:
        return dict(ok=False, error=last_line(text), seconds=secs)
    v = json.loads((out / "verify.json").read_text())
    return dict(ok=True, instr=v.get("instructions_per_inference"), exact=v["bit_exact"], samples=v["samples"],
                flash=v.get("flash_bytes"), ram=v.get("ram_bytes"), seconds=secs)


def _n(v, fmt="{:,}"):
    return "-" if v is None else fmt.format(v)


def label(r: dict) -> str:
    return f"{r['model']} ({r['classes']} classes, classifier_activation={r['activation']}, batch {r['batch']})"


def results_table(rows: list[dict], cpus: list[str]) -> list[str]:
    head = ("| model | classes | classifier | input batch | .tflite B | ops | route | host bit-exact | engine peak RAM B | TFLM arena B | "
            "RAM / arena | flash B (report) | build s |")
    out = [head, "|---|---:|---|---|---:|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "report" not in r:
            a = r["attempts"][-1]
            out.append(f"| {r['model']} | {r['classes']} | {r['activation']} | {r['batch']} | {a['tflite_bytes']:,} | "
                       "- | build failed | - | - | - | "
                       f"- | - | {a['seconds']:.0f} |")
            continue
        rep, mem = r["report"], r["report"]["memory"]
        ops = sorted({layer["op"] for layer in rep["layers"]})
        route = rep.get("deploy_route", "engine")
        hv = r["host_verify"]
        exact = f"{hv['bit_exact']:.0%} of {hv['samples']}" if hv else "not run"
        ram, arena = mem.get("peak_ram_bytes"), mem.get("tflm_arena_bytes")
        ratio = f"{ram / arena:.2f}" if ram and arena else "-"
        out.append(f"| {r['model']} | {r['classes']} | {r['activation']} | {r['batch']} | {r['tflite_bytes']:,} | {', '.join(ops)} | {route} | "
                   f"{exact} | {_n(ram)} | {_n(arena)} | {ratio} | {_n(mem.get('flash_bytes'))} | "
                   f"{r['build_s']:.0f} |")
    out += ["", "| model | classes | input batch | " + " | ".join(f"{c} instr/inf | {c} bit-exact | {c} firmware flash B" for c in cpus) + " |",
            "|---|---:|---|" + "---:|---:|---:|" * len(cpus)]
    notes = []
    for r in rows:
        if "report" not in r:
            continue
        cells = []
        for c in cpus:
            v = r.get("qemu", {}).get(c)
            if v is None:
                cells += ["not run"] * 3
            elif not v["ok"]:
                cells += ["failed", "-", "-"]
                notes.append(f"{label(r)} on {c}: `{v['error']}`")
            else:
                cells += [_n(v["instr"]), f"{v['exact']:.0%} of {v['samples']}", _n(v["flash"])]
        out.append(f"| {r['model']} | {r['classes']} | {r['batch']} | " + " | ".join(cells) + " |")
    for r in rows:
        for a in r["attempts"]:
            if a["exit"] != 0:
                notes.append(f"{label(r)}: build exit {a['exit']}: `{a['error']}`")
        if "report" in r and r["report"]["memory"].get("engine_refused"):
            notes.append(f"{label(r)}: engine refused (build fell back to TFLM): "
                         f"{r['report']['memory']['engine_refused']}")
    return out + [""] + [f"- {n}" for n in notes]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--cpus", default=",".join(CPUS))
    ap.add_argument("--classes", default=",".join(map(str, CLASSES)))
    ap.add_argument("--keep", help="build the folders here and keep them (default: a temporary folder)")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    a = ap.parse_args(argv)
    models, cpus = a.models.split(","), a.cpus.split(",")
    t0 = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgecnn_keras_apps_") as tmp:
        work = Path(a.keep) if a.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for classes in map(int, a.classes.split(",")):
            for name in models:
                for row in build(name, classes, work):
                    if "report" in row:
                        row["qemu"] = {}
                        for cpu in cpus:
                            row["qemu"][cpu] = v = verify(row["out"], cpu)
                            print(f"{label(row)} {cpu}: {v}", flush=True)
                    rows.append(row)
    import tensorflow as tf

    qemu = subprocess.run(["qemu-system-arm", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    md = ["# Keras applications no one tuned for: build, verify, RAM against TFLM", "",
          f"Command: `python benchmarks/keras_apps.py` at commit `{commit()}` ({time.perf_counter() - t0:.0f} s). "
          f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}, "
          f"TensorFlow {tf.__version__}; {qemu}.", "",
          "Keras applications at 96x96x3 with random weights (`weights=None`, seed 0), converted by TensorFlow's "
          f"TFLiteConverter to full int8 (int8 input and output) with {CALIBRATION} seeded random representative "
          "inputs (uniform in [-1, 1] for MobileNetV2, [0, 255] for MobileNetV3, which rescales its input itself). "
          "MobileNetV3Small with `minimalistic=False` (hard swish, squeeze-and-excite). With random weights the "
          "logits are nearly constant and TFLM's own int8 softmax aborts on them, so the models are converted with "
          "`classifier_activation=None` (int8 logits out) where the softmax build fails (MobileNetV2 is tried "
          "with softmax first; the failure, if any, is listed below); MobileNetV3 is converted with None directly. "
          "Each with Keras' 1000-class ImageNet head and with a 10-class head. Input batch: `dynamic` is the "
          "Keras model as is (batch None); Keras 3's Flatten then converts to a SHAPE -> STRIDED_SLICE -> PACK -> "
          "RESHAPE int32 subgraph, which the engine drops (deploy/engine/graph_passes.py: the shape is static in the "
          "file). Only where a build falls back to TFLM is the model converted again with a fixed batch-1 input "
          "(`keras.Input(shape, batch_size=1)`), which folds the subgraph away.",
          "", "Each model is built as a user would, without a data set: `edgecnn build --from-model X.tflite "
          "--target cortex-m4 --verify host --out DIR` (seeded random int8 golden inputs, TFLM's outputs as "
          "reference). Route: `engine` when the generated engine runs every layer, `tflm` when the build fell "
          "back to the TFLM arrays. Host bit-exact: the build's own verification. RAM: the engine's peak RAM "
          "against TFLM's arena measured by its allocator (report.json `memory`). Flash (report): "
          "`memory.flash_bytes`. Build s: wall time of the whole build on a busy 2-core machine. Then "
          "`edgecnn verify DIR --device qemu:CPU --samples 3` per core: instructions per inference counted by "
          "QEMU inside `ecnn_invoke` (mean over the samples), bit-exact against TFLM, and the linked firmware's "
          "flash.", "", *results_table(rows, cpus), "",
          "Op coverage against TFLM's int8 kernels, derived from TFLM's op resolver and kernel sources: "
          "`benchmarks/op_coverage.py` (results/op_coverage.md)."]
    results = Path(a.results)
    results.mkdir(parents=True, exist_ok=True)
    (results / "keras_apps.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    failed = [label(r) for r in rows if "report" not in r and r["activation"] != "softmax"]
    inexact = [(label(r), c) for r in rows for c, v in r.get("qemu", {}).items() if v["ok"] and v["exact"] < 1]
    if failed or inexact:
        print(f"keras_apps: failed builds {failed}, not bit-exact {inexact}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
