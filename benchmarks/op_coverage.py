"""Benchmark: which of TensorFlow Lite Micro's int8 builtin ops the generated engine runs, derived, not typed.

TFLM's ops come from its op resolver, tensorflow/lite/micro/micro_mutable_op_resolver.h (each
`AddXxx(... = Register_YYY())` with its `BuiltinOperator_ZZZ`), read from a tflite-micro source tree. An op counts
as an int8 op of TFLM when its reference kernel handles int8: the Eval function that `Register_YYY()` passes to
`RegisterOp` in tensorflow/lite/micro/kernels/*.cc, or a function of its own files it calls (three deep), names
`kTfLiteInt8` or `int8_t`, or copies bytes whatever the type (memcpy, TfLiteTypeGetSize: RESHAPE, SQUEEZE, ...). The ops the installed `tflite-micro` Python package registers (edgecnn's reference:
the `Register_*` symbols of its _runtime.so) are listed beside. The engine's ops are the registry in
deploy/engine/ops/ (the op registry): the ops with an emitter, each with its conditions;
the float32 QUANTIZE / DEQUANTIZE at a model's input / output run in the engine's ecnn_run
(deploy/graph_passes.float_io). The TFLM fallback column says whether edgecnn's TFLM arrays
(deploy/tflm_codegen.RESOLVER_METHODS) register the op.

Writes benchmarks/results/op_coverage.md.
Usage: python benchmarks/op_coverage.py [--tflm-src CHECKOUT | --tflm-git GITDIR [--tflm-rev REV]]
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from provenance import commit  # noqa: E402

RESOLVER = "tensorflow/lite/micro/micro_mutable_op_resolver.h"
KERNELS = "tensorflow/lite/micro/kernels"
INT8 = re.compile(r"\bkTfLiteInt8\b")
ANY_TYPE = re.compile(r"\bmemcpy\b|\bTfLiteTypeGetSize\b|\bEvalTensorBytes\b|\bdata\.raw\b")  # bytes, any type
KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "static_cast", "reinterpret_cast", "const_cast"}


class Source:
    """Files of a tflite-micro tree: a checkout (--tflm-src) or a git directory at a revision (--tflm-git)."""

    def __init__(self, src: str | None, git: str | None, rev: str):
        self.src, self.git, self.rev = (Path(src) if src else None), git, rev

    def _git(self, *args) -> str:
        return subprocess.run(["git", "--git-dir", self.git, *args], capture_output=True, text=True,
                              check=True).stdout

    def read(self, path: str) -> str:
        return (self.src / path).read_text() if self.src else self._git("show", f"{self.rev}:{path}")

    def kernel_files(self) -> list[str]:
        if self.src:
            return sorted(str(p.relative_to(self.src)) for p in (self.src / KERNELS).glob("*.cc"))
        names = self._git("ls-tree", "--name-only", f"{self.rev}:{KERNELS}").split()
        return [f"{KERNELS}/{n}" for n in names if n.endswith(".cc")]

    def describe(self) -> str:
        if self.src:
            r = subprocess.run(["git", "-C", str(self.src), "rev-parse", "HEAD"], capture_output=True, text=True)
            return f"checkout {self.src}" + (f" at {r.stdout.strip()}" if r.returncode == 0 else "")
        return f"tensorflow/tflite-micro at {self._git('rev-parse', self.rev).strip()}"


def resolver_ops(text: str) -> dict[str, str]:
    """BuiltinOperator name -> the Register_ function its AddXxx method uses by default."""
    ops = {}
    for m in re.finditer(r"Add\w+\(\s*const TFLMRegistration& registration\s*=\s*(?:tflite::)?(Register_\w+)\(\)\)"
                         r"\s*\{\s*return AddBuiltin\(BuiltinOperator_(\w+)", text):
        ops[m.group(2)] = m.group(1)
    for m in re.finditer(r"return AddBuiltin\(BuiltinOperator_(\w+),\s*(?:tflite::)?(?:\w+::)*(Register_\w+)\(\)",
                         text):
        ops.setdefault(m.group(1), m.group(2))
    return ops


def _body(text: str, start: int) -> str:
    """The brace-balanced block that starts at the first '{' from start."""
    i = text.find("{", start)
    if i < 0:
        return ""
    depth = 0
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j + 1]
    return text[i:]


def _definitions(files: dict[str, str], name: str) -> list[tuple[str, str]]:
    """(file, body) of every definition (not declaration) of a function called `name`."""
    pat = re.compile(rf"(?m)^[\w:<>,\s\*&]*\b{re.escape(name)}\s*\([^;{{]*\)\s*(?:const\s*)?\{{")
    return [(path, _body(text, m.end() - 1)) for path, text in files.items() for m in [pat.search(text)] if m]


def _function(files: dict[str, str], name: str, home: str) -> str | None:
    """The body of `name` as the kernel defined in `home` sees it: defined there or in a file of the same stem
    (conv.cc, conv_common.cc), else the one definition in the kernels folder (None when several or none)."""
    found = _definitions(files, name)
    stem = Path(home).stem.split("_")[0]
    near = [b for p, b in found if p == home or Path(p).stem.startswith(stem)]
    if near:
        return near[0] if any(p == home for p, _ in found) is False else next(b for p, b in found if p == home)
    return found[0][1] if len(found) == 1 else None


def int8_kernel(files: dict[str, str], register: str) -> bool | None:
    """Whether the reference kernel behind `register` handles int8 (None: its definition was not found)."""
    defs = _definitions(files, register)
    if len(defs) != 1:
        return None
    home, body = defs[0]
    m = re.search(r"RegisterOp\(([^;]*)\)\s*;", body)
    if m is None:  # e.g. Register_X returns another Register_Y()
        inner = re.search(r"return\s+(?:tflite::)?(?:\w+::)*(Register_\w+)\(\)", body)
        return int8_kernel(files, inner.group(1)) if inner else bool(INT8.search(body))
    args = [a.strip() for a in re.split(r",(?![^<]*>)", m.group(1))]
    evaluate = re.sub(r"<.*>$", "", args[2] if len(args) > 2 else args[-1]).split("::")[-1]
    seen, frontier = set(), [evaluate]
    for _ in range(3):  # the Eval function, what it calls, what those call (in its own files)
        nxt = []
        for name in frontier:
            if name in seen:
                continue
            seen.add(name)
            fb = _function(files, name, home)
            if fb is None:
                continue
            if INT8.search(fb) or ANY_TYPE.search(fb):
                return True
            nxt += [f for f in re.findall(r"\b([A-Za-z_]\w*)\s*(?:<[^;(){}]*>)?\s*\(", fb) if f not in KEYWORDS]
        frontier = nxt
    return False


def package_registrations() -> set[str]:
    """Register_* functions in the installed tflite-micro Python package's native runtime (namespace tflite)."""
    import tflite_micro

    lib = next(Path(tflite_micro.__file__).parent.glob("python/tflite_micro/_runtime*.so"))
    data = lib.read_bytes()
    return {m.decode() for m in re.findall(rb"_ZN6tflite(?:5micro)?\d+(Register_[A-Z0-9_]+)Ev", data)}


