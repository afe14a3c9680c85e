"""Ops that move values without arithmetic: RESHAPE and SQUEEZE (no code), PAD / PADV2, CONCATENATION,
TRANSPOSE, STRIDED_SLICE, SPLIT / SPLIT_V (affine gathers on ecnn_transpose: an input offset plus a signed stride
per output axis) and RESIZE_NEAREST_NEIGHBOR."""
from __future__ import annotations

import math

import numpy as np

from deploy.engine.c_format import c_int
from deploy.engine.memory_plan import INF, overlap_bound
from deploy.engine.ops.common import (COMMON, ELEMENTWISE_FILES, TRANSPOSE_MAX_DIMS, c_list, const_array,
                                      element_index, gather_overlap, nhwc, rule_same_quant_in_out, scale, strides,
                                      zp)
from deploy.engine.ops.lowered import Call, CStruct, In, Lowered, Out, PtrArray, params_call
from deploy.engine.ops.registry import OpContext, register

SHAPE_FILES = ("ecnn_shape.c",)
TRANSPOSE_KERNELS = {"ecnn_transpose": SHAPE_FILES}


@register("RESHAPE", rules=(*COMMON, rule_same_quant_in_out), doc="reshape / flatten (no copy)")
@register("SQUEEZE", rules=(*COMMON, rule_same_quant_in_out), doc="drop size-1 dimensions (no copy)")
def reshape(ctx: OpContext) -> Lowered:
    return Lowered([], alias=True)


# ---------------------------------------------------------------- PAD, PADV2

def rule_pad(ctx: OpContext) -> tuple[bool, str]:
    """A 4-D input and constant, non-negative paddings, none on the batch dimension."""
    p = ctx.t(1)
    if p is None or not p.is_constant or len(ctx.t(0).shape) != 4:
        return False, f"a {len(ctx.t(0).shape)}-D input" + ("" if p is not None and p.is_constant else
                                                             ", paddings that are not constant")
    pads = p.array().reshape(-1, 2)
    if pads[0].any() or (pads < 0).any():
        return False, f"paddings {pads.tolist()}"
    return True, ""


def rule_pad_value(ctx: OpContext) -> tuple[bool, str]:
    """An explicit pad value (PADV2) is a constant int8 scalar in the output's quantization."""
    v = ctx.t(2)
    if v is None:
        return True, ""
    if not v.is_constant or v.dtype != "int8" or v.size != 1:
        return False, f"a {'constant' if v.is_constant else 'computed'} {v.dtype} pad value of {v.size} elements"
    if v.quant is not None and (scale(v) != scale(ctx.out) or zp(v) != zp(ctx.out)):
        return False, "a pad value whose quantization differs from the output's"
    return True, ""


@register("PAD", rules=(*COMMON, rule_pad, rule_pad_value, rule_same_quant_in_out), kernels={"ecnn_pad": SHAPE_FILES},
          doc="padding of height, width and channels with the zero point")
@register("PADV2", rules=(*COMMON, rule_pad, rule_pad_value, rule_same_quant_in_out),
          kernels={"ecnn_pad": SHAPE_FILES}, doc="padding of height, width and channels with a constant value")
def pad(ctx: OpContext) -> Lowered:
    x, o = ctx.t(0), ctx.out
    pads = ctx.t(1).array().reshape(-1, 2)
    (ih, iw, ic), (oh, ow, oc) = nhwc(x), nhwc(o)
    v = ctx.t(2)
    value = zp(o) if v is None else int(v.array().reshape(-1)[0])
    fields = [("in_h", ih), ("in_w", iw), ("in_c", ic), ("out_h", oh), ("out_w", ow), ("out_c", oc),
              ("pad_top", pads[1][0]), ("pad_left", pads[2][0]), ("pad_front", pads[3][0]), ("value", value)]
    struct = CStruct("ecnn_pad_params", f"{ctx.ident}_p", [(k, c_int(v)) for k, v in fields])
    iy = np.arange(oh) - pads[1][0]
    ix = np.arange(ow) - pads[2][0]
    inside = ((iy >= 0) & (iy < ih))[:, None] & ((ix >= 0) & (ix < iw))[None, :]
    min_read = np.where(inside, (iy[:, None] * iw + ix[None, :]) * ic, INF).reshape(-1)
    d = overlap_bound(min_read, (np.arange(oh * ow, dtype=np.int64) + 1) * oc)
    return Lowered([params_call("ecnn_pad", struct, In(0), Out())], [], [struct], {0: d})


