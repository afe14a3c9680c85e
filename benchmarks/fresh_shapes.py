"""Benchmark: the engine against TFLM + CMSIS-NN on models no one here tuned for, on every emulated core.

The zoo's layer shapes are the ones the kernels were tuned on. These models are not: a 24x24x3 net whose 5x5
depthwise has depth multiplier 2; a net of odd layer shapes (a strided 5x5 depthwise of multiplier 2, 1x3 and
3x1 convolutions, a dilated 3x3, channel counts of 10 and 20); and depthwise layers with dilation 2 and
multipliers 3 and 4 with 7x7 kernels. Random weights, seeded; instructions per inference on QEMU, as
benchmarks/cores.py measures them (its `measure` and table), TFLM + CMSIS-NN from ../shared/tflm-cortex-m.

Writes benchmarks/results/fresh_shapes.md.
Usage: python benchmarks/fresh_shapes.py [--models dw5x5_m2,...] [--cpus cortex-m4,...] [--samples N]
                                         [--before OLD/fresh_shapes.md] [--note TEXT]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from provenance import commit

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CPUS = ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55", "cortex-m0plus")


def dw5x5_m2():
    """24x24x3; a 5x5 depthwise of multiplier 2 between a 3x3 and a 1x1 convolution."""
    import keras
    from keras import layers as L

    x0 = keras.Input((24, 24, 3))
    x = L.Conv2D(16, 3, padding="same", activation="relu")(x0)
    x = L.DepthwiseConv2D(5, padding="same", depth_multiplier=2, activation="relu")(x)
    x = L.Conv2D(32, 1, activation="relu")(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(x0, L.Softmax()(L.Dense(10)(x)))


def odd_shapes():
    """A strided 5x5 depthwise of multiplier 2, 1x3 and 3x1 convolutions, a dilated 3x3, 10 and 20 channels."""
    import keras
    from keras import layers as L

    x0 = keras.Input((32, 32, 3))
    x = L.Conv2D(10, 3, strides=2, padding="same", activation="relu")(x0)
    x = L.DepthwiseConv2D(5, strides=2, padding="same", depth_multiplier=2, activation="relu")(x)
    x = L.Conv2D(20, (1, 3), padding="same", activation="relu")(x)
    x = L.Conv2D(20, (3, 1), padding="same", activation="relu")(x)
    x = L.Conv2D(20, 3, dilation_rate=2, padding="same", activation="relu")(x)
    x = L.Conv2D(10, 1, activation="relu")(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(x0, L.Softmax()(L.Dense(10)(x)))


def dilated_multipliers():
    """Depthwise layers of dilation 2 and of multipliers 3 and 4, 3x3 and 7x7."""
    import keras
    from keras import layers as L

    x0 = keras.Input((20, 20, 4))
    x = L.DepthwiseConv2D(3, padding="same", dilation_rate=2, activation="relu")(x0)
    x = L.DepthwiseConv2D(3, padding="same", depth_multiplier=3, activation="relu")(x)
    x = L.Conv2D(16, 1, activation="relu")(x)
    x = L.DepthwiseConv2D(7, strides=2, padding="same", depth_multiplier=4, activation="relu")(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(x0, L.Softmax()(L.Dense(8)(x)))


MODELS = {"dw5x5_m2": dw5x5_m2, "odd_shapes": odd_shapes, "dilated_multipliers": dilated_multipliers}


def build(name: str, out: Path, samples: int) -> Path:
    """A build folder (int8 model, golden inputs with TFLM's outputs, engine) for a seeded random-weight model."""
    import keras

    from deploy.convert.quantize import to_int8_tflite
    from suite import golden_build

    keras.utils.set_random_seed(0)
    model = MODELS[name]()
    cal = np.random.RandomState(0).rand(32, *model.inputs[0].shape[1:]).astype(np.float32)
    _, plan = golden_build(to_int8_tflite(model, cal), out, samples)
    kernels = ", ".join(f"{o['name']}: {o['kernel']}" for o in plan.info.ops if "depthwise" in o["kernel"])
    print(f"{name}: {kernels}", flush=True)
    return out


def instr_table(md: str, cpu: str) -> dict[str, tuple[str, str]]:
    """model -> (edgecnn instructions, ratio) from a fresh_shapes.md page's table for `cpu`."""
    rows = {}
    for line in md.split(f"### {cpu}", 1)[-1].split("###", 1)[0].splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and cells[0].endswith("(random weights)"):
            rows[cells[0].replace(" (random weights)", "")] = (cells[1], cells[3])
    return rows


def comparison(before: Path, now: str, cpus: list[str]) -> list[str]:
    """The instruction counts of an earlier run's page (`before`) beside this run's, core by core."""
    old = before.read_text()
    at = old.split("at commit `", 1)[1].split("`", 1)[0] if "at commit `" in old else "?"
    out = ["", f"### Against an earlier run (`{before.name}`, commit `{at}`)", "",
           "| core | model | edgecnn instr/inf then | ratio then | edgecnn instr/inf now | ratio now |",
           "|---|---|---:|---:|---:|---:|"]
    for cpu in cpus:
        then, here = instr_table(old, cpu), instr_table(now, cpu)
        out += [f"| {cpu} | {m} | {then[m][0]} | {then[m][1]} | {here[m][0]} | {here[m][1]} |" for m in here if m in then]
    return out


def main(argv=None) -> int:
    from cores import measure, table, write_results

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--cpus", default=",".join(CPUS))
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--before", type=Path, default=None,
                    help="a fresh_shapes.md of an earlier commit, compared core by core")
    ap.add_argument("--note", default="", help="a line after the tables (what is still short, and why)")
    a = ap.parse_args(argv)
    cpus = a.cpus.split(",")
    t0 = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgecnn_fresh_") as tmp:
        for name in a.models.split(","):
            b = build(name, Path(tmp) / name, a.samples)
            row = {"model": f"{name} (random weights)"}
            for cpu in cpus:
                row[cpu] = measure(b, cpu, a.samples)
                print(name, cpu, row[cpu], flush=True)
            rows.append(row)
    md = ["# Models no one tuned for: edgecnn against TFLM + CMSIS-NN", "",
          f"Command: `python benchmarks/fresh_shapes.py` at commit `{commit()}` ({time.perf_counter() - t0:.0f} s). "
          f"Machine: {platform.machine()}, {os.cpu_count()} cores. Instructions per inference on QEMU, measured as "
          "in cores.md (edgecnn: `ecnn_invoke`, mean over the golden samples; TFLM + CMSIS-NN: the kit's `Invoke`, "
          "first golden input).", "", *(f"- `{n}`: {f.__doc__}" for n, f in MODELS.items()), "", table(rows, cpus)]
    if a.before is not None:
        md += comparison(a.before, "\n".join(md), cpus)
    if a.note:
        md += ["", a.note]
    return write_results(Path(a.results) / "fresh_shapes.md", md, rows, cpus)


if __name__ == "__main__":
    raise SystemExit(main())
