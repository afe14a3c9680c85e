"""Helpers shared by the engine tests: quantize tiny Keras models, compile the generated C, compare with TFLM."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from deploy.engine.codegen import generate_engine
from deploy.convert.tflm import run_tflm
from deploy.verify.host import compile_host, run_host


def quantize(model, seed: int = 0, n: int = 16, scale: float = 1.0) -> bytes:
    from deploy.convert.quantize import to_int8_tflite

    rng = np.random.RandomState(seed)
    cal = (rng.randn(n, *model.inputs[0].shape[1:]) * scale).astype(np.float32)
    return to_int8_tflite(model, cal)


def make_inputs(shape, n: int = 12, seed: int = 1) -> np.ndarray:
    """Random int8 inputs plus the extremes: all -128, all 127, all zeros, and a -128/127 checkerboard."""
    rng = np.random.RandomState(seed)
    x = rng.randint(-128, 128, (n, *shape)).astype(np.int8)
    x[0] = -128
    x[1] = 127
    x[2] = 0
    if n > 3:
        x[3] = np.where(np.indices(shape).sum(axis=0) % 2 == 0, -128, 127)
    return x


def engine_outputs(tflite: bytes, x: np.ndarray, work: Path, sanitize: bool = True):
    """Generate the engine into work/engine, build it for the host (with ASan/UBSan), run it on x."""
    info = generate_engine(tflite, work / "engine")
    exe = compile_host(work / "engine", work / "build", sanitize=sanitize)
    return run_host(exe, x, int(np.prod(info.output_shape)), work / "build"), info


def assert_bit_exact(tflite: bytes, work: Path, n: int = 12, seed: int = 1, sanitize: bool = True):
    """Compare the engine with TFLM on random and extreme inputs; returns the EngineInfo."""
    from deploy.engine.tflite_reader import read_tflite

    g = read_tflite(tflite)
    shape = tuple(g.tensors[g.inputs[0]].shape[1:])
    x = make_inputs(shape, n, seed)
    y, info = engine_outputs(tflite, x, work, sanitize)
    ref = run_tflm(tflite, x).reshape(len(x), -1)
    bad = np.nonzero(np.any(y != ref, axis=1))[0]
    assert bad.size == 0, (f"{bad.size}/{len(x)} samples differ from TFLM; first {bad[0]}: "
                           f"engine {y[bad[0]][:16].tolist()} tflm {ref[bad[0]][:16].tolist()}")
    return info


def arm_compile(engine_dir: Path, work: Path) -> None:
    from deploy.devices.toolchain import object_cflags
    from toolkit.targets import get_target

    work.mkdir(parents=True, exist_ok=True)
    for c in sorted(Path(engine_dir).glob("*.c")):
        subprocess.run(["arm-none-eabi-gcc", *object_cflags(get_target("cortex-m4")), "-I", str(engine_dir), str(c), "-o",
                        str(work / (c.stem + ".o"))], check=True, capture_output=True, text=True)
