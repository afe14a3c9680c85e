"""The machine-readable description of a generated engine (engine.json beside the C): what readers need, never scraped.

    desc = describe(plan, target)               # from the engine plan code generation holds in memory
    write_description(desc, "build/x/firmware/engine")   # engine.json, byte-identical from run to run
    desc = read_description("build/x/firmware/engine")   # for a reader of a build folder on disk

Readers (firmware, the verifiers, the Arduino library, the search) take the EngineDescription object; the
#defines in edgecnn_model.h are for the C compiler only.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from deploy.engine.templates import write_generated
from toolkit.errors import ModelError, OutputError

FILE_NAME = "engine.json"
FORMAT = 1  # bumped when a key changes meaning; a reader refuses another format


@dataclass(frozen=True)
class TensorInfo:
    """The engine's input or output: shape, values, element type and its quantization (real = scale * (q - zp))."""

    shape: tuple[int, ...]
    size: int
    dtype: str
    scale: float | None = None
    zero_point: int | None = None


@dataclass(frozen=True)
class EngineDescription:
    """One generated engine: its input and output, its RAM and flash figures, the kernels it calls, the target."""

    input: TensorInfo
    output: TensorInfo
    num_classes: int
    labels: tuple[str, ...]
    arena_bytes: int
    scratch_bytes: int
    peak_ram_bytes: int  # arena + scratch: all the RAM the engine needs
    weight_bytes: int
    const_bytes: int  # every constant array: weights, multipliers, shifts, tables (the largest kernel path's)
    ops: tuple[str, ...]  # the model's op types the engine runs, sorted
    kernels: tuple[str, ...]  # the C kernels it calls, sorted
    files: tuple[str, ...]  # the engine's files (C, headers)
    target: str | None = None  # the --target it was generated for (the C itself chooses kernels per core)
    steps: int = 0
    format: int = FORMAT
    extra: dict = field(default_factory=dict)
    const_bytes_by_path: dict = field(default_factory=dict)  # per toolkit.targets.Target.kernel_path

    def to_dict(self) -> dict:
        return asdict(self)

    def const_bytes_for(self, target) -> int:
        """The constants compiled for `target` (a Target): its kernel path's figure."""
        return const_bytes_for(self, target)


def const_bytes_for(engine, target) -> int:
    """The constants an engine (EngineDescription or codegen's EngineInfo: const_bytes, const_bytes_by_path)
    compiles for `target` (a toolkit.targets.Target): its kernel path's figure, else the largest."""
    return int(engine.const_bytes_by_path.get(target.kernel_path, engine.const_bytes))


def _tensor(t, dtype: str | None) -> TensorInfo:
    """The engine's view of a model input or output: its element type (the int8 core's, or float32 where the
    engine quantizes or dequantizes itself) and the int8 core's quantization."""
    q = t.quant
    scale = float(q.scale[0]) if q is not None and len(q.scale) else None
    zp = int(q.zero_point[0]) if q is not None and len(q.zero_point) else None
    return TensorInfo(shape=tuple(int(d) for d in t.shape), size=int(t.size), dtype=dtype or str(t.dtype),
                      scale=scale, zero_point=zp)


def describe(graph, info, labels, files, steps: int, target=None) -> EngineDescription:
    """The description of an engine planned for `graph` (deploy.engine.codegen's EngineInfo `info`); `target` is a
    toolkit.targets.Target or its name (None: not generated for a particular target)."""
    inp, out = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    return EngineDescription(
        input=_tensor(inp, getattr(info, "input_type", None)),
        output=_tensor(out, getattr(info, "output_type", None)), num_classes=int(out.size),
        labels=tuple(str(x) for x in labels),
        arena_bytes=int(info.arena_bytes), scratch_bytes=int(info.scratch_bytes),
        peak_ram_bytes=int(info.peak_ram_bytes), weight_bytes=int(info.weight_bytes),
        const_bytes=int(info.const_bytes),
        const_bytes_by_path={k: int(v) for k, v in getattr(info, "const_bytes_by_path", {}).items()},
        ops=tuple(sorted({o["op"] for o in info.ops})),
        kernels=tuple(sorted({o["kernel"] for o in info.ops if o.get("kernel") and o["kernel"] != "alias"})),
        files=tuple(files), target=getattr(target, "name", target), steps=int(steps))


def for_target(desc: EngineDescription, target) -> EngineDescription:
    """The same description, generated for `target` (a Target or its name)."""
    from dataclasses import replace

    return replace(desc, target=getattr(target, "name", target))


def write_description(desc: EngineDescription, engine_dir: Path) -> Path:
    """engine.json in engine_dir (sorted keys, so byte-identical from run to run; left as it is when unchanged)."""
    path = Path(engine_dir) / FILE_NAME
    try:
        write_generated(path, json.dumps(desc.to_dict(), indent=1, sort_keys=True) + "\n")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}",
                          hint="check the output folder's permissions and free space") from None
    return path


def from_dict(d: dict, where: str = "engine.json") -> EngineDescription:
    """An EngineDescription from engine.json's dict; a ModelError naming the file when it is not one."""
    try:
        if d.get("format") != FORMAT:
            raise ValueError(f"format {d.get('format')!r}, this edgecnn reads format {FORMAT}")
        names = {f.name for f in fields(EngineDescription)}
        vals = {k: v for k, v in d.items() if k in names}
        for k in ("input", "output"):
            t = dict(vals[k])
            t["shape"] = tuple(t["shape"])
            vals[k] = TensorInfo(**t)
        for k in ("labels", "ops", "kernels", "files"):
            vals[k] = tuple(vals[k])
        return EngineDescription(**vals)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{where} is not an edgecnn engine description ({exc})",
                         hint="regenerate the engine with this version of edgecnn (edgecnn build)") from None


def read_description(engine_dir: Path) -> EngineDescription:
    """The engine.json of an engine folder written by code generation."""
    path = Path(engine_dir) / FILE_NAME
    try:
        d = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelError(f"{path} does not exist", hint="regenerate the engine with this version of edgecnn "
                                                        "(edgecnn build)") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}", hint="regenerate the engine (edgecnn build)") from None
    if not isinstance(d, dict):
        raise ModelError(f"{path} is not an edgecnn engine description", hint="regenerate the engine (edgecnn build)")
    return from_dict(d, str(path))


__all__ = ["EngineDescription", "TensorInfo", "const_bytes_for", "describe", "for_target", "write_description",
           "read_description", "from_dict", "FILE_NAME"]
