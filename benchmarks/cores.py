"""Benchmark: the engine against TFLM + CMSIS-NN on every emulated Cortex-M core, model by model.

For each model of the zoo (MLPerf Tiny architectures with random weights) and the default compact CNN with
each convolution kind (trained on digits), on Cortex-M0+, M4, M7, M33 and M55 (QEMU, the boards of
toolkit/targets.py): instructions per inference of the engine (QEMU plugin, ecnn_invoke to its return, mean
over the golden samples) and of TFLM with CMSIS-NN kernels from `../shared/tflm-cortex-m/` (`run_tflm.py
--cpu X --kernels cmsis`, its own plugin inside Invoke, first golden input), same model file, same board; the
ratio against each goal of issue 11 (M4/M7/M33 <= 0.5, first milestone 0.8; M55 <= 1.0; M0+ <= 0.8); and
whether the engine's outputs equal TFLM's on every golden sample on that core. QEMU counts instructions, not
cycles. The M0+ binary runs on the AN385 (M3) board. On the M4 and M7 it also ESTIMATES cycles for both: edgecnn's
QEMU plugin weights each executed instruction with the Cortex-M4 TRM timings (insn_count.c, cycles=m4); the
kit's ELF (kept with --work) is re-run on its board under that plugin between the kit's own markers.

Writes benchmarks/results/cores.md.
Usage: python benchmarks/cores.py [--models ds_cnn,...] [--cpus cortex-m4,...] [--samples N]
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provenance import commit

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ZOO = ("ds_cnn", "resnet8", "mobilenet_v1_025", "fc_autoencoder")
CONVS = ("standard", "depthwise", "grouped")
CPUS = ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55", "cortex-m0plus")
KIT_CPU = {"cortex-m0plus": "m0plus", "cortex-m4": "m4", "cortex-m7": "m7", "cortex-m33": "m33", "cortex-m55": "m55"}
GOALS = {"cortex-m4": (0.5, 0.8), "cortex-m7": (0.5, 0.8), "cortex-m33": (0.5, 0.8), "cortex-m55": (1.0, None),
         "cortex-m0plus": (0.8, None)}


def builds(tmp: Path, models: list[str], samples: int) -> dict[str, Path]:
    from suite import reference_model_build, trained_build

    out = {}
    for name in models:
        if name in ZOO:
            reference_model_build(name, tmp / name, samples=samples)
            out[f"{name} (random weights)"] = tmp / name
        else:
            trained_build("digits", name, 2, None, tmp / name, "none")
            out[f"compact_cnn {name} (digits)"] = tmp / name
    return out


def measure(build: Path, cpu: str, samples: int) -> dict:
    from deploy.verify.qemu import cpu_model, verify_qemu
    from suite import kit_cycles, kit_measure

    from deploy.devices.firmware import ModelTooLargeError
    from toolkit.targets import TARGETS

    try:
        v = verify_qemu(build, TARGETS[cpu], samples=samples, estimate_cycles=True)
    except ModelTooLargeError as exc:  # e.g. MobileNet's 46 KB of activations on a 32 KB M0+
        return dict(engine=None, exact=None, samples=0, flash=None, kit=None, kit_flash=None, note=str(exc))
    with tempfile.TemporaryDirectory(prefix="edgecnn_kit_") as work:
        kit = kit_measure(build / "model_int8.tflite", build / "golden.npz", KIT_CPU[cpu], "cmsis",
                          work=Path(work) / "kit")
        kc = kit_cycles(kit, Path(work) / "plugin") if kit and cpu_model(cpu) else None
    return dict(engine=v["instructions_per_inference"], exact=v["bit_exact"], samples=v["samples"],
                flash=v["flash_bytes"], kit=kit and kit["instructions_per_inference"],
                kit_flash=kit and kit["flash_bytes"], cycles=v.get("cycles_estimate_per_inference"),
                kit_cycles=kc and kc["cycles"])


def verdict(ratio: float | None, cpu: str) -> str:
    if ratio is None:
        return "-"
    goal, milestone = GOALS[cpu]
    if ratio <= goal:
        return f"met (<= {goal})"
    text = f"missed by {ratio / goal:.2f}x (goal {goal})"
    if milestone is not None:
        text += f"; milestone {milestone} {'met' if ratio <= milestone else 'missed'}"
    return text


def table(rows: list[dict], cpus: list[str]) -> str:
    from deploy.verify.qemu import cpu_model

    out, notes = [], []
    for cpu in cpus:
        est = cpu_model(cpu) is not None
        head = ("| model | edgecnn instr/inf (measured) | TFLM + CMSIS-NN instr/inf (measured) | instr ratio | goal | "
                + ("edgecnn cycles/inf (estimated) | TFLM + CMSIS-NN cycles/inf (estimated) | "
                   "cycle ratio (estimated) | " if est else "") + "bit-exact | edgecnn flash B | TFLM + CMSIS-NN flash B |")
        out += [f"### {cpu}", ""]
        if est:
            out += [f"Cycles: {cpu_model(cpu)}.", ""]
        out += [head, "|---|---:|---:|---:|---|" + ("---:|---:|---:|" if est else "") + "---:|---:|---:|"]
        for r in rows:
            m = r[cpu]
            if m["engine"] is None:
                out.append(f"| {r['model']} | does not fit | - | - | - |" + (" - | - | - |" if est else "")
                           + " - | - | - |")
                notes.append(f"{r['model']} on {cpu}: {m['note']}")
                continue
            ratio = m["engine"] / m["kit"] if m["kit"] else None
            cyc = ""
            if est:
                cratio = m["cycles"] / m["kit_cycles"] if m.get("cycles") and m.get("kit_cycles") else None
                cyc = (f" {m.get('cycles') and format(m['cycles'], ',') or '-'} | "
                       f"{m.get('kit_cycles') and format(m['kit_cycles'], ',') or '-'} | "
                       f"{cratio and format(cratio, '.2f') or '-'} |")
            out.append(f"| {r['model']} | {m['engine']:,} | {m['kit'] and format(m['kit'], ',') or '-'} | "
                       f"{ratio and format(ratio, '.2f') or '-'} | {verdict(ratio, cpu)} |{cyc} "
                       f"{m['exact']:.0%} of {m['samples']} | {m['flash']:,} | "
                       f"{m['kit_flash'] and format(m['kit_flash'], ',') or '-'} |")
        out.append("")
    return "\n".join(out + [f"- {n}" for n in notes])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(ZOO + CONVS))
    ap.add_argument("--cpus", default=",".join(CPUS))
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    a = ap.parse_args(argv)
    models, cpus = a.models.split(","), a.cpus.split(",")
    t0 = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgecnn_cores_") as tmp:
        for label, build in builds(Path(tmp), models, a.samples).items():
            row = {"model": label}
            for cpu in cpus:
                row[cpu] = measure(build, cpu, a.samples)
                print(label, cpu, row[cpu], flush=True)
            rows.append(row)
    cc = subprocess.run(["arm-none-eabi-gcc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    qemu = subprocess.run(["qemu-system-arm", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    md = ["# Per core: edgecnn against TFLM + CMSIS-NN", "",
          f"Command: `python benchmarks/cores.py` at commit `{commit()}` ({time.perf_counter() - t0:.0f} s). "
          f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; {cc}; {qemu}.",
          "", "Instructions per inference counted by QEMU TCG plugins inside the inference call (edgecnn: "
          "`ecnn_invoke`, mean over the golden samples; TFLM: `Invoke`, first golden input), same int8 .tflite, "
          "same emulated board. Instr ratio = edgecnn / TFLM + CMSIS-NN (lower is better; the goals apply to it). QEMU counts instructions, "
          "not cycles: Helium and DSP instructions count one each, as every other. Goals (issue 11): M4, M7, "
          "M33 <= 0.5 (first milestone 0.8); M55 <= 1.0; M0+ <= 0.8. Engine kernel paths: Helium (MVE) on the "
          "M55, DSP (SXTB16/SMLAD) on M4, M7, M33, Thumb-1 assembly dot products on the M0+. Flash: the linked verify firmware "
          "of each (edgecnn: startup, semihosting, engine, weights; TFLM: the kit's app).", "",
          "Cycles (Cortex-M4 and M7 only) are an ESTIMATE, not a measurement: the instruction counts above are "
          "exact QEMU counts, the cycle columns weight each executed instruction by its class with the timings of "
          "the Arm Cortex-M4 Technical Reference Manual (section 3.3 \"Processor instruction timings\": Table 3-1 "
          "and 3.3.2 \"Load/store timings\"), in edgecnn's QEMU plugin "
          "(`firmware_templates/qemu_plugin/insn_count.c`, `cycles=m4`): ALU and every multiply/MAC including "
          "SMLAD 1, single load 2 (1 when pipelined behind a load whose result it does not use as an address), "
          "store 1, LDRD/STRD 3, LDM/STM/PUSH/POP 1+N, SDIV/UDIV 7 (TRM: 2-12), taken branch 1+P with P = 2 "
          "(TRM: 1-3), branch not taken 1. Wait states, the address-dependency stall and interrupts are not "
          "modelled. The Cortex-M7 TRM publishes no instruction timings, so the M7 columns apply the M4 table "
          "to the M7 binaries (dual issue and branch prediction not modelled). TFLM's cycles: the kit's own "
          "ELF (`run_tflm.py --work`) re-run on the same board under edgecnn's plugin between the kit's markers "
          "(`mark_start`/`mark_stop` around the first Invoke); its instruction count there equals the kit's.", "",
          table(rows, cpus)]
    return write_results(Path(a.results) / "cores.md", md, rows, cpus)


def write_results(path: Path, md: list[str], rows: list[dict], cpus: list[str]) -> int:
    """Write the page, print it, and return 1 (naming them) where a model was not bit-exact on a core."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(md))
    print("\n".join(md))
    bad = [(r["model"], c) for r in rows for c in cpus if r[c]["exact"] is not None and r[c]["exact"] < 1.0]
    if bad:
        print(f"NOT bit-exact: {bad}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
