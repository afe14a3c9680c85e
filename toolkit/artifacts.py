"""One object per build (report, engine description and plan, golden arrays, Target, Board, paths), handed forward.

The build's stages fill a Build in memory and the deploy functions take it; nothing reads back what another
module wrote in the same process. `edgecnn verify OUT` and `edgecnn report OUT` (and `edgecnn flash OUT` when it
must build the board's firmware) read a build folder from disk, all through load_build (report.json,
firmware/engine/engine.json, golden.npz).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.errors import ConfigError, OutputError
from toolkit.targets import ALIASES, Board, Target, get_target

DEFAULT_CPU = "cortex-m4"  # a folder whose report names no Cortex-M target is verified on this one


@dataclass
class Build:
    """A build: where it lives, what it was built for, and the artifacts that later stages and verifiers need."""

    out: Path
    target: Target
    board: Board | dict | str | None = None  # None: the target's own board
    report: dict = field(default_factory=dict)
    engine: Any = None  # deploy.engine.description.EngineDescription; None when the engine refused the model
    plan: Any = None  # deploy.engine.codegen.EnginePlan, in the process that planned it
    golden: dict | None = None  # inputs_int8, outputs_int8[, outputs_float, labels, class_labels]
    int8_tflite: bytes | None = None  # the int8 model, in the process that exported it
    firmware: dict = field(default_factory=dict)  # firmware folder -> True once its board files are rendered

    @property
    def engine_dir(self) -> Path:
        return self.out / "firmware" / "engine"

    @property
    def model_file(self) -> Path:
        return self.out / "model_int8.tflite"

    @property
    def golden_file(self) -> Path:
        return self.out / "golden.npz"

    @property
    def macs(self) -> int | None:
        """The model's MACs from the report (None without one)."""
        try:
            return int(self.report["model"]["macs"]) or None
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def mcu_target(self) -> Target:
        """The build's Cortex-M target, or cortex-m4 for a build for the host, Arduino or a folder without a report:
        the CPU `--device qemu` runs on when none is named."""
        return self.target if self.target.kind == "mcu" else get_target(DEFAULT_CPU)


def read_report(out: Path) -> dict:
    """report.json of a build folder; an OutputError naming the folder when it is missing or unreadable."""
    path = Path(out) / "report.json"
    if not path.is_file():
        raise OutputError(f"{out} has no report.json", hint="give a folder written by `edgecnn build`")
    try:
        rep = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise OutputError(f"{path} is not valid JSON: {exc}", hint="re-run edgecnn build") from None
    if not isinstance(rep, dict):
        raise OutputError(f"{path} is not an edgecnn report", hint="rebuild the folder with `edgecnn build`")
    return rep


def _report_target(rep: dict) -> Target:
    name = rep.get("target") or (rep.get("model") or {}).get("target") or DEFAULT_CPU
    try:
        return get_target(ALIASES.get(name, name))
    except ConfigError:  # a report from another version names a target this one lacks: verify as the default
        return get_target(DEFAULT_CPU)


def load_build(out_dir, *, need_report: bool = False) -> Build:
    """A build folder as a Build: its report (required with need_report, else {} when absent), the engine's
    engine.json when the folder has an engine, golden.npz when present, and the target the report names. The
    verifiers select the samples they run from build.golden."""
    out = Path(out_dir).resolve()  # QEMU and compilers run in other folders: no relative paths
    if not out.is_dir():
        raise OutputError(f"{out_dir} is not a folder", hint="give the output folder of `edgecnn build`")
    rep = read_report(out) if need_report or (out / "report.json").is_file() else {}
    build = Build(out=out, target=_report_target(rep), report=rep)
    from deploy.engine.description import FILE_NAME, read_description

    if (build.engine_dir / FILE_NAME).is_file():
        build.engine = read_description(build.engine_dir)
    if build.golden_file.is_file():
        build.golden = read_golden(out)
    return build


def read_golden(out) -> dict:
    """golden.npz of a build folder: inputs_int8 and outputs_int8 (TFLM's), and outputs_float, labels and
    class_labels when the build had them; an OutputError naming the file when it is missing or incomplete."""
    import zipfile

    import numpy as np

    path = Path(out) / "golden.npz"
    if not path.is_file():
        raise OutputError(f"{path} does not exist", hint="point at the output folder of `edgecnn build`")
    try:
        with np.load(path) as g:
            data = {k: g[k] for k in g.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise OutputError(f"cannot read {path}: {exc}", hint="rebuild with `edgecnn build`") from None
    for key in ("inputs_int8", "outputs_int8"):  # labels are absent when the build had no data set
        if key not in data:
            raise OutputError(f"{path} has no {key!r} array", hint="rebuild with this version of edgecnn")
    return data


__all__ = ["Build", "load_build", "read_report", "read_golden", "DEFAULT_CPU"]
