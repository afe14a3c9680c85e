"""C++ and Arduino: a C++ program drives the generated engine through its header (host g++, run and compared
with TFLM's outputs), and the Arduino library (deploy.devices.arduino) compiles as C++ for the Nano 33 BLE's Cortex-M4F."""
from __future__ import annotations

import subprocess
import zipfile

import numpy as np
import pytest

from deploy.devices.arduino import EXAMPLE, write_arduino_library
from firmware_support import copy_build

pytestmark = pytest.mark.toolchain
M4F = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O2"]
# Just what the sketch uses of the Arduino core (the real core is not installed here): Serial, micros, delay.
ARDUINO_H = """#pragma once
#include <stdint.h>
struct EcnnSerial {
  void begin(unsigned long) {}
  explicit operator bool() const { return true; }
  template <typename T> void print(T) {}
  template <typename T> void println(T) {}
};
extern EcnnSerial Serial;
unsigned long micros(void);
void delay(unsigned long);
"""
CPP_MAIN = """#include <cstdio>
#include <cstdint>
#include "edgecnn_model.h"
int main() {
  static int8_t in[ECNN_INPUT_SIZE];
  static int8_t out[ECNN_OUTPUT_SIZE];
  if (std::fread(in, 1, sizeof in, stdin) != sizeof in || ecnn_init() != 0 || ecnn_invoke(in, out) != 0) return 1;
  std::fwrite(out, 1, sizeof out, stdout);
  return 0;
}
"""


@pytest.fixture(scope="module")
def library(build_dir, tmp_path_factory):
    b = copy_build(build_dir, tmp_path_factory.mktemp("arduino") / "build")
    return b, *write_arduino_library(b)


def test_cpp_main_runs_the_engine_through_its_header(library, tmp_path):
    b, folder, _ = library
    src = folder / "src"
    (tmp_path / "main.cpp").write_text(CPP_MAIN)
    objs = []
    for c in sorted(src.glob("*.c")):
        obj = tmp_path / (c.stem + ".o")
        subprocess.run(["gcc", "-std=c99", "-O2", "-c", str(c), "-o", str(obj)], check=True)
        objs.append(str(obj))
    exe = tmp_path / "cpp_main"
    r = subprocess.run(["g++", "-std=c++11", "-Wall", "-Wextra", "-Werror", "-I", str(src), str(tmp_path / "main.cpp"),
                        *objs, "-o", str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with np.load(b / "golden.npz") as g:
        x, want = g["inputs_int8"][1], g["outputs_int8"][1]
    r = subprocess.run([str(exe)], input=np.ascontiguousarray(x, np.int8).tobytes(), capture_output=True)
    assert r.returncode == 0 and np.array_equal(np.frombuffer(r.stdout, np.int8), np.asarray(want).reshape(-1))


def test_arduino_library_compiles_as_cpp_for_cortex_m4f(library, tmp_path):
    _, folder, archive = library
    props = dict(line.split("=", 1) for line in (folder / "library.properties").read_text().splitlines())
    assert props["name"].startswith("EdgeCNN") and props["includes"] == "edgecnn_model.h"
    names = zipfile.ZipFile(archive).namelist()
    assert f"{folder.name}/library.properties" in names and f"{folder.name}/src/edgecnn_model.h" in names
    assert f"{folder.name}/examples/{EXAMPLE}/{EXAMPLE}.ino" in names
    (tmp_path / "Arduino.h").write_text(ARDUINO_H)
    sketch = folder / "examples" / EXAMPLE / f"{EXAMPLE}.ino"
    units = [sketch, *sorted((folder / "src").glob("*.c"))]  # every source compiled as C++, as the issue asks
    for unit in units:
        r = subprocess.run(["arm-none-eabi-g++", *M4F, "-std=gnu++11", "-Wall", "-x", "c++", "-I", str(tmp_path),
                            "-I", str(folder / "src"), "-c", str(unit), "-o", str(tmp_path / (unit.stem + ".o"))],
                           capture_output=True, text=True)
        assert r.returncode == 0, f"{unit.name}: {r.stderr[:2000]}"
    assert "golden_input" in sketch.read_text() and "ecnn_labels[best]" in sketch.read_text()


def test_build_target_arduino_writes_the_library(build_dir, tmp_path):
    """`edgecnn build --target arduino` (here from the build's int8 model, no training) writes the library and
    its zip beside the engine, and says where in its summary."""
    from conftest import run_cli

    out = tmp_path / "ard"
    r = run_cli("build", "--target", "arduino", "--from-model", build_dir / "model_int8.tflite", "--out", out)
    assert r.returncode == 0, r.stderr
    libs = list((out / "arduino").glob("EdgeCNN*/library.properties"))
    zips = list((out / "arduino").glob("EdgeCNN*.zip"))
    assert len(libs) == 1 and len(zips) == 1, sorted(p.name for p in (out / "arduino").iterdir())
    assert "Arduino library" in r.stdout
    with zipfile.ZipFile(zips[0]) as z:
        names = z.namelist()
    assert any(n.endswith("src/edgecnn_model.h") for n in names) and any(n.endswith(".ino") for n in names), names
