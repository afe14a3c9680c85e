"""CONV_2D: standard and grouped convolution (ecnn_conv2d_fast with the per-core blocks, ecnn_gemm for 1x1, the
exact ecnn_conv2d where the bias cannot be folded); conv_parts is the part DEPTHWISE_CONV_2D shares."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deploy.engine import quant_params as qp
from deploy.engine.c_format import c_int
from deploy.engine.ops.common import (COMMON, KERNEL_GROUP, act_range, const_array, fold_bias, nhwc, padding,
                                      rule_fused_activation, rule_int8_symmetric_filter, rule_nhwc, scale,
                                      window_overlap, zp)
from deploy.engine.ops.gemm import CONV_FILES, GEMM_KERNELS, lower_gemm, use_pairs
from deploy.engine.ops.lowered import CStruct, In, Lowered, Out, Scratch, params_call
from deploy.engine.ops.registry import OpContext, register
from deploy.engine.ops.variants import (TRIPLE_MAX_RUN, TRIPLE_MAX_TAPS, gemm3_blocks, gemm_pairs, rq_right,
                                        triples_cover)


@dataclass
class ConvParts:
    """A conv-like layer's geometry, requantization and constants as ecnn_conv_params holds them."""

    in_hwc: tuple[int, int, int]
    out_hwc: tuple[int, int, int]
    k_hwc: tuple[int, int, int]
    stride: tuple[int, int]
    dil: tuple[int, int]
    pad: tuple[int, int]
    mult: np.ndarray
    shift: np.ndarray
    act: tuple[int, int]
    bias: np.ndarray | None
    folded: np.ndarray | None  # the folded bias, None where the exact unfolded path runs
    rq_right: int
    arrays: list
    fields: list
    ptrs: list

    def struct(self, ctx: OpContext) -> CStruct:
        return CStruct("ecnn_conv_params", f"{ctx.ident}_p", [(k, c_int(v)) for k, v in self.fields] + self.ptrs)

    def overlap(self, group: int) -> int:
        return window_overlap(self.in_hwc, self.out_hwc, self.k_hwc[:2], self.stride, self.dil, self.pad, group=group)

    @property
    def border(self) -> bool:
        """Some window reaches outside the image."""
        (ih, iw, _), (oh, ow, _), (kh, kw, _) = self.in_hwc, self.out_hwc, self.k_hwc
        (sh, sw), (ph, pw) = self.stride, self.pad
        return ph > 0 or pw > 0 or (oh - 1) * sh - ph + kh > ih or (ow - 1) * sw - pw + kw > iw


