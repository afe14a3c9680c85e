"""Benchmark: the generated C engine against TensorFlow Lite Micro's reference kernels (RAM, instructions, flash).

For the four MLPerf Tiny architectures (random weights, BatchNorm calibrated on random data) and a
default-style compact CNN (8x8x1 digits input, 10 classes), it measures:
  - RAM: the engine's peak RAM (arena + scratch) against TFLM's arena total measured by its
    RecordingMicroAllocator (host build, 64-bit structs);
  - instructions per inference, both counted with valgrind's callgrind on the host (x86-64):
    the engine built with gcc -O2, counted inside ecnn_invoke; TFLM's reference kernels through the
    tflite-micro Python package, counted inside tflite::micro::MicroInterpreter::Invoke();
  - flash: text + data of the engine's objects built with arm-none-eabi-gcc -Os for Cortex-M4,
    against the bytes of the weights and biases alone;
  - bit exactness of the engine's outputs against TFLM on 5 random inputs.
Prints a markdown table and writes it to benchmarks/results/engine_vs_tflm.md.
Usage: PYTHONPATH=. python benchmarks/engine_vs_tflm.py [--models ds_cnn,resnet8,...] [--no-callgrind]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from provenance import commit

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from deploy.engine.codegen import generate_engine  # noqa: E402
from deploy.convert.tflm import measure_arena, run_tflm  # noqa: E402
from deploy.verify.host import CFLAGS, arm_size  # noqa: E402
from deploy.engine.templates import TEMPLATE_DIR  # noqa: E402

TFLM_INVOKE = "tflite::micro::MicroInterpreter::Invoke()"
TFLM_SCRIPT = """
import sys, numpy as np
from tflite_micro.python.tflite_micro import runtime
it = runtime.Interpreter.from_bytes(open(sys.argv[1], 'rb').read(), arena_size=8 << 20)
d = it.get_input_details(0)
it.set_input(np.load(sys.argv[2]).reshape(tuple(d['shape'])).astype(d['dtype']), 0)
it.invoke()
"""


def build_model(name: str):
    from models.mlperf_tiny import MLPERF_TINY, calibrate_batchnorm

    if name == "compact_cnn":
        from models.compact import build

        model = build((8, 8, 1), 10)
    else:
        model = MLPERF_TINY[name]()
    cal = np.random.RandomState(0).randn(32, *model.inputs[0].shape[1:]).astype(np.float32)
    calibrate_batchnorm(model, cal)
    from deploy.convert.quantize import to_int8_tflite

    return to_int8_tflite(model, cal)


def callgrind(cmd: list[str], toggle: str, work: Path) -> int:
    out = work / "callgrind.out"
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", f"--toggle-collect={toggle}",
                    *cmd], check=True, capture_output=True, text=True, cwd=work)
    text = out.read_text(errors="replace")
    m = re.search(r"^(?:summary|totals):\s*(\d+)", text, re.M)
    if not m:
        raise RuntimeError("callgrind wrote no instruction total")
    return int(m.group(1))


def measure(name: str, use_callgrind: bool) -> dict:
    tfl = build_model(name)
    arena = measure_arena(tfl)
    with tempfile.TemporaryDirectory(prefix="ecnn_bench_") as tmp:
        work = Path(tmp)
        info = generate_engine(tfl, work / "engine")
        g_shape = info.input_shape
        rng = np.random.RandomState(1)
        x = rng.randint(-128, 128, (5, *g_shape[1:])).astype(np.int8)
        src = work / "engine"
        shutil.copy(TEMPLATE_DIR / "engine" / "host_main.c", work / "host_main.c")
        exe = work / "ecnn_host"
        subprocess.run(["gcc", *CFLAGS, "-g", "-I", str(src), *map(str, sorted(src.glob("*.c"))),
                        str(work / "host_main.c"), "-o", str(exe)], check=True)
        x.tofile(work / "in.bin")
        subprocess.run([str(exe), str(work / "in.bin"), str(work / "out.bin")], check=True, capture_output=True)
        y = np.fromfile(work / "out.bin", dtype=np.int8).reshape(len(x), -1)
        ref = run_tflm(tfl, x).reshape(len(x), -1)
        exact = float(np.all(y == ref, axis=1).mean())
        sizes = arm_size(src, work)
        row = dict(model=name, bit_exact=exact, engine_ram=info.peak_ram_bytes, tflm_arena=arena.total,
                   tflm_head=arena.head, tflm_tail=arena.tail, weights=info.weight_bytes,
                   flash=(sizes["text"] + sizes["data"]) if sizes else None, engine_instr=None, tflm_instr=None)
        if use_callgrind and shutil.which("valgrind"):
            x[:1].tofile(work / "one.bin")
            row["engine_instr"] = callgrind([str(exe), str(work / "one.bin"), str(work / "one_out.bin")],
                                            "ecnn_invoke", work)
            (work / "model.tflite").write_bytes(tfl)
            np.save(work / "x.npy", x[0])
            (work / "tflm_once.py").write_text(TFLM_SCRIPT)
            row["tflm_instr"] = callgrind([sys.executable, str(work / "tflm_once.py"), str(work / "model.tflite"),
                                           str(work / "x.npy")], TFLM_INVOKE, work)
    return row


def table(rows: list[dict]) -> str:
    def n(v):
        return "n/a" if v is None else f"{v:,}"

    lines = ["| model | bit exact | engine peak RAM (B) | TFLM arena (B) | RAM ratio | engine instr/inference | "
             "TFLM ref instr/inference | instr ratio | engine flash (B) | weights (B) | flash - weights (B) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ir = (f"{r['engine_instr'] / r['tflm_instr']:.2f}" if r["engine_instr"] and r["tflm_instr"] else "n/a")
        fw = n(r["flash"] - r["weights"]) if r["flash"] is not None else "n/a"
        lines.append(f"| {r['model']} | {r['bit_exact']:.0%} | {n(r['engine_ram'])} | {n(r['tflm_arena'])} "
                     f"(head {n(r['tflm_head'])}, tail {n(r['tflm_tail'])}) | {r['engine_ram'] / r['tflm_arena']:.2f} | "
                     f"{n(r['engine_instr'])} | {n(r['tflm_instr'])} | {ir} | {n(r['flash'])} | {n(r['weights'])} | "
                     f"{fw} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="ds_cnn,resnet8,mobilenet_v1_025,fc_autoencoder,compact_cnn")
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "engine_vs_tflm.md"))
    a = ap.parse_args(argv)
    rows = []
    for name in a.models.split(","):
        rows.append(measure(name, not a.no_callgrind))
        print(rows[-1], flush=True)
    md = (f"# Generated C engine vs TensorFlow Lite Micro (reference kernels)\n\n"
          f"Measured by `python benchmarks/engine_vs_tflm.py` at commit `{commit()}` (host: x86-64, gcc -O2 for the engine; instruction counts "
          f"from valgrind callgrind; TFLM arena from its RecordingMicroAllocator on the host; flash from "
          f"arm-none-eabi-gcc -Os -mcpu=cortex-m4). Random weights, BatchNorm calibrated on random data.\n\n"
          f"{table(rows)}\n")
    print(md)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
