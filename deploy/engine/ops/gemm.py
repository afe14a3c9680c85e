"""ecnn_gemm: the lowering of a FULLY_CONNECTED or a 1x1 stride-1 convolution to rows x depth x cols, with the DSP
cores' column-pair filter and three-row block where they apply."""
from __future__ import annotations

import numpy as np

from deploy.engine.c_format import c_int
from deploy.engine.ops.common import act_range, const_array, rows_overlap, zp
from deploy.engine.ops.lowered import CStruct, In, Lowered, Out, params_call
from deploy.engine.ops.registry import OpContext
from deploy.engine.ops.variants import dense_pairs, gemm3_blocks, gemm_pairs, rq_right

# ecnn_conv.c and the private headers of its per-core blocks
CONV_FILES = ("ecnn_conv.c", "ecnn_conv_dsp.h", "ecnn_conv_mve.h", "ecnn_gemm3.h")
GEMM_KERNELS = {"ecnn_gemm": CONV_FILES}


def use_pairs(ctx: OpContext, pairs: np.ndarray, arrays: list, ptrs: list) -> None:
    """The layer's filter (arrays[0], ptrs[0]) as column pairs on the DSP cores: they compile and read only the
    pair array (`pairs`), the other cores only the plain filter."""
    arrays[0].guard = "!defined(ECNN_MODEL_DSP)"
    ptrs[0] = ("filter", f"ECNN_NOT_DSP({ctx.ident}_filter)")
    arrays.append(const_array(ctx, "int32_t", "pairs", pairs, True, guard="defined(ECNN_MODEL_DSP)"))
    ptrs.append(("pairs", f"ECNN_FOR_DSP({ctx.ident}_pairs)"))


def lower_gemm(ctx: OpContext, filt, bias, folded, mult, shift, rows: int, depth: int, cols: int,
               per_channel: bool) -> Lowered:
    """ecnn_gemm for a FULLY_CONNECTED or a 1x1 stride-1 convolution (filter as [cols][depth])."""
    o = ctx.out
    amin, amax = act_range(ctx)
    # the folded bias stands in for the model's bias (same bytes), so it counts as a weight when there is one
    arrays = [const_array(ctx, "int8_t", "filter", np.asarray(filt).reshape(cols, depth), True),
              const_array(ctx, "int32_t", "bias_folded", folded, bias is not None),
              const_array(ctx, "int32_t", "mult", mult), const_array(ctx, "int32_t", "shift", shift)]
    fields = [("rows", rows), ("depth", depth), ("cols", cols), ("mult_stride", int(per_channel)),
              ("out_offset", zp(o)), ("act_min", amin), ("act_max", amax),
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
        use_pairs(ctx, pairs, arrays, ptrs)
    struct = CStruct("ecnn_gemm_params", f"{ctx.ident}_p", [(k, c_int(v)) for k, v in fields] + ptrs)
    return Lowered([params_call("ecnn_gemm", struct, In(0), Out())], arrays, [struct],
                   {0: rows_overlap(rows, depth, cols)}, instances=instances)
