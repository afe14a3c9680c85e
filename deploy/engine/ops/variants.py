"""Which per-core kernel variant a conv-like layer takes, and the constant layouts those variants read.

Each predicate here mirrors one in the C kernels (named in its docstring) and a test holds the two equal: the
DSP cores' short requantization (rq_right), the planar depthwise (dw_planar, dw_plane_bytes), the column-pair
filter layouts (dense_pairs, gemm_pairs) and the three-row block (gemm3_blocks, triples_cover).
"""
from __future__ import annotations

import numpy as np

DW_MAX_TAPS = 64  # ECNN_DW_MAX_TAPS in ecnn_kernels.h: the fast depthwise kernel keeps one pointer per tap


def dw_planar(k_hw, stride_hw, dil_hw, rq_right_flag: int, act_range, depth_mult: int = 1) -> bool:
    """ecnn_depthwise_fast takes its planar path on the DSP cores (ECNN_DW_PLANAR in ecnn_kernels.h, the same
    predicate): a 3x3 kernel of depth multiplier 1, stride 1 or 2 (the same both ways), no dilation, the short
    output stage and the whole int8 range as activation range (one SSAT; ReLU with the usual output zero point
    -128 is that)."""
    return (tuple(k_hw) == (3, 3) and depth_mult == 1 and tuple(stride_hw) in ((1, 1), (2, 2))
            and tuple(dil_hw) == (1, 1) and bool(rq_right_flag) and tuple(act_range) == (-128, 127))


def dw_plane_bytes(out_hw, stride_hw) -> int:
    """The planar path's scratch (ECNN_DW_PLANE_BYTES): the padded input plane of one channel, 3 bytes to spare
    for the last window's word load."""
    return ((out_hw[0] - 1) * stride_hw[0] + 3) * ((out_hw[1] - 1) * stride_hw[1] + 3) + 3


def rq_right(shift, weights, bias, folded) -> int:
    """1 when the DSP kernels' short requantization (requant_fast in ecnn_internal.h) is exact for every output
    channel: each shift is a right shift by 1..23, and every accumulator the fast kernels can form stays below
    2^30 in magnitude (bias_folded + int8 inputs, or the border path's bias + inputs with their offset, <= 255);
    `weights` is [channels, ...]. 0 keeps TFLM's general form."""
    s = np.asarray(shift).reshape(-1)
    if folded is None or s.size == 0 or not np.all((s >= -23) & (s <= -1)):
        return 0
    wsum = np.abs(np.asarray(weights, np.int64)).reshape(len(folded), -1).sum(axis=1)
    b = np.zeros(len(folded), np.int64) if bias is None else np.abs(np.asarray(bias, np.int64).reshape(-1))
    bound = np.maximum(np.abs(np.asarray(folded, np.int64)) + 128 * wsum, b + 255 * wsum)
    return int(bool(np.all(bound < 2 ** 30)))


DENSE_PAIRS_MAX_DEPTH = 864  # the row widened (depth rounded up to 8) fits ECNN_GEMM_XS_WORDS (432) words


def _pair_words(w: np.ndarray) -> np.ndarray | None:
    """[cols / 2][depth / 2] words of the column-pair layout (x16_pairs4 in ecnn_conv_dsp.h) of the filter w
    [cols][depth] (cols even, depth a multiple of 4), or None where the DSP kernels cannot split it exactly.
    Columns L = 2i and H = 2i + 1 share each word: for the widened pair (x[a], x[b]) the bytes L[a], H'[a],
    L[b], H'[b] (lowest first) with H'[k] = H[k] - (L[k] < 0), so that each halfword is L[k] + 256 H[k]; per 4
    values k the words for (x[k], x[k+2]) then (x[k+1], x[k+3]). Needs H' >= -128 and, for the exact split of H's
    sum from the SMLAD of the whole word, |H.x| < 2^23 for every int8 row x: 128 sum|H| < 2^23."""
    w = np.asarray(w, np.int64)
    lo, hi = w[0::2], w[1::2] - (w[0::2] < 0)
    if hi.size == 0 or hi.min() < -128 or (128 * np.abs(w[1::2]).sum(axis=1)).max() >= 2 ** 23:
        return None
    order = np.arange(w.shape[1]).reshape(-1, 2, 2).transpose(0, 2, 1).reshape(-1)  # k, k + 2, k + 1, k + 3
    halves = (lo[:, order] & 0xFF) | ((hi[:, order] & 0xFF) << 8)
    return (halves[:, 0::2] | (halves[:, 1::2] << 16)).astype(np.uint32)


