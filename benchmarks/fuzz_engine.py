"""Differential fuzzing of the engine: many random small models, each compared bit for bit with TFLM.

The generator (tests/test_codegen.py: random_model, more_ops=True) draws conv kinds, kernel sizes, strides, padding,
dilation, groups, channel counts, pools, residual adds, concatenations, pads, squeeze-and-excite gates, broadcast
adds, hard swish / sigmoid / tanh, strided slices, nearest-neighbour resizes and dense heads from a seed;
each model is quantized with random calibration data, compiled with ASan/UBSan and run on random and
extreme inputs. A failing seed is printed and must be added to REGRESSION_SEEDS in tests/test_codegen.py.
Usage: python benchmarks/fuzz_engine.py [--start 1000] [--count 500] [--seconds 1200]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from provenance import commit

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv=None) -> int:
    from engine_support import assert_bit_exact, quantize
    from test_codegen import random_model

    from toolkit.errors import EdgecnnError

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--start", type=int, default=1000, help="first seed (CI uses the seeds below 1000)")
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=1800, help="stop after this long")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "fuzz_engine.md"))
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    tried, refused, failures = 0, [], []
    for seed in range(a.start, a.start + a.count):
        if time.perf_counter() - t0 > a.seconds:
            break
        scale = float(np.random.RandomState(seed).uniform(0.3, 3))
        try:
            tfl = quantize(random_model(seed, more_ops=True), seed=100 + seed, scale=scale)
            with tempfile.TemporaryDirectory() as tmp:
                assert_bit_exact(tfl, Path(tmp), n=8, seed=seed)
        except EdgecnnError as exc:  # a model the engine refuses on purpose is not a failure, but is counted
            refused.append((seed, str(exc)[:120]))
        except AssertionError as exc:
            failures.append((seed, str(exc).splitlines()[0][:200]))
            print(f"seed {seed}: NOT bit-exact: {failures[-1][1]}", flush=True)
        tried += 1
        if tried % 25 == 0:
            print(f"{tried} models, {len(failures)} failures, {time.perf_counter() - t0:.0f} s", flush=True)
    seconds = time.perf_counter() - t0
    lines = ["# Differential fuzzing of the engine against TFLM", "",
             f"Command: `python benchmarks/fuzz_engine.py --start {a.start} --count {a.count} --seconds {a.seconds:g}` "
             f"at commit `{commit()}`",
             "", f"- random models tried: {tried} (seeds {a.start}..{a.start + tried - 1}), {seconds:.0f} s",
             f"- inputs per model: 8 random plus all -128, all 127 and all zeros, ASan/UBSan build",
             f"- not bit-exact: {len(failures)}" + (": " + ", ".join(str(s) for s, _ in failures) if failures else ""),
             f"- refused by the engine with a clear error (not failures): {len(refused)}"]
    lines += [f"  - seed {s}: {msg}" for s, msg in refused[:10]]
    Path(a.results).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
