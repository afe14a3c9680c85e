"""QUANTIZE (int8 to int8 requantization, ecnn_requantize) and DEQUANTIZE (refused inside the model); a float32
model input's QUANTIZE and output's DEQUANTIZE run in ecnn_run (deploy.engine.graph_passes.float_io)."""
from __future__ import annotations

import numpy as np

from deploy.engine import quant_params as qp
from deploy.engine.c_format import c_int
from deploy.engine.memory_plan import overlap_bound
from deploy.engine.ops.common import COMMON, scale, zp
from deploy.engine.ops.lowered import CStruct, In, Lowered, Out, params_call
from deploy.engine.ops.registry import OpContext, refuse, register


def rule_quantize(ctx: OpContext) -> tuple[bool, str]:
    """QUANTIZE inside the model is int8 to int8 (the engine quantizes only the model's own float32 input, in
    ecnn_run)."""
    if ctx.t(0).dtype != "int8":
        return False, f"a QUANTIZE from {ctx.t(0).dtype}, a float op"
    return True, ""


@register("QUANTIZE", rules=(rule_quantize, *COMMON), kernels={"ecnn_requantize": ()})
def quantize(ctx: OpContext) -> Lowered:
    """int8 to int8 requantization; a float32 model input's QUANTIZE and a float32 model output's DEQUANTIZE run in
    ecnn_run (TFLM's float arithmetic)"""
    x, o = ctx.t(0), ctx.out
    m, s = qp.requantize_params(scale(x), scale(o))
    fields = [("size", o.size), ("in_zp", zp(x)), ("out_zp", zp(o)), ("mult", m), ("shift", s)]
    struct = CStruct("ecnn_requant_params", f"{ctx.ident}_p", [(k, c_int(v)) for k, v in fields])
    steps = np.arange(o.size, dtype=np.int64)
    d = overlap_bound(steps, steps + 1, read_before_write=True)
    return Lowered([params_call("ecnn_requantize", struct, In(0), Out())], [], [struct], {0: d})


refuse("DEQUANTIZE", "DEQUANTIZE inside the model produces float32 that later ops would compute on, which the int8 "
       "engine does not run (a DEQUANTIZE making the model's output runs in ecnn_run)",
       "only as the model's last op (its float32 output, in ecnn_run)")
