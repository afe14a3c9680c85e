"""The firmware/tflm route for projects that keep TFLM: the example main.cc and Makefile a build writes compile
against real TensorFlow Lite Micro headers and link with a real TFLM + CMSIS-NN library (the prebuilt kit in
../shared/tflm-cortex-m for the Cortex-M4), so the model data, the op resolver and the arena fit together."""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

KIT = Path(__file__).resolve().parents[2] / "shared" / "tflm-cortex-m"
pytestmark = pytest.mark.toolchain


def test_build_writes_the_tflm_example(build_dir):
    main = (build_dir / "firmware" / "tflm" / "main.cc").read_text()
    assert "edgecnn_tflm_classify" in main and "edgecnn_register_ops" in main
    assert re.search(r"#define GOLDEN_LABEL \d+", main)
    make = (build_dir / "firmware" / "tflm" / "Makefile").read_text()
    assert "-mcpu=cortex-m4" in make and "TFLM_LIB" in make


def test_tflm_example_links_with_tflm_and_cmsis_nn(build_dir, tmp_path):
    work = shutil.copytree(build_dir / "firmware" / "tflm", tmp_path / "tflm")
    lib = KIT / "lib" / "m4-cmsis"
    assert (lib / "libtensorflow-microlite.a").is_file(), f"the TFLM kit is not beside the project: {KIT}"
    flags = shlex.split((lib / "flags.txt").read_text())
    inc = [f"-I{KIT / f[2:]}" for f in flags if f.startswith("-I")]
    cpu = [f for f in flags if f.startswith(("-mcpu", "-mthumb", "-mfloat-abi", "-mfpu"))]
    defs = [f for f in flags if f.startswith("-D") or f.startswith("-f")]
    r = subprocess.run(["make", f"CPU_FLAGS={' '.join(cpu)}", f"TFLM_FLAGS={shlex.join(defs)}",
                        f"TFLM_INC={' '.join(inc)}", f"TFLM_LIB={lib / 'libtensorflow-microlite.a'}"],
                       cwd=work, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    nm = subprocess.run(["arm-none-eabi-nm", "-C", str(work / "tflm_example.elf")], capture_output=True, text=True)
    assert "edgecnn_tflm_classify" in nm.stdout and "arm_convolve" in nm.stdout, "CMSIS-NN kernels not linked"
