"""ADD, SUB, MUL and PRELU: ecnn_add for a same-shape ADD of two tensors (residuals), ecnn_binary with numpy
broadcasting and constant operands otherwise."""
from __future__ import annotations

import numpy as np

from deploy.engine import quant_params as qp
from deploy.engine.c_format import c_int
from deploy.engine.int8_tables import add_input_table
from deploy.engine.memory_plan import overlap_bound
from deploy.engine.ops.common import (COMMON, ELEMENTWISE_FILES, act_range, c_list, const_array, element_index,
                                      gather_overlap, rule_fused_activation, scale, strides, zp)
from deploy.engine.ops.lowered import CStruct, In, Lowered, Out, params_call
from deploy.engine.ops.registry import OpContext, register

BIN_DIMS = 4  # ECNN_BIN_DIMS in ecnn_elementwise.h
BIN_CODES = {"ADD": 0, "SUB": 1, "MUL": 2, "PRELU": 3}
ADD_FILES = ("ecnn_add.c",)
BINARY_KERNELS = {"ecnn_binary": ELEMENTWISE_FILES}


def _operands(ctx: OpContext):
    return [ctx.graph.tensors[i] for i in ctx.op.inputs[:2]]


def broadcast_dims(shapes, out_shape) -> list[tuple[int, list[int]]] | None:
    """Output dimensions (size, per-input element stride; 0 broadcasts) with size-1 dimensions dropped and
    neighbours merged where every input steps through them as one; None when the shapes do not broadcast."""
    n = len(out_shape)
    per_input = []
    for s in shapes:
        s = (1,) * (n - len(s)) + tuple(s)
        if len(s) != n or any(a not in (1, d) for a, d in zip(s, out_shape)):
            return None
        st = strides(s)
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


# ---------------------------------------------------------------- rules

def rule_operands_int8(ctx: OpContext) -> tuple[bool, str]:
    """Both operands are int8 with per-tensor quantization (a constant operand too)."""
    for t in _operands(ctx):
        if t.dtype != "int8" or t.quant is None or t.quant.scale.size != 1:
            q = "no quantization" if t.quant is None else f"{t.quant.scale.size} scales"
            return False, f"operand '{t.name}' is {t.dtype} with {q}"
    return True, ""


def rule_broadcastable(ctx: OpContext) -> tuple[bool, str]:
    """The operand shapes broadcast to the output shape (numpy rules), in at most 4 merged dimensions."""
    shapes = [tuple(t.shape) for t in _operands(ctx)]
    dims = broadcast_dims(shapes, tuple(ctx.out.shape))
    if dims is None:
        return False, f"operand shapes {shapes}, output shape {tuple(ctx.out.shape)}"
    if len(dims) > BIN_DIMS:
        return False, f"operand shapes {shapes}, which need {len(dims)} broadcast dimensions"
    return True, ""


def rule_add_multipliers(ctx: OpContext) -> tuple[bool, str]:
    """The ADD / SUB rescaling factors are below one, as TFLM requires: the output scale is not so small against
    the input scales that TFLM cannot rescale."""
    a, b = _operands(ctx)
    twice = 2.0 * float(max(scale(a), scale(b)))
    if not 0.0 < twice / ((1 << 20) * float(scale(ctx.out))) < 1.0:
        return False, f"input scales {float(scale(a)):g} and {float(scale(b)):g}, output scale {float(scale(ctx.out)):g}"
    return True, ""


_BINARY = (*COMMON, rule_operands_int8, rule_broadcastable)


# ---------------------------------------------------------------- emitters

def lower_add(ctx: OpContext) -> Lowered:
    """ecnn_add: a same-shape ADD of two tensors (also the ADD of a fused residual block, deploy.engine.fusion)."""
    a, b, o = ctx.t(0), ctx.t(1), ctx.out
    p = qp.add_params(scale(a), scale(b), scale(o), f"layer {ctx.op.name}")
    amin, amax = act_range(ctx)
    fields = [("size", o.size), ("in1_offset", -zp(a)), ("in2_offset", -zp(b)), ("left_shift", p["left_shift"]),
              ("in1_mult", p["in1_mult"]), ("in1_shift", p["in1_shift"]), ("in2_mult", p["in2_mult"]),
              ("in2_shift", p["in2_shift"]), ("out_mult", p["out_mult"]), ("out_shift", p["out_shift"]),
              ("out_offset", zp(o)), ("act_min", amin), ("act_max", amax)]
    # each input's rescaled value by int8 value: two 1 KiB tables instead of two rescalings per element, when
    # the output stage's short form holds for every sum (|sum| < 2^30, right shift 1..23) and its clamp is the
    # act_min one of ecnn_add_rows's DSP loop (act_max 127)
    t1 = add_input_table(-zp(a), p["left_shift"], p["in1_mult"], p["in1_shift"])
    t2 = add_input_table(-zp(b), p["left_shift"], p["in2_mult"], p["in2_shift"])
    arrays, ptrs = [], []
    if int(np.abs(t1).max() + np.abs(t2).max()) < (1 << 31) and 1 <= -p["out_shift"] <= 23 and amax == 127:
        # Helium rescales four lanes at a time and reads no table
        arrays = [const_array(ctx, "int32_t", name, t, guard="!defined(ECNN_MODEL_MVE)")
                  for name, t in (("in1_table", t1), ("in2_table", t2))]
        ptrs = [(name, f"ECNN_NOT_MVE({ctx.ident}_{name})") for name in ("in1_table", "in2_table")]
    struct = CStruct("ecnn_add_params", f"{ctx.ident}_p", [(k, c_int(v)) for k, v in fields] + ptrs)
    steps = np.arange(o.size, dtype=np.int64)
    d = overlap_bound(steps, steps + 1, read_before_write=True)
    return Lowered([params_call("ecnn_add", struct, In(0), In(1), Out())], arrays, [struct], {0: d, 1: d})


