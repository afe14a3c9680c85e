/* edgecnn int8 kernels: portable C99, no malloc, no floating point.
 *
 * Every kernel computes exactly what TensorFlow Lite Micro's reference kernels compute for the same
 * int8 model (per-channel requantization with MultiplyByQuantizedMultiplier, gemmlowp fixed point
 * for softmax). Parameters are constant structs emitted by the code generator.
 *
 * Aliasing: input and output pointers may overlap. The kernels read and write in the documented
 * order (output pixel by output pixel, row-major; channels innermost) and the memory planner only
 * overlaps an output with an input where that order provably never overwrites an input byte that is
 * still to be read. Do not add `restrict` or reorder loops without updating deploy/memory_plan.py.
 */
#ifndef ECNN_KERNELS_H
#define ECNN_KERNELS_H

#include <stdint.h>

/* The kernel path of this core, by the same tests as ecnn_dot.h (ecnn_internal.h checks that they agree), for
 * the generated model's constants that only one path reads: ECNN_FOR_DSP(x) is x on the DSP cores (M4, M7,
 * M33) and 0 elsewhere, ECNN_NOT_DSP(x) the reverse, ECNN_NOT_MVE(x) is x except on Helium cores; the arrays
 * themselves are compiled only where they are read (ECNN_MODEL_DSP, ECNN_MODEL_MVE), so no core carries another's tables in flash. */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && !defined(ECNN_PORTABLE)
#define ECNN_MODEL_MVE 1
#define ECNN_NOT_MVE(x) 0
#else
#define ECNN_NOT_MVE(x) x
#endif
#if !defined(ECNN_MODEL_MVE) && defined(__ARM_FEATURE_DSP) && !defined(ECNN_PORTABLE)
#define ECNN_MODEL_DSP 1
#define ECNN_FOR_DSP(x) x
#define ECNN_NOT_DSP(x) 0
#else
#define ECNN_FOR_DSP(x) 0
#define ECNN_NOT_DSP(x) x
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- fixed-point helpers (TFLite / gemmlowp semantics) ---- */
int32_t ecnn_srdhm(int32_t a, int32_t b);               /* SaturatingRoundingDoublingHighMul */
int32_t ecnn_rdpot(int32_t x, int exponent);             /* RoundingDivideByPOT, 0 <= exponent <= 31 */
int32_t ecnn_mbqm(int32_t x, int32_t multiplier, int shift); /* MultiplyByQuantizedMultiplier */

struct ecnn_gemm_params_s;

/* CONV_2D (grouped when in_c > k_c) and DEPTHWISE_CONV_2D (depth_mult > 0). */
typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w, k_c;          /* filter: [out_c][k_h][k_w][k_c]; depthwise: [1][k_h][k_w][out_c] */
    int32_t stride_h, stride_w, dil_h, dil_w, pad_h, pad_w;
    int32_t depth_mult;             /* 0: convolution, >0: depthwise with this multiplier */
    int32_t in_offset, out_offset;  /* -input zero point, +output zero point */
    int32_t act_min, act_max;
    int32_t rq_right;               /* 1: shifts right by 1..23 and |accumulators| < 2^30 (short requantization) */
    const int8_t *filter;
    const int32_t *bias;            /* may be 0 */
    const int32_t *mult;            /* per output channel */
    const int32_t *shift;
    const int32_t *bias_folded;     /* fast kernels: bias + in_offset * (sum of the channel's weights) */
    /* DSP cores, ecnn_conv2d_fast: every output channel of three pixels (ECNN_GEMM3, ecnn_gemm3.h); 0 elsewhere */
    void (*rows3)(const struct ecnn_gemm_params_s *p, const uint32_t *xs, int8_t *y);
    /* with rows3, when k_h k_w k_c is not a multiple of 4 (short rows, every window copied): rows3's filter, each
     * channel's k_h k_w k_c weights zero padded to the next multiple of 4; else 0 */
    const int8_t *filter4;
    /* DSP cores, with rows3 = ECNN_GEMM3P: the filter as column pairs (deploy.engine.ops.conv_pairs; filter is
     * then 0 there), and every pixel goes through the three-pixel block, the last one or two of a group repeated */
    const int32_t *pairs;
} ecnn_conv_params;

void ecnn_conv2d(const ecnn_conv_params *p, const int8_t *in, int8_t *out);
void ecnn_depthwise_conv2d(const ecnn_conv_params *p, const int8_t *in, int8_t *out);

