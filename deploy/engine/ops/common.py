"""What the op families share: quantization and shape accessors, constant arrays, window geometry and in-place
overlap bounds, the folded bias, and the rules most ops have."""
from __future__ import annotations

import numpy as np

from deploy.engine import quant_params as qp
from deploy.engine.c_format import c_int
from deploy.engine.memory_plan import INF, overlap_bound
from deploy.engine.ops.lowered import CArray
from deploy.engine.ops.registry import OpContext
from deploy.engine.tflite_reader import Tensor

FUSED_ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
# ecnn_elementwise.c calls ecnn_add (ecnn_binary's contiguous ADD runs), so each of its kernels needs both
ELEMENTWISE_FILES = ("ecnn_elementwise.c", "ecnn_add.c")
TRANSPOSE_MAX_DIMS = 5  # ECNN_TRANSPOSE_DIMS: ecnn_transpose (and the slices and splits it runs) take up to 5-D


def scale(t: Tensor) -> np.float32:
    return np.float32(t.quant.scale[0])


def zp(t: Tensor) -> int:
    return int(t.quant.zero_point[0])


def nhwc(t: Tensor) -> tuple[int, int, int]:
    s = tuple(t.shape)
    if len(s) != 4:
        raise ValueError(f"tensor {t.name} has shape {s}, not NHWC")
    return s[1], s[2], s[3]


def act_range(ctx: OpContext) -> tuple[int, int]:
    """The int8 clamp of the op's fused activation, in its output's quantization."""
    o = ctx.out
    return qp.activation_range(ctx.op.options.get("fused_activation", "NONE"), scale(o), zp(o))


def const_array(ctx: OpContext, ctype: str, suffix: str, values, is_weight: bool = False, guard: str = "") -> CArray:
    """The layer's constant array `<ident>_<suffix>`."""
    dt = np.int8 if ctype == "int8_t" else np.int64
    return CArray(ctype, f"{ctx.ident}_{suffix}", np.asarray(values).astype(dt).reshape(-1), is_weight, guard)


def c_list(values) -> str:
    """A C brace initialiser of integers."""
    return "{ " + ", ".join(c_int(v) for v in values) + " }"


def strides(shape) -> list[int]:
    """Row-major element strides of `shape`."""
    return [int(np.prod(shape[k + 1:], dtype=np.int64)) for k in range(len(shape))]


def element_index(dims: list[int], steps: list[int]) -> np.ndarray:
    """Input element read for each output element, in row-major output order."""
    idx = np.zeros(dims, dtype=np.int64)
    for k, (d, s) in enumerate(zip(dims, steps)):
        shape = [1] * len(dims)
        shape[k] = d
        idx = idx + (np.arange(d, dtype=np.int64) * s).reshape(shape)
    return idx.reshape(-1)


def gather_overlap(index: np.ndarray) -> int:
    """d_max of a kernel writing out[s] after reading in[index[s]], s in order."""
    n = int(index.size)
    return overlap_bound(index, np.arange(1, n + 1, dtype=np.int64), read_before_write=True) if n else 0


def padding(pad: str, stride: int, dilation: int, in_size: int, k: int, out_size: int) -> int:
    """TFLM's ComputePaddingHeightWidth: the top/left padding (the odd pixel goes bottom/right)."""
    if pad == "VALID":
        return 0
    eff = (k - 1) * dilation + 1
    total = (out_size - 1) * stride + eff - in_size
    return max(total, 0) // 2


def _first_valid(out_n: int, stride: int, pad: int, dil: int, k: int, in_n: int) -> np.ndarray:
    """Per output row (or column): the first input row a window reads, -1 when it reads none."""
    o = np.arange(out_n)[:, None]
    pos = o * stride - pad + np.arange(k)[None, :] * dil
    ok = (pos >= 0) & (pos < in_n)
    first = np.where(ok, pos, np.iinfo(np.int64).max).min(axis=1)
    return np.where(ok.any(axis=1), first, -1)


# ecnn_gemm and ecnn_conv2d_fast compute up to four rows or pixels together (the Helium paths; the DSP paths
# pair them), so their writes may run up to three steps ahead of their reads.
KERNEL_GROUP = 4


def _grouped(write_end: np.ndarray, group: int) -> np.ndarray:
    """Write ends when step s may also write the outputs of steps s+1 .. s+group-1 before its reads are done."""
    if write_end.size == 0 or group <= 1:
        return write_end
    return write_end[np.minimum(np.arange(write_end.size) + group - 1, write_end.size - 1)]


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


# ---------------------------------------------------------------- the rules most ops have

def rule_int8_activations(ctx: OpContext) -> tuple[bool, str]:
    """Every input and output tensor is int8 with one scale and zero point (per-tensor quantization)."""
    for t in ctx.inputs + [ctx.out]:
        if t.dtype != "int8":
            return False, f"tensor '{t.name}' is {t.dtype}; the engine runs int8 activations only"
        if t.quant is None or t.quant.scale.size != 1:
            return False, f"tensor '{t.name}' has no per-tensor int8 quantization"
    return True, ""


def rule_batch_one(ctx: OpContext) -> tuple[bool, str]:
    """A 4-D tensor has batch 1."""
    for t in ctx.inputs + [ctx.out]:
        if t.shape and t.shape[0] != 1 and len(t.shape) == 4:
            return False, f"tensor '{t.name}' has batch {t.shape[0]}"
    return True, ""


COMMON = (rule_int8_activations, rule_batch_one)


def rule_fused_activation(ctx: OpContext) -> tuple[bool, str]:
    """The fused activation is none, ReLU, ReLU6 or ReLU_N1_TO_1."""
    act = ctx.op.options.get("fused_activation", "NONE")
    if act not in FUSED_ACTIVATIONS:
        return False, f"fused activation {act}"
    return True, ""


def rule_int8_symmetric_filter(ctx: OpContext) -> tuple[bool, str]:
    """The weights are constant int8 with quantization parameters and zero point 0 (symmetric); the bias, if any,
    is constant int32."""
    f = ctx.t(1)
    if f is None or not f.is_constant or f.dtype != "int8" or f.quant is None:
        what = "no weights" if f is None else f"{'constant' if f.is_constant else 'computed'} {f.dtype} weights"
        return False, what + ("" if f is None or f.quant is not None else " without quantization parameters")
    if np.any(f.quant.zero_point != 0):
        return False, "weights with a non-zero zero point"
    b = ctx.t(2)
    if b is not None and (not b.is_constant or b.dtype != "int32"):
        return False, f"a {'constant' if b.is_constant else 'computed'} {b.dtype} bias"
    return True, ""


def rule_nhwc(ctx: OpContext) -> tuple[bool, str]:
    """Every input and output is a 4-D NHWC tensor."""
    for t in ctx.inputs + [ctx.out]:
        if len(t.shape) != 4:
            return False, f"tensor '{t.name}' has shape {t.shape}"
    return True, ""


def rule_same_quant_in_out(ctx: OpContext) -> tuple[bool, str]:
    """Every input has the output's scale and zero point (the op moves values, it does not requantize)."""
    o = ctx.out
    for t in ctx.inputs:
        if scale(t) != scale(o) or zp(t) != zp(o):
            return False, (f"input '{t.name}' and output '{o.name}' have different quantization "
                           f"({float(scale(t)):g}, {zp(t)} and {float(scale(o)):g}, {zp(o)})")
    return True, ""
