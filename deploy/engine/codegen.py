"""Generates the standalone C inference engine for one int8 .tflite model (no interpreter, static memory plan).

generate_engine() checks every op against the registry in deploy.engine.ops (nothing is written if one
fails), lowers each op to kernel calls with constant parameters (residual blocks that deploy.engine.fusion
matches to one fused line-by-line step whose output takes its input's storage and whose scratch is an
arena buffer living for that step only), plans one arena with deploy.engine.memory_plan, gives each call's
operands (deploy.engine.ops.lowered.In, Out, Scratch) their arena addresses, and renders
firmware_templates/engine/*.j2 plus copies of the kernels into the output folder. Output is byte-identical
from run to run.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from deploy.engine.c_format import GENERATED_HEADER, c_comment, c_float, c_int, c_string, unique_identifiers
from deploy.engine.description import EngineDescription, const_bytes_for, describe, for_target, write_description
from deploy.engine.ops import OPS, OpContext, check_op, kernel_sources, supported_ops
from deploy.engine.ops.lowered import KERNEL_PATHS, Lowered, Operand, Out, Scratch
from deploy.engine.fusion import FusedOp, emit_residual_block, find_residual_blocks, fused_op
from deploy.engine.graph_passes import float_io, simplify
from deploy.engine.memory_plan import Buffer, MemoryPlan, Overlap, check_plan, plan_memory
from deploy.engine.templates import TEMPLATE_DIR, render, write_generated
from deploy.engine.tflite_reader import Graph, read_tflite
from toolkit.errors import ModelError, OutputError, UnsupportedOpError

# Every engine carries the kernels' headers and ecnn_common.c; the other kernel files are the ones its kernels
# name (deploy.engine.ops.registry.KERNEL_SOURCES), so a build compiles only what its model runs.
KERNEL_HEADERS = ("ecnn_kernels.h", "ecnn_internal.h", "ecnn_dot.h", "ecnn_elementwise.h")


@dataclass
class EngineInfo:
    """What generate_engine produced and how much memory it needs."""

    arena_bytes: int
    scratch_bytes: int
    peak_ram_bytes: int  # arena + scratch: all the RAM the engine needs (input and output live in the arena)
    weight_bytes: int  # filters and biases
    const_bytes: int  # every constant array: weights, multipliers, shifts, tables (the largest kernel path's)
    ops: list[dict]
    tensor_offsets: dict[str, int]  # tensor name -> arena offset
    tensors: list[dict] = field(default_factory=list)
    input_shape: tuple = ()
    output_shape: tuple = ()
    input_type: str = "int8"  # the model's own: float32 where ecnn_run quantizes its input (graph_passes.float_io)
    output_type: str = "int8"  # float32 where ecnn_run dequantizes its output
    files: list[str] = field(default_factory=list)
    const_bytes_by_path: dict[str, int] = field(default_factory=dict)  # per Target.kernel_path

    def const_bytes_for(self, target) -> int:
        """The constants compiled for `target` (a toolkit.targets.Target): its kernel path's figure."""
        return const_bytes_for(self, target)

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def _load(model) -> Graph:
    """The model's first subgraph, cleaned of what no kernel needs (deploy.engine.graph_passes)."""
    return simplify(model if isinstance(model, Graph) else read_tflite(model))


def check_model(graph: Graph) -> None:
    """Raise UnsupportedOpError naming every layer the engine cannot run (and why)."""
    graph = simplify(graph)
    problems = []
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        problems.append(f"the model has {len(graph.inputs)} inputs and {len(graph.outputs)} outputs; "
                        "the engine runs models with exactly one of each")
    for idx, what in ((graph.inputs, "input"), (graph.outputs, "output")):
        for i in idx:
            t = graph.tensors[i]
            if t.dtype != "int8":
                problems.append(f"the model {what} '{t.name}' is {t.dtype}; the engine needs an int8 {what}, or a "
                                f"float32 one that only a {'QUANTIZE' if what == 'input' else 'DEQUANTIZE'} "
                                "converts (full-integer quantization)")
    names = unique_identifiers([o.name for o in graph.operators])
    unknown = False
    for op, ident in zip(graph.operators, names):
        for why in check_op(OpContext(graph, op, ident)):
            problems.append(f"layer {op.name} ({op.op}): {why}")
            unknown = unknown or op.op not in OPS
    if problems:
        raise UnsupportedOpError(f"{graph.source} cannot be compiled to C: " + "; ".join(problems)
                                 + (f" (the engine runs {supported_ops()})" if unknown else ""),
                                 hint="change or remove those layers, or deploy with TFLM (firmware/tflm)")


