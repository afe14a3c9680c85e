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


def corrupt_second_conv(build: Path) -> None:
    """Flip the first weight of the second convolution in a build's generated engine to the other int8
    extreme, so that verification must fail there (conv_2d_1, op 1)."""
    import re

    src = Path(build) / "firmware" / "engine" / "edgecnn_model.c"
    text = src.read_text()
    m = re.search(r"static const int8_t (conv_2d_1_filter)\[\d+\] = \{\n    (-?\d+),", text)
    assert m, "the second convolution's filter array was not found"
    src.write_text(text[:m.start(2)] + str(127 if int(m.group(2)) < 0 else -128) + text[m.end(2):])