# ---------------------------------------------------------------- CONCATENATION

def rule_concat(ctx: OpContext) -> tuple[bool, str]:
    """No fused activation and no constant input; every input has the output's scale and zero point, as TFLM's
    int8 kernel requires (it never requantizes, and refuses other quantizations in Prepare)."""
    if ctx.op.options.get("fused_activation", "NONE") != "NONE":
        return False, f"fused activation {ctx.op.options['fused_activation']}"
    if any(i >= 0 and ctx.graph.tensors[i].is_constant for i in ctx.op.inputs):
        return False, "a constant input"
    ok, why = rule_same_quant_in_out(ctx)
    if not ok:
        why += ("; TFLM's int8 CONCATENATION refuses that too, so neither runs the model: convert it with "
                "TensorFlow's converter, which gives CONCATENATION's inputs one quantization")
    return ok, why


@register("CONCATENATION", rules=(*COMMON, rule_concat), kernels={"ecnn_concat": SHAPE_FILES})
def concatenation(ctx: OpContext) -> Lowered:
    """concatenation along any axis"""
    o = ctx.out
    ins = [ctx.graph.tensors[i] for i in ctx.op.inputs]
    axis = ctx.op.options.get("axis", 0) % len(o.shape)
    outer = int(np.prod(o.shape[:axis], dtype=np.int64))
    inner = [int(np.prod(t.shape[axis:], dtype=np.int64)) for t in ins]
    arrays = [const_array(ctx, "int32_t", "inner", inner)]
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
    operands = PtrArray("ins", tuple(In(j) for j in range(n)))
    return Lowered([Call("ecnn_concat", (outer, n, f"{ctx.ident}_inner", operands, Out()))], arrays, [], overlap)


# ---------------------------------------------------------------- TRANSPOSE, STRIDED_SLICE, SPLIT

def rule_transpose(ctx: OpContext) -> tuple[bool, str]:
    """A constant permutation of the input's axes, at most 5 of them, and the output shape the input's permuted."""
    x, perm = ctx.t(0), ctx.t(1)
    if perm is None or not perm.is_constant:
        return False, "a computed permutation"
    p = [int(v) for v in perm.array().reshape(-1)]
    n = len(x.shape)
    if n > TRANSPOSE_MAX_DIMS:
        return False, f"a {n}-D input, more than at most {TRANSPOSE_MAX_DIMS}-D"
    if sorted(p) != list(range(n)):
        return False, f"{p}, which is not a permutation of the input's {n} axes"
    if tuple(ctx.out.shape) != tuple(x.shape[i] for i in p):
        return False, f"the output shape {ctx.out.shape}, not the input shape {x.shape} permuted by {p}"
    return True, ""


def _gather_call(ctx: OpContext, name: str, dims5, src5, base: int, pos: int, out: Out) -> tuple[CStruct, Call]:
    struct = CStruct("ecnn_transpose_params", name, [("dims", c_list(dims5)), ("strides", c_list(src5))])
    return struct, params_call("ecnn_transpose", struct, In(pos, base), out)


@register("TRANSPOSE", rules=(*COMMON, rule_transpose, rule_same_quant_in_out), kernels=TRANSPOSE_KERNELS,
          doc=f"permutation of the axes of a tensor of up to {TRANSPOSE_MAX_DIMS} dimensions (e.g. a channel shuffle)")
def transpose(ctx: OpContext) -> Lowered:
    x = ctx.t(0)
    perm = [int(v) for v in ctx.t(1).array().reshape(-1)]
    shape = [int(d) for d in x.shape]
    st = strides(shape)
    lead = TRANSPOSE_MAX_DIMS - len(shape)
    dims = [1] * lead + [shape[i] for i in perm]
    src = [0] * lead + [st[i] for i in perm]
    struct, call = _gather_call(ctx, f"{ctx.ident}_p", dims, src, 0, 0, Out())
    # step s writes out[s] from one input byte (read first): the input offsets in output order
    return Lowered([call], [], [struct], {0: gather_overlap(element_index(dims, src))})


