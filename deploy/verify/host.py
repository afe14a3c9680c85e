"""Verifies a build's generated C engine on the host: compile with gcc, run the golden inputs, compare bit for bit."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from deploy.engine.description import EngineDescription, read_description
from deploy.engine.templates import TEMPLATE_DIR
from deploy.devices.toolchain import HOST_CFLAGS, SANITIZE, SIZE_CPU, object_sizes, run_tool
from toolkit.errors import ToolchainError, VerificationError
from toolkit.targets import Target, get_target

CFLAGS = list(HOST_CFLAGS)  # the host build's flags (deploy.devices.toolchain owns them)


def _run(cmd: list[str], what: str, cwd: Path | None = None, timeout: int = 600,
         env: dict | None = None) -> subprocess.CompletedProcess:
    """deploy.devices.toolchain.run_tool, and a ToolchainError when the command fails."""
    r = run_tool(cmd, what, cwd=cwd, timeout=timeout, env=env)
    if r.returncode != 0:
        raise ToolchainError(f"{what} failed ({' '.join(cmd[:1])} exit {r.returncode}): "
                             f"{(r.stderr or r.stdout).strip()[-1500:]}",
                             hint="the generated C must compile cleanly; report this as an edgecnn bug")
    return r


def compile_host(engine_dir: Path, work: Path, sanitize: bool = False, cc: str = "gcc", debug: bool = False) -> Path:
    """Build engine_dir/*.c plus the host runner into work/ecnn_host; returns the executable.

    debug: also define ECNN_DEBUG_AFTER_OP so that every op's output goes to the file named by $ECNN_DEBUG_DUMP.
    """
    if shutil.which(cc) is None:
        raise ToolchainError(f"the host C compiler '{cc}' is not installed, so the engine cannot be verified on "
                             "the host", hint="install gcc (Debian/Ubuntu: apt-get install gcc)")
    engine_dir = Path(engine_dir)
    sources = sorted(engine_dir.glob("*.c"))
    if not (engine_dir / "edgecnn_model.c").is_file():
        raise VerificationError(f"{engine_dir} holds no generated engine (edgecnn_model.c is missing)",
                                hint="run `edgecnn build` first")
    src = work / "src"
    src.mkdir(parents=True, exist_ok=True)
    for f in sorted(engine_dir.glob("*.[ch]")):
        shutil.copy(f, src / f.name)
    shutil.copy(TEMPLATE_DIR / "engine" / "host_main.c", src / "host_main.c")
    extra = []
    if debug:
        for name in ("debug_hook.h", "debug_dump.c"):
            shutil.copy(TEMPLATE_DIR / "engine" / name, src / name)
        extra = ["-include", str(src / "debug_hook.h"), str(src / "debug_dump.c")]
    exe = work / "ecnn_host"
    cmd = [cc, *CFLAGS, *(SANITIZE if sanitize else []), "-I", str(src),
           *[str(src / s.name) for s in sources], str(src / "host_main.c"), *extra, "-o", str(exe)]
    _run(cmd, "compiling the engine for the host")
    return exe


def run_host(exe: Path, inputs: np.ndarray, output_size: int, work: Path, env: dict | None = None) -> np.ndarray:
    """Run the host executable on int8 inputs (N, ...); returns (N, output_size) int8."""
    inp, out = work / "inputs.bin", work / "outputs.bin"
    np.ascontiguousarray(inputs, dtype=np.int8).tofile(inp)
    _run([str(exe), str(inp), str(out)], "running the engine on the host", env=env)
    y = np.fromfile(out, dtype=np.int8)
    if y.size != len(inputs) * output_size:
        raise VerificationError(f"the host engine wrote {y.size} values for {len(inputs)} inputs of "
                                f"{output_size} outputs each")
    return y.reshape(len(inputs), output_size)


def arm_size(engine_dir: Path, work: Path, target: Target | None = None) -> dict | None:
    """text/data/bss of the engine objects built for `target`'s CPU (Cortex-M4 by default) with -Os (None without
    arm-none-eabi-gcc); deploy.devices.toolchain.object_sizes."""
    return object_sizes(engine_dir, work, target if target is not None else get_target(SIZE_CPU))


def compare(device: np.ndarray, reference: np.ndarray, ref_float: np.ndarray | None, labels: np.ndarray | None,
            ref_int8_for_accuracy: np.ndarray | None = None) -> dict:
    """The verify.json comparison figures for device outputs against the reference outputs."""
    n = len(device)
    dev = device.reshape(n, -1).astype(np.int64)
    ref = reference.reshape(n, -1).astype(np.int64)
    equal = np.all(dev == ref, axis=1)
    res = dict(samples=int(n), bit_exact=float(equal.mean()) if n else 0.0,
               max_abs_diff_lsb=int(np.abs(dev - ref).max()) if n else 0,
               top1_agreement_int8=float(np.mean(dev.argmax(1) == ref.argmax(1))) if n else 0.0,
               top1_agreement_float=None)
    acc = dict(float=None, int8=None, device=None)
    if ref_float is not None and len(ref_float):
        f = np.asarray(ref_float).reshape(n, -1)
        res["top1_agreement_float"] = float(np.mean(dev.argmax(1) == f.argmax(1)))
    if labels is not None and len(labels) and np.asarray(labels).ndim == 1:
        lab = np.asarray(labels).astype(np.int64)
        acc["device"] = float(np.mean(dev.argmax(1) == lab))
        acc["int8"] = float(np.mean(ref.argmax(1) == lab))
        if ref_float is not None and len(ref_float):
            acc["float"] = float(np.mean(np.asarray(ref_float).reshape(n, -1).argmax(1) == lab))
    res["accuracy"] = acc
    if not equal.all():
        i = int(np.argmin(equal))
        res["first_mismatch"] = dict(sample=i, output=dev[i].tolist(), expected=ref[i].tolist())
    return res


def verify_host(out_dir: Path, samples: int | None = None, sanitize: bool = False,
                golden: dict | None = None, engine: EngineDescription | None = None,
                target: Target | None = None) -> dict:
    """Compile <out>/firmware/engine with gcc, run <out>/golden.npz's inputs (or `golden`, a record like it from
    deploy.verify.inputs), return the verify.json dict. `engine`: the engine's description (by default its
    engine.json). flash_bytes: the engine's objects compiled for `target`'s CPU (the build's; Cortex-M4 when it
    has no compiler flags, e.g. --target host)."""
    out_dir = Path(out_dir)
    engine_dir = out_dir / "firmware" / "engine"
    if golden is None:
        golden_file = out_dir / "golden.npz"
        if not golden_file.is_file():
            raise VerificationError(f"{golden_file} does not exist",
                                    hint="run `edgecnn build` (export writes golden.npz)")
        with np.load(golden_file) as z:
            data = {k: z[k] for k in z.files}
        for key in ("inputs_int8", "outputs_int8"):
            if key not in data:
                raise VerificationError(f"{golden_file} has no '{key}'", hint="re-run `edgecnn build` to re-export it")
    else:
        data = {k: v for k, v in golden.items() if v is not None}
    if not engine_dir.is_dir():
        raise VerificationError(f"{engine_dir} does not exist", hint="run `edgecnn build` with code generation")
    n = len(data["inputs_int8"]) if samples is None else max(0, min(int(samples), len(data["inputs_int8"])))
    x = data["inputs_int8"][:n]
    ref = data["outputs_int8"][:n]
    with tempfile.TemporaryDirectory(prefix="edgecnn_verify_") as tmp:
        work = Path(tmp)
        exe = compile_host(engine_dir, work, sanitize=sanitize)
        desc = engine if engine is not None else read_description(engine_dir)
        dev = run_host(exe, x, desc.output.size, work)
        sizes = arm_size(engine_dir, work, target)
    res = dict(device="host")
    res.update(compare(dev, ref, data.get("outputs_float", None)[:n] if "outputs_float" in data else None,
                       data["labels"][:n] if "labels" in data else None))
    res["flash_bytes"] = (sizes["text"] + sizes["data"]) if sizes else None
    res["ram_bytes"] = desc.peak_ram_bytes
    res["instructions_per_inference"] = None
    res["ram_parts"] = {"engine_activations": res["ram_bytes"]}
    cpu = sizes["cpu"] if sizes else (target.name if target is not None else SIZE_CPU)
    res["caveats"] = ["host: RAM is the engine's activation arena alone (no firmware, no stack); flash is the "
                      f"engine's objects compiled for {cpu}, not a linked firmware"]
    order = ["device", "samples", "bit_exact", "max_abs_diff_lsb", "top1_agreement_int8", "top1_agreement_float",
             "accuracy", "flash_bytes", "ram_bytes", "ram_parts", "instructions_per_inference", "first_mismatch",
             "caveats"]
    return {k: res[k] for k in order if k in res}


def _read_dump(path: Path) -> dict[int, np.ndarray]:
    """The records ecnn_debug_dump wrote: step -> that op's output bytes as int8."""
    raw = path.read_bytes() if path.is_file() else b""
    out, pos = {}, 0
    while pos + 8 <= len(raw):
        step, n = np.frombuffer(raw[pos:pos + 8], dtype=np.int32)
        out[int(step)] = np.frombuffer(raw[pos + 8:pos + 8 + int(n)], dtype=np.int8).copy()
        pos += 8 + int(n)
    return out


def first_differing_layer(build_dir: Path, sample_index: int = 0, inputs: np.ndarray | None = None,
                          model: bytes | None = None, engine: EngineDescription | None = None) -> dict | None:
    """The first op whose output in the generated engine differs from TFLM's on one golden input (or one of
    `inputs`, int8, when given). `model` and `engine`: the int8 .tflite's bytes and the engine's description when
    the caller holds them (the build does); else they are read from the folder.

    Builds the engine of <build_dir>/firmware/engine with ECNN_DEBUG_AFTER_OP dumping every op's output,
    runs TFLM (reference kernels) on <build_dir>/model_int8.tflite with all tensors preserved, and compares
    op by op in model order (only tensors the engine materialises; RESHAPEs compare their storage).
    Returns None when every op agrees, else {op_index, name, op, tensor, max_abs_diff, mismatches, size}.
    """
    from deploy.engine.tflite_reader import read_tflite

    build_dir = Path(build_dir)
    edir = build_dir / "firmware" / "engine"
    model_file = build_dir / "model_int8.tflite"
    golden = build_dir / "golden.npz"
    for f in (*((model_file,) if model is None else ()), edir / "edgecnn_model.c",
              *((golden,) if inputs is None else ())):
        if not f.is_file():
            raise VerificationError(f"{f} does not exist", hint="run `edgecnn build` first")
    if inputs is None:
        with np.load(golden) as z:
            inputs = z["inputs_int8"]
    if not 0 <= sample_index < len(inputs):
        raise VerificationError(f"sample {sample_index} is out of range: the inputs hold {len(inputs)}")
    x = inputs[sample_index:sample_index + 1]
    out_size = (engine if engine is not None else read_description(edir)).output.size
    with tempfile.TemporaryDirectory(prefix="edgecnn_debug_") as tmp:
        work = Path(tmp)
        exe = compile_host(edir, work, debug=True)
        run_host(exe, x, out_size, work, env={"ECNN_DEBUG_DUMP": str(work / "dump.bin")})
        dumps = _read_dump(work / "dump.bin")

    from tflite_micro.python.tflite_micro import runtime

    data = model if model is not None else model_file.read_bytes()
    interp = runtime.Interpreter.from_bytes(data, arena_size=max(len(data) * 10, 1 << 20),
                                            intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    d = interp.get_input_details(0)
    interp.set_input(np.asarray(x[0], dtype=d["dtype"]).reshape(tuple(d["shape"])), 0)
    interp.invoke()
    graph = read_tflite(data)
    for step, op in enumerate(graph.operators):
        if step not in dumps:  # fused into a later op: the tensor never exists in the engine
            continue
        t = op.outputs[0]
        ref = np.asarray(interp.GetTensor(t, 0)["tensor_data"]).reshape(-1).astype(np.int64)
        got = dumps[step].astype(np.int64)
        if got.size != ref.size or np.any(got != ref):
            diff = np.abs(got - ref) if got.size == ref.size else np.array([256])
            return dict(op_index=step, name=op.name, op=op.op, tensor=graph.tensors[t].name,
                        max_abs_diff=int(diff.max()), mismatches=int(np.count_nonzero(diff)), size=int(ref.size))
    return None
