"""Benchmark: flash, RAM and instructions per inference of the default model's firmware on every Cortex-M CPU (QEMU).

    python benchmarks/firmware_per_cpu.py [--build DIR] [--samples N]

Builds the default model (default epochs) unless --build names an existing build folder, then runs
verify_qemu on each CPU: firmware sizes from the ELF, instructions counted by the QEMU plugin (exact and
repeatable; QEMU is not cycle-accurate, so no cycles or milliseconds), bit-exactness against TFLM.
Writes benchmarks/results/firmware_per_cpu.md and prints the table.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provenance import commit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CPUS = ("cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55")


def build_default(out: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "toolkit.cli", "build", "--target", "cortex-m", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"the default build failed: {r.stderr[-2000:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", type=Path, help="an existing build folder (default: build the default model)")
    ap.add_argument("--samples", type=int, default=None, help="golden samples per CPU (default: all)")
    args = ap.parse_args()

    from deploy.verify.qemu import verify_qemu
    from toolkit.targets import TARGETS

    with tempfile.TemporaryDirectory() as tmp:
        build = args.build
        if build is None:
            build = Path(tmp) / "default"
            t0 = time.perf_counter()
            build_default(build)
            print(f"default build: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        rep = json.loads((build / "report.json").read_text())
        rows = []
        for cpu in CPUS:
            r = verify_qemu(build, TARGETS[cpu], samples=args.samples)
            a, b = (verify_qemu(build, TARGETS[cpu], samples=5) for _ in range(2))  # two runs: identical counts?
            key = ("instructions_per_inference", "instructions_min", "instructions_max")
            repeat = "yes" if [a[k] for k in key] == [b[k] for k in key] else "NO"
            insn_per_mac = r["instructions_per_inference"] / rep["model"]["macs"]
            rows.append(f"| {cpu} | {TARGETS[cpu].qemu_machine} | {r['flash_bytes']:,} | {r['ram_bytes']:,} | "
                        f"{r['instructions_per_inference']:,} | "
                        f"{r['instructions_min']:,} - {r['instructions_max']:,} | "
                        f"{insn_per_mac:.2f} | {r['bit_exact']:.3f} | {r['accuracy']['device']:.4f} | "
                        f"{r['accuracy']['int8']:.4f} | {repeat} | {r['seconds']:.1f} |")
            print(rows[-1], file=sys.stderr)
    m = rep["model"]
    text = "\n".join([
        "# Firmware per Cortex-M CPU (QEMU 7.2)", "",
        f"Command: `python benchmarks/firmware_per_cpu.py` at commit `{commit()}`.",
        f"Model: {m['name']} ({m['conv']}), {m['params']:,} params, {m['macs']:,} MACs, int8 test accuracy "
        f"{rep['accuracy']['int8']:.4f}; {r['samples']} golden samples per CPU.",
        f"Machine: {platform.machine()}, {subprocess.getoutput('nproc')} cores, Python {platform.python_version()}, "
        f"{subprocess.getoutput('qemu-system-arm --version').splitlines()[0]}, "
        f"{subprocess.getoutput('arm-none-eabi-gcc --version').splitlines()[0]}.",
        "",
        "Flash and RAM are the verify firmware's ELF (startup, semihosting I/O, engine, weights; RAM includes "
        "the 4 KiB stack). Instructions are counted by the edgecnn QEMU plugin from `ecnn_invoke` entry to "
        "`ecnn_mark_end`, called right after it returns, averaged over the samples (min - max shown); exact and "
        "repeatable, but QEMU is not cycle-accurate. Cortex-M0+ runs its ARMv6-M binary on the AN385 (M3) board. "
        "`-O2`; each CPU compiles its own kernel path (`ECNN_DOT_PATH` in ecnn_dot.h): Helium (MVE) on the M55, "
        "the DSP extension on the M4, M7 and M33, Thumb-1 assembly dot products on the M0+, portable C on the M3 "
        "(no CMSIS-NN).",
        "",
        "| CPU | QEMU board | flash B | RAM B | instructions / inference | min - max | instr / MAC | bit-exact "
        "| device acc | TFLM int8 acc | repeatable | QEMU s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|", *rows, ""])
    out = ROOT / "benchmarks" / "results" / "firmware_per_cpu.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
