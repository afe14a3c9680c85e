"""TensorFlow Lite Micro as the int8 reference: run a model and measure its arena with the real allocator.

TFLM runs in a child process (deploy.convert.tflm_worker): its native code aborts (SIGABRT) on some models when its
arena is too small (seen: a Keras MobileNetV2 with the old 10x-model-size arena), which used to kill the whole
build without a line of output. The child starts with an arena sized from the model and is retried with a
larger one when it runs out; a crash becomes a ModelError naming the model.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deploy.convert.tflm_worker import EXIT_ARENA_TOO_SMALL, EXIT_REFUSED
from toolkit.errors import EdgecnnError, ModelError

MAX_ARENA_BYTES = 1 << 30
HINT = "the model must be a fully int8 .tflite with ops TFLM supports"


@dataclass(frozen=True)
class ArenaUsage:
    """Bytes of the TFLM tensor arena, as the RecordingMicroAllocator reports them after an invoke."""

    total: int
    head: int  # non-persistent: activations, planned by TFLM's greedy memory planner
    tail: int  # persistent: tensor structs, quantization data, kernel buffers


def first_arena_bytes(model: bytes) -> int:
    """Where the arena search starts: room for every tensor of the model at once (an upper bound on the
    activations) plus TFLM's per-tensor bookkeeping, and never less than 1 MiB."""
    from deploy.engine.tflite_reader import read_tflite

    try:
        graph = read_tflite(bytes(model))
        tensors = sum(t.size * t.itemsize for t in graph.tensors if t.data is None)
        count = len(graph.tensors)
    except EdgecnnError:  # a model the reader refuses still goes to TFLM, which names its own problem
        tensors, count = len(model) * 4, 256
    return max(1 << 20, 2 * tensors + 256 * count)


def _in_child(model: bytes, mode: str, inputs: np.ndarray | None = None, what: str = "the model"):
    """Run the worker, growing the arena 4x at a time until it is enough (or MAX_ARENA_BYTES)."""
    arena = first_arena_bytes(model)
    with tempfile.TemporaryDirectory(prefix="edgecnn-tflm-") as tmp:
        work = Path(tmp)
        (work / "model.tflite").write_bytes(bytes(model))
        if inputs is not None:
            np.save(work / "inputs.npy", np.asarray(inputs))
        while True:
            r = subprocess.run([sys.executable, "-m", "deploy.convert.tflm_worker", str(work), str(arena), mode],
                               capture_output=True, text=True)
            if r.returncode == 0:
                return json.loads((work / "arena.json").read_text()) if mode == "measure" \
                    else np.load(work / "outputs.npy")
            said = " ".join(r.stderr.split())[-400:]
            if r.returncode == EXIT_REFUSED:
                raise ModelError(f"TensorFlow Lite Micro cannot run {what}: {said}", hint=HINT)
            crashed = r.returncode < 0
            if arena >= MAX_ARENA_BYTES:
                phases = [ln[7:] for ln in r.stdout.splitlines() if ln.startswith("phase: ")]
                how = (f"aborted ({signal.Signals(-r.returncode).name})" if crashed else "ran out of arena")
                raise ModelError(f"TensorFlow Lite Micro {how} while {phases[-1] if phases else 'starting'} "
                                 f"for {what}, with every arena from {first_arena_bytes(model):,} B to "
                                 f"{arena:,} B" + (f": {said}" if said else ""),
                                 hint="TFLM, the int8 reference, cannot run this model (an op parameter it "
                                      "rejects, such as a SOFTMAX input scale out of range, or a damaged file); "
                                      "nothing was written")
            if r.returncode not in (EXIT_ARENA_TOO_SMALL,) and not crashed:
                raise ModelError(f"the TensorFlow Lite Micro worker failed on {what} (exit {r.returncode}): {said}",
                                 hint="check that tflite-micro is installed (./install.sh)")
            arena = min(arena * 4, MAX_ARENA_BYTES)


def run_tflm(model: bytes, inputs: np.ndarray, what: str = "the model") -> np.ndarray:
    """Run every sample of `inputs` (N, *input_shape[1:]) through TFLM; returns (N, *output_shape[1:])."""
    return _in_child(model, "run", inputs, what)


def measure_arena(model: bytes, what: str = "the model") -> ArenaUsage:
    """Invoke once on zeros and read the RecordingMicroAllocator's figures (host build, 64-bit pointers)."""
    found = _in_child(model, "measure", what=what)
    if set(found) != {"total", "head", "tail"}:
        raise ModelError("TensorFlow Lite Micro did not report its arena usage; is tflite-micro installed "
                         "correctly? (./install.sh)")
    return ArenaUsage(**found)
