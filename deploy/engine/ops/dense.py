"""FULLY_CONNECTED: ecnn_gemm (one row per batch, the DSP cores' column-pair filter) where the bias folds, the exact
ecnn_fully_connected otherwise; per-tensor or per-channel weights."""
from __future__ import annotations

import numpy as np

from deploy.engine import quant_params as qp
from deploy.engine.c_format import c_int
from deploy.engine.memory_plan import overlap_bound
from deploy.engine.ops.common import (COMMON, act_range, const_array, fold_bias, rule_fused_activation,
                                      rule_int8_symmetric_filter, scale, zp)
from deploy.engine.ops.gemm import GEMM_KERNELS, lower_gemm
from deploy.engine.ops.lowered import CStruct, In, Lowered, Out, params_call
from deploy.engine.ops.registry import OpContext, register


@register("FULLY_CONNECTED", rules=(*COMMON, rule_int8_symmetric_filter, rule_fused_activation),
          kernels={"ecnn_fully_connected": ("ecnn_dense.c",), **GEMM_KERNELS})
def fully_connected(ctx: OpContext) -> Lowered:
    """dense layer, per-tensor or per-channel weights"""
    x, f, b, o = ctx.t(0), ctx.t(1), ctx.t(2), ctx.out
    out_depth, depth = f.shape
    batches = x.size // depth
    per_channel = f.quant.scale.size > 1
    if per_channel:
        mult, shift = qp.per_channel_multipliers(scale(x), f.quant.scale, scale(o), out_depth)
    else:
        m, s = qp.per_tensor_fc_multiplier(scale(x), f.quant.scale[0], scale(o))
        mult, shift = [m], [s]
    bias = b.array() if b is not None else None
    folded = fold_bias(bias, f.array().astype(np.int64).sum(axis=1), -zp(x), depth)
    if folded is not None:
        return lower_gemm(ctx, f.array(), bias, folded, mult, shift, rows=batches, depth=depth, cols=out_depth,
                          per_channel=per_channel)
    amin, amax = act_range(ctx)
    arrays = [const_array(ctx, "int8_t", "filter", f.array(), True),
              const_array(ctx, "int32_t", "mult", mult), const_array(ctx, "int32_t", "shift", shift)]
    if b is not None:
        arrays.insert(1, const_array(ctx, "int32_t", "bias", bias, True))
    fields = [("batches", batches), ("depth", depth), ("out_depth", out_depth), ("in_offset", -zp(x)),
              ("out_offset", zp(o)), ("act_min", amin), ("act_max", amax), ("per_channel", int(per_channel))]
    ptrs = [("filter", f"{ctx.ident}_filter"), ("bias", f"{ctx.ident}_bias" if b is not None else "0"),
            ("mult", f"{ctx.ident}_mult"), ("shift", f"{ctx.ident}_shift")]
    struct = CStruct("ecnn_fc_params", f"{ctx.ident}_p", [(k, c_int(v)) for k, v in fields] + ptrs)
    # every output reads the whole input row: writes of step s (output s) stay below the row's start
    steps = batches * out_depth
    min_read = np.repeat(np.arange(batches, dtype=np.int64) * depth, out_depth)
    d = overlap_bound(min_read, np.arange(1, steps + 1, dtype=np.int64))
    return Lowered([params_call("ecnn_fully_connected", struct, In(0), Out())], arrays, [struct], {0: d})