def coverage(src: Source) -> dict:
    from deploy.engine.ops import OPS
    from deploy.devices.tflm_codegen import RESOLVER_METHODS

    ops = resolver_ops(src.read(RESOLVER))
    files = {p: src.read(p) for p in src.kernel_files() if not p.endswith("_test.cc")}
    int8 = {op: int8_kernel(files, reg) for op, reg in ops.items()}
    pkg = package_registrations()
    engine = {k: v for k, v in OPS.items() if v.emit is not None}
    return dict(ops=ops, int8=int8, pkg=pkg, engine=engine, fallback=set(RESOLVER_METHODS), all_engine=OPS)


BOUNDARY = {"DEQUANTIZE": "int8 -> float32 as the model's last op only (ecnn_run); refused inside a model"}


def render(c: dict, command: str, source: str) -> str:
    ops, int8, engine = c["ops"], c["int8"], c["engine"]
    tflm8 = sorted(op for op, v in int8.items() if v)
    engine_runs = set(engine) | {"DEQUANTIZE"}  # DEQUANTIZE: at the model output (float_io)
    both = [op for op in tflm8 if op in engine_runs]
    only_tflm = [op for op in tflm8 if op not in engine_runs]
    only_engine = sorted(engine_runs - set(tflm8))
    unknown = sorted(op for op, v in int8.items() if v is None)
    no_int8 = sorted(op for op, v in int8.items() if v is False)

    def doc(op: str) -> str:
        spec = c["all_engine"].get(op)
        text = spec.doc if spec is not None and spec.emit is not None else ""
        return "; ".join(t for t in (text, BOUNDARY.get(op, "")) if t)

    def pkg(op: str) -> str:
        return "yes" if ops[op] in c["pkg"] else "no"

    out = ["# Op coverage: the engine against TFLM's int8 kernels", "",
           f"Command: `{command}` at commit `{commit()}`. TFLM source: {source}.", "",
           f"TFLM's op resolver (`{RESOLVER}`) registers {len(ops)} builtin ops; {len(tflm8)} of them have an int8 "
           f"reference kernel (the Eval function `RegisterOp` gets in `{KERNELS}/*.cc`, or a function of its own files "
           "it calls, three deep, names `kTfLiteInt8` or `int8_t`, or copies bytes whatever the type). The engine's op registry (`deploy/engine/ops/`, "
           "one module per op family; `edgecnn ops` prints every rule) has an emitter for "
           f"{len(engine)} ops, each bit-exact with TFLM's reference kernel. `in tflite-micro package`: the op's "
           "`Register_*` is in the installed `tflite-micro` Python package that edgecnn verifies against.", "",
           f"**Both run: {len(both)}. Only TFLM runs (int8): {len(only_tflm)}. Only the engine runs: "
           f"{len(only_engine)}.**", "",
           f"## Both run ({len(both)})", "", "| op | engine: what it runs | in tflite-micro package |",
           "|---|---|---|"]
    out += [f"| {op} | {doc(op)} | {pkg(op)} |" for op in both]
    out += ["", f"## Only TFLM runs ({len(only_tflm)} int8 ops)", "",
            "A model with one of these ops builds with the TFLM arrays (firmware/tflm) when edgecnn's TFLM "
            "resolver list (`deploy/devices/tflm_codegen.py`) has the op, with a note naming the layer; otherwise the "
            "build stops with a one-line error naming it.", "",
            "| op | engine | build with this op | in tflite-micro package |", "|---|---|---|---|"]
    for op in only_tflm:
        spec = c["all_engine"].get(op)
        why = ("refused: " + spec.rules[0](None)[1]) if spec is not None and spec.emit is None and \
            getattr(spec.rules[0], "__name__", "") == "rule" else "no kernel"
        fb = "falls back to TFLM" if op in c["fallback"] else "stops (not in edgecnn's TFLM list)"
        out.append(f"| {op} | {why} | {fb} | {pkg(op)} |")
    out += ["", f"## Only the engine runs ({len(only_engine)})", ""]
    out += [f"- {op}: {doc(op)}" + (" (TFLM has no kernel for it)" if op not in ops else
                                    " (TFLM's kernel for it is not int8)") for op in only_engine] or ["- none"]
    out += ["", f"## TFLM builtin ops without an int8 kernel ({len(no_int8)})", "", ", ".join(no_int8) or "none"]
    if unknown:
        out += ["", f"Ops whose kernel source was not found (not counted): {', '.join(unknown)}."]
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tflm-src", help="a tflite-micro checkout")
    ap.add_argument("--tflm-git", help="a tflite-micro git directory (read at --tflm-rev)")
    ap.add_argument("--tflm-rev", default="HEAD")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args(argv)
    if not (args.tflm_src or args.tflm_git):
        ap.error("give a tflite-micro source tree: --tflm-src CHECKOUT or --tflm-git GITDIR "
                 "(git clone https://github.com/tensorflow/tflite-micro)")
    src = Source(args.tflm_src, args.tflm_git, args.tflm_rev)
    command = "python benchmarks/op_coverage.py " + (f"--tflm-src {args.tflm_src}" if args.tflm_src else
                                                      f"--tflm-git {args.tflm_git} --tflm-rev {args.tflm_rev}")
    text = render(coverage(src), command, src.describe())
    out = Path(args.results) / "op_coverage.md"
    out.write_text(text)
    print(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