def _operand_ref(ctx: OpContext, pos: int, arrays: list) -> In | str:
    t = ctx.t(pos)
    if not t.is_constant:
        return In(pos)
    arrays.append(const_array(ctx, "int8_t", f"in{pos}", t.array()))
    return f"{ctx.ident}_in{pos}"


def _sub_params(s1, s2, so, what: str) -> dict:
    """TFLM's int8 SUB Prepare: like ADD's, but twice the larger scale and the ratios in float32."""
    twice = qp.f32(2) * max(qp.f32(s1), qp.f32(s2))
    m1, sh1 = qp.quantize_multiplier_smaller_than_one_exp(float(qp.f32(s1) / twice), what)
    m2, sh2 = qp.quantize_multiplier_smaller_than_one_exp(float(qp.f32(s2) / twice), what)
    mo, sho = qp.quantize_multiplier_smaller_than_one_exp(float(twice / (qp.f32(1 << 20) * qp.f32(so))), what)
    return dict(left_shift=20, in1_mult=m1, in1_shift=sh1, in2_mult=m2, in2_shift=sh2, out_mult=mo, out_shift=sho)


def binary(ctx: OpContext) -> Lowered:
    a, b = _operands(ctx)
    o = ctx.out
    kind = ctx.op.op
    if kind == "ADD" and not (a.is_constant or b.is_constant) and tuple(a.shape) == tuple(b.shape) == tuple(o.shape):
        return lower_add(ctx)  # same shapes: ecnn_add
    what = f"layer {ctx.op.name}"
    dims = broadcast_dims([tuple(a.shape), tuple(b.shape)], tuple(o.shape))
    dims = [(1, [0, 0])] * (BIN_DIMS - len(dims)) + dims
    sizes = [d for d, _ in dims]
    s1, s2 = [s[0] for _, s in dims], [s[1] for _, s in dims]
    amin, amax = act_range(ctx) if kind != "PRELU" else (-128, 127)
    f = dict(in1_offset=-zp(a), in2_offset=-zp(b), out_offset=zp(o), left_shift=0, in1_mult=0, in1_shift=0,
             in2_mult=0, in2_shift=0, out_mult=0, out_shift=0, out2_mult=0, out2_shift=0)
    if kind in ("ADD", "SUB"):
        f.update(qp.add_params(scale(a), scale(b), scale(o), what) if kind == "ADD"
                 else _sub_params(scale(a), scale(b), scale(o), what))
    elif kind == "MUL":
        f["out_mult"], f["out_shift"] = qp.quantize_multiplier(float(scale(a)) * float(scale(b)) / float(scale(o)))
    else:  # PRELU
        f["out_mult"], f["out_shift"] = qp.quantize_multiplier(float(scale(a)) / float(scale(o)))
        f["out2_mult"], f["out2_shift"] = qp.quantize_multiplier(float(scale(a)) * float(scale(b)) /
                                                                 float(scale(o)))
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
    fields = [("op", c_int(BIN_CODES[kind])), ("dims", c_list(sizes)), ("s1", c_list(s1)), ("s2", c_list(s2))]
    fields += [(k, c_int(v)) for k, v in f.items()] + [("act_min", c_int(amin)), ("act_max", c_int(amax)),
                                                        ("add", add_ptr)]
    structs.append(CStruct("ecnn_binary_params", f"{ctx.ident}_p", fields))
    overlap = {}
    for pos, st in ((0, s1), (1, s2)):
        if not ctx.t(pos).is_constant:
            overlap[pos] = gather_overlap(element_index(sizes, st))
    return Lowered([params_call("ecnn_binary", structs[-1], refs[0], refs[1], Out())], arrays, structs, overlap)


register("ADD", rules=(*_BINARY, rule_add_multipliers, rule_fused_activation),
         kernels={"ecnn_add": ADD_FILES, **BINARY_KERNELS},
         doc="element-wise add with numpy broadcasting (residuals, squeeze-and-excite), constant operands")(binary)
register("SUB", rules=(*_BINARY, rule_add_multipliers, rule_fused_activation), kernels=BINARY_KERNELS,
         doc="element-wise subtraction with numpy broadcasting")(binary)
register("MUL", rules=(*_BINARY, rule_fused_activation), kernels=BINARY_KERNELS,
         doc="element-wise multiplication with numpy broadcasting (squeeze-and-excite gates)")(binary)
register("PRELU", rules=_BINARY, kernels=BINARY_KERNELS,
         doc="parametric ReLU (Keras PReLU, any shared axes): TFLM's two requantizations, x >= 0 and alpha * x, "
             "alpha broadcast")(binary)