def _slice_params(ctx: OpContext):
    """TFLM's StridedSlice, indices padded to 5-D: per axis (start, stop, stride)."""
    x = ctx.t(0)
    begin, end, steps = (ctx.t(k).array().reshape(-1).astype(np.int64).tolist() for k in (1, 2, 3))
    opt = ctx.op.options
    n = len(x.shape)
    pad = TRANSPOSE_MAX_DIMS - n
    shape = [1] * pad + list(x.shape)
    begin, end, steps = [0] * pad + begin, [1] * pad + end, [1] * pad + steps
    bmask = (opt.get("begin_mask", 0) << pad) | ((1 << pad) - 1)
    emask = (opt.get("end_mask", 0) << pad) | ((1 << pad) - 1)
    smask = opt.get("shrink_axis_mask", 0) << pad
    axes = []
    for k in range(TRANSPOSE_MAX_DIMS):
        size, stride = shape[k], steps[k]
        start = begin[k] + (size if begin[k] < 0 else 0)
        start = min(max(start, 0), size) if stride > 0 else min(max(start, -1), size - 1)
        if bmask & (1 << k):
            start = 0 if stride > 0 else size - 1
        if smask & (1 << k):
            stop = start if start >= size else start + 1
        else:
            stop = end[k] + (start if opt.get("offset", False) else 0)
            stop += size if stop < 0 else 0
            stop = min(max(stop, 0), size) if stride > 0 else min(max(stop, -1), size - 1)
            if emask & (1 << k):
                stop = size if stride > 0 else -1
        axes.append((start, stop, stride))
    return shape, axes


def rule_strided_slice(ctx: OpContext) -> tuple[bool, str]:
    """Constant begin, end and strides (none 0), no ellipsis or new-axis mask, an input of at most 5 dimensions,
    and an output of the size the slice selects."""
    if any(ctx.t(k) is None or not ctx.t(k).is_constant for k in (1, 2, 3)):
        return False, "begin, end or strides that are computed"
    opt = ctx.op.options
    if opt.get("ellipsis_mask", 0) or opt.get("new_axis_mask", 0):
        return False, "an ellipsis or new-axis mask"
    if len(ctx.t(0).shape) > TRANSPOSE_MAX_DIMS:
        return False, f"a {len(ctx.t(0).shape)}-D input"
    if any(int(s) == 0 for s in ctx.t(3).array().reshape(-1)):
        return False, "a stride of 0"
    _, axes = _slice_params(ctx)
    count = math.prod(len(range(*a)) for a in axes)
    if count != ctx.out.size or count == 0:
        return False, f"a slice of {count} values and an output of {ctx.out.size}"
    return True, ""


@register("STRIDED_SLICE", rules=(*COMMON, rule_strided_slice, rule_same_quant_in_out), kernels=TRANSPOSE_KERNELS)
def strided_slice(ctx: OpContext) -> Lowered:
    """strided slice of up to 5 dimensions, negative strides, begin/end/shrink masks"""
    shape, axes = _slice_params(ctx)
    st = strides(shape)
    dims = [len(range(*a)) for a in axes]
    src = [a[2] * s for a, s in zip(axes, st)]
    base = sum(a[0] * s for a, s in zip(axes, st))
    struct, call = _gather_call(ctx, f"{ctx.ident}_p", dims, src, base, 0, Out())
    return Lowered([call], [], [struct], {0: gather_overlap(base + element_index(dims, src))})


def _split_sizes(ctx: OpContext) -> tuple[int, list[int], int]:
    """(axis, sizes along it, data input position) for SPLIT and SPLIT_V."""
    if ctx.op.op == "SPLIT":
        data_pos, axis_t = 1, ctx.t(0)
    else:
        data_pos, axis_t = 0, ctx.t(2)
    x = ctx.t(data_pos)
    axis = int(axis_t.array().reshape(-1)[0])
    axis += len(x.shape) if axis < 0 else 0
    sizes = [int(ctx.graph.tensors[o].shape[axis]) for o in ctx.op.outputs]
    return axis, sizes, data_pos


def rule_split(ctx: OpContext) -> tuple[bool, str]:
    """A constant axis of an input of at most 5 dimensions; the outputs, stacked along it, are the input, each
    int8 with the input's quantization."""
    axis_pos = 0 if ctx.op.op == "SPLIT" else 2
    if ctx.t(axis_pos) is None or not ctx.t(axis_pos).is_constant:
        return False, "a computed axis"
    axis, sizes, data_pos = _split_sizes(ctx)
    x = ctx.t(data_pos)
    if not 0 <= axis < len(x.shape) or len(x.shape) > TRANSPOSE_MAX_DIMS:
        return False, f"axis {axis} of a {len(x.shape)}-D input"
    if sum(sizes) != x.shape[axis]:
        return False, f"outputs of sizes {sizes} along axis {axis}, which do not add up to {x.shape[axis]}"
    for o in ctx.op.outputs:
        t = ctx.graph.tensors[o]
        if t.dtype != "int8" or scale(t) != scale(x) or zp(t) != zp(x):
            return False, f"output '{t.name}', which is not int8 with the input's quantization"
    return True, ""