/* Fast paths, chosen by the generator where their preconditions hold; same results, bit for bit.
 * The input offset is folded into bias_folded; a window that crosses the image border is either copied into
 * `window` with the input zero point in the missing taps (which then add exactly 0), or, when window is 0,
 * takes the exact path (bias + sum of (x + in_offset) * w over the taps that exist).
 *
 * ecnn_conv2d_fast: no dilation, any groups (in_c = groups * k_c; a group's output channels are contiguous).
 * window: 0, 2 or 4 * k_h * k_w * k_c bytes of scratch (border windows two at a time; all windows, up to four at
 * a time, when a kernel row has fewer than 16 values; the Helium path copies every window when there is a
 * scratch: two at a time, or four for short rows). Output pixels in row-major order, up to four neighbours
 * of a row at a time (aliasing: up to four consecutive pixels may be computed together; their windows are
 * read before any of them is written). ecnn_depthwise_fast: any depth multiplier and dilation, k_h * k_w <=
 * ECNN_DW_MAX_TAPS, pixels in row-major order, two at a time on Helium for multiplier 1 (both windows read before
 * either output is written); zrow: 0 when every window is inside the image, else in_c bytes of scratch (filled
 * with the input zero point, it stands in for the taps outside the image). */
void ecnn_conv2d_fast(const ecnn_conv_params *p, const int8_t *in, int8_t *out, int8_t *window);
#define ECNN_DW_MAX_TAPS 64 /* ecnn_depthwise_fast: k_h * k_w at most this */
/* ecnn_depthwise_fast on the DSP cores computes one channel at a time from a zero-point-padded copy of it (the
 * planar path: 3x3, stride 1 or 2, the short output stage, the whole int8 range as activation range) where
 * this holds; zrow is then that copy, ECNN_DW_PLANE_BYTES(p) bytes (the generator sizes the
 * scratch so on every core), and the output may overlap the input only by whole pixels (out - in a multiple of
 * in_c). Same predicate as deploy/engine/ops/variants.py's dw_planar. */
#define ECNN_DW_PLANAR(p)                                                                                         \
    ((p)->k_h == 3 && (p)->k_w == 3 && (p)->depth_mult == 1 && (p)->stride_h == (p)->stride_w &&                  \
     ((p)->stride_h == 1 || (p)->stride_h == 2) && (p)->dil_h == 1 && (p)->dil_w == 1 && (p)->rq_right &&         \
     (p)->act_min == -128 && (p)->act_max == 127)
#define ECNN_DW_PLANE_BYTES(p) ((((p)->out_h - 1) * (p)->stride_h + 3) * (((p)->out_w - 1) * (p)->stride_w + 3) + 3)
void ecnn_depthwise_fast(const ecnn_conv_params *p, const int8_t *in, int8_t *out, int8_t *zrow);

/* GEMM with requantization: out[r][o] = act(mbqm(bias_folded[o] + sum_k in[r][k] * filter[o][k]) + out_offset)
 * for r < rows, o < cols. Serves FULLY_CONNECTED and 1x1 stride-1 convolutions. Rows in order, up to four at
 * a time (aliasing: any four consecutive rows may be computed together, deploy.engine.ops.KERNEL_GROUP). */
typedef struct ecnn_gemm_params_s {
    int32_t rows, depth, cols;
    int32_t mult_stride;            /* 1: per-channel mult/shift, 0: one entry */
    int32_t out_offset, act_min, act_max;
    int32_t rq_right;               /* as in ecnn_conv_params */
    const int8_t *filter;           /* [cols][depth] */
    const int32_t *bias_folded;     /* [cols], never 0 */
    const int32_t *mult;
    const int32_t *shift;
    /* DSP cores: every column of three rows (ECNN_GEMM3 in ecnn_gemm3.h, specialized on depth); 0 elsewhere */
    void (*rows3)(const struct ecnn_gemm_params_s *p, const uint32_t *xs, int8_t *y);
    int32_t y_stride;               /* rows3: bytes from one row's outputs to the next; 0: cols */
    /* DSP cores, the filter as column pairs (filter is then 0 there): with rows3 (ECNN_GEMM3P, ecnn_gemm3.h;
     * deploy.engine.ops.gemm_pairs) every row goes through the three-row block; without it one row (a dense
     * layer; cols a multiple of 4, depth rounded up to 8 at most 864: x16_pairs4 in ecnn_conv_dsp.h,
     * deploy.engine.ops.dense_pairs) */
    const int32_t *pairs;
    int32_t y_stride2;              /* ECNN_GEMM3P: bytes from row 0's outputs to row 2's (set by ecnn_gemm) */
} ecnn_gemm_params;

void ecnn_gemm(const ecnn_gemm_params *p, const int8_t *in, int8_t *out);

/* FULLY_CONNECTED: out[b][o] over in[b][0..depth) with filter [out_depth][depth]. */
typedef struct {
    int32_t batches, depth, out_depth;
    int32_t in_offset, out_offset, act_min, act_max;
    int32_t per_channel;            /* 1: mult/shift hold out_depth entries, 0: one entry */
    const int8_t *filter;
    const int32_t *bias;            /* may be 0 */
    const int32_t *mult;
    const int32_t *shift;
} ecnn_fc_params;

