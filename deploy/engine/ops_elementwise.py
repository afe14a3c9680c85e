"""More engine ops: broadcasting ADD / SUB / MUL / PRELU, table activations, slicing, splitting, resizing, MEAN over
any axes and PAD with a constant; rules and emitters registered into deploy.engine.ops.OPS (MORE_OPS).

Kernels are in firmware_templates/engine/ecnn_elementwise.c, except slices and splits, which are affine gathers and
run on ecnn_transpose (an input offset plus a signed stride per output axis). Element-wise activations of one input
become a 256-entry table computed by deploy.engine.int8_tables from TFLM's integer kernel.
"""
from __future__ import annotations

import math

import numpy as np

from deploy.engine import int8_tables as tables
from deploy.engine import quant_params as qp
from deploy.engine.c_format import c_int
from deploy.engine.ops import (TRANSPOSE_MAX_DIMS, Call, CStruct, In, Lowered, OpContext, OpSpec, Out, _act, _arr,
                               _scale, _zp, params_call,
                               emit_add, emit_mean, emit_pad, emit_reshape, rule_batch_one, rule_fused_activation,
                               rule_int8_activations, rule_same_quant_in_out)
from deploy.engine.memory_plan import overlap_bound

BIN_DIMS = 4  # ECNN_BIN_DIMS in ecnn_elementwise.h
BIN_CODES = {"ADD": 0, "SUB": 1, "MUL": 2, "PRELU": 3}


def _operands(ctx: OpContext):
    return [ctx.graph.tensors[i] for i in ctx.op.inputs[:2]]


def _strides(shape) -> list[int]:
    return [int(np.prod(shape[k + 1:], dtype=np.int64)) for k in range(len(shape))]


def broadcast_dims(shapes, out_shape) -> list[tuple[int, list[int]]] | None:
    """Output dimensions (size, per-input element stride; 0 broadcasts) with size-1 dimensions dropped and
    neighbours merged where every input steps through them as one; None when the shapes do not broadcast."""
    n = len(out_shape)
    per_input = []
    for s in shapes:
        s = (1,) * (n - len(s)) + tuple(s)
        if len(s) != n or any(a not in (1, d) for a, d in zip(s, out_shape)):
            return None
        st = _strides(s)
        per_input.append([st[k] if s[k] == out_shape[k] else 0 for k in range(n)])
    merged: list[tuple[int, list[int]]] = []
    for k, d in enumerate(out_shape):
        if d == 1:
            continue
        st = [p[k] for p in per_input]
        if merged and all(prev == cur * d for prev, cur in zip(merged[-1][1], st)):
            merged[-1] = (merged[-1][0] * d, st)
        else:
            merged.append((d, st))
    return merged or [(1, [0] * len(shapes))]


def _element_index(dims: list[int], strides: list[int]) -> np.ndarray:
    """Input element read for each output element, in row-major output order."""
    idx = np.zeros(dims, dtype=np.int64)
    for k, (d, s) in enumerate(zip(dims, strides)):
        shape = [1] * len(dims)
        shape[k] = d
        idx = idx + (np.arange(d, dtype=np.int64) * s).reshape(shape)
    return idx.reshape(-1)


def _gather_overlap(index: np.ndarray) -> int:
    """d_max of a kernel writing out[s] after reading in[index[s]], s in order."""
    n = int(index.size)
    return overlap_bound(index, np.arange(1, n + 1, dtype=np.int64), read_before_write=True) if n else 0


# ---------------------------------------------------------------- rules

def rule_operands_int8(ctx: OpContext) -> tuple[bool, str]:
    """Both operands are int8 with per-tensor quantization (a constant operand too)."""
    for t in _operands(ctx):
        if t.dtype != "int8" or t.quant is None or t.quant.scale.size != 1:
            return False, f"operand '{t.name}' is not int8 with one scale and zero point"
    return True, ""


def rule_broadcastable(ctx: OpContext) -> tuple[bool, str]:
    """The operand shapes broadcast to the output shape (numpy rules), in at most 4 merged dimensions."""
    shapes = [tuple(t.shape) for t in _operands(ctx)]
    dims = broadcast_dims(shapes, tuple(ctx.out.shape))
    if dims is None:
        return False, f"operand shapes {shapes} do not broadcast to the output shape {tuple(ctx.out.shape)}"
    if len(dims) > BIN_DIMS:
        return False, f"operand shapes {shapes} need {len(dims)} broadcast dimensions (at most {BIN_DIMS})"
    return True, ""


