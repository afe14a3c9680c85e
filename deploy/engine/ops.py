"""The engine's op registry: per TFLite op, the supported-op rules and the emitter that lowers it to a kernel call.

An emitter reads one operator of the Graph and returns a `Lowered`: the constant arrays and the
constant parameter struct it needs (as C text, through deploy.engine.c_format), the kernel calls as `Call`s
whose operands are symbols (`In(pos)`, `Out()`, `Scratch()`) for the arena addresses the planner will
choose (deploy.engine.codegen gives each its address), and, per input, the in-place overlap bound of the
kernel's access order (see deploy.engine.memory_plan). Rules are
small functions returning (ok, reason); the unsupported-op message and the docs are made from them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import re
from typing import Callable

import numpy as np

from deploy.engine import quant_params as qp
from deploy.engine.c_format import c_int, c_int_array_body
from deploy.engine.int8_tables import add_input_table
from deploy.engine.memory_plan import INF, overlap_bound
from deploy.engine.tflite_reader import Graph, Operator, Tensor

FUSED_ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
DW_MAX_TAPS = 64  # ECNN_DW_MAX_TAPS in ecnn_kernels.h: the fast depthwise kernel keeps one pointer per tap


# The kernel files (firmware_templates/engine/) each C kernel is in, with the files it calls into. Every engine
# also has ecnn_common.c (fixed-point entry points, requantize, copy) and the headers (deploy.engine.codegen).
COMMON_SOURCE = "ecnn_common.c"
# ecnn_conv.c and the private headers of its per-core blocks
CONV_FILES = ("ecnn_conv.c", "ecnn_conv_dsp.h", "ecnn_conv_mve.h", "ecnn_gemm3.h")
KERNEL_SOURCES: dict[str, tuple[str, ...]] = {
    "ecnn_conv2d": CONV_FILES, "ecnn_conv2d_fast": CONV_FILES, "ecnn_gemm": CONV_FILES,
    "ecnn_resblock": ("ecnn_resblock.c", *CONV_FILES, "ecnn_add.c"),
    "ecnn_depthwise_conv2d": ("ecnn_depthwise.c",), "ecnn_depthwise_fast": ("ecnn_depthwise.c",),
    "ecnn_fully_connected": ("ecnn_dense.c",),
    "ecnn_max_pool2d": ("ecnn_pool.c",), "ecnn_avg_pool2d": ("ecnn_pool.c",), "ecnn_mean_hw": ("ecnn_pool.c",),
    "ecnn_add": ("ecnn_add.c",),
    "ecnn_softmax": ("ecnn_softmax.c",),
    "ecnn_pad": ("ecnn_shape.c",), "ecnn_concat": ("ecnn_shape.c",), "ecnn_transpose": ("ecnn_shape.c",),
    "ecnn_requantize": (), "ecnn_copy": (),
    # ecnn_elementwise.c calls ecnn_add (ecnn_binary's contiguous ADD runs), so each of its kernels needs both
    "ecnn_binary": ("ecnn_elementwise.c", "ecnn_add.c"), "ecnn_lut": ("ecnn_elementwise.c", "ecnn_add.c"),
    "ecnn_resize_nearest": ("ecnn_elementwise.c", "ecnn_add.c"),
    "ecnn_reduce_mean": ("ecnn_elementwise.c", "ecnn_add.c"),
}


def kernel_sources(kernels) -> tuple[str, ...]:
    """The kernel files (.c, and the private headers of a .c that has them) an engine calling `kernels` (C
    function names; '' for aliases) needs, sorted."""
    files = {COMMON_SOURCE}
    for k in kernels:
        if not k:
            continue
        if k not in KERNEL_SOURCES:
            raise KeyError(f"kernel {k} has no entry in deploy.engine.ops.KERNEL_SOURCES (the .c file it is in)")
        files.update(KERNEL_SOURCES[k])
    return tuple(sorted(files))


KERNEL_PATHS = ("plain", "dsp", "mve")  # toolkit.targets.Target.kernel_path: the engine's per-core constant sets


@dataclass
class CArray:
    ctype: str  # int8_t / int32_t
    name: str
    values: np.ndarray
    is_weight: bool = False  # filter or bias (the model's weights), as opposed to derived tables
    guard: str = ""  # read by one kernel path only: compiled under this #if (ECNN_MODEL_* of ecnn_kernels.h)

    @property
    def nbytes(self) -> int:
        return int(self.values.size) * (1 if self.ctype == "int8_t" else 4)

    def compiled_on(self, path: str) -> bool:
        """Whether the array is compiled on the kernel path `path` (toolkit.targets.Target.kernel_path)."""
        if not self.guard:
            return True
        m = re.fullmatch(r"(!?)defined\(ECNN_MODEL_(DSP|MVE)\)", self.guard)
        if m is None:
            raise ValueError(f"unknown guard {self.guard!r}")
        return (m.group(2).lower() == path) != (m.group(1) == "!")

    @property
    def body(self) -> str:
        return c_int_array_body(self.values)

    @property
    def length(self) -> int:
        return max(int(self.values.size), 1)


@dataclass
class CStruct:
    ctype: str
    name: str
    fields: list[tuple[str, str]]  # (field, C initialiser text) in declaration order

    @property
    def body(self) -> str:
        return ", ".join(f".{k} = {v}" for k, v in self.fields)


@dataclass(frozen=True)
class In:
    """The arena address of the op's input at position `pos` (plus `offset` bytes)."""

    pos: int
    offset: int = 0


@dataclass(frozen=True)
class Out:
    """The arena address of the op's output number `k` (several only for SPLIT)."""

    k: int = 0


@dataclass(frozen=True)
class Scratch:
    """The arena address of the step's scratch buffer (`Lowered.scratch` bytes, living for that step only)."""


@dataclass(frozen=True)
class PtrArray:
    """A local `const int8_t *const name[]` holding operand addresses, passed to the kernel by name."""

    name: str
    items: tuple


Operand = In | Out | Scratch


@dataclass(frozen=True)
class Call:
    """One kernel call: C text (names, numbers) and operands, which the code generator gives their addresses."""

    kernel: str
    args: tuple  # str | int | Operand | PtrArray

    def render(self, address: Callable[[Operand], str]) -> str:
        """The C statement, each operand replaced by `address(operand)`."""
        def arg(a) -> str:
            if isinstance(a, PtrArray):
                return a.name
            return address(a) if isinstance(a, (In, Out, Scratch)) else str(a)

        text = f"{self.kernel}({', '.join(arg(a) for a in self.args)});"
        arrays = [a for a in self.args if isinstance(a, PtrArray)]
        if not arrays:
            return text
        decls = "".join(f"const int8_t *const {a.name}[{len(a.items)}] = {{ {', '.join(arg(i) for i in a.items)} }}; "
                        for a in arrays)
        return f"{{ {decls}{text} }}"


