"""Activations: SOFTMAX (ecnn_softmax) and the element-wise ones of one input (HARD_SWISH, LOGISTIC, TANH, RELU,
RELU6, LEAKY_RELU), each a 256-entry table computed by deploy.engine.int8_tables from TFLM's integer kernel and
run by ecnn_lut."""
from __future__ import annotations

import numpy as np

from deploy.engine import int8_tables as tables
from deploy.engine import quant_params as qp
from deploy.engine.c_format import c_int
from deploy.engine.memory_plan import overlap_bound
from deploy.engine.ops.common import COMMON, ELEMENTWISE_FILES, const_array, gather_overlap, scale, zp
from deploy.engine.ops.lowered import Call, CStruct, In, Lowered, Out, params_call
from deploy.engine.ops.registry import OpContext, register

LUT_KERNELS = {"ecnn_lut": ELEMENTWISE_FILES}
_UNARY = "int8, any shape, as a 256-entry table of TFLM's integer kernel"


def rule_softmax(ctx: OpContext) -> tuple[bool, str]:
    """The int8 softmax output has scale 1/256 and zero point -128, over at most 256 classes."""
    o = ctx.out
    if abs(float(scale(o)) - 1.0 / 256) > 1e-9 or zp(o) != -128:
        return False, f"output scale {float(scale(o)):g}, zero point {zp(o)}"
    if ctx.t(0).shape[-1] > 256:
        return False, f"{ctx.t(0).shape[-1]} classes"
    return True, ""


@register("SOFTMAX", rules=(*COMMON, rule_softmax), kernels={"ecnn_softmax": ("ecnn_softmax.c",)})
def softmax(ctx: OpContext) -> Lowered:
    """int8 softmax over the last axis"""
    x = ctx.t(0)
    depth = x.shape[-1]
    rows = x.size // depth
    p = qp.softmax_params(ctx.op.options.get("beta", 1.0), scale(x), f"layer {ctx.op.name}")
    fields = [("rows", rows), ("depth", depth), ("input_multiplier", p["input_multiplier"]),
              ("input_left_shift", p["input_left_shift"]), ("diff_min", p["diff_min"])]
    struct = CStruct("ecnn_softmax_params", f"{ctx.ident}_p", [(k, c_int(v)) for k, v in fields])
    # a row is read completely (max, sum) before any of it is written
    d = overlap_bound(np.arange(rows, dtype=np.int64) * depth, (np.arange(rows, dtype=np.int64) + 1) * depth)
    return Lowered([params_call("ecnn_softmax", struct, In(0), Out())], [], [struct], {0: d})


def _lut(ctx: OpContext, table: np.ndarray) -> Lowered:
    n = ctx.out.size
    arrays = [const_array(ctx, "int8_t", "table", table)]
    d = gather_overlap(np.arange(n, dtype=np.int64))
    return Lowered([Call("ecnn_lut", (f"{ctx.ident}_table", n, In(0), Out()))], arrays, [], {0: d})


def rule_logistic_output(ctx: OpContext) -> tuple[bool, str]:
    """The int8 LOGISTIC output has zero point -128 (TFLM checks it)."""
    if zp(ctx.out) != -128:
        return False, f"output zero point {zp(ctx.out)}"
    return True, ""


def rule_leaky_alpha(ctx: OpContext) -> tuple[bool, str]:
    """LEAKY_RELU's alpha is not negative."""
    alpha = float(ctx.op.options.get("alpha", 0.0))
    if alpha < 0:
        return False, f"alpha {alpha}"
    return True, ""


@register("HARD_SWISH", rules=COMMON, kernels=LUT_KERNELS, doc=f"hard swish, {_UNARY}")
def hard_swish(ctx: OpContext) -> Lowered:
    x, o = ctx.t(0), ctx.out
    return _lut(ctx, tables.hard_swish_table(scale(x), zp(x), scale(o), zp(o), f"layer {ctx.op.name}"))


@register("LOGISTIC", rules=(*COMMON, rule_logistic_output), kernels=LUT_KERNELS, doc=f"sigmoid, {_UNARY}")
def logistic(ctx: OpContext) -> Lowered:
    return _lut(ctx, tables.logistic_table(scale(ctx.t(0)), zp(ctx.t(0)), f"layer {ctx.op.name}"))


@register("TANH", rules=COMMON, kernels=LUT_KERNELS, doc=f"tanh, {_UNARY}")
def tanh(ctx: OpContext) -> Lowered:
    return _lut(ctx, tables.tanh_table(scale(ctx.t(0)), zp(ctx.t(0)), f"layer {ctx.op.name}"))


@register("RELU", rules=COMMON, kernels=LUT_KERNELS, doc=f"standalone ReLU, {_UNARY}")
def relu(ctx: OpContext) -> Lowered:
    x, o = ctx.t(0), ctx.out
    return _lut(ctx, tables.relu_table(scale(x), zp(x), scale(o), zp(o), 0.0, None))


@register("RELU6", rules=COMMON, kernels=LUT_KERNELS, doc=f"standalone ReLU6, {_UNARY}")
def relu6(ctx: OpContext) -> Lowered:
    return _lut(ctx, tables.relu6_table(scale(ctx.t(0)), zp(ctx.t(0))))


@register("LEAKY_RELU", rules=(*COMMON, rule_leaky_alpha), kernels=LUT_KERNELS, doc=f"leaky ReLU, {_UNARY}")
def leaky_relu(ctx: OpContext) -> Lowered:
    x, o = ctx.t(0), ctx.out
    return _lut(ctx, tables.leaky_relu_table(scale(x), zp(x), scale(o), zp(o),
                                             float(ctx.op.options.get("alpha", 0.0)), f"layer {ctx.op.name}"))
