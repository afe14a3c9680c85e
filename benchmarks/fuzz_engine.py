"""Differential fuzzing of the engine: many random small models, each compared bit for bit with TFLM.

The generator (tests/test_codegen.py: random_model, more_ops=True) draws conv kinds, kernel sizes, strides, padding,
dilation, groups, channel counts, pools, residual adds, concatenations, pads, squeeze-and-excite gates, broadcast
adds, hard swish / sigmoid / tanh, strided slices, nearest-neighbour resizes and dense heads from a seed;
each model is quantized with random calibration data, compiled with ASan/UBSan and run on random and
extreme inputs. A failing seed is printed and must be added to REGRESSION_SEEDS in tests/test_codegen.py.

The first --builds models also go through the whole build as a user with only the .tflite would run it, without a
data set: `edgecnn build --from-model X.tflite --target cortex-m4 --verify host` (this checkout's edgecnn, seeded
random int8 golden inputs, TFLM's outputs as reference); it must exit 0 and verify bit-exact on the engine route,
or name the refused layer and take the TFLM route.
Usage: python benchmarks/fuzz_engine.py [--start 1000] [--count 500] [--seconds 1200] [--builds 8]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provenance import commit

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])


def build_without_data(tfl: bytes, work: Path) -> dict:
    """`edgecnn build --from-model X.tflite` with no data set; the route, host verification and any error."""
    model = work / "model.tflite"
    model.write_bytes(tfl)
    out = work / "out"
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "toolkit.cli", "build", "--from-model", str(model), "--target",
                        "cortex-m4", "--verify", "host", "--out", str(out)], capture_output=True, text=True,
                       timeout=900)
    row = dict(exit=r.returncode, seconds=time.perf_counter() - t0)
    if r.returncode != 0:
        lines = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
        row["error"] = (lines or ["(no output)"])[-1][:200]
        return row
    rep = json.loads((out / "report.json").read_text())
    row["route"] = rep.get("deploy_route", "engine")
    row["refused"] = rep["memory"].get("engine_refused")
    if (out / "verify.json").is_file():
        v = json.loads((out / "verify.json").read_text())
        row.update(bit_exact=v["bit_exact"], samples=v["samples"])
    return row


def main(argv=None) -> int:
    from engine_support import assert_bit_exact, quantize
    from test_codegen import random_model

    from toolkit.errors import EdgecnnError, ModelError, UnsupportedOpError

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--start", type=int, default=1000, help="first seed (CI uses the seeds below 1000)")
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=1800, help="stop after this long")
    ap.add_argument("--builds", type=int, default=8, help="models also built with `edgecnn build --from-model` "
                    "without a data set")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "fuzz_engine.md"))
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    tried, refused, failures, builds = 0, [], [], []
    for seed in range(a.start, a.start + a.count):
        if time.perf_counter() - t0 > a.seconds:
            break
        scale = float(np.random.RandomState(seed).uniform(0.3, 3))
        try:
            tfl = quantize(random_model(seed, more_ops=True), seed=100 + seed, scale=scale)
            if len(builds) < a.builds:  # before the kernel check, so a refused model is built (TFLM route) too
                with tempfile.TemporaryDirectory() as tmp:
                    builds.append(dict(seed=seed, **build_without_data(tfl, Path(tmp))))
                b = builds[-1]
                print(f"seed {seed}: edgecnn build --from-model without a data set: exit {b['exit']}, route "
                      f"{b.get('route', '-')}, bit-exact {b.get('bit_exact', '-')} of {b.get('samples', '-')}",
                      flush=True)
            with tempfile.TemporaryDirectory() as tmp:
                assert_bit_exact(tfl, Path(tmp), n=8, seed=seed)
        except (UnsupportedOpError, ModelError) as exc:  # refused on purpose (a rule, or no TFLM reference): counted
            refused.append((seed, str(exc)[:120]))
        except AssertionError as exc:
            failures.append((seed, str(exc).splitlines()[0][:200]))
            print(f"seed {seed}: NOT bit-exact: {failures[-1][1]}", flush=True)
        except EdgecnnError as exc:  # the engine did not compile or run (a bug, not a refusal)
            failures.append((seed, str(exc).splitlines()[0][:200]))
            print(f"seed {seed}: FAILED: {failures[-1][1]}", flush=True)
        tried += 1
        if tried % 25 == 0:
            print(f"{tried} models, {len(failures)} failures, {time.perf_counter() - t0:.0f} s", flush=True)
    seconds = time.perf_counter() - t0
    lines = ["# Differential fuzzing of the engine against TFLM", "",
             f"Command: `python benchmarks/fuzz_engine.py --start {a.start} --count {a.count} --seconds {a.seconds:g} "
             f"--builds {a.builds}` "
             f"at commit `{commit()}`",
             "", f"- random models tried: {tried} (seeds {a.start}..{a.start + tried - 1}), {seconds:.0f} s",
             f"- inputs per model: 8 random plus all -128, all 127 and all zeros, ASan/UBSan build",
             f"- not bit-exact or failed to compile/run: {len(failures)}" + (": " + ", ".join(str(s) for s, _ in failures) if failures else ""),
             f"- refused by the engine with a clear error (not failures): {len(refused)}"]
    lines += [f"  - seed {s}: {msg}" for s, msg in refused[:10]]
    good = [b for b in builds if b["exit"] == 0 and (b.get("route") == "tflm" or b.get("bit_exact") == 1.0)]
    lines += ["", f"`edgecnn build --from-model X.tflite --target cortex-m4 --verify host` without a data set, on the "
              f"first {len(builds)} models: {len(good)} built and verified (engine route bit-exact on every golden "
              "sample, or the TFLM route with the refused layer named).", "",
              "| seed | exit | route | host bit-exact | samples | build s | error / refused layer |",
              "|---:|---:|---|---:|---:|---:|---|"]
    def pct(v) -> str:
        return "-" if v is None else f"{v:.0%}"

    lines += [f"| {b['seed']} | {b['exit']} | {b.get('route', '-')} | {pct(b.get('bit_exact'))} | "
              f"{b.get('samples', '-')} | {b['seconds']:.0f} | {b.get('error') or b.get('refused') or ''} |"
              for b in builds]
    Path(a.results).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if failures or len(good) < len(builds) else 0


if __name__ == "__main__":
    raise SystemExit(main())