def _lower(graph: Graph, fuse: bool = True) -> list[tuple[object, str, Lowered]]:
    """One (operator, C name, Lowered) per step; with fuse, each residual block deploy.engine.fusion finds is one step
    (a FusedOp at the place of its ADD) and its convolutions are no steps of their own."""
    names = unique_identifiers([o.name for o in graph.operators])
    idents = {op.index: ident for op, ident in zip(graph.operators, names)}
    lowered = []
    try:
        fused: dict[int, tuple] = {}
        for blk in (find_residual_blocks(graph) if fuse else []):
            low = emit_residual_block(graph, blk, idents)
            if low is not None:
                fused[blk.add.index] = (fused_op(blk), low)
                fused[blk.a.index] = fused[blk.b.index] = None
    except (IndexError, KeyError, ValueError, TypeError, ZeroDivisionError, OverflowError):
        fused = {}  # a corrupt model: lower op by op, which names the layer below
    for op, ident in zip(graph.operators, names):
        if op.index in fused:
            if fused[op.index] is not None:
                lowered.append((fused[op.index][0], ident, fused[op.index][1]))
            continue
        try:
            lowered.append((op, ident, OPS[op.op].emit(OpContext(graph, op, ident))))
        except (IndexError, KeyError, ValueError, TypeError, ZeroDivisionError, OverflowError) as exc:
            # the rules passed but the tensors are inconsistent: a corrupt model (found by fuzzing)
            raise ModelError(f"{graph.source}: layer {op.name} ({op.op}) has tensors whose shapes or "
                             f"parameters do not fit together ({type(exc).__name__}: {exc})",
                             hint="re-export the model with the TFLite converter") from None
    return lowered


def _plan(graph: Graph, lowered) -> tuple[MemoryPlan, dict[int, str], list[Buffer]]:
    """Buffers (tensors, RESHAPE outputs aliased to their input, fused outputs that take their input's
    storage, per-step scratch), lifetimes, overlaps -> arena plan."""
    root: dict[int, int] = {}

    def find(i: int) -> int:
        while root.get(i, i) != i:
            i = root[i]
        return i

    for op, _, low in lowered:
        if low.alias or low.inplace is not None:
            root[op.outputs[0]] = find(op.inputs[low.inplace or 0])
    n = len(lowered)
    first: dict[int, int] = {}
    last: dict[int, int] = {}

    def touch(r: int, step: int) -> None:
        first[r] = min(first.get(r, step), step)
        last[r] = max(last.get(r, step), step)

    for i in graph.inputs:
        touch(find(i), -1)
    for step, (op, _, low) in enumerate(lowered):
        for i in op.inputs:
            if i >= 0 and not graph.tensors[i].is_constant:
                touch(find(i), step)
        for i in op.outputs:
            touch(find(i), step)
    for i in graph.outputs:
        touch(find(i), n)
    buf_name = {r: f"b{r}" for r in first}
    buffers = [Buffer(buf_name[r], graph.tensors[r].nbytes, first[r], last[r]) for r in sorted(first)]
    # a kernel's scratch is a buffer that lives for its step only (inside the arena, so peak RAM counts it)
    buffers += [Buffer(f"scratch{step}", low.scratch, step, step) for step, (_, _, low) in enumerate(lowered)
                if low.scratch > 0]
    overlaps = []
    for step, (op, _, low) in enumerate(lowered):
        if low.alias or low.inplace is not None:
            continue
        dst = buf_name[find(op.outputs[0])]
        for pos, d in low.overlap.items():
            src = buf_name[find(op.inputs[pos])]
            if src != dst:
                overlaps.append(Overlap(step, src, dst, int(d), low.granule))
    plan = plan_memory(buffers, overlaps)
    problems = check_plan(plan, buffers, overlaps)
    if problems:  # the planner is meant to make this impossible; never emit an engine that corrupts itself
        raise ModelError(f"{graph.source}: the engine's memory plan is unsound: {'; '.join(problems[:3])}",
                         hint="report this as an edgecnn bug")
    tensor_buf = {i: buf_name[find(i)] for i in range(len(graph.tensors)) if find(i) in buf_name}
    return plan, tensor_buf, buffers