def rule_add_multipliers(ctx: OpContext) -> tuple[bool, str]:
    """The ADD / SUB rescaling factors are below one, as TFLM requires."""
    a, b = _operands(ctx)
    twice = 2.0 * float(max(_scale(a), _scale(b)))
    if not 0.0 < twice / ((1 << 20) * float(_scale(ctx.out))) < 1.0:
        return False, "the output scale is so small against the input scales that TFLM cannot rescale"
    return True, ""


def rule_logistic_output(ctx: OpContext) -> tuple[bool, str]:
    """The int8 LOGISTIC output has zero point -128 (TFLM checks it)."""
    if _zp(ctx.out) != -128:
        return False, f"the output zero point is {_zp(ctx.out)}, not -128"
    return True, ""


def rule_leaky_alpha(ctx: OpContext) -> tuple[bool, str]:
    """LEAKY_RELU's alpha is not negative."""
    alpha = float(ctx.op.options.get("alpha", 0.0))
    if alpha < 0:
        return False, f"alpha {alpha} is negative"
    return True, ""


def _slice_params(ctx: OpContext):
    """TFLM's StridedSlice, indices padded to 5-D: per axis (start, stop, stride)."""
    x = ctx.t(0)
    begin, end, strides = (ctx.t(k).array().reshape(-1).astype(np.int64).tolist() for k in (1, 2, 3))
    opt = ctx.op.options
    n = len(x.shape)
    pad = TRANSPOSE_MAX_DIMS - n
    shape = [1] * pad + list(x.shape)
    begin, end, strides = [0] * pad + begin, [1] * pad + end, [1] * pad + strides
    bmask = (opt.get("begin_mask", 0) << pad) | ((1 << pad) - 1)
    emask = (opt.get("end_mask", 0) << pad) | ((1 << pad) - 1)
    smask = opt.get("shrink_axis_mask", 0) << pad
    axes = []
    for k in range(TRANSPOSE_MAX_DIMS):
        size, stride = shape[k], strides[k]
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
    """Constant begin, end and strides (none 0), no ellipsis or new-axis mask, an input of at most 5 dimensions."""
    if any(ctx.t(k) is None or not ctx.t(k).is_constant for k in (1, 2, 3)):
        return False, "begin, end and strides must be constant"
    opt = ctx.op.options
    if opt.get("ellipsis_mask", 0) or opt.get("new_axis_mask", 0):
        return False, "an ellipsis or new-axis mask is not supported"
    if len(ctx.t(0).shape) > TRANSPOSE_MAX_DIMS:
        return False, f"a {len(ctx.t(0).shape)}-D input is more than {TRANSPOSE_MAX_DIMS}-D"
    if any(int(s) == 0 for s in ctx.t(3).array().reshape(-1)):
        return False, "a stride is 0"
    _, axes = _slice_params(ctx)
    count = math.prod(len(range(*a)) for a in axes)
    if count != ctx.out.size or count == 0:
        return False, f"the slice selects {count} values but the output has {ctx.out.size}"
    return rule_same_quant_in_out(ctx)


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
    """A constant axis; the outputs, stacked along it, are the input; at most 5 dimensions."""
    axis_pos = 0 if ctx.op.op == "SPLIT" else 2
    if ctx.t(axis_pos) is None or not ctx.t(axis_pos).is_constant:
        return False, "the axis must be constant"
    axis, sizes, data_pos = _split_sizes(ctx)
    x = ctx.t(data_pos)
    if not 0 <= axis < len(x.shape) or len(x.shape) > TRANSPOSE_MAX_DIMS:
        return False, f"axis {axis} of a {len(x.shape)}-D input is not supported"
    if sum(sizes) != x.shape[axis]:
        return False, f"the outputs' sizes {sizes} along axis {axis} do not add up to {x.shape[axis]}"
    for o in ctx.op.outputs:
        t = ctx.graph.tensors[o]
        if t.dtype != "int8" or _scale(t) != _scale(x) or _zp(t) != _zp(x):
            return False, f"output '{t.name}' is not int8 with the input's quantization"
    return True, ""


def rule_resize(ctx: OpContext) -> tuple[bool, str]:
    """A 4-D input and a constant output size."""
    if len(ctx.t(0).shape) != 4 or ctx.t(1) is None or not ctx.t(1).is_constant:
        return False, "RESIZE_NEAREST_NEIGHBOR needs a 4-D input and a constant size"
    return rule_same_quant_in_out(ctx)