def conv_parts(ctx: OpContext, depthwise: bool) -> ConvParts:
    x, f, b, o = ctx.t(0), ctx.t(1), ctx.t(2), ctx.out
    (ih, iw, ic), (oh, ow, oc) = nhwc(x), nhwc(o)
    opt = ctx.op.options
    kh, kw, kc = f.shape[1], f.shape[2], f.shape[3]
    sh, sw = opt.get("stride_h", 1) or 1, opt.get("stride_w", 1) or 1
    dh, dw = opt.get("dilation_h", 1) or 1, opt.get("dilation_w", 1) or 1
    ph = padding(opt["padding"], sh, dh, ih, kh, oh)
    pw = padding(opt["padding"], sw, dw, iw, kw, ow)
    mult, shift = qp.per_channel_multipliers(scale(x), f.quant.scale, scale(o), oc)
    amin, amax = act_range(ctx)
    dm = (oc // ic) if depthwise else 0
    w = f.array().astype(np.int64)
    bias = b.array() if b is not None else None
    folded = None
    # grouped convolutions (kc < ic) fold too: each output channel's sum runs over its own group's taps; a
    # depthwise folds with any depth multiplier and dilation (ecnn_depthwise_fast takes both)
    if depthwise or (dh == 1 and dw == 1 and ic % kc == 0):
        sums = w.sum(axis=(0, 1, 2)) if depthwise else w.reshape(oc, -1).sum(axis=1)
        folded = fold_bias(bias, sums, -zp(x), kh * kw * (1 if depthwise else kc))
    arrays = [const_array(ctx, "int8_t", "filter", f.array(), True),
              const_array(ctx, "int32_t", "mult", mult), const_array(ctx, "int32_t", "shift", shift)]
    if b is not None:
        arrays.insert(1, const_array(ctx, "int32_t", "bias", bias, True))
    if folded is not None:
        arrays.append(const_array(ctx, "int32_t", "bias_folded", folded))
    rqr = rq_right(shift, np.moveaxis(w, 3, 0) if depthwise else w, bias, folded)
    fields = [("in_h", ih), ("in_w", iw), ("in_c", ic), ("out_h", oh), ("out_w", ow), ("out_c", oc),
              ("k_h", kh), ("k_w", kw), ("k_c", kc), ("stride_h", sh), ("stride_w", sw),
              ("dil_h", dh), ("dil_w", dw), ("pad_h", ph), ("pad_w", pw), ("depth_mult", dm),
              ("in_offset", -zp(x)), ("out_offset", zp(o)), ("act_min", amin), ("act_max", amax),
              ("rq_right", rqr)]
    ptrs = [("filter", f"{ctx.ident}_filter"), ("bias", f"{ctx.ident}_bias" if b is not None else "0"),
            ("mult", f"{ctx.ident}_mult"), ("shift", f"{ctx.ident}_shift"),
            ("bias_folded", f"{ctx.ident}_bias_folded" if folded is not None else "0")]
    return ConvParts((ih, iw, ic), (oh, ow, oc), (kh, kw, kc), (sh, sw), (dh, dw), (ph, pw), mult, shift,
                     (amin, amax), bias, folded, rqr, arrays, fields, ptrs)


def rule_grouped(ctx: OpContext) -> tuple[bool, str]:
    """The input channels split into groups of the filter's depth, and the filters evenly among the groups."""
    in_c = ctx.t(0).shape[3]
    f = ctx.t(1)
    k_c, out_c = f.shape[3], f.shape[0]
    if k_c <= 0 or in_c % k_c or out_c % (in_c // k_c):
        return False, f"{in_c} input channels, filters of depth {k_c}, {out_c} filters"
    return True, ""


def _three_pixel_block(ctx: OpContext, p: ConvParts) -> list[str]:
    """ecnn_conv2d_fast's three-pixel block on the DSP cores, per group: the instances it needs (none where it does
    not apply), the column-pair or depth-padded filter added to p's arrays and pointers."""
    f = ctx.t(1)
    (_, iw, ic), (oh, ow, oc), (kh, kw, kc) = p.in_hwc, p.out_hwc, p.k_hwc
    amin, amax = p.act
    ksize = kh * kw * kc
    # short rows (every window copied, KERNEL_GROUP of them fit): windows and filter zero padded to a
    # multiple of 4 values, where the depth is not one (an RGB or one-channel input layer)
    ksize4 = -(-ksize // 4) * 4
    if kc != ic or kw * ic >= 16 or 3 * ksize4 > KERNEL_GROUP * ksize:
        ksize4 = ksize
    # grouped: the taps are read one by one (k_c a multiple of 4) in groups of oc / groups columns
    grouped_ok = kc == ic or (kc % 4 == 0 and kc <= TRIPLE_MAX_RUN and kh * kw <= TRIPLE_MAX_TAPS)
    blocks = gemm3_blocks(oh * ow, ksize4, oc // (ic // kc), p.rq_right, amin, amax) if grouped_ok else 0
    pairs = None
    if blocks and kc == ic and ksize4 == ksize and triples_cover((oh, ow), iw, (kh, kw), p.stride[1], p.pad[1],
                                                                 kw * ic):
        pairs = gemm_pairs(f.array().reshape(oc, ksize))
    if pairs is not None:  # ECNN_GEMM3P takes every pixel; the DSP cores read only the pair filter
        p.ptrs.append(("rows3", f"ECNN_GEMM3P_FN({ksize})"))
        use_pairs(ctx, pairs, p.arrays, p.ptrs)
        return [f"ECNN_GEMM3P({ksize}, {blocks})"]
    if not blocks:
        return []
    p.ptrs.append(("rows3", f"ECNN_GEMM3_FN({ksize4})"))
    if ksize4 != ksize:
        padded = np.zeros((oc, ksize4), dtype=np.int8)
        padded[:, :ksize] = f.array().reshape(oc, ksize)
        p.arrays.append(const_array(ctx, "int8_t", "filter4", padded, True, guard="defined(ECNN_MODEL_DSP)"))
        p.ptrs.append(("filter4", f"ECNN_FOR_DSP({ctx.ident}_filter4)"))
    return [f"ECNN_GEMM3({ksize4}, {blocks})"]


def lower_conv(ctx: OpContext) -> Lowered:
    """A CONV_2D's step (also each convolution of a fused residual block, deploy.engine.fusion)."""
    p = conv_parts(ctx, depthwise=False)
    (_, _, ic), (oh, ow, oc), (kh, kw, kc) = p.in_hwc, p.out_hwc, p.k_hwc
    if (p.folded is not None and kc == ic and kh == kw == 1 and p.stride == (1, 1) and p.pad == (0, 0)):
        return lower_gemm(ctx, ctx.t(1).array(), p.bias, p.folded, p.mult, p.shift, rows=oh * ow, depth=ic, cols=oc,
                          per_channel=True)
    if p.folded is None:
        struct = p.struct(ctx)
        return Lowered([params_call("ecnn_conv2d", struct, In(0), Out())], p.arrays, [struct], {0: p.overlap(1)})
    instances = _three_pixel_block(ctx, p)
    struct = p.struct(ctx)
    # zero-point padded windows: two at a time for border windows; for all windows of short rows, which
    # ecnn_conv2d_fast copies up to four at a time (KERNEL_GROUP, the Helium path)
    short = kw * ic < 16
    window = (KERNEL_GROUP if short else 2) * kh * kw * kc if p.border or short else 0
    call = params_call("ecnn_conv2d_fast", struct, In(0), Out(), Scratch() if window else 0)
    # ecnn_conv2d_fast: up to KERNEL_GROUP pixels together
    return Lowered([call], p.arrays, [struct], {0: p.overlap(KERNEL_GROUP)}, scratch=window, instances=instances)


@register("CONV_2D", rules=(*COMMON, rule_nhwc, rule_int8_symmetric_filter, rule_grouped, rule_fused_activation),
          kernels={"ecnn_conv2d": CONV_FILES, "ecnn_conv2d_fast": CONV_FILES, **GEMM_KERNELS})
def conv_2d(ctx: OpContext) -> Lowered:
    """standard and grouped convolution, any stride, padding and dilation"""
    return lower_conv(ctx)
