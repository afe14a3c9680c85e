"""Benchmark: wall time of the default build and the three convolution kinds side by side on digits."""
from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provenance import commit

ROOT = Path(__file__).resolve().parents[1]


def build(out: Path, *extra: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "toolkit.cli", "build", "--target", "cortex-m", "--out", str(out),
                        *extra], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"build {extra} failed: {r.stderr}")
    return seconds, json.loads((out / "report.json").read_text())


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for conv in ("standard", "depthwise", "grouped"):
            seconds, rep = build(Path(tmp) / conv, "--conv", conv)
            m, mem, acc = rep["model"], rep["memory"], rep["accuracy"]
            rows.append(f"| {conv} | {m['params']:,} | {m['macs']:,} | {mem['tflite_bytes']:,} | "
                        f"{mem['tflm_arena_bytes']:,} | {mem['peak_ram_bytes']:,} | {mem['flash_bytes']:,} | {acc['float']:.4f} | {acc['int8']:.4f} | {seconds:.1f} |")
    text = "\n".join([
        "# The default build on digits, three convolution kinds", "",
        f"Command: `python benchmarks/build_default.py` at commit `{commit()}` (each row is a whole `edgecnn build --target cortex-m "
        "--conv KIND` in a fresh process: data, training with early stopping, int8, TFLite/ONNX export, report, "
        "C generation; goal for the default (standard) build: under 90 s).", "",
        f"Machine: {platform.machine()}, {subprocess.getoutput('nproc')} cores, Python {platform.python_version()}",
        "", "| conv | params (int8 graph) | MACs | int8 .tflite bytes | TFLM arena bytes | edgecnn peak RAM bytes "
        "| engine flash bytes (M4) | float acc | int8 acc | wall s (whole build) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|", *rows, ""])
    (ROOT / "benchmarks" / "results" / "build_default.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
