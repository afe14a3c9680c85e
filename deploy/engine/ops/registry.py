"""The op registry: one handler per TFLite op, holding its rules, its emitter and the kernel files it needs.

An op family module (deploy.engine.ops.conv, .pool, ...) registers each op once with `@register`:

    @register("MAX_POOL_2D", rules=(*COMMON, rule_nhwc, rule_same_quant_in_out, rule_fused_activation),
              kernels={"ecnn_max_pool2d": ("ecnn_pool.c",)})
    def max_pool_2d(ctx: OpContext) -> Lowered:
        '''Max pooling.'''

The handler's docstring is the op's entry in `edgecnn ops` and the README's op table. A rule is a small
function whose docstring states the rule; it returns (ok, what the layer has), and a refusal reads
"<rule> (this layer: <what it has>)". `kernels` maps each C kernel the emitter may call to the files of
firmware_templates/engine/ it is in (with the files it calls into); KERNEL_SOURCES is the union of them.
Registering an op, or a kernel with other files, twice is an error.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from deploy.engine.ops.lowered import Lowered
from deploy.engine.tflite_reader import Graph, Operator, Tensor

# Every engine has ecnn_common.c (fixed-point entry points, requantize, copy) and the headers (deploy.engine.codegen).
COMMON_SOURCE = "ecnn_common.c"


@dataclass
class OpContext:
    graph: Graph
    op: Operator
    ident: str  # C-safe name of the layer, e.g. conv_2d_3

    def t(self, pos: int) -> Tensor | None:
        i = self.op.inputs[pos] if pos < len(self.op.inputs) else -1
        return None if i < 0 else self.graph.tensors[i]

    @property
    def out(self) -> Tensor:
        return self.graph.tensors[self.op.outputs[0]]

    @property
    def inputs(self) -> list[Tensor]:
        return [self.graph.tensors[i] for i in self.op.inputs if i >= 0 and not self.graph.tensors[i].is_constant]


Rule = Callable[[OpContext], tuple[bool, str]]
Emitter = Callable[[OpContext], Lowered]


class RegistryError(RuntimeError):
    """A programming error in an op family module: an op or kernel registered twice, a rule without a docstring."""


def doc_text(obj) -> str:
    """The first paragraph of obj's docstring as one line."""
    doc = (obj.__doc__ or "").strip()
    return " ".join(doc.split("\n\n")[0].split())


@dataclass(frozen=True)
class OpHandler:
    op: str
    emit: Emitter | None  # None: an op the engine refuses wherever it stands (its rules say why)
    rules: tuple[Rule, ...]
    doc: str
    kernels: tuple[str, ...] = ()

    def check(self, ctx: OpContext) -> list[str]:
        """The reasons this operator cannot be generated: the first rule that fails (empty when all pass)."""
        for rule in self.rules:
            try:
                ok, has = rule(ctx)
            except (ValueError, IndexError, AttributeError, TypeError) as exc:
                ok, has = False, f"tensors that are not as the rule expects ({exc})"
            if not ok:
                return [f"{rule_text(rule)} (this layer: {has})" if has else rule_text(rule)]
        return []


OPS: dict[str, OpHandler] = {}
KERNEL_SOURCES: dict[str, tuple[str, ...]] = {}  # C kernel -> its files, from every handler (and fused steps)


def rule_text(rule: Rule) -> str:
    return doc_text(rule)


def register_kernels(owner: str, kernels: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Record the files of each kernel `owner` (an op, or a fused step) calls; the same kernel must always name the
    same files."""
    for name, files in kernels.items():
        files = tuple(files)
        if KERNEL_SOURCES.get(name, files) != files:
            raise RegistryError(f"{owner} registers kernel {name} in {files}, but it is in {KERNEL_SOURCES[name]}")
        KERNEL_SOURCES[name] = files
    return tuple(kernels)


def _add(op: str, emit: Emitter | None, rules, doc: str, kernels: dict) -> None:
    if op in OPS:
        raise RegistryError(f"op {op} is registered twice (deploy.engine.ops): one handler per op")
    for r in rules:
        if not rule_text(r):
            raise RegistryError(f"rule {r.__name__} of {op} has no docstring: the docstring is the rule")
    if not doc:
        raise RegistryError(f"op {op} has no docstring: it is the op's entry in `edgecnn ops`")
    OPS[op] = OpHandler(op, emit, tuple(rules), doc, register_kernels(op, kernels))


def register(*ops: str, rules, kernels: dict[str, tuple[str, ...]] | None = None, doc: str | None = None):
    """Decorator: the function is the emitter of each op in `ops` (its docstring, or `doc`, the op's entry)."""
    def deco(fn: Emitter) -> Emitter:
        for op in ops:
            _add(op, fn, rules, doc or doc_text(fn), kernels or {})
        return fn

    return deco


def refuse(op: str, why: str, doc: str) -> None:
    """Register an op the engine never runs where it stands: its one rule fails with `why`."""
    def rule(ctx: OpContext) -> tuple[bool, str]:
        return False, ""

    rule.__doc__ = why
    rule.__name__ = f"rule_no_{op.lower()}"
    _add(op, None, (rule,), doc, {})


def check_op(ctx: OpContext) -> list[str]:
    """The reasons one operator cannot be generated (empty when it can)."""
    handler = OPS.get(ctx.op.op)
    if handler is None:
        return [f"the engine has no kernel for {ctx.op.op}"]
    return handler.check(ctx)


def supported_ops() -> str:
    """The ops the engine runs, comma-separated (for a refusal message, once)."""
    return ", ".join(sorted(k for k, v in OPS.items() if v.emit is not None))


def kernel_sources(kernels) -> tuple[str, ...]:
    """The kernel files (.c, and the private headers of a .c that has them) an engine calling `kernels` (C
    function names; '' for aliases) needs, sorted."""
    files = {COMMON_SOURCE}
    for k in kernels:
        if not k:
            continue
        if k not in KERNEL_SOURCES:
            raise KeyError(f"kernel {k} is registered by no op handler (deploy.engine.ops): name its files there")
        files.update(KERNEL_SOURCES[k])
    return tuple(sorted(files))


def supported_ops_doc() -> str:
    """A markdown list of every op in the registry, each with all of its rules."""
    lines = []
    for name, h in sorted(OPS.items()):
        lines.append(f"- `{name}`: {h.doc}" + ("" if h.emit is not None else " (refused)"))
        lines += [f"  - {rule_text(r)}" for r in h.rules]
    return "\n".join(lines)