def params_call(kernel: str, struct: "CStruct", *operands) -> Call:
    """The usual call: `kernel(&params, operands...)`."""
    return Call(kernel, (f"&{struct.name}", *operands))


@dataclass
class Lowered:
    calls: list[Call]  # the step's C: kernel calls in order (none for an alias)
    arrays: list[CArray] = field(default_factory=list)
    structs: list[CStruct] = field(default_factory=list)
    overlap: dict[int, int] = field(default_factory=dict)  # input position -> d_max
    alias: bool = False  # RESHAPE: the output is the input's storage, no code
    inplace: int | None = None  # fused ops: the output takes this input position's storage (code runs)
    scratch: int = 0  # bytes of arena scratch the kernel needs during its step (Scratch() in a call)
    granule: int = 1  # where the output overlaps an input, out - in must be a multiple of this
    instances: list[str] = field(default_factory=list)  # file-scope C lines instantiating specialized kernels

    @property
    def kernel(self) -> str:
        """The C kernel the step runs ('' for an alias)."""
        return self.calls[0].kernel if self.calls else ""


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


def _scale(t: Tensor) -> np.float32:
    return np.float32(t.quant.scale[0])


def _zp(t: Tensor) -> int:
    return int(t.quant.zero_point[0])


def _nhwc(t: Tensor) -> tuple[int, int, int]:
    s = tuple(t.shape)
    if len(s) != 4:
        raise ValueError(f"tensor {t.name} has shape {s}, not NHWC")
    return s[1], s[2], s[3]


def _padding(padding: str, stride: int, dilation: int, in_size: int, k: int, out_size: int) -> int:
    """TFLM's ComputePaddingHeightWidth: the top/left padding (the odd pixel goes bottom/right)."""
    if padding == "VALID":
        return 0
    eff = (k - 1) * dilation + 1
    total = (out_size - 1) * stride + eff - in_size
    return max(total, 0) // 2


def _out_size(padding: str, stride: int, dilation: int, in_size: int, k: int) -> int:
    eff = (k - 1) * dilation + 1
    return (in_size + stride - 1) // stride if padding == "SAME" else (in_size + stride - eff) // stride


def _first_valid(out_n: int, stride: int, pad: int, dil: int, k: int, in_n: int) -> np.ndarray:
    """Per output row (or column): the first input row a window reads, -1 when it reads none."""
    o = np.arange(out_n)[:, None]
    pos = o * stride - pad + np.arange(k)[None, :] * dil
    ok = (pos >= 0) & (pos < in_n)
    first = np.where(ok, pos, np.iinfo(np.int64).max).min(axis=1)
    return np.where(ok.any(axis=1), first, -1)


def window_overlap(in_hwc, out_hwc, k_hw, stride_hw, dil_hw, pad_hw, group: int = 1) -> int:
    """d_max of a kernel that writes output pixels in row-major order, each from a window of the input.

    group: the kernel may compute up to that many consecutive pixels together (reads of all, then writes).
    """
    (ih, iw, ic), (oh, ow, oc) = in_hwc, out_hwc
    fy = _first_valid(oh, stride_hw[0], pad_hw[0], dil_hw[0], k_hw[0], ih)
    fx = _first_valid(ow, stride_hw[1], pad_hw[1], dil_hw[1], k_hw[1], iw)
    valid = (fy[:, None] >= 0) & (fx[None, :] >= 0)
    min_read = np.where(valid, (fy[:, None] * iw + fx[None, :]) * ic, INF).reshape(-1)
    write_end = (np.arange(oh * ow, dtype=np.int64) + 1) * oc
    return overlap_bound(min_read, _grouped(write_end, group))


# ecnn_gemm and ecnn_conv2d_fast compute up to four rows or pixels together (the Helium paths; the DSP paths
# pair them), so their writes may run up to three steps ahead of their reads.
KERNEL_GROUP = 4


def _grouped(write_end: np.ndarray, group: int) -> np.ndarray:
    """Write ends when step s may also write the outputs of steps s+1 .. s+group-1 before its reads are done."""
    if write_end.size == 0 or group <= 1:
        return write_end
    return write_end[np.minimum(np.arange(write_end.size) + group - 1, write_end.size - 1)]


def rows_overlap(rows: int, depth: int, cols: int) -> int:
    """d_max of ecnn_gemm: row r reads in[r*depth:(r+1)*depth], writes out[r*cols:(r+1)*cols], rows in groups."""
    r = np.arange(rows, dtype=np.int64)
    return overlap_bound(r * depth, _grouped((r + 1) * cols, KERNEL_GROUP))


def fold_bias(bias: np.ndarray | None, weight_sums: np.ndarray, in_offset: int, taps: int) -> np.ndarray | None:
    """bias + in_offset * (sum of each output channel's weights), the constant the fast kernels start from;
    None when that or a partial sum could leave int32 (the exact unfolded path is used then)."""
    b = np.zeros(weight_sums.shape, np.int64) if bias is None else np.asarray(bias, np.int64).reshape(-1)
    folded = b + int(in_offset) * np.asarray(weight_sums, np.int64)
    room = 2 ** 30 - taps * 255 * 128
    if room <= 0 or np.abs(folded).max(initial=0) > room or np.abs(b).max(initial=0) > room:
        return None
    return folded


# ---------------------------------------------------------------- rules

def rule_int8_activations(ctx: OpContext) -> tuple[bool, str]:
    for t in ctx.inputs + [ctx.out]:
        if t.dtype != "int8":
            return False, f"tensor '{t.name}' is {t.dtype}; the engine runs int8 activations only"
        if t.quant is None or t.quant.scale.size != 1:
            return False, f"tensor '{t.name}' has no per-tensor int8 quantization"
    return True, ""


def rule_batch_one(ctx: OpContext) -> tuple[bool, str]:
    for t in ctx.inputs + [ctx.out]:
        if t.shape and t.shape[0] != 1 and len(t.shape) == 4:
            return False, f"tensor '{t.name}' has batch {t.shape[0]}; the engine runs batch 1"
    return True, ""


def rule_fused_activation(ctx: OpContext) -> tuple[bool, str]:
    act = ctx.op.options.get("fused_activation", "NONE")
    if act not in FUSED_ACTIVATIONS:
        return False, f"fused activation {act} is not supported (use none, ReLU or ReLU6)"
    return True, ""


def rule_int8_symmetric_filter(ctx: OpContext) -> tuple[bool, str]:
    f = ctx.t(1)
    if f is None or not f.is_constant or f.dtype != "int8" or f.quant is None:
        return False, "the weights must be constant int8 with quantization parameters"
    if np.any(f.quant.zero_point != 0):
        return False, "the weights must be symmetric (zero point 0)"
    b = ctx.t(2)
    if b is not None and (not b.is_constant or b.dtype != "int32"):
        return False, "the bias must be constant int32"
    return True, ""


def rule_nhwc(ctx: OpContext) -> tuple[bool, str]:
    for t in ctx.inputs + [ctx.out]:
        if len(t.shape) != 4:
            return False, f"tensor '{t.name}' has shape {t.shape}; 4-D NHWC expected"
    return True, ""