def _mean_axes(ctx: OpContext) -> list[int]:
    n = len(ctx.t(0).shape)
    return sorted({int(a) % n for a in ctx.t(1).array().reshape(-1)})


def _mean_groups(ctx: OpContext):
    """(kept dims, their input strides), (reduced dims, their input strides), each merged, None if > 4."""
    x = ctx.t(0)
    axes = set(_mean_axes(ctx))
    st = _strides(x.shape)
    groups = []
    for reduced in (False, True):
        dims = [(int(d), st[k]) for k, d in enumerate(x.shape) if (k in axes) == reduced and d != 1]
        merged: list[tuple[int, int]] = []
        for d, s in dims:
            if merged and merged[-1][1] == s * d:
                merged[-1] = (merged[-1][0] * d, s)
            else:
                merged.append((d, s))
        if len(merged) > 4:
            return None
        merged = [(1, 0)] * (4 - len(merged)) + merged
        groups.append(merged)
    return groups


def rule_mean_any_axes(ctx: OpContext) -> tuple[bool, str]:
    """Constant axes; the kept and the reduced dimensions each merge into at most 4."""
    if ctx.t(1) is None or not ctx.t(1).is_constant:
        return False, "MEAN needs constant axes"
    if _mean_groups(ctx) is None:
        return False, f"MEAN of a {len(ctx.t(0).shape)}-D input over axes {_mean_axes(ctx)} is not supported"
    return True, ""


def rule_pad_constant(ctx: OpContext) -> tuple[bool, str]:
    """A 4-D input, constant non-negative paddings with none on the batch; an explicit pad value (PADV2) is a
    constant int8 scalar in the output's quantization."""
    p = ctx.t(1)
    if p is None or not p.is_constant or len(ctx.t(0).shape) != 4:
        return False, "PAD needs a 4-D input and constant paddings"
    pads = p.array().reshape(-1, 2)
    if pads[0].any() or (pads < 0).any():
        return False, "padding the batch dimension (or negative padding) is not supported"
    v = ctx.t(2)
    if v is not None:
        if not v.is_constant or v.dtype != "int8" or v.size != 1:
            return False, "the pad value must be a constant int8 scalar"
        if v.quant is not None and (_scale(v) != _scale(ctx.out) or _zp(v) != _zp(ctx.out)):
            return False, "the pad value's quantization differs from the output's"
    return rule_same_quant_in_out(ctx)


# ---------------------------------------------------------------- emitters

def _operand_ref(ctx: OpContext, pos: int, arrays: list) -> In | str:
    t = ctx.t(pos)
    if not t.is_constant:
        return In(pos)
    arrays.append(_arr(ctx, "int8_t", f"in{pos}", t.array()))
    return f"{ctx.ident}_in{pos}"


def _sub_params(s1, s2, so, what: str) -> dict:
    """TFLM's int8 SUB Prepare: like ADD's, but twice the larger scale and the ratios in float32."""
    twice = qp.f32(2) * max(qp.f32(s1), qp.f32(s2))
    m1, sh1 = qp.quantize_multiplier_smaller_than_one_exp(float(qp.f32(s1) / twice), what)
    m2, sh2 = qp.quantize_multiplier_smaller_than_one_exp(float(qp.f32(s2) / twice), what)
    mo, sho = qp.quantize_multiplier_smaller_than_one_exp(float(twice / (qp.f32(1 << 20) * qp.f32(so))), what)
    return dict(left_shift=20, in1_mult=m1, in1_shift=sh1, in2_mult=m2, in2_shift=sh2, out_mult=mo, out_shift=sho)


