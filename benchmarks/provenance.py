"""Where a measurement came from: the commit it ran on, for the header of every results file."""
from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def commit() -> str:
    """Short hash of HEAD, with `+uncommitted` when tracked files differ from it (the figures then belong to
    no commit: re-run after committing)."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    # the results folder is what the scripts write: a script finishing beside another does not make it dirty
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "toolkit", "deploy", "models",
                "firmware_templates", "benchmarks", ":(exclude)benchmarks/results")
    return head + ("+uncommitted" if dirty else "")
