"""MAX_POOL_2D, AVERAGE_POOL_2D and MEAN: window pools (ecnn_pool.c), the global average over height and width
(ecnn_mean_hw) and the mean over any axes (ecnn_reduce_mean)."""
from __future__ import annotations

import numpy as np

from deploy.engine import quant_params as qp
from deploy.engine.c_format import c_int
from deploy.engine.memory_plan import overlap_bound
from deploy.engine.ops.common import (COMMON, ELEMENTWISE_FILES, act_range, c_list, nhwc, padding, rule_fused_activation, rule_nhwc,
                                      rule_same_quant_in_out, scale, strides, window_overlap, zp)
from deploy.engine.ops.lowered import CStruct, In, Lowered, Out, params_call
from deploy.engine.ops.registry import OpContext, register

POOL_FILES = ("ecnn_pool.c",)
_POOL_RULES = (*COMMON, rule_nhwc, rule_same_quant_in_out, rule_fused_activation)


def _pool(ctx: OpContext, kernel: str) -> Lowered:
    x, o = ctx.t(0), ctx.out
    (ih, iw, c), (oh, ow, _) = nhwc(x), nhwc(o)
    opt = ctx.op.options
    kh, kw, sh, sw = opt["filter_h"], opt["filter_w"], opt["stride_h"] or 1, opt["stride_w"] or 1
    ph, pw = padding(opt["padding"], sh, 1, ih, kh, oh), padding(opt["padding"], sw, 1, iw, kw, ow)
    amin, amax = act_range(ctx)
    fields = [("in_h", ih), ("in_w", iw), ("c", c), ("out_h", oh), ("out_w", ow), ("k_h", kh), ("k_w", kw),
              ("stride_h", sh), ("stride_w", sw), ("pad_h", ph), ("pad_w", pw), ("act_min", amin),
              ("act_max", amax)]
    struct = CStruct("ecnn_pool_params", f"{ctx.ident}_p", [(k, c_int(v)) for k, v in fields])
    d = window_overlap((ih, iw, c), (oh, ow, c), (kh, kw), (sh, sw), (1, 1), (ph, pw))
    return Lowered([params_call(kernel, struct, In(0), Out())], [], [struct], {0: d})


@register("MAX_POOL_2D", rules=_POOL_RULES, kernels={"ecnn_max_pool2d": POOL_FILES})
def max_pool_2d(ctx: OpContext) -> Lowered:
    """max pooling"""
    return _pool(ctx, "ecnn_max_pool2d")


@register("AVERAGE_POOL_2D", rules=_POOL_RULES, kernels={"ecnn_avg_pool2d": POOL_FILES})
def average_pool_2d(ctx: OpContext) -> Lowered:
    """average pooling"""
    return _pool(ctx, "ecnn_avg_pool2d")


def _mean_axes(ctx: OpContext) -> list[int]:
    n = len(ctx.t(0).shape)
    return sorted({int(a) % n for a in ctx.t(1).array().reshape(-1)})


def _mean_groups(ctx: OpContext):
    """(kept dims, their input strides), (reduced dims, their input strides), each merged, None if > 4."""
    x = ctx.t(0)
    axes = set(_mean_axes(ctx))
    st = strides(x.shape)
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
        return False, "computed axes"
    if _mean_groups(ctx) is None:
        return False, f"a {len(ctx.t(0).shape)}-D input reduced over axes {_mean_axes(ctx)}"
    return True, ""


def _mean_hw(ctx: OpContext) -> Lowered:
    """The global average over height and width: ecnn_mean_hw."""
    x, o = ctx.t(0), ctx.out
    n, h, w, c = x.shape
    mult, shift = qp.mean_params(h * w, scale(x), scale(o))
    fields = [("batches", n), ("count", h * w), ("c", c), ("in_zp", zp(x)), ("out_zp", zp(o)),
              ("mult", mult), ("shift", shift)]
    struct = CStruct("ecnn_mean_params", f"{ctx.ident}_p", [(k, c_int(v)) for k, v in fields])
    # step = channel: reads channel c of every cell (lowest byte c), then writes out[c]
    d = overlap_bound(np.arange(c, dtype=np.int64), np.arange(1, c + 1, dtype=np.int64),
                      read_before_write=True) if n == 1 else -o.size
    return Lowered([params_call("ecnn_mean_hw", struct, In(0), Out())], [], [struct], {0: d})


@register("MEAN", rules=(*COMMON, rule_mean_any_axes),
          kernels={"ecnn_mean_hw": POOL_FILES, "ecnn_reduce_mean": ELEMENTWISE_FILES})
def mean(ctx: OpContext) -> Lowered:
    """average over any constant axes"""
    x, o = ctx.t(0), ctx.out
    if len(x.shape) == 4 and _mean_axes(ctx) == [1, 2]:
        return _mean_hw(ctx)
    keep, red = _mean_groups(ctx)
    count = int(np.prod([d for d, _ in red], dtype=np.int64))
    mult, shift = qp.mean_params(count, scale(x), scale(o))
    fields = [("keep_dims", c_list([d for d, _ in keep])), ("keep_strides", c_list([s for _, s in keep])),
              ("red_dims", c_list([d for d, _ in red])), ("red_strides", c_list([s for _, s in red])),
              ("count", c_int(count)), ("in_zp", c_int(zp(x))), ("out_zp", c_int(zp(o))), ("mult", c_int(mult)),
              ("shift", c_int(shift))]
    struct = CStruct("ecnn_reduce_mean_params", f"{ctx.ident}_p", fields)
    # no in-place bound: an output element reads inputs spread over the whole tensor
    return Lowered([params_call("ecnn_reduce_mean", struct, In(0), Out())], [], [struct], {})