def rule_grouped(ctx: OpContext) -> tuple[bool, str]:
    in_c = ctx.t(0).shape[3]
    f = ctx.t(1)
    k_c, out_c = f.shape[3], f.shape[0]
    if k_c <= 0 or in_c % k_c or out_c % (in_c // k_c):
        return False, f"{in_c} input channels cannot be split into groups of {k_c} for {out_c} filters"
    return True, ""


def rule_same_quant_in_out(ctx: OpContext) -> tuple[bool, str]:
    o = ctx.out
    for t in ctx.inputs:
        if _scale(t) != _scale(o) or _zp(t) != _zp(o):
            return False, f"input '{t.name}' and output '{o.name}' have different quantization"
    return True, ""


def rule_same_shapes(ctx: OpContext) -> tuple[bool, str]:
    shapes = {tuple(t.shape) for t in ctx.inputs + [ctx.out]}
    if len(shapes) != 1 or len(ctx.inputs) != 2:
        return False, f"broadcasting ({sorted(shapes)}) is not supported; both inputs need the output's shape"
    return True, ""


def rule_mean_axes(ctx: OpContext) -> tuple[bool, str]:
    axis = ctx.t(1)
    x = ctx.t(0)
    if axis is None or not axis.is_constant or len(x.shape) != 4:
        return False, "MEAN needs a 4-D input and constant axes"
    axes = sorted({int(a) % 4 for a in axis.array().reshape(-1)})
    if axes != [1, 2]:
        return False, f"MEAN over axes {axes} is not supported (only the global average over height and width)"
    return True, ""


def rule_softmax(ctx: OpContext) -> tuple[bool, str]:
    o = ctx.out
    if abs(float(_scale(o)) - 1.0 / 256) > 1e-9 or _zp(o) != -128:
        return False, "the int8 softmax output must have scale 1/256 and zero point -128"
    if ctx.t(0).shape[-1] > 256:
        return False, f"softmax over {ctx.t(0).shape[-1]} classes (more than 256) is not supported"
    return True, ""


def rule_pad(ctx: OpContext) -> tuple[bool, str]:
    p = ctx.t(1)
    if p is None or not p.is_constant or len(ctx.t(0).shape) != 4:
        return False, "PAD needs a 4-D input and constant paddings"
    if len(ctx.op.inputs) > 2 and ctx.op.inputs[2] >= 0:
        return False, "PAD with an explicit constant value is not supported"
    pads = p.array().reshape(-1, 2)
    if pads[0].any() or (pads < 0).any():
        return False, "padding the batch dimension (or negative padding) is not supported"
    return True, ""


def rule_concat(ctx: OpContext) -> tuple[bool, str]:
    """Every input has the output's scale and zero point, as TFLM's int8 kernel requires (it never requantizes).

    TFLM's CONCATENATION refuses other quantizations in Prepare, so there is no reference to be bit-exact with.
    No fused activation and no constant input either."""
    if ctx.op.options.get("fused_activation", "NONE") != "NONE":
        return False, "a fused activation on CONCATENATION is not supported"
    if any(i >= 0 and ctx.graph.tensors[i].is_constant for i in ctx.op.inputs):
        return False, "concatenating a constant tensor is not supported"
    ok, why = rule_same_quant_in_out(ctx)
    if not ok:
        why += ("; TFLM's int8 CONCATENATION refuses that too (it does not requantize), so neither runs the model: "
                "convert it with TensorFlow's converter, which gives CONCATENATION's inputs one quantization")
    return ok, why


def rule_quantize(ctx: OpContext) -> tuple[bool, str]:
    if ctx.t(0).dtype != "int8":
        return False, (f"QUANTIZE from {ctx.t(0).dtype} inside the model is a float op (the engine quantizes only "
                       "the model's own float32 input, in ecnn_run)")
    return True, ""


TRANSPOSE_MAX_DIMS = 5


def rule_transpose(ctx: OpContext) -> tuple[bool, str]:
    x, perm = ctx.t(0), ctx.t(1)
    if perm is None or not perm.is_constant:
        return False, "TRANSPOSE needs a constant permutation"
    p = [int(v) for v in perm.array().reshape(-1)]
    n = len(x.shape)
    if n > TRANSPOSE_MAX_DIMS:
        return False, f"TRANSPOSE of a {n}-D tensor is not supported (at most {TRANSPOSE_MAX_DIMS}-D)"
    if sorted(p) != list(range(n)):
        return False, f"the permutation {p} is not a permutation of the input's {n} axes"
    if tuple(ctx.out.shape) != tuple(x.shape[i] for i in p):
        return False, f"the output shape {ctx.out.shape} is not the input shape {x.shape} permuted by {p}"
    return True, ""


def rule_never(reason: str) -> Rule:
    def rule(ctx: OpContext) -> tuple[bool, str]:
        return False, reason

    return rule


# ---------------------------------------------------------------- emitters

def _act(ctx: OpContext) -> tuple[int, int]:
    o = ctx.out
    return qp.activation_range(ctx.op.options.get("fused_activation", "NONE"), _scale(o), _zp(o))


def _arr(ctx, ctype, suffix, values, is_weight=False, guard="") -> CArray:
    dt = np.int8 if ctype == "int8_t" else np.int64
    return CArray(ctype, f"{ctx.ident}_{suffix}", np.asarray(values).astype(dt).reshape(-1), is_weight, guard)


def _use_pairs(ctx: OpContext, pairs: np.ndarray, arrays: list, ptrs: list) -> None:
    """The layer's filter (arrays[0], ptrs[0]) as column pairs on the DSP cores: they compile and read only the
    pair array (`pairs`), the other cores only the plain filter."""
    arrays[0].guard = "!defined(ECNN_MODEL_DSP)"
    ptrs[0] = ("filter", f"ECNN_NOT_DSP({ctx.ident}_filter)")
    arrays.append(_arr(ctx, "int32_t", "pairs", pairs, True, guard="defined(ECNN_MODEL_DSP)"))
    ptrs.append(("pairs", f"ECNN_FOR_DSP({ctx.ident}_pairs)"))


def _conv_like(ctx: OpContext, depthwise: bool) -> Lowered:
    x, f, b, o = ctx.t(0), ctx.t(1), ctx.t(2), ctx.out
    (ih, iw, ic), (oh, ow, oc) = _nhwc(x), _nhwc(o)
    opt = ctx.op.options
    kh, kw, kc = f.shape[1], f.shape[2], f.shape[3]
    sh, sw = opt.get("stride_h", 1) or 1, opt.get("stride_w", 1) or 1
    dh, dw = opt.get("dilation_h", 1) or 1, opt.get("dilation_w", 1) or 1
    ph = _padding(opt["padding"], sh, dh, ih, kh, oh)
    pw = _padding(opt["padding"], sw, dw, iw, kw, ow)
    mult, shift = qp.per_channel_multipliers(_scale(x), f.quant.scale, _scale(o), oc)
    amin, amax = _act(ctx)
    dm = (oc // ic) if depthwise else 0
    w = f.array().astype(np.int64)
    bias = b.array() if b is not None else None
    folded = None
    # grouped convolutions (kc < ic) fold too: each output channel's sum runs over its own group's taps
    if dh == 1 and dw == 1 and (dm == 1 if depthwise else ic % kc == 0):
        sums = w.sum(axis=(0, 1, 2)) if depthwise else w.reshape(oc, -1).sum(axis=1)
        folded = fold_bias(bias, sums, -_zp(x), kh * kw * (1 if depthwise else kc))
    if folded is not None and not depthwise and kc == ic and kh == kw == 1 and sh == sw == 1 and ph == pw == 0:
        return _gemm(ctx, f.array(), bias, folded, mult, shift, rows=oh * ow, depth=ic, cols=oc, per_channel=True)
    arrays = [_arr(ctx, "int8_t", "filter", f.array(), True),
              _arr(ctx, "int32_t", "mult", mult), _arr(ctx, "int32_t", "shift", shift)]
    if b is not None:
        arrays.insert(1, _arr(ctx, "int32_t", "bias", bias, True))
    if folded is not None:
        arrays.append(_arr(ctx, "int32_t", "bias_folded", folded))
    rqr = rq_right(shift, np.moveaxis(w, 3, 0) if depthwise else w, bias, folded)
    fields = [("in_h", ih), ("in_w", iw), ("in_c", ic), ("out_h", oh), ("out_w", ow), ("out_c", oc),
              ("k_h", kh), ("k_w", kw), ("k_c", kc), ("stride_h", sh), ("stride_w", sw),
              ("dil_h", dh), ("dil_w", dw), ("pad_h", ph), ("pad_w", pw), ("depth_mult", dm),
              ("in_offset", -_zp(x)), ("out_offset", _zp(o)), ("act_min", amin), ("act_max", amax),
              ("rq_right", rqr)]
    ptrs = [("filter", f"{ctx.ident}_filter"), ("bias", f"{ctx.ident}_bias" if b is not None else "0"),
            ("mult", f"{ctx.ident}_mult"), ("shift", f"{ctx.ident}_shift"),
            ("bias_folded", f"{ctx.ident}_bias_folded" if folded is not None else "0")]
    instances = []
    if not depthwise and folded is not None:  # ecnn_conv2d_fast's three-pixel block (DSP cores), per group
        ksize = kh * kw * kc
        # short rows (every window copied, KERNEL_GROUP of them fit): windows and filter zero padded to a
        # multiple of 4 values, where the depth is not one (an RGB or one-channel input layer)
        ksize4 = -(-ksize // 4) * 4
        if kc != ic or kw * ic >= 16 or 3 * ksize4 > KERNEL_GROUP * ksize:
            ksize4 = ksize
        # grouped: the taps are read one by one (k_c a multiple of 4) in groups of oc / groups columns
        grouped_ok = kc == ic or (kc % 4 == 0 and kc <= TRIPLE_MAX_RUN and kh * kw <= TRIPLE_MAX_TAPS)
        blocks = gemm3_blocks(oh * ow, ksize4, oc // (ic // kc), rqr, amin, amax) if grouped_ok else 0
        pairs = None
        if blocks and kc == ic and ksize4 == ksize and triples_cover((oh, ow), iw, (kh, kw), sw, pw, kw * ic):
            pairs = gemm_pairs(f.array().reshape(oc, ksize))
        if pairs is not None:  # ECNN_GEMM3P takes every pixel; the DSP cores read only the pair filter
            instances.append(f"ECNN_GEMM3P({ksize}, {blocks})")
            ptrs.append(("rows3", f"ECNN_GEMM3P_FN({ksize})"))
            _use_pairs(ctx, pairs, arrays, ptrs)
        elif blocks:
            instances.append(f"ECNN_GEMM3({ksize4}, {blocks})")
            ptrs.append(("rows3", f"ECNN_GEMM3_FN({ksize4})"))
            if ksize4 != ksize:
                padded = np.zeros((oc, ksize4), dtype=np.int8)
                padded[:, :ksize] = f.array().reshape(oc, ksize)
                arrays.append(_arr(ctx, "int8_t", "filter4", padded, True, guard="defined(ECNN_MODEL_DSP)"))
                ptrs.append(("filter4", f"ECNN_FOR_DSP({ctx.ident}_filter4)"))
    struct = CStruct("ecnn_conv_params", f"{ctx.ident}_p", [(k, c_int(v)) for k, v in fields] + ptrs)
    if depthwise:
        kernel = "ecnn_depthwise_fast" if folded is not None and kh * kw <= DW_MAX_TAPS else "ecnn_depthwise_conv2d"
    else:
        kernel = "ecnn_conv2d_fast" if folded is not None else "ecnn_conv2d"
    paired = kernel == "ecnn_conv2d_fast"
    # ecnn_conv2d_fast: up to KERNEL_GROUP pixels together; ecnn_depthwise_fast: two (the Helium path)
    d = window_overlap((ih, iw, ic), (oh, ow, oc), (kh, kw), (sh, sw), (dh, dw), (ph, pw),
                       group=KERNEL_GROUP if paired else 2 if kernel == "ecnn_depthwise_fast" else 1)
    border = ph > 0 or pw > 0 or (oh - 1) * sh - ph + kh > ih or (ow - 1) * sw - pw + kw > iw
    if kernel == "ecnn_depthwise_fast":
        # a row of the input zero point stands in for taps outside the image; the DSP cores' planar path needs
        # a padded plane instead, and an output that overlaps its input only by whole pixels
        planar = dw_planar((kh, kw), (sh, sw), (dh, dw), rqr, (amin, amax))
        scratch = max(ic if border else 0, dw_plane_bytes((oh, ow), (sh, sw)) if planar else 0)
        call = params_call(kernel, struct, In(0), Out(), Scratch() if scratch else 0)
        return Lowered([call], arrays, [struct], {0: d}, scratch=scratch, granule=ic if planar else 1)
    if paired:
        # zero-point padded windows: two at a time for border windows; for all windows of short rows, which
        # ecnn_conv2d_fast copies up to four at a time (KERNEL_GROUP, the Helium path)
        short = kw * ic < 16
        window = (KERNEL_GROUP if short else 2) * kh * kw * kc if border or short else 0
        call = params_call(kernel, struct, In(0), Out(), Scratch() if window else 0)
        return Lowered([call], arrays, [struct], {0: d}, scratch=window, instances=instances)
    return Lowered([params_call(kernel, struct, In(0), Out())], arrays, [struct], {0: d})


def dw_planar(k_hw, stride_hw, dil_hw, rq_right_flag: int, act_range) -> bool:
    """ecnn_depthwise_fast takes its planar path on the DSP cores (ECNN_DW_PLANAR in ecnn_kernels.h, the same
    predicate): a 3x3 kernel, stride 1 or 2 (the same both ways), no dilation, the short output stage and the
    whole int8 range as activation range (one SSAT; ReLU with the usual output zero point -128 is that)."""
    return (tuple(k_hw) == (3, 3) and tuple(stride_hw) in ((1, 1), (2, 2)) and tuple(dil_hw) == (1, 1)
            and bool(rq_right_flag) and tuple(act_range) == (-128, 127))


def dw_plane_bytes(out_hw, stride_hw) -> int:
    """The planar path's scratch (ECNN_DW_PLANE_BYTES): the padded input plane of one channel, 3 bytes to spare
    for the last window's word load."""
    return ((out_hw[0] - 1) * stride_hw[0] + 3) * ((out_hw[1] - 1) * stride_hw[1] + 3) + 3


def rq_right(shift, weights, bias, folded) -> int:
    """1 when the DSP kernels' short requantization (requant_fast in ecnn_internal.h) is exact for every output
    channel: each shift is a right shift by 1..23, and every accumulator the fast kernels can form stays below
    2^30 in magnitude (bias_folded + int8 inputs, or the border path's bias + inputs with their offset, <= 255);
    `weights` is [channels, ...]. 0 keeps TFLM's general form."""
    s = np.asarray(shift).reshape(-1)
    if folded is None or s.size == 0 or not np.all((s >= -23) & (s <= -1)):
        return 0
    wsum = np.abs(np.asarray(weights, np.int64)).reshape(len(folded), -1).sum(axis=1)
    b = np.zeros(len(folded), np.int64) if bias is None else np.abs(np.asarray(bias, np.int64).reshape(-1))
    bound = np.maximum(np.abs(np.asarray(folded, np.int64)) + 128 * wsum, b + 255 * wsum)
    return int(bool(np.all(bound < 2 ** 30)))


def _gemm(ctx: OpContext, filt, bias, folded, mult, shift, rows: int, depth: int, cols: int,
          per_channel: bool) -> Lowered:
    """ecnn_gemm for a FULLY_CONNECTED or a 1x1 stride-1 convolution (filter as [cols][depth])."""
    o = ctx.out
    amin, amax = _act(ctx)
    # the folded bias stands in for the model's bias (same bytes), so it counts as a weight when there is one
    arrays = [_arr(ctx, "int8_t", "filter", np.asarray(filt).reshape(cols, depth), True),
              _arr(ctx, "int32_t", "bias_folded", folded, bias is not None),
              _arr(ctx, "int32_t", "mult", mult), _arr(ctx, "int32_t", "shift", shift)]
    fields = [("rows", rows), ("depth", depth), ("cols", cols), ("mult_stride", int(per_channel)),
              ("out_offset", _zp(o)), ("act_min", amin), ("act_max", amax),
              ("rq_right", rq_right(shift, np.asarray(filt).reshape(cols, depth), bias, folded))]
    ptrs = [("filter", f"{ctx.ident}_filter"), ("bias_folded", f"{ctx.ident}_bias_folded"),
            ("mult", f"{ctx.ident}_mult"), ("shift", f"{ctx.ident}_shift")]
    instances = []
    blocks = gemm3_blocks(rows, depth, cols, dict(fields)["rq_right"], amin, amax)
    w = np.asarray(filt).reshape(cols, depth)
    pairs = gemm_pairs(w) if blocks else dense_pairs(w) if rows == 1 else None
    if blocks:
        kind = "ECNN_GEMM3P" if pairs is not None else "ECNN_GEMM3"  # every row through the block / triples
        instances.append(f"{kind}({depth}, {blocks})")
        ptrs.append(("rows3", f"{kind}_FN({depth})"))
    if pairs is not None:
        _use_pairs(ctx, pairs, arrays, ptrs)
    struct = CStruct("ecnn_gemm_params", f"{ctx.ident}_p", [(k, c_int(v)) for k, v in fields] + ptrs)
    return Lowered([params_call("ecnn_gemm", struct, In(0), Out())], arrays, [struct],
                   {0: rows_overlap(rows, depth, cols)}, instances=instances)


DENSE_PAIRS_MAX_DEPTH = 864  # the row widened (depth rounded up to 8) fits ECNN_GEMM_XS_WORDS (432) words


def _pair_words(w: np.ndarray) -> np.ndarray | None:
    """[cols / 2][depth / 2] words of the column-pair layout (x16_pairs4 in ecnn_conv_dsp.h) of the filter w
    [cols][depth] (cols even, depth a multiple of 4), or None where the DSP kernels cannot split it exactly.
    Columns L = 2i and H = 2i + 1 share each word: for the widened pair (x[a], x[b]) the bytes L[a], H'[a],
    L[b], H'[b] (lowest first) with H'[k] = H[k] - (L[k] < 0), so that each halfword is L[k] + 256 H[k]; per 4
    values k the words for (x[k], x[k+2]) then (x[k+1], x[k+3]). Needs H' >= -128 and, for the exact split of H's
    sum from the SMLAD of the whole word, |H.x| < 2^23 for every int8 row x: 128 sum|H| < 2^23."""
    w = np.asarray(w, np.int64)
    lo, hi = w[0::2], w[1::2] - (w[0::2] < 0)
    if hi.size == 0 or hi.min() < -128 or (128 * np.abs(w[1::2]).sum(axis=1)).max() >= 2 ** 23:
        return None
    order = np.arange(w.shape[1]).reshape(-1, 2, 2).transpose(0, 2, 1).reshape(-1)  # k, k + 2, k + 1, k + 3
    halves = (lo[:, order] & 0xFF) | ((hi[:, order] & 0xFF) << 8)
    return (halves[:, 0::2] | (halves[:, 1::2] << 16)).astype(np.uint32)


def dense_pairs(w: np.ndarray) -> np.ndarray | None:
    """The filter [cols][depth] of a one-row GEMM (a dense layer) in the DSP cores' column-pair layout for
    x16_pairs4 (_pair_words) as int32 words, or None where it does not apply: four columns a group, per 4 values
    of depth pair 0's two words then pair 1's; the depth zero padded to a multiple of 8. Needs cols a multiple
    of 4 and depth + padding at most DENSE_PAIRS_MAX_DEPTH."""
    cols, depth = w.shape
    n8 = -(-depth // 8) * 8
    if cols % 4 or depth < 4 or n8 > DENSE_PAIRS_MAX_DEPTH:
        return None
    words = _pair_words(np.pad(np.asarray(w, np.int64), ((0, 0), (0, n8 - depth))))
    if words is None:
        return None
    # [quads][2 pairs][n8 / 4 blocks][2 words] -> [quads][blocks][2 pairs][2 words]
    words = words.reshape(cols // 4, 2, n8 // 4, 2).transpose(0, 2, 1, 3)
    return words.reshape(-1).view(np.int32)


GEMM3P_MIN_DEPTH = 16  # below, H's fix-up after the loop costs about what the pair words save in it


def gemm_pairs(w: np.ndarray) -> np.ndarray | None:
    """The filter [cols][depth] of a GEMM that takes ECNN_GEMM3 (cols even, depth a multiple of 4) in the column-pair
    layout for ECNN_GEMM3P (_pair_words: pair by pair, per 4 values its two words), as int32 words; None where
    that does not apply or does not pay (depth below GEMM3P_MIN_DEPTH)."""
    cols, depth = w.shape
    if cols % 2 or depth % 4 or depth < GEMM3P_MIN_DEPTH:
        return None
    words = _pair_words(w)
    return None if words is None else words.reshape(-1).view(np.int32)


GEMM3_MAX_DEPTH = 288  # three rows widened (3 depth / 2 words) fit ECNN_GEMM_XS_WORDS (432) in ecnn_conv.c
GEMM3_MAX_BLOCKS = 16  # blocks of 4 values unrolled per pass in ECNN_GEMM3 (code: 84 bytes each)


# ecnn_conv.c's ECNN_TRIPLE_MAX_RUN and ECNN_TRIPLE_MAX_KH: a grouped convolution's three-pixel block reads its
# windows tap by tap (k_c values each, at most this many), at most this many taps
TRIPLE_MAX_RUN = 96
TRIPLE_MAX_TAPS = 9


def triples_cover(out_hw, in_w: int, k_hw, stride_w: int, pad_w: int, run: int) -> bool:
    """Whether ecnn_conv2d_fast (threes of pixels in row-major order) and ecnn_conv_row3 (threes within a row,
    the fused residual block) can give every pixel to the three-pixel block, a last one or two repeated
    (ECNN_GEMM3P): kernel rows of a multiple of 4 values, at most ECNN_TRIPLE_MAX_RUN of them, at most
    ECNN_TRIPLE_MAX_KH rows, and no three that hold more than two windows crossing the left or right border
    (the scratch holds two copies)."""
    (out_h, out_w), (kh, kw) = out_hw, k_hw
    if run % 4 or run > TRIPLE_MAX_RUN or kh > TRIPLE_MAX_TAPS:
        return False
    x0 = np.arange(out_w) * stride_w - pad_w
    cross = ((x0 < 0) | (x0 + kw > in_w)).astype(np.int64)
    flat = np.tile(cross, out_h)
    in_order = np.pad(flat, (0, -flat.size % 3)).reshape(-1, 3).sum(axis=1)
    in_row = np.pad(cross, (0, -out_w % 3)).reshape(-1, 3).sum(axis=1)
    return int(in_order.max()) <= 2 and int(in_row.max()) <= 2


def gemm3_blocks(rows: int, depth: int, cols: int, rq_right: int, act_min: int, act_max: int) -> int:
    """Blocks per pass of the DSP three-row GEMM (ECNN_GEMM3 in ecnn_gemm3.h) for this layer, 0 where it does
    not apply: it needs the one-SSAT output stage (rq_right, range -128..127), a depth that is a multiple of 4
    and fits its buffer, an even column count and at least three rows. The largest divisor of depth / 4 that is
    at most GEMM3_MAX_BLOCKS, so the passes cover the depth exactly."""
    if not (rq_right and act_min == -128 and act_max == 127 and rows >= 3 and cols >= 2 and cols % 2 == 0
            and depth % 4 == 0 and 4 <= depth <= GEMM3_MAX_DEPTH):
        return 0
    quads = depth // 4
    return max(b for b in range(1, GEMM3_MAX_BLOCKS + 1) if quads % b == 0)


def emit_conv(ctx: OpContext) -> Lowered:
    return _conv_like(ctx, depthwise=False)


def emit_depthwise(ctx: OpContext) -> Lowered:
    return _conv_like(ctx, depthwise=True)


def emit_fully_connected(ctx: OpContext) -> Lowered:
    x, f, b, o = ctx.t(0), ctx.t(1), ctx.t(2), ctx.out
    out_depth, depth = f.shape
    batches = x.size // depth
    per_channel = f.quant.scale.size > 1
    if per_channel:
        mult, shift = qp.per_channel_multipliers(_scale(x), f.quant.scale, _scale(o), out_depth)
    else:
        m, s = qp.per_tensor_fc_multiplier(_scale(x), f.quant.scale[0], _scale(o))
        mult, shift = [m], [s]
    bias = b.array() if b is not None else None
    folded = fold_bias(bias, f.array().astype(np.int64).sum(axis=1), -_zp(x), depth)
    if folded is not None:
        return _gemm(ctx, f.array(), bias, folded, mult, shift, rows=batches, depth=depth, cols=out_depth,
                     per_channel=per_channel)
    amin, amax = _act(ctx)
    arrays = [_arr(ctx, "int8_t", "filter", f.array(), True),
              _arr(ctx, "int32_t", "mult", mult), _arr(ctx, "int32_t", "shift", shift)]
    if b is not None:
        arrays.insert(1, _arr(ctx, "int32_t", "bias", bias, True))
    fields = [("batches", batches), ("depth", depth), ("out_depth", out_depth), ("in_offset", -_zp(x)),
              ("out_offset", _zp(o)), ("act_min", amin), ("act_max", amax), ("per_channel", int(per_channel))]
    ptrs = [("filter", f"{ctx.ident}_filter"), ("bias", f"{ctx.ident}_bias" if b is not None else "0"),
            ("mult", f"{ctx.ident}_mult"), ("shift", f"{ctx.ident}_shift")]
    struct = CStruct("ecnn_fc_params", f"{ctx.ident}_p", [(k, c_int(v)) for k, v in fields] + ptrs)
    # every output reads the whole input row: writes of step s (output s) stay below the row's start
    steps = batches * out_depth
    min_read = np.repeat(np.arange(batches, dtype=np.int64) * depth, out_depth)
    d = overlap_bound(min_read, np.arange(1, steps + 1, dtype=np.int64))
    return Lowered([params_call("ecnn_fully_connected", struct, In(0), Out())], arrays, [struct], {0: d})


def _pool(ctx: OpContext, kernel: str) -> Lowered:
    x, o = ctx.t(0), ctx.out
    (ih, iw, c), (oh, ow, _) = _nhwc(x), _nhwc(o)
    opt = ctx.op.options
    kh, kw, sh, sw = opt["filter_h"], opt["filter_w"], opt["stride_h"] or 1, opt["stride_w"] or 1
    ph, pw = _padding(opt["padding"], sh, 1, ih, kh, oh), _padding(opt["padding"], sw, 1, iw, kw, ow)
    amin, amax = _act(ctx)
    fields = [("in_h", ih), ("in_w", iw), ("c", c), ("out_h", oh), ("out_w", ow), ("k_h", kh), ("k_w", kw),
              ("stride_h", sh), ("stride_w", sw), ("pad_h", ph), ("pad_w", pw), ("act_min", amin),
              ("act_max", amax)]
    struct = CStruct("ecnn_pool_params", f"{ctx.ident}_p", [(k, c_int(v)) for k, v in fields])
    d = window_overlap((ih, iw, c), (oh, ow, c), (kh, kw), (sh, sw), (1, 1), (ph, pw))
    return Lowered([params_call(kernel, struct, In(0), Out())], [], [struct], {0: d})


def emit_max_pool(ctx: OpContext) -> Lowered:
    return _pool(ctx, "ecnn_max_pool2d")


def emit_avg_pool(ctx: OpContext) -> Lowered:
    return _pool(ctx, "ecnn_avg_pool2d")


def emit_mean(ctx: OpContext) -> Lowered:
    x, o = ctx.t(0), ctx.out
    n, h, w, c = x.shape
    mult, shift = qp.mean_params(h * w, _scale(x), _scale(o))
    fields = [("batches", n), ("count", h * w), ("c", c), ("in_zp", _zp(x)), ("out_zp", _zp(o)),
              ("mult", mult), ("shift", shift)]
    struct = CStruct("ecnn_mean_params", f"{ctx.ident}_p", [(k, c_int(v)) for k, v in fields])
    # step = channel: reads channel c of every cell (lowest byte c), then writes out[c]
    d = overlap_bound(np.arange(c, dtype=np.int64), np.arange(1, c + 1, dtype=np.int64),
                      read_before_write=True) if n == 1 else -o.size
    return Lowered([params_call("ecnn_mean_hw", struct, In(0), Out())], [], [struct], {0: d})


def emit_add(ctx: OpContext) -> Lowered:
    a, b, o = ctx.t(0), ctx.t(1), ctx.out
    p = qp.add_params(_scale(a), _scale(b), _scale(o), f"layer {ctx.op.name}")
    amin, amax = _act(ctx)
    fields = [("size", o.size), ("in1_offset", -_zp(a)), ("in2_offset", -_zp(b)), ("left_shift", p["left_shift"]),
              ("in1_mult", p["in1_mult"]), ("in1_shift", p["in1_shift"]), ("in2_mult", p["in2_mult"]),
              ("in2_shift", p["in2_shift"]), ("out_mult", p["out_mult"]), ("out_shift", p["out_shift"]),
              ("out_offset", _zp(o)), ("act_min", amin), ("act_max", amax)]
    # each input's rescaled value by int8 value: two 1 KiB tables instead of two rescalings per element, when
    # the output stage's short form holds for every sum (|sum| < 2^30, right shift 1..23) and its clamp is the
    # act_min one of ecnn_add_rows's DSP loop (act_max 127)
    t1 = add_input_table(-_zp(a), p["left_shift"], p["in1_mult"], p["in1_shift"])
    t2 = add_input_table(-_zp(b), p["left_shift"], p["in2_mult"], p["in2_shift"])
    arrays, ptrs = [], []
    if int(np.abs(t1).max() + np.abs(t2).max()) < (1 << 31) and 1 <= -p["out_shift"] <= 23 and amax == 127:
        # Helium rescales four lanes at a time and reads no table
        arrays = [_arr(ctx, "int32_t", name, t, guard="!defined(ECNN_MODEL_MVE)")
                  for name, t in (("in1_table", t1), ("in2_table", t2))]
        ptrs = [(name, f"ECNN_NOT_MVE({ctx.ident}_{name})") for name in ("in1_table", "in2_table")]
    struct = CStruct("ecnn_add_params", f"{ctx.ident}_p", [(k, c_int(v)) for k, v in fields] + ptrs)
    steps = np.arange(o.size, dtype=np.int64)
    d = overlap_bound(steps, steps + 1, read_before_write=True)
    return Lowered([params_call("ecnn_add", struct, In(0), In(1), Out())], arrays, [struct], {0: d, 1: d})


def emit_softmax(ctx: OpContext) -> Lowered:
    x = ctx.t(0)
    depth = x.shape[-1]
    rows = x.size // depth
    p = qp.softmax_params(ctx.op.options.get("beta", 1.0), _scale(x), f"layer {ctx.op.name}")
    fields = [("rows", rows), ("depth", depth), ("input_multiplier", p["input_multiplier"]),
              ("input_left_shift", p["input_left_shift"]), ("diff_min", p["diff_min"])]
    struct = CStruct("ecnn_softmax_params", f"{ctx.ident}_p", [(k, c_int(v)) for k, v in fields])
    # a row is read completely (max, sum) before any of it is written
    d = overlap_bound(np.arange(rows, dtype=np.int64) * depth, (np.arange(rows, dtype=np.int64) + 1) * depth)
    return Lowered([params_call("ecnn_softmax", struct, In(0), Out())], [], [struct], {0: d})


def emit_reshape(ctx: OpContext) -> Lowered:
    return Lowered([], alias=True)


def emit_pad(ctx: OpContext) -> Lowered:
    x, o = ctx.t(0), ctx.out
    pads = ctx.t(1).array().reshape(-1, 2)
    (ih, iw, ic), (oh, ow, oc) = _nhwc(x), _nhwc(o)
    fields = [("in_h", ih), ("in_w", iw), ("in_c", ic), ("out_h", oh), ("out_w", ow), ("out_c", oc),
              ("pad_top", pads[1][0]), ("pad_left", pads[2][0]), ("pad_front", pads[3][0]), ("value", _zp(o))]
    struct = CStruct("ecnn_pad_params", f"{ctx.ident}_p", [(k, c_int(v)) for k, v in fields])
    iy = np.arange(oh) - pads[1][0]
    ix = np.arange(ow) - pads[2][0]
    inside = ((iy >= 0) & (iy < ih))[:, None] & ((ix >= 0) & (ix < iw))[None, :]
    min_read = np.where(inside, (iy[:, None] * iw + ix[None, :]) * ic, INF).reshape(-1)
    d = overlap_bound(min_read, (np.arange(oh * ow, dtype=np.int64) + 1) * oc)
    return Lowered([params_call("ecnn_pad", struct, In(0), Out())], [], [struct], {0: d})


def emit_concat(ctx: OpContext) -> Lowered:
    o = ctx.out
    ins = [ctx.graph.tensors[i] for i in ctx.op.inputs]
    axis = ctx.op.options.get("axis", 0) % len(o.shape)
    outer = int(np.prod(o.shape[:axis], dtype=np.int64))
    inner = [int(np.prod(t.shape[axis:], dtype=np.int64)) for t in ins]
    arrays = [_arr(ctx, "int32_t", "inner", inner)]
    n = len(ins)
    # step (outer o, input j) copies inner[j] bytes of input j to out[o*total + sum(inner[:j]):]
    total = sum(inner)
    ends = np.cumsum(inner)
    overlap = {}
    for j in range(n):
        min_read = np.full((outer, n), INF, dtype=np.int64)
        min_read[:, j] = np.arange(outer, dtype=np.int64) * inner[j]
        write_end = (np.arange(outer, dtype=np.int64)[:, None] * total + ends[None, :]).reshape(-1)
        overlap[j] = overlap_bound(min_read.reshape(-1), write_end)
    ins = PtrArray("ins", tuple(In(j) for j in range(n)))
    return Lowered([Call("ecnn_concat", (outer, n, f"{ctx.ident}_inner", ins, Out()))], arrays, [], overlap)


def emit_quantize(ctx: OpContext) -> Lowered:
    x, o = ctx.t(0), ctx.out
    m, s = qp.requantize_params(_scale(x), _scale(o))
    fields = [("size", o.size), ("in_zp", _zp(x)), ("out_zp", _zp(o)), ("mult", m), ("shift", s)]
    struct = CStruct("ecnn_requant_params", f"{ctx.ident}_p", [(k, c_int(v)) for k, v in fields])
    steps = np.arange(o.size, dtype=np.int64)
    d = overlap_bound(steps, steps + 1, read_before_write=True)
    return Lowered([params_call("ecnn_requantize", struct, In(0), Out())], [], [struct], {0: d})


def emit_transpose(ctx: OpContext) -> Lowered:
    x = ctx.t(0)
    perm = [int(v) for v in ctx.t(1).array().reshape(-1)]
    shape = [int(d) for d in x.shape]
    strides = [int(np.prod(shape[i + 1:], dtype=np.int64)) for i in range(len(shape))]
    lead = TRANSPOSE_MAX_DIMS - len(shape)
    dims = [1] * lead + [shape[i] for i in perm]
    src = [0] * lead + [strides[i] for i in perm]
    def c_list(values) -> str:
        return "{ " + ", ".join(c_int(v) for v in values) + " }"

    struct = CStruct("ecnn_transpose_params", f"{ctx.ident}_p", [("dims", c_list(dims)), ("strides", c_list(src))])
    # step s writes out[s] from one input byte (read first): the input offsets in output order
    idx = np.zeros(dims, dtype=np.int64)
    for k in range(TRANSPOSE_MAX_DIMS):
        shape_k = [1] * TRANSPOSE_MAX_DIMS
        shape_k[k] = dims[k]
        idx = idx + (np.arange(dims[k], dtype=np.int64) * src[k]).reshape(shape_k)
    n = int(idx.size)
    d = overlap_bound(idx.reshape(-1), np.arange(1, n + 1, dtype=np.int64), read_before_write=True) if n else 0
    return Lowered([params_call("ecnn_transpose", struct, In(0), Out())], [], [struct], {0: d})


@dataclass(frozen=True)
class OpSpec:
    emit: Callable[[OpContext], Lowered] | None
    rules: tuple[Rule, ...]
    doc: str


_COMMON = (rule_int8_activations, rule_batch_one)
OPS: dict[str, OpSpec] = {
    "CONV_2D": OpSpec(emit_conv, _COMMON + (rule_nhwc, rule_int8_symmetric_filter, rule_grouped,
                                            rule_fused_activation),
                      "standard and grouped convolution, any stride, padding and dilation"),
    "DEPTHWISE_CONV_2D": OpSpec(emit_depthwise, _COMMON + (rule_nhwc, rule_int8_symmetric_filter,
                                                           rule_fused_activation),
                                "depthwise convolution with a depth multiplier"),
    "FULLY_CONNECTED": OpSpec(emit_fully_connected, _COMMON + (rule_int8_symmetric_filter, rule_fused_activation),
                              "dense layer, per-tensor or per-channel weights"),
    "MAX_POOL_2D": OpSpec(emit_max_pool, _COMMON + (rule_nhwc, rule_same_quant_in_out, rule_fused_activation),
                          "max pooling"),
    "AVERAGE_POOL_2D": OpSpec(emit_avg_pool, _COMMON + (rule_nhwc, rule_same_quant_in_out, rule_fused_activation),
                              "average pooling"),
    "MEAN": OpSpec(emit_mean, _COMMON + (rule_mean_axes,), "global average over height and width"),
    "ADD": OpSpec(emit_add, _COMMON + (rule_same_shapes, rule_fused_activation), "element-wise add (residuals)"),
    "SOFTMAX": OpSpec(emit_softmax, _COMMON + (rule_softmax,), "int8 softmax over the last axis"),
    "RESHAPE": OpSpec(emit_reshape, _COMMON + (rule_same_quant_in_out,), "reshape / flatten (no copy)"),
    "PAD": OpSpec(emit_pad, _COMMON + (rule_pad, rule_same_quant_in_out), "zero padding of height, width, channels"),
    "CONCATENATION": OpSpec(emit_concat, _COMMON + (rule_concat,), "concatenation along any axis"),
    "TRANSPOSE": OpSpec(emit_transpose, _COMMON + (rule_transpose, rule_same_quant_in_out),
                        f"permutation of the axes of a tensor of up to {TRANSPOSE_MAX_DIMS} dimensions "
                        "(e.g. a channel shuffle)"),
    "QUANTIZE": OpSpec(emit_quantize, (rule_quantize,) + _COMMON,
                       "int8 to int8 requantization; a float32 model input's QUANTIZE and a float32 model output's "
                       "DEQUANTIZE run in ecnn_run (TFLM's float arithmetic)"),
    "DEQUANTIZE": OpSpec(None, (rule_never("DEQUANTIZE inside the model produces float32 that later ops would "
                                           "compute on, which the int8 engine does not run (a DEQUANTIZE making the "
                                           "model's output runs in ecnn_run)"),),
                         "only as the model's last op (its float32 output, in ecnn_run)"),
}


def check_op(ctx: OpContext) -> list[str]:
    """The reasons one operator cannot be generated (empty when it can)."""
    spec = OPS.get(ctx.op.op)
    if spec is None:
        supported = ", ".join(sorted(k for k, v in OPS.items() if v.emit is not None))
        return [f"the engine has no kernel for {ctx.op.op} (supported: {supported})"]
    reasons = []
    for rule in spec.rules:
        try:
            ok, why = rule(ctx)
        except (ValueError, IndexError, AttributeError, TypeError) as exc:
            ok, why = False, f"its tensors are not as the rule expects ({exc})"
        if not ok:
            reasons.append(why)
            break
    return reasons


def supported_ops_doc() -> str:
    """A markdown list of the ops the engine runs, made from the registry, each with its rules' docstrings."""
    lines = []
    for name, spec in sorted(OPS.items()):
        if spec.emit is not None:
            lines.append(f"- `{name}`: {spec.doc}")
            lines += [f"  - {r.__doc__.strip().splitlines()[0]}" for r in spec.rules if r.__doc__]
    return "\n".join(lines)


# ops whose kernels are in ecnn_elementwise.c (broadcasting, activations, slicing, ...); imported last, as that
# module builds on the helpers above
from deploy.engine.ops_elementwise import MORE_OPS  # noqa: E402

OPS.update(MORE_OPS)