void ecnn_fully_connected(const ecnn_fc_params *p, const int8_t *in, int8_t *out);

/* MAX_POOL_2D / AVERAGE_POOL_2D */
typedef struct {
    int32_t in_h, in_w, c, out_h, out_w;
    int32_t k_h, k_w, stride_h, stride_w, pad_h, pad_w;
    int32_t act_min, act_max;
} ecnn_pool_params;

void ecnn_max_pool2d(const ecnn_pool_params *p, const int8_t *in, int8_t *out);
void ecnn_avg_pool2d(const ecnn_pool_params *p, const int8_t *in, int8_t *out);

/* MEAN over H and W (TFLM's int8 mean): out = clamp(mbqm(sum - count * in_zp, mult, shift) + out_zp),
 * with mult/shift quantizing in_scale / (out_scale * count). */
typedef struct {
    int32_t batches, count, c;      /* count = H * W */
    int32_t in_zp, out_zp, mult, shift;
} ecnn_mean_params;

void ecnn_mean_hw(const ecnn_mean_params *p, const int8_t *in, int8_t *out);

/* ADD of two tensors of the same shape, with TFLM's input rescaling. in1_table, in2_table (or 0): each input's
 * rescaled value for every int8 value v, times 2, at [v + 128]; given when every sum of two rescaled values is
 * below 2^30 in magnitude, the output shift is a right shift by 1..23 and act_max is 127. */
typedef struct {
    int32_t size;
    int32_t in1_offset, in2_offset, left_shift;
    int32_t in1_mult, in1_shift, in2_mult, in2_shift;
    int32_t out_mult, out_shift, out_offset;
    int32_t act_min, act_max;
    const int32_t *in1_table, *in2_table;
} ecnn_add_params;

void ecnn_add(const ecnn_add_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);

/* Fused residual block, line by line: Y = ADD(X, U) with U = conv b(T), T = conv a(X), where a and b are
 * 3x3 stride-1 SAME convolutions with fast-path parameters (groups 1, bias_folded set) and X, U, Y have one
 * shape. T rows go into a ring of 3 rows, U one row at a time; Y row r is written over X row r as soon as T
 * row r+1 exists (no later T row reads X row r), so Y takes X's storage. Same results as the three ops run
 * one after another. x_first: 1 when X is the ADD's first input. scratch: 3 * T row + 1 * X row bytes, then
 * 2 * 9 * max(X channels, T channels) bytes for windows copied whole: border windows (see ecnn_conv2d_fast),
 * on Helium every window, two at a time. */
typedef struct {
    const ecnn_conv_params *a;
    const ecnn_conv_params *b;
    const ecnn_add_params *add;
    int32_t x_first;
} ecnn_resblock_params;

void ecnn_resblock(const ecnn_resblock_params *p, int8_t *x, int8_t *scratch);

/* SOFTMAX over the last dimension (int8 -> int8, output scale 1/256, zero point -128). */
typedef struct {
    int32_t rows, depth;
    int32_t input_multiplier, input_left_shift, diff_min;
} ecnn_softmax_params;

void ecnn_softmax(const ecnn_softmax_params *p, const int8_t *in, int8_t *out);

/* PAD of a [1][h][w][c] tensor (before/after pads per dimension). */
typedef struct {
    int32_t in_h, in_w, in_c, out_h, out_w, out_c;
    int32_t pad_top, pad_left, pad_front; /* front: channel padding before */
    int32_t value;
} ecnn_pad_params;

void ecnn_pad(const ecnn_pad_params *p, const int8_t *in, int8_t *out);

/* CONCATENATION: for each of `outer` slices, copy inner[j] bytes from each input j in turn. */
void ecnn_concat(int32_t outer, int32_t n_inputs, const int32_t *inner, const int8_t *const *ins, int8_t *out);

/* TRANSPOSE of up to 5 dimensions: out, in row-major output order, is in[sum_k i_k * strides[k]] over
 * the output index (i_0 .. i_4) < dims (unused leading dimensions have size 1). */
typedef struct {
    int32_t dims[5];                /* output shape, padded in front with 1 */
    int32_t strides[5];             /* input stride of the input axis that output axis k comes from */
} ecnn_transpose_params;

void ecnn_transpose(const ecnn_transpose_params *p, const int8_t *in, int8_t *out);

/* QUANTIZE int8 -> int8 (requantize) */
typedef struct {
    int32_t size, in_zp, out_zp, mult, shift;
} ecnn_requant_params;

void ecnn_requantize(const ecnn_requant_params *p, const int8_t *in, int8_t *out);

/* Byte copy that tolerates overlap (RESHAPE where no alias is possible, model input and output). */
void ecnn_copy(int8_t *dst, const int8_t *src, int32_t n);

#ifdef __cplusplus
}
#endif

#endif /* ECNN_KERNELS_H */