def dense_pairs(w: np.ndarray) -> np.ndarray | None:
    """The filter [cols][depth] of a one-row GEMM (a dense layer) in the DSP cores' column-pair layout for
    x16_pairs4 (_pair_words) as int32 words, or None where it does not apply: four columns a group, per 4 values
    of depth pair 0's two words then pair 1's; the depth zero padded to a multiple of 8. Needs cols a multiple
    of 4 and depth + padding at most DENSE_PAIRS_MAX_DEPTH."""
    cols, depth = w.shape
    n8 = -(-depth // 8) * 8
    if cols % 4 or depth < 4 or n8 > DENSE_PAIRS_MAX_DEPTH:
        return None
    words = _pair_words(np.pad(np.asarray(w, np.int64), ((0, 0), (0, n8 - depth))))
    if words is None:
        return None
    # [quads][2 pairs][n8 / 4 blocks][2 words] -> [quads][blocks][2 pairs][2 words]
    words = words.reshape(cols // 4, 2, n8 // 4, 2).transpose(0, 2, 1, 3)
    return words.reshape(-1).view(np.int32)


GEMM3P_MIN_DEPTH = 16  # below, H's fix-up after the loop costs about what the pair words save in it


def gemm_pairs(w: np.ndarray) -> np.ndarray | None:
    """The filter [cols][depth] of a GEMM that takes ECNN_GEMM3 (cols even, depth a multiple of 4) in the column-pair
    layout for ECNN_GEMM3P (_pair_words: pair by pair, per 4 values its two words), as int32 words; None where
    that does not apply or does not pay (depth below GEMM3P_MIN_DEPTH)."""
    cols, depth = w.shape
    if cols % 2 or depth % 4 or depth < GEMM3P_MIN_DEPTH:
        return None
    words = _pair_words(w)
    return None if words is None else words.reshape(-1).view(np.int32)


GEMM3_MAX_DEPTH = 288  # three rows widened (3 depth / 2 words) fit ECNN_GEMM_XS_WORDS (432) in ecnn_conv.c
GEMM3_MAX_BLOCKS = 16  # blocks of 4 values unrolled per pass in ECNN_GEMM3 (code: 84 bytes each)


# ecnn_conv.c's ECNN_TRIPLE_MAX_RUN and ECNN_TRIPLE_MAX_KH: a grouped convolution's three-pixel block reads its
# windows tap by tap (k_c values each, at most this many), at most this many taps
TRIPLE_MAX_RUN = 96
TRIPLE_MAX_TAPS = 9


def triples_cover(out_hw, in_w: int, k_hw, stride_w: int, pad_w: int, run: int) -> bool:
    """Whether ecnn_conv2d_fast (threes of pixels in row-major order) and ecnn_conv_row3 (threes within a row,
    the fused residual block) can give every pixel to the three-pixel block, a last one or two repeated
    (ECNN_GEMM3P): kernel rows of a multiple of 4 values, at most ECNN_TRIPLE_MAX_RUN of them, at most
    ECNN_TRIPLE_MAX_KH rows, and no three that hold more than two windows crossing the left or right border
    (the scratch holds two copies)."""
    (out_h, out_w), (kh, kw) = out_hw, k_hw
    if run % 4 or run > TRIPLE_MAX_RUN or kh > TRIPLE_MAX_TAPS:
        return False
    x0 = np.arange(out_w) * stride_w - pad_w
    cross = ((x0 < 0) | (x0 + kw > in_w)).astype(np.int64)
    flat = np.tile(cross, out_h)
    in_order = np.pad(flat, (0, -flat.size % 3)).reshape(-1, 3).sum(axis=1)
    in_row = np.pad(cross, (0, -out_w % 3)).reshape(-1, 3).sum(axis=1)
    return int(in_order.max()) <= 2 and int(in_row.max()) <= 2


def gemm3_blocks(rows: int, depth: int, cols: int, rq_right: int, act_min: int, act_max: int) -> int:
    """Blocks per pass of the DSP three-row GEMM (ECNN_GEMM3 in ecnn_gemm3.h) for this layer, 0 where it does
    not apply: it needs the one-SSAT output stage (rq_right, range -128..127), a depth that is a multiple of 4
    and fits its buffer, an even column count and at least three rows. The largest divisor of depth / 4 that is
    at most GEMM3_MAX_BLOCKS, so the passes cover the depth exactly."""
    if not (rq_right and act_min == -128 and act_max == 127 and rows >= 3 and cols >= 2 and cols % 2 == 0
            and depth % 4 == 0 and 4 <= depth <= GEMM3_MAX_DEPTH):
        return 0
    quads = depth // 4
    return max(b for b in range(1, GEMM3_MAX_BLOCKS + 1) if quads % b == 0)

