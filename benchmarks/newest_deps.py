"""Runs the test suite on the newest dependency versions pyproject.toml's ranges allow (not the lock).

    python benchmarks/newest_deps.py [--keep DIR] [-- PYTEST ARGS]

Makes a throw-away virtual environment, installs `.[full,test]` without requirements.lock (so pip takes the
newest releases inside the ranges), lists every package whose version differs from the lock, runs pytest,
and writes benchmarks/results/newest_deps.md. A failure here is the early warning that the next
`./install.sh --relock` would break something; CI always tests the lock.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import provenance

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "newest_deps.md"
LOCK_TEST = "tests/test_packaging.py::test_running_environment_is_the_lock"


def _lock_versions() -> dict[str, set[str]]:
    pins: dict[str, set[str]] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", line)
        if m:
            pins.setdefault(_norm(m.group(1)), set()).add(m.group(2))
    return pins


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    print("$", " ".join(map(str, cmd)), flush=True)
    return subprocess.run(cmd, text=True, **kw)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", type=Path, help="make the environment here and keep it (default: a temporary one)")
    ap.add_argument("pytest_args", nargs="*", default=["-q", "--deselect", LOCK_TEST],
                    help="arguments for pytest (after --); by default all tests but the one that checks that the "
                         "environment is the lock's, which cannot hold here")
    args = ap.parse_args()
    commit = provenance.commit()
    with tempfile.TemporaryDirectory(prefix="edgecnn-newest-") as tmp:
        venv = args.keep or Path(tmp) / "venv"
        _run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        py = venv / "bin" / "python"
        t0 = time.time()
        r = _run([str(py), "-m", "pip", "install", "--quiet", "--upgrade", "--disable-pip-version-check",
                  "-e", f"{ROOT}[full,test]"])
        if r.returncode != 0:
            _write(commit, f"**pip could not install the newest versions** (exit {r.returncode}).", [], "-")
            return 1
        frozen = _run([str(py), "-m", "pip", "list", "--format=freeze"], capture_output=True, check=True).stdout
        lock = _lock_versions()
        newer = []
        for line in frozen.splitlines():
            name, _, version = line.partition("==")
            if _norm(name) in lock and version not in lock[_norm(name)]:
                newer.append(f"{name} {version} (lock {', '.join(sorted(lock[_norm(name)]))})")
        tests = _run([str(py), "-m", "pytest", *args.pytest_args], cwd=ROOT, capture_output=True)
        tail = [ln for ln in tests.stdout.strip().splitlines() if ln.strip()][-1:] or ["(no output)"]
        verdict = "passed" if tests.returncode == 0 else f"**failed** (exit {tests.returncode})"
        sys.stdout.write(tests.stdout[-5000:])
        _write(commit, f"Tests on the newest versions: {verdict}: `{tail[0]}`", newer, f"{time.time() - t0:.0f}")
        return tests.returncode


def _write(commit: str, verdict: str, newer: list[str], seconds: str) -> None:
    lines = ["# Newest dependency versions", "",
             f"Command: `python benchmarks/newest_deps.py` at commit `{commit}` ({seconds} s, Python "
             f"{sys.version.split()[0]}). It installs `.[full,test]` from pyproject.toml's ranges, without the "
             "lock, and runs the test suite but `test_running_environment_is_the_lock`; CI runs it all on "
             "`requirements.lock`.", "", verdict, "",
             "Packages newer than the lock:" if newer else "Every package is at the lock's version.", ""]
    lines += [f"- {n}" for n in newer]
    RESULT.write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    sys.exit(main())