def emit_binary(ctx: OpContext) -> Lowered:
    a, b = _operands(ctx)
    o = ctx.out
    kind = ctx.op.op
    if kind == "ADD" and not (a.is_constant or b.is_constant) and tuple(a.shape) == tuple(b.shape) == tuple(o.shape):
        return emit_add(ctx)  # same shapes: ecnn_add as before
    what = f"layer {ctx.op.name}"
    dims = broadcast_dims([tuple(a.shape), tuple(b.shape)], tuple(o.shape))
    dims = [(1, [0, 0])] * (BIN_DIMS - len(dims)) + dims
    sizes = [d for d, _ in dims]
    s1, s2 = [s[0] for _, s in dims], [s[1] for _, s in dims]
    amin, amax = _act(ctx) if kind != "PRELU" else (-128, 127)
    f = dict(in1_offset=-_zp(a), in2_offset=-_zp(b), out_offset=_zp(o), left_shift=0, in1_mult=0, in1_shift=0,
             in2_mult=0, in2_shift=0, out_mult=0, out_shift=0, out2_mult=0, out2_shift=0)
    if kind in ("ADD", "SUB"):
        f.update(qp.add_params(_scale(a), _scale(b), _scale(o), what) if kind == "ADD"
                 else _sub_params(_scale(a), _scale(b), _scale(o), what))
    elif kind == "MUL":
        f["out_mult"], f["out_shift"] = qp.quantize_multiplier(float(_scale(a)) * float(_scale(b)) / float(_scale(o)))
    else:  # PRELU
        f["out_mult"], f["out_shift"] = qp.quantize_multiplier(float(_scale(a)) / float(_scale(o)))
        f["out2_mult"], f["out2_shift"] = qp.quantize_multiplier(float(_scale(a)) * float(_scale(b)) /
                                                                 float(_scale(o)))
    arrays: list = []
    refs = [_operand_ref(ctx, 0, arrays), _operand_ref(ctx, 1, arrays)]
    structs = []
    add_ptr = "0"
    if kind == "ADD":  # contiguous runs take ecnn_add (its per-core path); size is set per run
        add_fields = [("size", 0), ("in1_offset", f["in1_offset"]), ("in2_offset", f["in2_offset"]),
                      ("left_shift", f["left_shift"]), ("in1_mult", f["in1_mult"]), ("in1_shift", f["in1_shift"]),
                      ("in2_mult", f["in2_mult"]), ("in2_shift", f["in2_shift"]), ("out_mult", f["out_mult"]),
                      ("out_shift", f["out_shift"]), ("out_offset", f["out_offset"]), ("act_min", amin),
                      ("act_max", amax)]
        structs.append(CStruct("ecnn_add_params", f"{ctx.ident}_add", [(k, c_int(v)) for k, v in add_fields]))
        add_ptr = f"&{ctx.ident}_add"

    def c_list(values) -> str:
        return "{ " + ", ".join(c_int(v) for v in values) + " }"

    fields = [("op", c_int(BIN_CODES[kind])), ("dims", c_list(sizes)), ("s1", c_list(s1)), ("s2", c_list(s2))]
    fields += [(k, c_int(v)) for k, v in f.items()] + [("act_min", c_int(amin)), ("act_max", c_int(amax)),
                                                        ("add", add_ptr)]
    structs.append(CStruct("ecnn_binary_params", f"{ctx.ident}_p", fields))
    overlap = {}
    for pos, st in ((0, s1), (1, s2)):
        if not ctx.t(pos).is_constant:
            overlap[pos] = _gather_overlap(_element_index(sizes, st))
    return Lowered([params_call("ecnn_binary", structs[-1], refs[0], refs[1], Out())], arrays, structs, overlap)


def _lut(ctx: OpContext, table: np.ndarray) -> Lowered:
    n = ctx.out.size
    arrays = [_arr(ctx, "int8_t", "table", table)]
    d = _gather_overlap(np.arange(n, dtype=np.int64))
    return Lowered([Call("ecnn_lut", (f"{ctx.ident}_table", n, In(0), Out()))], arrays, [], {0: d})


def emit_hard_swish(ctx: OpContext) -> Lowered:
    x, o = ctx.t(0), ctx.out
    return _lut(ctx, tables.hard_swish_table(_scale(x), _zp(x), _scale(o), _zp(o), f"layer {ctx.op.name}"))


def emit_logistic(ctx: OpContext) -> Lowered:
    return _lut(ctx, tables.logistic_table(_scale(ctx.t(0)), _zp(ctx.t(0)), f"layer {ctx.op.name}"))


def emit_tanh(ctx: OpContext) -> Lowered:
    return _lut(ctx, tables.tanh_table(_scale(ctx.t(0)), _zp(ctx.t(0)), f"layer {ctx.op.name}"))


def emit_relu(ctx: OpContext) -> Lowered:
    x, o = ctx.t(0), ctx.out
    return _lut(ctx, tables.relu_table(_scale(x), _zp(x), _scale(o), _zp(o), 0.0, None))


def emit_relu6(ctx: OpContext) -> Lowered:
    return _lut(ctx, tables.relu6_table(_scale(ctx.t(0)), _zp(ctx.t(0))))


