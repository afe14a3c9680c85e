"""Exports a build's engine as an Arduino library (for "Sketch > Include Library > Add .ZIP Library"):
library.properties, src/ with the generated engine (C, with C++ guards in its headers), and examples/ClassifyGolden/
with a sketch that classifies a golden input and prints the label and the time per inference; zipped beside it.

    folder, archive = write_arduino_library("build/compact_cnn")   # build/compact_cnn/arduino/EdgeCNN{,.zip}
"""
from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import numpy as np

from deploy.engine.c_format import GENERATED_HEADER, c_int_array_body
from deploy.engine.description import EngineDescription, read_description
from deploy.devices.firmware import engine_dir, ensure_engine
from deploy.engine.templates import render
from toolkit.errors import OutputError

LIBRARY = "EdgeCNN"
EXAMPLE = "ClassifyGolden"


def library_name(model: str) -> str:
    """An Arduino library name (letters, digits, underscores) for a model."""
    return LIBRARY + "_" + re.sub(r"[^A-Za-z0-9_]", "_", model) if model else LIBRARY


def _model_name(build_dir: Path) -> str:
    import json

    try:
        return str(json.loads((build_dir / "report.json").read_text())["model"]["name"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def write_arduino_library(build_dir, out: Path | None = None, version: str = "0.1.0", *,
                          engine: EngineDescription | None = None, model: str | None = None,
                          golden: dict | None = None) -> tuple[Path, Path]:
    """<out or build/arduino>/EdgeCNN_<model>/ and its .zip; returns (folder, zip). The build passes its engine's
    description, model name and golden arrays; without them they are read from the folder (engine.json,
    report.json, golden.npz)."""
    build_dir = Path(build_dir)
    edir = engine_dir(build_dir) if engine is not None else ensure_engine(build_dir)
    out = Path(out) if out is not None else build_dir / "arduino"
    engine = engine if engine is not None else read_description(edir)
    model = model if model is not None else _model_name(build_dir)
    name = library_name(model)
    if golden is None:
        with np.load(build_dir / "golden.npz") as g:
            golden = {k: g[k] for k in ("inputs_int8", "outputs_int8")}
    x = np.asarray(golden["inputs_int8"][0], dtype=np.int8).reshape(-1)
    expected = int(np.argmax(np.asarray(golden["outputs_int8"][0]).reshape(-1)))
    sketch = render("arduino/ClassifyGolden.ino.j2", header=GENERATED_HEADER.replace("/*", "//").split("*/")[0].rstrip(),
                    sample=0, expected=expected, input_body=c_int_array_body([int(v) for v in x]))
    props = render("arduino/library.properties.j2", library=name, version=version, model=model or "the model",
                   peak_ram=engine.peak_ram_bytes, weights=engine.weight_bytes)
    folder = out / name
    try:
        if folder.exists():
            shutil.rmtree(folder)
        (folder / "src").mkdir(parents=True)
        (folder / "examples" / EXAMPLE).mkdir(parents=True)
        for f in sorted(edir.iterdir()):
            if f.is_file() and f.suffix in (".c", ".h"):
                shutil.copyfile(f, folder / "src" / f.name)
        (folder / "library.properties").write_text(props)
        (folder / "examples" / EXAMPLE / f"{EXAMPLE}.ino").write_text(sketch)
        archive = out / f"{name}.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(folder.rglob("*")):
                if f.is_file():  # fixed dates: the same build gives the same archive
                    info = zipfile.ZipInfo(f.relative_to(out).as_posix(), date_time=(2020, 1, 1, 0, 0, 0))
                    z.writestr(info, f.read_bytes(), zipfile.ZIP_DEFLATED)
    except OSError as exc:
        raise OutputError(f"cannot write the Arduino library into {out}: {exc.strerror}",
                          hint="check the output folder's permissions and free space") from None
    return folder, archive


__all__ = ["write_arduino_library", "library_name"]
