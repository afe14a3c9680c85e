"""TensorFlow Lite Micro as the int8 reference: run a model and measure its arena with the real allocator."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from toolkit.capture import capture_fds
from toolkit.errors import ModelError

_ARENA_LINE = re.compile(r"Arena allocation (total|head|tail) (\d+) bytes")


@dataclass(frozen=True)
class ArenaUsage:
    """Bytes of the TFLM tensor arena, as the RecordingMicroAllocator reports them after an invoke."""

    total: int
    head: int  # non-persistent: activations, planned by TFLM's greedy memory planner
    tail: int  # persistent: tensor structs, quantization data, kernel buffers


def _interpreter(model: bytes, arena_size: int | None = None):
    from tflite_micro.python.tflite_micro import runtime

    try:
        with capture_fds() as log:
            return runtime.Interpreter.from_bytes(bytes(model), arena_size=arena_size or max(len(model) * 10, 1 << 20))
    except (RuntimeError, ValueError) as exc:
        raise ModelError(f"TensorFlow Lite Micro cannot load the model: {exc}. {''.join(log).strip()[-300:]}",
                         hint="the model must be a fully int8 .tflite with ops TFLM supports") from None


def run_tflm(model: bytes, inputs: np.ndarray) -> np.ndarray:
    """Run every sample of `inputs` (N, *input_shape[1:]) through TFLM; returns (N, *output_shape[1:])."""
    interp = _interpreter(model)
    in_shape = tuple(interp.get_input_details(0)["shape"])
    dtype = interp.get_input_details(0)["dtype"]
    outs = []
    for x in inputs:
        interp.set_input(np.asarray(x, dtype=dtype).reshape(in_shape), 0)
        try:
            interp.invoke()
        except RuntimeError as exc:
            raise ModelError(f"TensorFlow Lite Micro failed to invoke the model: {exc}") from None
        outs.append(np.array(interp.get_output(0))[0])
    return np.stack(outs) if outs else np.zeros((0,), dtype=np.int8)


def measure_arena(model: bytes) -> ArenaUsage:
    """Invoke once on zeros and read the RecordingMicroAllocator's figures (host build, 64-bit pointers)."""
    interp = _interpreter(model)
    d = interp.get_input_details(0)
    interp.set_input(np.zeros(tuple(d["shape"]), dtype=d["dtype"]), 0)
    interp.invoke()
    with capture_fds() as log:
        interp.print_allocations()
    found = {k: int(v) for k, v in _ARENA_LINE.findall(log[0])}
    if set(found) != {"total", "head", "tail"}:
        raise ModelError("TensorFlow Lite Micro did not report its arena usage; is tflite-micro installed "
                         "correctly? (pip install tflite-micro)")
    return ArenaUsage(**found)