def emit_leaky_relu(ctx: OpContext) -> Lowered:
    x, o = ctx.t(0), ctx.out
    return _lut(ctx, tables.leaky_relu_table(_scale(x), _zp(x), _scale(o), _zp(o),
                                             float(ctx.op.options.get("alpha", 0.0)), f"layer {ctx.op.name}"))


def _gather_call(ctx: OpContext, name: str, dims5, src5, base: int, pos: int, out: Out) -> tuple[CStruct, Call]:
    def c_list(values) -> str:
        return "{ " + ", ".join(c_int(v) for v in values) + " }"

    struct = CStruct("ecnn_transpose_params", name, [("dims", c_list(dims5)), ("strides", c_list(src5))])
    return struct, params_call("ecnn_transpose", struct, In(pos, base), out)


def emit_strided_slice(ctx: OpContext) -> Lowered:
    shape, axes = _slice_params(ctx)
    st = _strides(shape)
    dims = [len(range(*a)) for a in axes]
    src = [a[2] * s for a, s in zip(axes, st)]
    base = sum(a[0] * s for a, s in zip(axes, st))
    struct, call = _gather_call(ctx, f"{ctx.ident}_p", dims, src, base, 0, Out())
    d = _gather_overlap(base + _element_index(dims, src))
    return Lowered([call], [], [struct], {0: d})


def emit_split(ctx: OpContext) -> Lowered:
    axis, sizes, data_pos = _split_sizes(ctx)
    x = ctx.t(data_pos)
    pad = TRANSPOSE_MAX_DIMS - len(x.shape)
    st = [0] * pad + _strides(x.shape)
    structs, calls, start = [], [], 0
    for k, size in enumerate(sizes):
        dims = [1] * pad + list(x.shape)
        dims[pad + axis] = size
        struct, call = _gather_call(ctx, f"{ctx.ident}_p{k}", dims, st, start * st[pad + axis], data_pos, Out(k))
        structs.append(struct)
        calls.append(call)
        start += size
    return Lowered(calls, [], structs, {})


def resize_indices(in_size: int, out_size: int, align_corners: bool, half_pixel: bool) -> list[int]:
    """TFLM's GetNearestNeighbor for every output index (float32 arithmetic, as in C)."""
    if align_corners and out_size > 1:
        scale = np.float32(in_size - 1) / np.float32(out_size - 1)
    else:
        scale = np.float32(in_size) / np.float32(out_size)
    offset = np.float32(0.5 if half_pixel else 0.0)
    out = []
    for i in range(out_size):
        v = (np.float32(i) + offset) * scale
        if align_corners:
            v = float(v)
            r = int(math.floor(v + 0.5) if v >= 0 else -math.floor(-v + 0.5))
        else:
            r = int(math.floor(float(v)))
        r = min(r, in_size - 1)
        out.append(max(r, 0) if half_pixel else r)
    return out


def emit_resize_nearest(ctx: OpContext) -> Lowered:
    x, o = ctx.t(0), ctx.out
    n, ih, iw, c = x.shape
    _, oh, ow, _ = o.shape
    opt = ctx.op.options
    ys = resize_indices(ih, oh, bool(opt.get("align_corners")), bool(opt.get("half_pixel_centers")))
    xs = resize_indices(iw, ow, bool(opt.get("align_corners")), bool(opt.get("half_pixel_centers")))
    arrays = [_arr(ctx, "int32_t", "ys", ys), _arr(ctx, "int32_t", "xs", xs)]
    fields = [("batches", n), ("in_h", ih), ("in_w", iw), ("c", c), ("out_h", oh), ("out_w", ow)]
    struct = CStruct("ecnn_resize_params", f"{ctx.ident}_p", [(k, c_int(v)) for k, v in fields] +
                     [("ys", f"{ctx.ident}_ys"), ("xs", f"{ctx.ident}_xs")])
    index = ((np.arange(n)[:, None, None, None] * ih * iw + np.asarray(ys)[None, :, None, None] * iw +
              np.asarray(xs)[None, None, :, None]) * c + np.arange(c)[None, None, None, :]).reshape(-1)
    return Lowered([params_call("ecnn_resize_nearest", struct, In(0), Out())], arrays, [struct],
                   {0: _gather_overlap(index)})


