"""Measures a quantized candidate: int8 outputs with the TFLM reference, and instructions per inference of its
generated engine on the emulated core (the verify firmware under QEMU, as `edgecnn verify --device qemu` runs it)."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np


def int8_outputs(int8_tflite: bytes, x_float: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inputs quantized for the model, TFLM's int8 outputs) for float inputs."""
    from deploy.convert.export import quantize_input
    from deploy.engine.tflite_reader import read_tflite
    from deploy.convert.tflm import run_tflm

    x_int8 = quantize_input(x_float, read_tflite(int8_tflite))
    out = run_tflm(int8_tflite, x_int8)
    return x_int8, out.reshape(len(x_int8), -1).astype(np.int8)


def instructions_on_core(plan, target, x_int8: np.ndarray, ref: np.ndarray, labels: np.ndarray) -> dict:
    """Write the planned engine, link the verify firmware for `target`, run `x_int8` under QEMU and compare with
    TFLM's `ref`: instructions (mean per inference; None without an emulated core), bit_exact (fraction of
    samples equal to TFLM), and engine_ram_bytes of the planned engine."""
    from deploy.engine.codegen import write_engine

    with tempfile.TemporaryDirectory(prefix="edgecnn_search_") as tmp:
        edir = Path(tmp) / "firmware" / "engine"
        write_engine(plan, edir, target)
        out = {"engine_ram_bytes": plan.description.peak_ram_bytes, "instructions": None,
               "bit_exact": None}
        if target.kind != "mcu" or not target.qemu_machine:
            return out
        from deploy.verify.qemu import verify_qemu
        from toolkit.artifacts import Build

        golden = {"inputs_int8": x_int8, "outputs_int8": ref, "labels": np.asarray(labels, dtype=np.int64)}
        build = Build(out=Path(tmp).resolve(), target=target, engine=plan.description)  # nothing read back
        result = verify_qemu(build, target, golden=golden)
    out.update(instructions=result["instructions_per_inference"], bit_exact=result["bit_exact"],
               firmware_flash_bytes=result["flash_bytes"])
    return out


__all__ = ["int8_outputs", "instructions_on_core"]
