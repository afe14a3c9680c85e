"""Regenerates every results table in one run, on one commit, then assembles BENCHMARKS.md.

    python benchmarks/run_all.py [--skip NAME ...]

Runs each measuring script in turn (each stamps its results file with the commit it ran on) and then
collect.py. Refuses to start with uncommitted changes to the code it measures: the figures must belong to a
commit. A script that fails stops the run with its exit code; the results written so far are kept.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from provenance import commit

HERE = Path(__file__).resolve().parent
SCRIPTS = (  # (name, arguments): the order collect.py lists them in
    ("cores", []),
    ("fresh_shapes", []),
    ("build_default", []),
    ("build_mnist", []),
    ("suite", []),
    ("keras_apps", []),
    ("search_goals", []),
    ("engine_vs_tflm", []),
    ("firmware_per_cpu", []),
    ("android_bundle", []),
    ("fuzz_reader", []),
    ("fuzz_engine", []),
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip", nargs="*", default=[], choices=[n for n, _ in SCRIPTS], help="scripts to leave out")
    ap.add_argument("--allow-uncommitted", action="store_true", help="measure a work tree (stamped +uncommitted)")
    a = ap.parse_args()
    rev = commit()
    if rev.endswith("+uncommitted") and not a.allow_uncommitted:
        print(f"run_all: the work tree differs from {rev.split('+')[0]}: commit first, so that the figures "
              "belong to a commit (or pass --allow-uncommitted)", file=sys.stderr)
        return 2
    for name, args in SCRIPTS:
        if name in a.skip:
            continue
        t0 = time.perf_counter()
        print(f"run_all: {name} at {rev} ...", flush=True)
        r = subprocess.run([sys.executable, str(HERE / f"{name}.py"), *args])
        print(f"run_all: {name} exit {r.returncode} in {time.perf_counter() - t0:.0f} s", flush=True)
        if r.returncode != 0:
            return r.returncode
    return subprocess.run([sys.executable, str(HERE / "collect.py")]).returncode


if __name__ == "__main__":
    raise SystemExit(main())
