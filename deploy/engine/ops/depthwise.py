"""DEPTHWISE_CONV_2D: ecnn_depthwise_fast (a tap pointer per window, any depth multiplier and dilation, the DSP
cores' planar 3x3) where the bias folds and the taps fit, the exact ecnn_depthwise_conv2d otherwise."""
from __future__ import annotations

from deploy.engine.ops.common import (COMMON, rule_fused_activation, rule_int8_symmetric_filter, rule_nhwc)
from deploy.engine.ops.conv import conv_parts
from deploy.engine.ops.lowered import In, Lowered, Out, Scratch, params_call
from deploy.engine.ops.registry import OpContext, register
from deploy.engine.ops.variants import DW_MAX_TAPS, dw_plane_bytes, dw_planar

DW_FILES = ("ecnn_depthwise.c",)


@register("DEPTHWISE_CONV_2D", rules=(*COMMON, rule_nhwc, rule_int8_symmetric_filter, rule_fused_activation),
          kernels={"ecnn_depthwise_conv2d": DW_FILES, "ecnn_depthwise_fast": DW_FILES})
def depthwise_conv_2d(ctx: OpContext) -> Lowered:
    """depthwise convolution with a depth multiplier"""
    p = conv_parts(ctx, depthwise=True)
    (_, _, ic), (oh, ow, _), (kh, kw, _) = p.in_hwc, p.out_hwc, p.k_hwc
    struct = p.struct(ctx)
    if p.folded is None or kh * kw > DW_MAX_TAPS:
        return Lowered([params_call("ecnn_depthwise_conv2d", struct, In(0), Out())], p.arrays, [struct],
                       {0: p.overlap(1)})
    # a row of the input zero point stands in for taps outside the image; the DSP cores' planar path needs
    # a padded plane instead, and an output that overlaps its input only by whole pixels
    planar = dw_planar((kh, kw), p.stride, p.dil, p.rq_right, p.act, depth_mult=p.out_hwc[2] // ic)
    scratch = max(ic if p.border else 0, dw_plane_bytes((oh, ow), p.stride) if planar else 0)
    call = params_call("ecnn_depthwise_fast", struct, In(0), Out(), Scratch() if scratch else 0)
    # two pixels together (the Helium path)
    return Lowered([call], p.arrays, [struct], {0: p.overlap(2)}, scratch=scratch, granule=ic if planar else 1)