def _address(graph: Graph, op, off: dict[int, int], scratch: int | None, operand: Operand) -> str:
    """The C address of a call's operand: its tensor's (or the step's scratch) offset in the arena `A`."""
    if isinstance(operand, Scratch):
        if scratch is None:
            raise ValueError(f"layer {op.name}: its call uses scratch but the step has none (Lowered.scratch)")
        return f"A + {scratch}"
    if isinstance(operand, Out):
        return f"A + {off[op.outputs[operand.k]]}"
    i = op.inputs[operand.pos]
    if i < 0 or graph.tensors[i].is_constant:
        raise ValueError(f"layer {op.name}: input {operand.pos} is a constant, not an arena operand")
    return f"A + {off[i]}" + (f" + {operand.offset}" if operand.offset else "")


@dataclass
class EnginePlan:
    """The engine for one model, planned and rendered but not yet written: the report reads its memory
    figures, code generation writes its files, and nothing is derived twice."""

    info: EngineInfo
    texts: dict[str, str]
    description: EngineDescription | None = None  # written as engine.json beside the C (deploy.engine.description)


def generate_engine(model, out_dir: Path, labels: list[str] | None = None, fuse: bool = True) -> EngineInfo:
    """Write edgecnn_model.h/.c and the kernels for `model` (.tflite path, bytes or Graph) into out_dir."""
    return write_engine(plan_engine(model, labels, fuse=fuse), out_dir)