@register("SPLIT", rules=(*COMMON, rule_split), kernels=TRANSPOSE_KERNELS,
          doc="split into equal parts along a constant axis")
@register("SPLIT_V", rules=(*COMMON, rule_split), kernels=TRANSPOSE_KERNELS,
          doc="split into given sizes along a constant axis")
def split(ctx: OpContext) -> Lowered:
    axis, sizes, data_pos = _split_sizes(ctx)
    x = ctx.t(data_pos)
    lead = TRANSPOSE_MAX_DIMS - len(x.shape)
    st = [0] * lead + strides(x.shape)
    structs, calls, start = [], [], 0
    for k, size in enumerate(sizes):
        dims = [1] * lead + list(x.shape)
        dims[lead + axis] = size
        struct, call = _gather_call(ctx, f"{ctx.ident}_p{k}", dims, st, start * st[lead + axis], data_pos, Out(k))
        structs.append(struct)
        calls.append(call)
        start += size
    return Lowered(calls, [], structs, {})


# ---------------------------------------------------------------- RESIZE_NEAREST_NEIGHBOR

def rule_resize(ctx: OpContext) -> tuple[bool, str]:
    """A 4-D input and a constant output size."""
    if len(ctx.t(0).shape) != 4 or ctx.t(1) is None or not ctx.t(1).is_constant:
        return False, f"a {len(ctx.t(0).shape)}-D input" + ("" if ctx.t(1) is not None and ctx.t(1).is_constant
                                                            else " and a computed size")
    return True, ""


def resize_indices(in_size: int, out_size: int, align_corners: bool, half_pixel: bool) -> list[int]:
    """TFLM's GetNearestNeighbor for every output index (float32 arithmetic, as in C)."""
    if align_corners and out_size > 1:
        ratio = np.float32(in_size - 1) / np.float32(out_size - 1)
    else:
        ratio = np.float32(in_size) / np.float32(out_size)
    offset = np.float32(0.5 if half_pixel else 0.0)
    out = []
    for i in range(out_size):
        v = (np.float32(i) + offset) * ratio
        if align_corners:
            v = float(v)
            r = int(math.floor(v + 0.5) if v >= 0 else -math.floor(-v + 0.5))
        else:
            r = int(math.floor(float(v)))
        r = min(r, in_size - 1)
        out.append(max(r, 0) if half_pixel else r)
    return out


@register("RESIZE_NEAREST_NEIGHBOR", rules=(*COMMON, rule_resize, rule_same_quant_in_out),
          kernels={"ecnn_resize_nearest": ELEMENTWISE_FILES})
def resize_nearest_neighbor(ctx: OpContext) -> Lowered:
    """nearest-neighbour resize of height and width (align_corners, half_pixel_centers)"""
    x, o = ctx.t(0), ctx.out
    n, ih, iw, c = x.shape
    _, oh, ow, _ = o.shape
    opt = ctx.op.options
    ys = resize_indices(ih, oh, bool(opt.get("align_corners")), bool(opt.get("half_pixel_centers")))
    xs = resize_indices(iw, ow, bool(opt.get("align_corners")), bool(opt.get("half_pixel_centers")))
    arrays = [const_array(ctx, "int32_t", "ys", ys), const_array(ctx, "int32_t", "xs", xs)]
    fields = [("batches", n), ("in_h", ih), ("in_w", iw), ("c", c), ("out_h", oh), ("out_w", ow)]
    struct = CStruct("ecnn_resize_params", f"{ctx.ident}_p", [(k, c_int(v)) for k, v in fields] +
                     [("ys", f"{ctx.ident}_ys"), ("xs", f"{ctx.ident}_xs")])
    index = ((np.arange(n)[:, None, None, None] * ih * iw + np.asarray(ys)[None, :, None, None] * iw +
              np.asarray(xs)[None, None, :, None]) * c + np.arange(c)[None, None, None, :]).reshape(-1)
    return Lowered([params_call("ecnn_resize_nearest", struct, In(0), Out())], arrays, [struct],
                   {0: gather_overlap(index)})
