"""Benchmark suite: edgecnn against the Keras -> TFLite -> TFLM flow on the model zoo, in one command.

For each MLPerf Tiny reference architecture (random weights, BatchNorm calibrated on random data) and for
the default compact CNN trained on digits with each convolution kind, it measures: params, MACs, int8
.tflite size, the TFLM arena (total/head/tail, RecordingMicroAllocator), edgecnn's peak RAM and its ratio
to the arena, flash of the Cortex-M4 firmware (arm-none-eabi-size), instructions per inference on the
emulated Cortex-M4 (QEMU plugin), instructions per inference on the host for the engine and for TFLM's
reference kernels (valgrind callgrind, same input), the bit-exact fraction against TFLM on the device, and
for the trained models accuracy float / int8 / device. Then the weight-sharing table: the compact family
on digits and shapes, standard vs depthwise-separable vs grouped (2 and 4 groups) at equal width.

Writes benchmarks/results/suite.md and suite.png.
Usage: python benchmarks/suite.py [--quick]   (--quick: two small models and one epoch, as CI runs it)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from provenance import commit

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

GOAL_RAM_RATIO = 0.5
GOAL_INSTR_RATIO = 1 / 3
KIT = ROOT.parent / "shared" / "tflm-cortex-m"  # TFLM prebuilt for the emulated cores (see its README)


def kit_measure(tflite: Path, golden: Path, cpu: str = "m4", kernels: str = "cmsis",
                work: Path | None = None) -> dict | None:
    """The peer on the same emulated core: TFLM + CMSIS-NN from the kit, first golden input. Its arena is the
    least that works on the 32-bit target; instructions are counted inside Invoke by the kit's QEMU plugin.
    With `work`, the kit keeps its build there and the result names the ELF ("elf"), for kit_cycles."""
    script = KIT / "run_tflm.py"
    if not script.is_file():
        print(f"warning: no TFLM kit at {KIT}: the TFLM + CMSIS-NN columns stay empty", file=sys.stderr)
        return None
    r = subprocess.run([sys.executable, str(script), str(tflite), "--cpu", cpu, "--kernels", kernels,
                        "--input", str(golden), *(["--work", str(work)] if work is not None else [])],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"warning: the TFLM kit failed on {tflite.name}: {r.stderr.strip()[-400:]}", file=sys.stderr)
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


def kit_cycles(kit: dict, plugin_dir: Path, timeout: float = 600.0) -> dict:
    """Re-run the kit's ELF (kit_measure with `work`) on its QEMU board, exactly as run_tflm.py runs it, under
    edgecnn's plugin with the cycle estimate, between the kit's own markers (mark_start, mark_stop around
    Invoke). Returns the first Invoke's instructions (must equal the kit's count) and estimated cycles."""
    from deploy.devices.toolchain import symbol_address
    from deploy.devices.qemu import build_plugin, parse_cycles, plugin_args

    elf = Path(kit["elf"])
    plugin = build_plugin(plugin_dir)
    start, stop = symbol_address(elf, "mark_start"), symbol_address(elf, "mark_stop")
    log = elf.parent / "edgecnn_plugin.log"
    log.unlink(missing_ok=True)
    r = subprocess.run(["qemu-system-arm", "-M", kit["machine"], "-display", "none", "-monitor", "none", "-serial",
                        "null", "-semihosting-config", "enable=on,target=native", "-kernel", str(elf),
                        "-plugin", f"{plugin},{plugin_args(start, stop, cycles=True)}", "-d", "plugin", "-D", str(log)],
                       capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    text = log.read_text() if log.is_file() else ""
    insns = [int(x) for x in re.findall(r"^edgecnn-insns (\d+)$", text, re.M)]
    cycles = parse_cycles(text)
    if r.returncode != 0 or not insns or not cycles:
        raise RuntimeError(f"QEMU with edgecnn's plugin failed on the kit's {elf} ({r.returncode}): "
                           f"{(r.stdout + r.stderr)[-400:]}")
    if insns[0] != kit["instructions_per_inference"]:
        raise RuntimeError(f"edgecnn's plugin counted {insns[0]} instructions in the kit's first Invoke, the kit's "
                           f"own plugin {kit['instructions_per_inference']}: the markers differ")
    return dict(instructions=insns[0], cycles=cycles[0])


def host_instructions(tflite: bytes, x: np.ndarray, engine_dir: Path, work: Path) -> tuple[int, int]:
    """(engine, TFLM reference) instructions for one inference on the host, both counted by callgrind."""
    import shutil

    from deploy.engine.templates import TEMPLATE_DIR
    from deploy.verify.host import CFLAGS
    from engine_vs_tflm import TFLM_INVOKE, TFLM_SCRIPT, callgrind

    shutil.copy(TEMPLATE_DIR / "engine" / "host_main.c", work / "host_main.c")
    exe = work / "ecnn_host"
    subprocess.run(["gcc", *CFLAGS, "-g", "-I", str(engine_dir), *map(str, sorted(engine_dir.glob("*.c"))),
                    str(work / "host_main.c"), "-o", str(exe)], check=True)
    x[:1].astype(np.int8).tofile(work / "one.bin")
    engine = callgrind([str(exe), str(work / "one.bin"), str(work / "one_out.bin")], "ecnn_invoke", work)
    (work / "model.tflite").write_bytes(tflite)
    np.save(work / "x.npy", x[0])
    (work / "tflm_once.py").write_text(TFLM_SCRIPT)
    tflm = callgrind([sys.executable, str(work / "tflm_once.py"), str(work / "model.tflite"), str(work / "x.npy")],
                     TFLM_INVOKE, work)
    return engine, tflm


def golden_build(tfl: bytes, out: Path, samples: int):
    """A build folder for an int8 model: the model, `samples` seeded random int8 golden inputs with TFLM's outputs,
    and the engine; returns (graph, plan)."""
    from deploy.engine.codegen import plan_engine, write_engine
    from deploy.engine.tflite_reader import read_tflite
    from deploy.convert.tflm import run_tflm

    graph = read_tflite(tfl)
    out.mkdir(parents=True)
    (out / "model_int8.tflite").write_bytes(tfl)
    shape = graph.tensors[graph.inputs[0]].shape[1:]
    x = np.random.default_rng(1).integers(-128, 128, (samples, *shape)).astype(np.int8)
    ref = run_tflm(tfl, x).reshape(samples, -1)
    np.savez(out / "golden.npz", inputs_int8=x, outputs_int8=ref, labels=np.argmax(ref, axis=1))
    plan = plan_engine(graph)
    write_engine(plan, out / "firmware" / "engine")
    return graph, plan


def reference_model_build(name: str, out: Path, samples: int) -> dict:
    """A build folder for a random-weight reference model: int8 model, golden inputs with TFLM outputs, report."""
    from deploy.report.report import build_report, write_report
    from deploy.convert.tflm import measure_arena
    from engine_vs_tflm import build_model

    tfl = build_model(name)
    graph, plan = golden_build(tfl, out, samples)
    report = build_report(graph, name=name, conv=None, tflite_bytes=len(tfl), arena=measure_arena(tfl),
                          accuracy={"float": None, "int8": None}, engine_ram=plan.info.peak_ram_bytes,
                          engine_flash=plan.info.const_bytes, target="cortex-m4")
    write_report(report, out)
    return report


def trained_build(dataset: str, conv: str, groups: int, epochs: int | None, out: Path, verify: str) -> dict:
    from toolkit.config import BuildConfig
    from toolkit.pipeline import run

    cfg = BuildConfig(target="cortex-m4", dataset=dataset, conv=conv, groups=groups, out=str(out), verify=verify,
                      **({"epochs": epochs} if epochs else {}))
    t0 = time.perf_counter()
    result = run(cfg, log=lambda line: None)
    rep = dict(result.report)
    rep["seconds"] = round(time.perf_counter() - t0, 1)
    return rep


def measure_row(label: str, build: Path, rep: dict, callgrind_on: bool) -> dict:
    from deploy.verify.qemu import verify_qemu
    from toolkit.targets import TARGETS

    v = verify_qemu(build, TARGETS["cortex-m4"])
    m, mem = rep["model"], rep["memory"]
    row = dict(model=label, params=m["params"], macs=m["macs"], tflite=mem["tflite_bytes"],
               arena=mem["tflm_arena_bytes"], head=mem["tflm_arena_head_bytes"], tail=mem["tflm_arena_tail_bytes"],
               ram=mem["peak_ram_bytes"], flash_m4=v["flash_bytes"], m4_instr=v["instructions_per_inference"],
               bit_exact=v["bit_exact"], samples=v["samples"], acc_float=rep["accuracy"].get("float"),
               acc_int8=rep["accuracy"].get("int8"), acc_device=v["accuracy"]["device"] if rep["accuracy"].get(
                   "int8") is not None else None, host_engine=None, host_tflm=None)
    kit = kit_measure(build / "model_int8.tflite", build / "golden.npz")
    row.update(kit_arena=kit and kit["arena_bytes"], kit_instr=kit and kit["instructions_per_inference"],
               kit_flash=kit and kit["flash_bytes"], kit_exact=kit and kit["outputs_equal_python"])
    if callgrind_on:
        g = np.load(build / "golden.npz")
        with tempfile.TemporaryDirectory() as tmp:
            row["host_engine"], row["host_tflm"] = host_instructions(
                (build / "model_int8.tflite").read_bytes(), g["inputs_int8"], build / "firmware" / "engine",
                Path(tmp))
    print(json.dumps(row), flush=True)
    return row


def _n(v, fmt="{:,}"):
    return "-" if v is None else fmt.format(v)


def memory_speed_tables(rows: list[dict]) -> str:
    """RAM against TFLM's arena on the 32-bit target and against its activations; speed against TFLM +
    CMSIS-NN on the same emulated Cortex-M4."""
    mem = ["| model | edgecnn peak RAM B | TFLM arena on M4 B (32-bit, least working) | ratio | TFLM activations "
           "B (arena head) | ratio |", "|---|" + "---:|" * 5]
    speed = ["| model | edgecnn M4 instr/inf | TFLM + CMSIS-NN M4 instr/inf | ratio (lower is better) | "
             "edgecnn M4 flash B | TFLM + CMSIS-NN M4 flash B |", "|---|" + "---:|" * 5]
    for r in rows:
        arena32 = r.get("kit_arena")
        mem.append(f"| {r['model']} | {_n(r['ram'])} | {_n(arena32)} | "
                   f"{_n(arena32 and r['ram'] / arena32, '{:.2f}')} | {_n(r['head'])} | "
                   f"{_n(r['head'] and r['ram'] / r['head'], '{:.2f}')} |")
        ki = r.get("kit_instr")
        speed.append(f"| {r['model']} | {_n(r['m4_instr'], '{:,.0f}')} | {_n(ki)} | "
                     f"{_n(ki and r['m4_instr'] / ki, '{:.2f}')} | {_n(r['flash_m4'])} | {_n(r.get('kit_flash'))} |")
    return "\n".join(["### RAM", "", *mem, "", "### Speed on the emulated Cortex-M4 (QEMU mps2-an386)", "", *speed])


def main_table(rows: list[dict]) -> str:
    lines = ["| model | params | MACs | int8 .tflite B | TFLM arena B (head/tail) | edgecnn peak RAM B | RAM ratio "
             "| M4 flash B | M4 instr/inf | host instr engine | host instr TFLM ref | instr ratio | bit-exact "
             "| acc float / int8 / device |", "|---|" + "---:|" * 12 + "---|"]
    for r in rows:
        ratio = r["ram"] / r["arena"]
        ir = r["host_engine"] / r["host_tflm"] if r["host_engine"] and r["host_tflm"] else None
        ram_goal = "" if ratio <= GOAL_RAM_RATIO else f" (goal {GOAL_RAM_RATIO}: missed by {ratio - GOAL_RAM_RATIO:.2f})"
        ir_goal = "" if ir is None or ir <= GOAL_INSTR_RATIO else f" (goal <= 0.33: missed, {1 / ir:.2f}x fewer)"
        acc = ("-" if r["acc_int8"] is None else
               f"{r['acc_float']:.4f} / {r['acc_int8']:.4f} / {r['acc_device']:.4f}")
        lines.append(f"| {r['model']} | {_n(r['params'])} | {_n(r['macs'])} | {_n(r['tflite'])} | "
                     f"{_n(r['arena'])} ({_n(r['head'])}/{_n(r['tail'])}) | {_n(r['ram'])} | {ratio:.2f}{ram_goal} | "
                     f"{_n(r['flash_m4'])} | {_n(r['m4_instr'], '{:,.0f}')} | {_n(r['host_engine'])} | "
                     f"{_n(r['host_tflm'])} | {_n(ir, '{:.2f}')}{ir_goal} | {r['bit_exact']:.0%} of {r['samples']} | "
                     f"{acc} |")
    return "\n".join(lines)


def sharing_table(rows: list[dict]) -> str:
    lines = ["| data set | conv | params | MACs | edgecnn peak RAM B | M4 flash B | accuracy float / int8 / device |",
             "|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['conv']} | {r['params']:,} | {r['macs']:,} | {r['ram']:,} | "
                     f"{_n(r['flash_m4'])} | {r['acc_float']:.4f} / {r['acc_int8']:.4f} / {r['acc_device']:.4f} |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["model"] for r in rows]
    ram = [r["ram"] / r["arena"] for r in rows]
    ins = [r["host_engine"] / r["host_tflm"] if r["host_engine"] and r["host_tflm"] else 0 for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    ax.bar(x - 0.2, ram, 0.4, label="peak RAM / TFLM arena")
    ax.bar(x + 0.2, ins, 0.4, label="instructions / TFLM reference kernels")
    ax.axhline(GOAL_RAM_RATIO, color="tab:blue", ls="--", lw=1, label="RAM goal 0.5")
    ax.axhline(GOAL_INSTR_RATIO, color="tab:orange", ls="--", lw=1, label="instruction goal 0.33")
    ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("edgecnn / TFLM (lower is better)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": "edgecnn"})
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="two small models, one epoch, no sharing table")
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--convs-only", action="store_true",
                    help="only the trained compact CNN rows (to re-measure after a kernel change)")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    a = ap.parse_args(argv)
    results = Path(a.results)
    results.mkdir(parents=True, exist_ok=True)
    ref_models = ["ds_cnn", "fc_autoencoder"] if a.quick else ["ds_cnn", "resnet8", "mobilenet_v1_025",
                                                                 "fc_autoencoder"]
    if a.convs_only:
        ref_models = []
    convs = ["standard"] if a.quick else ["standard", "depthwise", "grouped"]
    epochs = 1 if a.quick else None
    t0 = time.perf_counter()
    rows, sharing = [], []
    with tempfile.TemporaryDirectory(prefix="edgecnn_suite_") as tmp:
        tmp = Path(tmp)
        for name in ref_models:
            rep = reference_model_build(name, tmp / name, samples=3 if a.quick else 10)
            rows.append(measure_row(name + " (random weights)", tmp / name, rep, not a.no_callgrind))
        for conv in convs:
            out = tmp / f"digits_{conv}"
            rep = trained_build("digits", conv, 2, epochs, out, "none")
            rows.append(measure_row(f"compact_cnn {conv} (digits)", out, rep, not a.no_callgrind))
        if not (a.quick or a.convs_only):
            for dataset in ("digits", "shapes"):
                for conv, groups in (("standard", 2), ("depthwise", 2), ("grouped", 2), ("grouped", 4)):
                    out = tmp / f"share_{dataset}_{conv}{groups}"
                    rep = trained_build(dataset, conv, groups, epochs, out, "none")
                    r = measure_row(f"{dataset} {conv}", out, rep, False)
                    sharing.append(dict(r, dataset=dataset, conv=conv if conv != "grouped" else f"grouped ({groups})"))
    seconds = time.perf_counter() - t0
    versions = ", ".join(f"{p} {version(p)}" for p in ("tensorflow-cpu", "tflite-micro", "ai-edge-litert"))
    cc = subprocess.run(["arm-none-eabi-gcc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    qemu = subprocess.run(["qemu-system-arm", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    flag = " --quick" if a.quick else " --convs-only" if a.convs_only else ""
    run_flags = flag + (" --no-callgrind" if a.no_callgrind else "")
    md = [f"# edgecnn benchmark suite{flag.replace(' --', ' (') + ')' if flag else ''}", "",
          f"Command: `python benchmarks/suite.py{run_flags}` at commit `{commit()}` ({seconds:.0f} s). "
          f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; {versions}; "
          f"{cc}; {qemu}.", "",
          "RAM ratio = edgecnn peak RAM / TFLM arena total (host-measured, 64-bit structs). Instruction ratio = "
          "engine / TFLM reference kernels, both on the host under callgrind (engine gcc -O2). M4 instructions: "
          "QEMU mps2-an386 plugin count inside ecnn_invoke (firmware -O2). Bit-exact: device int8 outputs equal "
          "TFLM's on every golden sample. TFLM + CMSIS-NN: the prebuilt TFLM of `../shared/tflm-cortex-m/` "
          "(`run_tflm.py --cpu m4 --kernels cmsis`, first golden input), same model file, same emulated board; "
          "edgecnn's M4 instructions are the mean over the golden samples.", "",
          memory_speed_tables(rows), "", "### Everything measured", "", main_table(rows), ""]
    if sharing:
        md += ["## Weight sharing: the compact family at equal width", "", sharing_table(sharing), ""]
    stem = "suite_quick" if a.quick else "suite_convs" if a.convs_only else "suite"
    (results / f"{stem}.md").write_text("\n".join(md))
    plot(rows, results / f"{stem}.png")
    print("\n".join(md))
    bad = [r["model"] for r in rows + sharing if r["bit_exact"] < 1.0]
    if bad:
        print(f"NOT bit-exact: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
