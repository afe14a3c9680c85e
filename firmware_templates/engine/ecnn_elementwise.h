/* edgecnn element-wise and data-movement kernels: broadcasting ADD / SUB / MUL / PRELU, table activations
 * (HARD_SWISH, LOGISTIC, TANH, RELU, RELU6, LEAKY_RELU), nearest-neighbour resize and MEAN over any axes.
 *
 * Same rules as ecnn_kernels.h: portable C99, no malloc, no floating point, every result equal to TensorFlow
 * Lite Micro's reference int8 kernel. Outputs are written in row-major order, one element after its inputs
 * were read (deploy/engine_ops_elementwise.py derives the in-place bounds of the memory plan from that order).
 */
#ifndef ECNN_ELEMENTWISE_H
#define ECNN_ELEMENTWISE_H

#include <stdint.h>

#include "ecnn_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ECNN_BIN_DIMS 4 /* broadcast shapes, after merging dimensions, have at most this many */

enum { ECNN_BIN_ADD = 0, ECNN_BIN_SUB = 1, ECNN_BIN_MUL = 2, ECNN_BIN_PRELU = 3 };

/* out[i0][i1][i2][i3] = f(in1[sum i_k * s1[k]], in2[sum i_k * s2[k]]) over the output shape dims (a stride of 0
 * broadcasts that input along the dimension), with TFLM's int8 arithmetic for f:
 *   ADD / SUB: both inputs rescaled (left_shift, in*_mult / in*_shift), summed or subtracted, requantized
 *              (out_mult / out_shift); add points at the same numbers as an ecnn_add_params, which runs of
 *              contiguous elements go to (so they take ecnn_add's per-core path)
 *   MUL:       mbqm((in1 + in1_offset) * (in2 + in2_offset), out_mult, out_shift)
 *   PRELU:     in2 is alpha; x = in1 + in1_offset; x >= 0 ? mbqm(x, out_mult, out_shift)
 *                                                   : mbqm(x * (alpha + in2_offset), out2_mult, out2_shift)
 * then + out_offset, clamped to [act_min, act_max]. */
typedef struct {
    int32_t op;
    int32_t dims[ECNN_BIN_DIMS];
    int32_t s1[ECNN_BIN_DIMS], s2[ECNN_BIN_DIMS];
    int32_t in1_offset, in2_offset, out_offset;
    int32_t left_shift, in1_mult, in1_shift, in2_mult, in2_shift;
    int32_t out_mult, out_shift, out2_mult, out2_shift;
    int32_t act_min, act_max;
    const ecnn_add_params *add; /* ADD only, else 0 */
} ecnn_binary_params;

void ecnn_binary(const ecnn_binary_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);

/* Any int8 -> int8 function of one element: out[i] = table[in[i] + 128]. The generator tabulates TFLM's
 * integer kernel (HARD_SWISH, LOGISTIC, TANH, RELU, RELU6, LEAKY_RELU) for all 256 inputs. */
void ecnn_lut(const int8_t *table, int32_t n, const int8_t *in, int8_t *out);

/* RESIZE_NEAREST_NEIGHBOR: out[b][y][x][:] = in[b][ys[y]][xs[x]][:] (TFLM's GetNearestNeighbor, tabulated). */
typedef struct {
    int32_t batches, in_h, in_w, c, out_h, out_w;
    const int32_t *ys;
    const int32_t *xs;
} ecnn_resize_params;

void ecnn_resize_nearest(const ecnn_resize_params *p, const int8_t *in, int8_t *out);

/* MEAN over any axes (TFLM's QuantizedMeanOrSum): for every output element (the kept dimensions, row-major),
 * the sum of its count input elements (the reduced dimensions) -> clamp(mbqm(sum - count * in_zp, mult, shift)
 * + out_zp). Strides are in input elements; unused dimensions have size 1. */
typedef struct {
    int32_t keep_dims[4], keep_strides[4];
    int32_t red_dims[4], red_strides[4];
    int32_t count, in_zp, out_zp, mult, shift;
} ecnn_reduce_mean_params;

void ecnn_reduce_mean(const ecnn_reduce_mean_params *p, const int8_t *in, int8_t *out);

#ifdef __cplusplus
}
#endif

#endif /* ECNN_ELEMENTWISE_H */
