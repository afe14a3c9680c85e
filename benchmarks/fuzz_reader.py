"""Fuzzing the .tflite reader with hypothesis: mutated real models must parse or raise ModelFileError,
and a model that parses must be planned by the code generator or refused with an edgecnn error.

Seeds are real int8 models (the compact CNN in each conv kind and two MLPerf Tiny architectures); each
example truncates, flips, overwrites or splices bytes. Any other exception (IndexError, struct.error,
MemoryError, a hang past the deadline) is a finding.
Usage: python benchmarks/fuzz_reader.py [--examples 20000]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from provenance import commit

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def seed_models() -> list[bytes]:
    from deploy.convert.quantize import to_int8_tflite
    from engine_vs_tflm import build_model
    from models.compact import build

    import numpy as np

    cal = np.random.default_rng(0).random((8, 8, 8, 1), dtype=np.float32)
    seeds = [to_int8_tflite(build((8, 8, 1), 10, conv=c), cal) for c in ("standard", "depthwise", "grouped")]
    return seeds + [build_model("ds_cnn"), build_model("fc_autoencoder")]


def mutate(data: bytes, ops: list[tuple[int, int, int]]) -> bytes:
    buf = bytearray(data)
    for kind, pos, val in ops:
        if not buf:
            break
        pos %= len(buf)
        if kind == 0:
            buf[pos] = val
        elif kind == 1:
            del buf[pos:]
        elif kind == 2:
            buf[pos:pos + 4] = val.to_bytes(1, "little") * 4
        else:
            buf[pos:pos] = bytes([val]) * (val % 16 + 1)
    return bytes(buf)


def main(argv=None) -> int:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from deploy.engine.codegen import plan_engine
    from deploy.engine.tflite_reader import read_tflite
    from toolkit.errors import EdgecnnError, ModelFileError

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=20000)
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "fuzz_reader.md"))
    a = ap.parse_args(argv)
    models = seed_models()
    counts = {"parsed": 0, "rejected": 0, "planned": 0, "refused": 0}

    @settings(max_examples=a.examples, deadline=2000, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.integers(0, len(models) - 1),
           st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1,
                    max_size=8))
    def fuzz(which, ops):
        try:
            graph = read_tflite(mutate(models[which], ops))
            counts["parsed"] += 1
        except ModelFileError:
            counts["rejected"] += 1
            return
        try:  # a model that parses must also be planned or refused with our own error, never crash codegen
            plan_engine(graph)
            counts["planned"] += 1
        except EdgecnnError:
            counts["refused"] += 1

    t0 = time.perf_counter()
    finding = None
    try:
        fuzz()
    except Exception as exc:  # hypothesis re-raises the shrunk failing example: that is the finding
        import traceback

        frames = traceback.extract_tb(exc.__traceback__)[-3:]
        where = "; ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in frames)
        finding = f"{type(exc).__name__}: {str(exc)[:300]} (at {where})"
    seconds = time.perf_counter() - t0
    total = counts["parsed"] + counts["rejected"]
    lines = ["# Fuzzing the .tflite reader", "", f"Command: `python benchmarks/fuzz_reader.py --examples {a.examples}` at commit `{commit()}`",
             "", f"- inputs tried: {total} mutations of {len(models)} real models in {seconds:.0f} s",
             f"- parsed: {counts['parsed']}, rejected with ModelFileError: {counts['rejected']}",
             f"- of the parsed ones, planned by the engine code generator: {counts['planned']}, refused with "
             f"an edgecnn error: {counts['refused']}",
             f"- other exceptions (findings): {finding or 'none'}"]
    Path(a.results).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if finding else 0


if __name__ == "__main__":
    raise SystemExit(main())
