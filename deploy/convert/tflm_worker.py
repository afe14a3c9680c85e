"""The child process that runs TensorFlow Lite Micro for deploy.convert.tflm: `python -m deploy.convert.tflm_worker DIR ARENA MODE`.

DIR holds model.tflite (and inputs.npy for MODE run); the worker writes outputs.npy (run) or arena.json
(measure) there. Exit status: 0 done; 3 TFLM refused the model (message on stderr); 4 the arena was too small
(deploy.convert.tflm retries with a larger one). A native abort ends the process by a signal, which deploy.convert.tflm
reports as a crash instead of losing the whole build to it.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

EXIT_REFUSED = 3
EXIT_ARENA_TOO_SMALL = 4
_ARENA_LINE = re.compile(r"Arena allocation (total|head|tail) (\d+) bytes")
_TOO_SMALL = re.compile(r"Failed to allocate|arena size is too small|Failed to resize buffer|"
                        r"AllocateTensors\(\) failed", re.I)
_ARENA_SHORT = re.compile(r"Failed to allocate (?!tensors)|arena size is too small|Failed to resize buffer", re.I)


def _fail(code: int, message: str) -> None:
    sys.stderr.write(message.strip()[-600:] + "\n")
    sys.exit(code)


def _phase(what: str) -> None:
    """Tell the parent what the worker is doing, so that a native crash can be placed."""
    sys.stdout.write(f"phase: {what}\n")
    sys.stdout.flush()


def main(argv: list[str]) -> None:
    from tflite_micro.python.tflite_micro import runtime

    from toolkit.capture import capture_fds

    work, arena, mode = Path(argv[0]), int(argv[1]), argv[2]
    model = (work / "model.tflite").read_bytes()
    _phase("loading the model and allocating its tensors")
    try:
        with capture_fds() as log:
            interp = runtime.Interpreter.from_bytes(model, arena_size=arena)
    except (RuntimeError, ValueError) as exc:
        native = "".join(log)
        text = native + str(exc)
        # an op's Prepare refusing its tensors (CONCATENATION of different scales) also ends in "failed to allocate
        # tensors": not the arena's fault unless an allocator message says so
        # nor is an op TFLM has no kernel for ("Didn't find op for builtin opcode 'TILE'")
        too_small = _ARENA_SHORT.search(text) or (_TOO_SMALL.search(text)
                                                  and not re.search(r"failed to prepare|didn't find op", text, re.I))
        code = EXIT_ARENA_TOO_SMALL if too_small else EXIT_REFUSED
        _fail(code, f"{exc}. {native}")
    d = interp.get_input_details(0)
    shape, dtype = tuple(d["shape"]), d["dtype"]
    _phase("invoking the model")
    if mode == "measure":
        interp.set_input(np.zeros(shape, dtype=dtype), 0)
        interp.invoke()
        with capture_fds() as log:
            interp.print_allocations()
        found = {k: int(v) for k, v in _ARENA_LINE.findall(log[0])}
        (work / "arena.json").write_text(json.dumps(found))
        return
    inputs = np.load(work / "inputs.npy")
    outs = []
    for x in inputs:
        interp.set_input(np.asarray(x, dtype=dtype).reshape(shape), 0)
        try:
            with capture_fds() as log:
                interp.invoke()
        except RuntimeError as exc:
            _fail(EXIT_REFUSED, f"invoke failed: {exc}. {''.join(log)}")
        outs.append(np.array(interp.get_output(0))[0])
    np.save(work / "outputs.npy", np.stack(outs) if outs else np.zeros((0,), dtype=np.int8))


if __name__ == "__main__":
    main(sys.argv[1:])
