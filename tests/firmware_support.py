"""Helpers shared by the firmware tests: a private copy of the session's trained build to build firmware in."""
from __future__ import annotations

import shutil
from pathlib import Path

ARTIFACTS = ("model_int8.tflite", "golden.npz", "report.json")


def copy_build(src: Path, dest: Path) -> Path:
    """The artifacts the firmware stages read, copied so that firmware/ is written only into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ARTIFACTS:
        shutil.copy(Path(src) / name, dest / name)
    return dest
