"""Verifies a build on an emulated Cortex-M: builds the verify firmware, runs the golden inputs in QEMU, compares.

    result = verify_qemu("build/compact_cnn", TARGETS["cortex-m4"], samples=100)

The result has the verify.json keys (deploy.verify.common.VERIFY_KEYS) plus cpu, board, qemu_machine,
instructions_min/max, mismatched_samples and first_mismatch. instructions_per_inference is the mean over
the samples of the instructions from ecnn_invoke's entry to its return (counted by a QEMU TCG plugin, so
the same on every run); flash_bytes and ram_bytes come from the ELF (RAM includes the reserved stack).
With estimate_cycles (the default; Cortex-M4 and M7 only, else None), cycles_estimate_per_inference is the
mean of the plugin's cycle ESTIMATE (each executed instruction weighted with the Cortex-M4 TRM timings, see
insn_count.c) and cycles_estimate_model names the timing model; instructions stay the exact count.
"""
from __future__ import annotations

from deploy.devices.firmware import build_firmware, firmware_dir, mcu_target
from deploy.devices.qemu import build_plugin, run_verify_firmware
from deploy.devices.toolchain import ram_parts
from deploy.verify.common import compare_outputs, select_samples
from toolkit.artifacts import Build, load_build
from toolkit.errors import ModelError
from toolkit.targets import Target, get_board

# Default time limit: generous for 2 shared cores (QEMU runs this firmware at 50-300 M instructions/s).
BASE_TIMEOUT_S = 60.0
INSNS_PER_MAC = 12  # reference kernels on ARMv6-M, the slowest case
SLOW_MIPS = 30e6
# The plugin's cycle weights are the Cortex-M4 TRM's (firmware_templates/qemu_plugin/insn_count.c); the M7 TRM
# publishes no per-instruction timings, so the M7 estimate uses the same table (its dual issue is not modelled).
CYCLE_MODELS = {
    "cortex-m4": "Cortex-M4 TRM instruction timings, estimate",
    "cortex-m7": "Cortex-M4 TRM instruction timings applied to the Cortex-M7 binary (the M7 TRM publishes no "
                 "instruction timings; dual issue not modelled), estimate",
}


def default_timeout(build: Build, samples: int) -> float:
    """Seconds for one QEMU run of `samples` inferences, from the model's MACs in the build's report."""
    macs = build.macs or 1_000_000
    return BASE_TIMEOUT_S + samples * macs * INSNS_PER_MAC / SLOW_MIPS


def verify_qemu(build_dir, cpu: Target, samples: int | None = None, timeout: float | None = None,
                board: dict | str | None = None, count_instructions: bool = True, golden: dict | None = None,
                estimate_cycles: bool = True) -> dict:
    """Run the golden inputs of `build_dir` (a toolkit.artifacts.Build, or a build folder read through its
    loader; or `golden`, a record like golden.npz's from deploy.verify.inputs) through the engine on QEMU's model
    of `cpu` (a Cortex-M Target); compare with TFLM."""
    build = build_dir if isinstance(build_dir, Build) else load_build(build_dir)
    build_dir = build.out  # absolute: QEMU runs in a temporary folder
    target = mcu_target(cpu)
    golden = golden if golden is not None else select_samples(build.golden, samples)
    brd = get_board(target, board if board is not None else build.board)
    fw = build_firmware(build_dir, target, brd, modes=("verify",), engine=build.engine,
                        rendered=build.firmware.get(firmware_dir(build_dir, target, brd), False), golden=build.golden)
    n_in = int(golden["inputs_int8"][0].size) if len(golden["inputs_int8"]) else 0
    if n_in != fw.engine.input.size:
        raise ModelError(f"the inputs have {n_in} values but the engine of {build_dir} takes "
                         f"{fw.engine.input.size}", hint="rebuild: the engine and golden.npz are out of step")
    plugin = build_plugin(build_dir / "firmware" / "qemu_plugin") if count_instructions else None
    n = len(golden["inputs_int8"])
    limit = float(timeout) if timeout is not None else default_timeout(build, n)
    run = run_verify_firmware(fw.elves["verify"], brd, golden["inputs_int8"], fw.engine.output.size,
                              limit, plugin,
                              cycles=bool(plugin is not None and estimate_cycles and cpu_model(target.name)))
    result = compare_outputs(golden, run.outputs, f"qemu:{target.name}")
    counts = run.instructions
    result.update(
        flash_bytes=fw.sizes["verify"]["flash_bytes"], ram_bytes=fw.sizes["verify"]["ram_bytes"],
        instructions_per_inference=int(round(sum(counts) / len(counts))) if counts else None,
        instructions_min=min(counts) if counts else None, instructions_max=max(counts) if counts else None,
        cpu=target.name, board=brd.name, qemu_machine=brd.qemu_machine, seconds=round(run.seconds, 3),
        ram_parts=ram_parts(fw.sizes["verify"], fw.engine.peak_ram_bytes),
    )
    if estimate_cycles:
        cyc = run.cycles
        result.update(cycles_estimate_per_inference=int(round(sum(cyc) / len(cyc))) if cyc else None,
                      cycles_estimate_model=cpu_model(target.name) or f"no cycle model for {target.name}")
    result["caveats"] = ([target.qemu_note] if target.qemu_note else []) + [
        "QEMU counts instructions exactly but models no pipeline, caches or wait states: instructions per "
        "inference are not cycles"]
    return result


def cpu_model(cpu: str) -> str | None:
    """The label of the cycle model the plugin applies on `cpu`, or None (no estimate for that core)."""
    return CYCLE_MODELS.get(cpu)


__all__ = ["verify_qemu", "default_timeout", "cpu_model", "CYCLE_MODELS"]
