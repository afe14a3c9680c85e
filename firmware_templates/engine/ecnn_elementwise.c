/* edgecnn element-wise and data-movement kernels (see ecnn_elementwise.h). Portable C99, bit-exact with TFLM. */
#include <stdint.h>

#include "ecnn_elementwise.h"

static int32_t ew_clamp(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

/* (x + offset) << left_shift, wrapping as TFLM's int32 arithmetic does (the values fit: |x| <= 255 << 20) */
static int32_t ew_shl(int32_t x, int32_t n)
{
    return (int32_t)((uint32_t)x << n);
}

/* MultiplyByQuantizedMultiplierSmallerThanOneExp: shift <= 0 */
static int32_t ew_scale_down(int32_t x, int32_t mult, int32_t shift)
{
    return ecnn_rdpot(ecnn_srdhm(x, mult), (int)-shift);
}

static int8_t ew_one(const ecnn_binary_params *p, int32_t a, int32_t b)
{
    int32_t r;
    switch (p->op) {
    case ECNN_BIN_MUL:
        r = ecnn_mbqm((a + p->in1_offset) * (b + p->in2_offset), p->out_mult, (int)p->out_shift);
        break;
    case ECNN_BIN_PRELU: {
        const int32_t x = a + p->in1_offset;
        r = x >= 0 ? ecnn_mbqm(x, p->out_mult, (int)p->out_shift)
                   : ecnn_mbqm(x * (b + p->in2_offset), p->out2_mult, (int)p->out2_shift);
        break;
    }
    default: { /* ADD, SUB */
        const int32_t sa = ew_scale_down(ew_shl(a + p->in1_offset, p->left_shift), p->in1_mult, p->in1_shift);
        const int32_t sb = ew_scale_down(ew_shl(b + p->in2_offset, p->left_shift), p->in2_mult, p->in2_shift);
        const int32_t raw = (int32_t)(p->op == ECNN_BIN_SUB ? (uint32_t)sa - (uint32_t)sb : (uint32_t)sa + (uint32_t)sb);
        r = ew_scale_down(raw, p->out_mult, p->out_shift);
        break;
    }
    }
    return (int8_t)ew_clamp(r + p->out_offset, p->act_min, p->act_max);
}

/* one run of n output elements along the last dimension */
static void ew_run(const ecnn_binary_params *p, const int8_t *a, const int8_t *b, int8_t *o, int32_t n)
{
    const int32_t sa = p->s1[ECNN_BIN_DIMS - 1], sb = p->s2[ECNN_BIN_DIMS - 1];
    int32_t i;
    if (p->add != 0 && sa == 1 && sb == 1) { /* contiguous ADD: ecnn_add, with its per-core path */
        ecnn_add_params q = *p->add;
        q.size = n;
        ecnn_add(&q, a, b, o);
        return;
    }
    if (p->op == ECNN_BIN_MUL && sb == 0) { /* x * broadcast value (squeeze-and-excite) */
        const int32_t bv = b[0] + p->in2_offset;
        const int32_t mult = p->out_mult, oo = p->out_offset, lo = p->act_min, hi = p->act_max;
        const int shift = (int)p->out_shift;
        for (i = 0; i < n; ++i) {
            o[i] = (int8_t)ew_clamp(ecnn_mbqm((a[i * sa] + p->in1_offset) * bv, mult, shift) + oo, lo, hi);
        }
        return;
    }
    for (i = 0; i < n; ++i) {
        o[i] = ew_one(p, a[i * sa], b[i * sb]);
    }
}

void ecnn_binary(const ecnn_binary_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    const int32_t n = p->dims[3];
    int32_t i0, i1, i2;
    for (i0 = 0; i0 < p->dims[0]; ++i0) {
        for (i1 = 0; i1 < p->dims[1]; ++i1) {
            for (i2 = 0; i2 < p->dims[2]; ++i2) {
                const int8_t *a = in1 + i0 * p->s1[0] + i1 * p->s1[1] + i2 * p->s1[2];
                const int8_t *b = in2 + i0 * p->s2[0] + i1 * p->s2[1] + i2 * p->s2[2];
                ew_run(p, a, b, out, n);
                out += n;
            }
        }
    }
}

void ecnn_lut(const int8_t *table, int32_t n, const int8_t *in, int8_t *out)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = table[(int32_t)in[i] + 128];
    }
}

void ecnn_resize_nearest(const ecnn_resize_params *p, const int8_t *in, int8_t *out)
{
    int32_t b, y, x, c;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *img = in + b * p->in_h * p->in_w * p->c;
        for (y = 0; y < p->out_h; ++y) {
            const int8_t *row = img + p->ys[y] * p->in_w * p->c;
            for (x = 0; x < p->out_w; ++x) {
                const int8_t *src = row + p->xs[x] * p->c;
                for (c = 0; c < p->c; ++c) {
                    *out++ = src[c];
                }
            }
        }
    }
}

void ecnn_reduce_mean(const ecnn_reduce_mean_params *p, const int8_t *in, int8_t *out)
{
    int32_t k0, k1, k2, k3, r0, r1, r2, r3;
    for (k0 = 0; k0 < p->keep_dims[0]; ++k0) {
        for (k1 = 0; k1 < p->keep_dims[1]; ++k1) {
            for (k2 = 0; k2 < p->keep_dims[2]; ++k2) {
                for (k3 = 0; k3 < p->keep_dims[3]; ++k3) {
                    const int8_t *base = in + k0 * p->keep_strides[0] + k1 * p->keep_strides[1] +
                                         k2 * p->keep_strides[2] + k3 * p->keep_strides[3];
                    int32_t sum = 0;
                    for (r0 = 0; r0 < p->red_dims[0]; ++r0) {
                        for (r1 = 0; r1 < p->red_dims[1]; ++r1) {
                            for (r2 = 0; r2 < p->red_dims[2]; ++r2) {
                                const int8_t *src = base + r0 * p->red_strides[0] + r1 * p->red_strides[1] +
                                                    r2 * p->red_strides[2];
                                for (r3 = 0; r3 < p->red_dims[3]; ++r3) {
                                    sum += src[r3 * p->red_strides[3]];
                                }
                            }
                        }
                    }
                    *out++ = (int8_t)ew_clamp(ecnn_mbqm(sum - p->count * p->in_zp, p->mult, (int)p->shift) +
                                              p->out_zp, -128, 127);
                }
            }
        }
    }
}