def emit_mean_any(ctx: OpContext) -> Lowered:
    x, o = ctx.t(0), ctx.out
    if len(x.shape) == 4 and _mean_axes(ctx) == [1, 2]:
        return emit_mean(ctx)  # the global average: ecnn_mean_hw
    keep, red = _mean_groups(ctx)
    count = int(np.prod([d for d, _ in red], dtype=np.int64))
    mult, shift = qp.mean_params(count, _scale(x), _scale(o))

    def c_list(values) -> str:
        return "{ " + ", ".join(c_int(v) for v in values) + " }"

    fields = [("keep_dims", c_list([d for d, _ in keep])), ("keep_strides", c_list([s for _, s in keep])),
              ("red_dims", c_list([d for d, _ in red])), ("red_strides", c_list([s for _, s in red])),
              ("count", c_int(count)), ("in_zp", c_int(_zp(x))), ("out_zp", c_int(_zp(o))), ("mult", c_int(mult)),
              ("shift", c_int(shift))]
    struct = CStruct("ecnn_reduce_mean_params", f"{ctx.ident}_p", fields)
    # no in-place bound: an output element reads inputs spread over the whole tensor
    return Lowered([params_call("ecnn_reduce_mean", struct, In(0), Out())], [], [struct], {})


def emit_pad_constant(ctx: OpContext) -> Lowered:
    low = emit_pad(ctx)
    v = ctx.t(2)
    if v is not None:
        value = int(v.array().reshape(-1)[0])
        low.structs[0].fields = [(k, c_int(value) if k == "value" else t) for k, t in low.structs[0].fields]
    return low


_COMMON = (rule_int8_activations, rule_batch_one)
_BINARY = _COMMON + (rule_operands_int8, rule_broadcastable)
_UNARY = "int8, any shape, as a 256-entry table of TFLM's integer kernel"
MORE_OPS: dict[str, OpSpec] = {
    "ADD": OpSpec(emit_binary, _BINARY + (rule_add_multipliers, rule_fused_activation),
                  "element-wise add with numpy broadcasting (residuals, squeeze-and-excite), constant operands"),
    "SUB": OpSpec(emit_binary, _BINARY + (rule_add_multipliers, rule_fused_activation),
                  "element-wise subtraction with numpy broadcasting"),
    "MUL": OpSpec(emit_binary, _BINARY + (rule_fused_activation,),
                  "element-wise multiplication with numpy broadcasting (squeeze-and-excite gates)"),
    "PRELU": OpSpec(emit_binary, _COMMON + (rule_operands_int8, rule_broadcastable),
                    "parametric ReLU (Keras PReLU, any shared axes): TFLM's two requantizations, x >= 0 and "
                    "alpha * x, alpha broadcast"),
    "HARD_SWISH": OpSpec(emit_hard_swish, _COMMON, f"hard swish, {_UNARY}"),
    "LOGISTIC": OpSpec(emit_logistic, _COMMON + (rule_logistic_output,), f"sigmoid, {_UNARY}"),
    "TANH": OpSpec(emit_tanh, _COMMON, f"tanh, {_UNARY}"),
    "RELU": OpSpec(emit_relu, _COMMON, f"standalone ReLU, {_UNARY}"),
    "RELU6": OpSpec(emit_relu6, _COMMON, f"standalone ReLU6, {_UNARY}"),
    "LEAKY_RELU": OpSpec(emit_leaky_relu, _COMMON + (rule_leaky_alpha,), f"leaky ReLU, {_UNARY}"),
    "STRIDED_SLICE": OpSpec(emit_strided_slice, _COMMON + (rule_strided_slice,),
                            "strided slice of up to 5 dimensions, negative strides, begin/end/shrink masks"),
    "SPLIT": OpSpec(emit_split, _COMMON + (rule_split,), "split into equal parts along a constant axis"),
    "SPLIT_V": OpSpec(emit_split, _COMMON + (rule_split,), "split into given sizes along a constant axis"),
    "SQUEEZE": OpSpec(emit_reshape, _COMMON + (rule_same_quant_in_out,), "drop size-1 dimensions (no copy)"),
    "RESIZE_NEAREST_NEIGHBOR": OpSpec(emit_resize_nearest, _COMMON + (rule_resize,),
                                      "nearest-neighbour resize of height and width (align_corners, "
                                      "half_pixel_centers)"),
    "MEAN": OpSpec(emit_mean_any, _COMMON + (rule_mean_any_axes,), "average over any constant axes"),
    "PAD": OpSpec(emit_pad_constant, _COMMON + (rule_pad_constant,),
                  "padding of height, width and channels with the zero point"),
    "PADV2": OpSpec(emit_pad_constant, _COMMON + (rule_pad_constant,),
                    "padding of height, width and channels with a constant value"),
}