def plan_engine(model, labels: list[str] | None = None, fuse: bool = True) -> EnginePlan:
    """Check, lower and memory-plan `model` and render the engine's files in memory.

    fuse: run the patterns deploy.engine.fusion finds (residual blocks) as fused line-by-line kernels; False runs
    every op on its own (more RAM, every intermediate tensor exists, e.g. for layer-by-layer debugging).
    """
    raw = model if isinstance(model, Graph) else read_tflite(model)
    graph = simplify(raw)
    check_model(graph)
    float_in, float_out = float_io(raw)  # float32 model input / output around the int8 core, or None
    inp, out = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    classes = out.size
    if labels is None:
        labels = [str(i) for i in range(classes)]
    labels = [str(x) for x in labels]
    if len(labels) != classes:
        raise ModelError(f"{len(labels)} labels were given but the model output '{out.name}' has {classes} values",
                         hint="pass one label per output value")
    lowered = _lower(graph, fuse)
    plan, tensor_buf, buffers = _plan(graph, lowered)
    off = {i: plan.offsets[b] for i, b in tensor_buf.items()}
    steps, arrays, structs, ops_info, instances = [], [], [], [], []
    for step, (op, ident, low) in enumerate(lowered):
        arrays += low.arrays
        structs += low.structs
        instances += [i for i in low.instances if i not in instances]  # one per specialization, not per layer
        info = dict(index=op.index, op=op.op, name=op.name, kernel=low.kernel or "alias",
                    inputs=[i for i in op.inputs if i >= 0 and not graph.tensors[i].is_constant],
                    output=op.outputs[0], output_offset=off[op.outputs[0]],
                    in_place=any(off[op.outputs[0]] < off[i] + graph.tensors[i].nbytes and
                                 off[i] < off[op.outputs[0]] + graph.tensors[op.outputs[0]].nbytes
                                 for i in op.inputs if i >= 0 and i in off and i != op.outputs[0]))
        if isinstance(op, FusedOp):  # one entry per model op: the fused ones name the step that runs them
            info.update(op=op.parts[-1].op, fused=[o.index for o in op.parts], scratch_bytes=low.scratch,
                        scratch_offset=plan.offsets[f"scratch{step}"])
            ops_info += [dict(index=o.index, op=o.op, name=o.name, kernel=low.kernel, fused_into=op.index,
                              inputs=[i for i in o.inputs if i >= 0 and not graph.tensors[i].is_constant],
                              output=o.outputs[0], output_offset=None, in_place=False) for o in op.parts[:-1]]
        ops_info.append(info)
        dbg = dict(step=op.index, name=c_string(op.name), out_offset=off[op.outputs[0]],
                   out_bytes=graph.tensors[op.outputs[0]].nbytes)
        if low.alias:
            steps.append(dict(comment=c_comment(f"{op.name}: {op.op} (alias, no copy)"), call="", **dbg))
            continue
        call = " ".join(c.render(partial(_address, graph, op, off, plan.offsets.get(f"scratch{step}")))
                        for c in low.calls)
        what = op.op if not isinstance(op, FusedOp) else "+".join(o.op for o in op.parts) + " fused, in place"
        steps.append(dict(comment=c_comment(f"{op.name}: {what} -> tensor '{graph.tensors[op.outputs[0]].name}'"),
                          call=call, **dbg))
    ops_info.sort(key=lambda d: d["index"])
    # some constants are compiled on one kernel path only (CArray.guard): the figures per path, and the largest
    # of them for a core not known here
    const_by_path = {path: sum(a.nbytes for a in arrays if a.compiled_on(path)) for path in KERNEL_PATHS}
    weight_bytes = max(sum(a.nbytes for a in arrays if a.is_weight and a.compiled_on(path))
                       for path in KERNEL_PATHS)
    const_bytes = max(const_by_path.values())
    arena = plan.arena_bytes
    scratch = 0
    iq, oq = inp.quant, out.quant
    ctx = dict(
        header=GENERATED_HEADER,
        source=c_comment(Path(graph.source).name if graph.source != "<bytes>" else "model bytes"),
        arena_bytes=arena, peak_ram_bytes=arena + scratch, weight_bytes=weight_bytes, const_bytes=const_bytes,
        input_size=inp.size, output_size=out.size, num_classes=classes,
        input_dims=len(inp.shape), input_shape=", ".join(str(d) for d in inp.shape),
        output_dims=len(out.shape), output_shape=", ".join(str(d) for d in out.shape),
        input_scale=c_float(iq.scale[0]), input_zero_point=c_int(int(iq.zero_point[0])),
        output_scale=c_float(oq.scale[0]), output_zero_point=c_int(int(oq.zero_point[0])),
        input_offset=off[graph.inputs[0]], output_offset=off[graph.outputs[0]],
        labels=[c_string(s) for s in labels], arrays=arrays, structs=structs, steps=steps, instances=instances,
        op_count=len(lowered), input_float=float_in is not None, output_float=float_out is not None,
    )
    texts = {
        "edgecnn_model.h": render("engine/edgecnn_model.h.j2", **ctx),
        "edgecnn_model.c": render("engine/edgecnn_model.c.j2", **ctx),
    }
    for name in (*KERNEL_HEADERS, *kernel_sources(low.kernel for _, _, low in lowered)):
        texts[name] = f"{GENERATED_HEADER}\n" + (TEMPLATE_DIR / "engine" / name).read_text()
    tensors = [dict(index=i, name=graph.tensors[i].name, offset=off[i], size=graph.tensors[i].nbytes,
                    buffer=tensor_buf[i]) for i in sorted(off)]
    info = EngineInfo(arena_bytes=arena, scratch_bytes=scratch, peak_ram_bytes=arena + scratch,
                      weight_bytes=weight_bytes, const_bytes=const_bytes, const_bytes_by_path=const_by_path,
                      ops=ops_info,
                      tensor_offsets={t["name"]: t["offset"] for t in tensors}, tensors=tensors,
                      input_shape=tuple(inp.shape), output_shape=tuple(out.shape),
                      input_type="float32" if float_in else "int8", output_type="float32" if float_out else "int8")
    return EnginePlan(info=info, texts=texts,
                      description=describe(graph, info, labels, sorted(texts), steps=len(lowered)))


def write_engine(plan: EnginePlan, out_dir: Path, target=None) -> EngineInfo:
    """Write a planned engine's files and its engine.json (for `target`, a Target, when given) into out_dir;
    returns its EngineInfo with the file paths."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for stale in out_dir.glob("ecnn_*.[ch]"):  # kernel files of an engine generated here before
            if stale.name not in plan.texts:
                stale.unlink()
        for name, text in plan.texts.items():
            write_generated(out_dir / name, text)  # an unchanged file keeps its mtime (the object cache)
    except OSError as exc:
        raise OutputError(f"cannot write the engine into {out_dir}: {exc}",
                          hint="check the output folder's permissions and free space") from None
    if target is not None:
        plan.description = for_target(plan.description, target)
    write_description(plan.description, out_dir)
    plan.info.files = [str(out_dir / n) for n in plan.texts]
    return plan.info


def engine_supports(model) -> tuple[bool, str]:
    """(True, '') when generate_engine can compile the model, else (False, the reason)."""
    try:
        check_model(_load(model))
    except UnsupportedOpError as exc:
        return False, str(exc)
    return True, ""


__all__ = ["EngineInfo", "EnginePlan", "generate_engine", "plan_engine", "write_engine", "check_model", "engine_supports"]
