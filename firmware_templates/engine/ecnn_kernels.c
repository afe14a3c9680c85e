/* edgecnn int8 kernels: portable C99, no malloc, no floating point. See ecnn_kernels.h. */
#include "ecnn_kernels.h"
#include "ecnn_dot.h"

#include <string.h>

#define ECNN_INT32_MIN (-2147483647 - 1)
#define ECNN_INT32_MAX 2147483647

/* ---- wrapping and shifting helpers: defined behaviour for every input (UBSan clean) ---- */

static int32_t wrap_add(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

static int32_t wrap_sub(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

static int32_t shl_wrap(int32_t x, int n)
{
    return (int32_t)((uint32_t)x << n);
}

/* Arithmetic shift right, written so that it does not depend on how the compiler shifts negatives. */
static int32_t asr(int32_t x, int n)
{
    return x >= 0 ? (x >> n) : (int32_t)~(~x >> n);
}

static int32_t clamp(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

/* ---- TFLite / gemmlowp fixed point ---- */

/* Inlined into the kernels' inner loops where the compiler supports forcing it (no effect on results). */
#if defined(__GNUC__)
#define ECNN_INLINE static inline __attribute__((always_inline))
#else
#define ECNN_INLINE static inline
#endif

ECNN_INLINE int32_t srdhm(int32_t a, int32_t b)
{
    int64_t ab;
    int64_t nudge;
    if (a == b && a == ECNN_INT32_MIN) {
        return ECNN_INT32_MAX;
    }
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

ECNN_INLINE int32_t rdpot(int32_t x, int exponent)
{
    const int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return asr(x, exponent) + (remainder > threshold ? 1 : 0);
}

/* srdhm for b >= 0, which every requantization multiplier is (TFLite's QuantizeMultiplier gives [2^30, 2^31)
 * or 0), so the saturating case a == b == INT32_MIN cannot occur. gemmlowp's sign-dependent nudge followed by
 * division truncating toward zero equals one constant nudge 2^30 followed by a floor shift: for ab = -k < 0,
 * trunc((1 - 2^30 - k) / 2^31) = -floor((k + 2^30 - 1) / 2^31) = -ceil((k - 2^30) / 2^31) = floor((2^30 - k) / 2^31).
 * That is one 64-bit multiply-accumulate (SMLAL) and a shift, with no branches. */
ECNN_INLINE int32_t srdhm_pos(int32_t a, int32_t b)
{
    const int64_t ab = (int64_t)a * (int64_t)b + ((int64_t)1 << 30);
    return (int32_t)(ab >= 0 ? ab >> 31 : ~(~ab >> 31));
}

/* MultiplyByQuantizedMultiplier for a multiplier >= 0 (see srdhm_pos). */
ECNN_INLINE int32_t mbqm(int32_t x, int32_t multiplier, int shift)
{
    if (shift > 0) {
        return srdhm_pos(shl_wrap(x, shift), multiplier);
    }
    return rdpot(srdhm_pos(x, multiplier), -shift);
}

int32_t ecnn_srdhm(int32_t a, int32_t b)
{
    return srdhm(a, b);
}

int32_t ecnn_rdpot(int32_t x, int exponent)
{
    return rdpot(x, exponent);
}

int32_t ecnn_mbqm(int32_t x, int32_t multiplier, int shift)
{
    if (multiplier < 0) { /* not a QuantizeMultiplier output; the general form */
        return rdpot(srdhm(shl_wrap(x, shift > 0 ? shift : 0), multiplier), shift > 0 ? 0 : -shift);
    }
    return mbqm(x, multiplier, shift);
}

/* TFLM's per-channel output stage: requantize, add the output zero point, clamp to the activation. */
ECNN_INLINE int8_t requant(int32_t acc, int32_t mult, int32_t shift, int32_t out_offset, int32_t lo, int32_t hi)
{
    return (int8_t)clamp(mbqm(acc, mult, (int)shift) + out_offset, lo, hi);
}

/* n elements of TFLM's int8 ADD: both inputs rescaled (left shift, per-input multiplier), summed, requantized.
 * The three multipliers come from QuantizeMultiplierSmallerThanOneExp, so they are >= 0 and srdhm_pos equals
 * srdhm; the shifts are <= 0 (a rounding right shift by -shift). With Helium, four lanes at a time: VQRDMULH is
 * srdhm exactly and ecnn_rdpot_mve is RoundingDivideByPOT exactly, so every lane matches the scalar code. */
static void add_rows(const ecnn_add_params *p, const int8_t *in1, const int8_t *in2, int8_t *out, int32_t n)
{
#if defined(ECNN_DOT_MVE)
    const int32x4_t off1 = vdupq_n_s32(p->in1_offset), off2 = vdupq_n_s32(p->in2_offset);
    const int32x4_t left = vdupq_n_s32(p->left_shift);
    const int32x4_t s1 = vdupq_n_s32(p->in1_shift), s2 = vdupq_n_s32(p->in2_shift);
    const int32x4_t so = vdupq_n_s32(p->out_shift), oo = vdupq_n_s32(p->out_offset);
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    const int32_t m1 = p->in1_mult, m2 = p->in2_mult, mo = p->out_mult;
    int32_t i;
    for (i = 0; i < n; i += 4) {
        const mve_pred16_t pr = vctp32q((uint32_t)(n - i));
        int32x4_t a = vshlq_s32(vaddq_s32(vldrbq_z_s32(in1 + i, pr), off1), left);
        int32x4_t b = vshlq_s32(vaddq_s32(vldrbq_z_s32(in2 + i, pr), off2), left);
        a = ecnn_rdpot_mve(vqrdmulhq_n_s32(a, m1), s1);
        b = ecnn_rdpot_mve(vqrdmulhq_n_s32(b, m2), s2);
        a = vaddq_s32(ecnn_rdpot_mve(vqrdmulhq_n_s32(vaddq_s32(a, b), mo), so), oo);
        vstrbq_p_s32(out + i, vminq_s32(vmaxq_s32(a, lo), hi), pr);
    }
#else
    const int32_t off1 = p->in1_offset, off2 = p->in2_offset, left = p->left_shift;
    const int32_t m1 = p->in1_mult, m2 = p->in2_mult, mo = p->out_mult;
    const int s1 = (int)-p->in1_shift, s2 = (int)-p->in2_shift, so = (int)-p->out_shift;
    const int32_t oo = p->out_offset, lo = p->act_min, hi = p->act_max;
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t a = rdpot(srdhm_pos(shl_wrap(in1[i] + off1, (int)left), m1), s1);
        const int32_t b = rdpot(srdhm_pos(shl_wrap(in2[i] + off2, (int)left), m2), s2);
        out[i] = (int8_t)clamp(rdpot(srdhm_pos(wrap_add(a, b), mo), so) + oo, lo, hi);
    }
#endif
}

/* SaturatingRoundingMultiplyByPOT with a positive exponent: a saturating left shift. */
static int32_t sat_shl(int32_t x, int exponent)
{
    const int32_t threshold = (int32_t)(((uint32_t)1 << (31 - exponent)) - 1u);
    if (x > threshold) {
        return ECNN_INT32_MAX;
    }
    if (x < -threshold) {
        return ECNN_INT32_MIN;
    }
    return shl_wrap(x, exponent);
}

/* ---- convolutions ---- */

void ecnn_conv2d(const ecnn_conv_params *p, const int8_t *in, int8_t *out)
{
    const int32_t groups = p->in_c / p->k_c;
    const int32_t per_group = p->out_c / groups;
    int32_t oy, ox, oc, ky, kx, ic;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t y0 = oy * p->stride_h - p->pad_h;
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t x0 = ox * p->stride_w - p->pad_w;
            int8_t *o = out + ((int32_t)oy * p->out_w + ox) * p->out_c;
            for (oc = 0; oc < p->out_c; ++oc) {
                const int32_t c0 = (oc / per_group) * p->k_c;
                const int8_t *f = p->filter + (int32_t)oc * p->k_h * p->k_w * p->k_c;
                int32_t acc = 0;
                for (ky = 0; ky < p->k_h; ++ky) {
                    const int32_t y = y0 + ky * p->dil_h;
                    if (y < 0 || y >= p->in_h) {
                        continue;
                    }
                    for (kx = 0; kx < p->k_w; ++kx) {
                        const int32_t x = x0 + kx * p->dil_w;
                        const int8_t *src;
                        const int8_t *w;
                        if (x < 0 || x >= p->in_w) {
                            continue;
                        }
                        src = in + (y * p->in_w + x) * p->in_c + c0;
                        w = f + (ky * p->k_w + kx) * p->k_c;
                        for (ic = 0; ic < p->k_c; ++ic) {
                            acc += (int32_t)w[ic] * ((int32_t)src[ic] + p->in_offset);
                        }
                    }
                }
                if (p->bias) {
                    acc = wrap_add(acc, p->bias[oc]);
                }
                acc = mbqm(acc, p->mult[oc], (int)p->shift[oc]);
                acc += p->out_offset;
                o[oc] = (int8_t)clamp(acc, p->act_min, p->act_max);
            }
        }
    }
}

void ecnn_depthwise_conv2d(const ecnn_conv_params *p, const int8_t *in, int8_t *out)
{
    int32_t oy, ox, ic, m, ky, kx;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t y0 = oy * p->stride_h - p->pad_h;
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t x0 = ox * p->stride_w - p->pad_w;
            int8_t *o = out + ((int32_t)oy * p->out_w + ox) * p->out_c;
            for (ic = 0; ic < p->in_c; ++ic) {
                for (m = 0; m < p->depth_mult; ++m) {
                    const int32_t oc = ic * p->depth_mult + m;
                    int32_t acc = 0;
                    for (ky = 0; ky < p->k_h; ++ky) {
                        const int32_t y = y0 + ky * p->dil_h;
                        if (y < 0 || y >= p->in_h) {
                            continue;
                        }
                        for (kx = 0; kx < p->k_w; ++kx) {
                            const int32_t x = x0 + kx * p->dil_w;
                            if (x < 0 || x >= p->in_w) {
                                continue;
                            }
                            acc += (int32_t)p->filter[(ky * p->k_w + kx) * p->out_c + oc] *
                                   ((int32_t)in[(y * p->in_w + x) * p->in_c + ic] + p->in_offset);
                        }
                    }
                    if (p->bias) {
                        acc = wrap_add(acc, p->bias[oc]);
                    }
                    acc = mbqm(acc, p->mult[oc], (int)p->shift[oc]);
                    acc += p->out_offset;
                    o[oc] = (int8_t)clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

/* ---- fast paths: dot products over contiguous int8 runs ----
 * The 16-wide inner blocks have a constant trip count, which lets compilers vectorize them; the sums
 * are the same integers in any order (no overflow: |x * w| <= 2^15 and runs are far below 2^16). */

/* sum (x[i] + off) * w[i]: TFLM's own formula, for windows that cross the image border */
ECNN_INLINE int32_t dot_off(const int8_t *x, const int8_t *w, int32_t n, int32_t off)
{
    int32_t acc = 0;
    int32_t i = 0;
    int32_t j;
    for (; i + 16 <= n; i += 16) {
        for (j = 0; j < 16; ++j) {
            const int16_t v = (int16_t)(x[i + j] + off); /* in [-255, 255] */
            acc += (int32_t)v * (int32_t)w[i + j];
        }
    }
    for (; i < n; ++i) {
        acc += ((int32_t)x[i] + off) * (int32_t)w[i];
    }
    return acc;
}

#if defined(ECNN_DOT_MVE)
/* Requantization of one kernel call for the Helium paths: bias_folded, per-channel (ms = 1) or per-tensor (ms = 0)
 * multipliers and shifts, output offset and activation clamp. */
typedef struct {
    const int32_t *bias;
    const int32_t *mult;
    const int32_t *shift;
    int32_t ms, out_offset, lo, hi;
} mve_rq;

/* Output channels [oc, oc + m), m <= 4, of one pixel: the pixel's input is n_rows runs of `run` values, xstride
 * apart; channel k's filter is n_rows runs of `run` values from f + k * fstride. One VMLADAVA per 16 products
 * and channel, then the four sums requantized as one vector and stored with one narrowing store. */
ECNN_INLINE void mve_pixel4(const mve_rq *q, const int8_t *x, int32_t xstride, int32_t n_rows, int32_t run, const int8_t *f,
                            int32_t fstride, int32_t oc, int32_t m, int8_t *o)
{
    const int8_t *f0 = f + oc * fstride;
    const int8_t *f1 = m > 1 ? f0 + fstride : f0;
    const int8_t *f2 = m > 2 ? f0 + 2 * fstride : f0;
    const int8_t *f3 = m > 3 ? f0 + 3 * fstride : f0;
    const mve_pred16_t pc = vctp32q((uint32_t)m);
    int32_t a0 = 0;
    int32_t a1 = 0;
    int32_t a2 = 0;
    int32_t a3 = 0;
    int32_t r, i;
    int32x4_t acc;
    for (r = 0; r < n_rows; ++r) {
        const int8_t *xr = x + r * xstride;
        const int32_t fo = r * run;
        for (i = 0; i + 16 <= run; i += 16) {
            const int8x16_t u = vldrbq_s8(xr + i);
            a0 = vmladavaq_s8(a0, u, vldrbq_s8(f0 + fo + i));
            a1 = vmladavaq_s8(a1, u, vldrbq_s8(f1 + fo + i));
            a2 = vmladavaq_s8(a2, u, vldrbq_s8(f2 + fo + i));
            a3 = vmladavaq_s8(a3, u, vldrbq_s8(f3 + fo + i));
        }
        if (i < run) {
            const mve_pred16_t pr = vctp8q((uint32_t)(run - i));
            const int8x16_t u = vldrbq_z_s8(xr + i, pr);
            a0 = vmladavaq_s8(a0, u, vldrbq_z_s8(f0 + fo + i, pr));
            a1 = vmladavaq_s8(a1, u, vldrbq_z_s8(f1 + fo + i, pr));
            a2 = vmladavaq_s8(a2, u, vldrbq_z_s8(f2 + fo + i, pr));
            a3 = vmladavaq_s8(a3, u, vldrbq_z_s8(f3 + fo + i, pr));
        }
    }
    acc = vdupq_n_s32(a0);
    acc = vsetq_lane_s32(a1, acc, 1);
    acc = vsetq_lane_s32(a2, acc, 2);
    acc = vsetq_lane_s32(a3, acc, 3);
    acc = vaddq_s32(acc, vldrwq_z_s32(q->bias + oc, pc));
    acc = ecnn_requant_mve(acc, q->ms ? vldrwq_z_s32(q->mult + oc, pc) : vdupq_n_s32(q->mult[0]),
                           q->ms ? vldrwq_z_s32(q->shift + oc, pc) : vdupq_n_s32(q->shift[0]));
    acc = vminq_s32(vmaxq_s32(vaddq_s32(acc, vdupq_n_s32(q->out_offset)), vdupq_n_s32(q->lo)), vdupq_n_s32(q->hi));
    vstrbq_p_s32(o + oc, acc, pc);
}

#define ECNN_MVE_MAX_KH 16 /* ecnn_conv2d_fast's four-pixel Helium blocks: kernels up to this many rows */

/* Four pixels whose n inputs start at x0, x0 + xstep, x0 + 2 xstep, x0 + 3 xstep, against one filter run w:
 * s[k] = (first ? 0 : s[k]) + pixel k . w, one VMLADAVA per 16 products, each filter vector loaded once for the four pixels. */
ECNN_INLINE void mve_dot4px(const int8_t *x0, int32_t xstep, int32_t n, const int8_t *w, int32_t *s, int first)
{
    const int8_t *x1 = x0 + xstep;
    const int8_t *x2 = x1 + xstep;
    const int8_t *x3 = x2 + xstep;
    int32_t a0 = first ? 0 : s[0], a1 = first ? 0 : s[1], a2 = first ? 0 : s[2], a3 = first ? 0 : s[3];
    int32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const int8x16_t v = vldrbq_s8(w + i);
        a0 = vmladavaq_s8(a0, vldrbq_s8(x0 + i), v);
        a1 = vmladavaq_s8(a1, vldrbq_s8(x1 + i), v);
        a2 = vmladavaq_s8(a2, vldrbq_s8(x2 + i), v);
        a3 = vmladavaq_s8(a3, vldrbq_s8(x3 + i), v);
    }
    if (i < n) {
        const mve_pred16_t pr = vctp8q((uint32_t)(n - i));
        const int8x16_t v = vldrbq_z_s8(w + i, pr);
        a0 = vmladavaq_p_s8(a0, vldrbq_z_s8(x0 + i, pr), v, pr);
        a1 = vmladavaq_p_s8(a1, vldrbq_z_s8(x1 + i, pr), v, pr);
        a2 = vmladavaq_p_s8(a2, vldrbq_z_s8(x2 + i, pr), v, pr);
        a3 = vmladavaq_p_s8(a3, vldrbq_z_s8(x3 + i, pr), v, pr);
    }
    s[0] = a0;
    s[1] = a1;
    s[2] = a2;
    s[3] = a3;
}

/* Four pixels times output channels [oc, oc + m), m <= 4. Pixel k's input is n_runs runs of `run` values, the
 * r-th at xs[r] + k * xstep; channel j's filter is n_runs runs of `run` values from f + (oc + j) * fstride.
 * Sixteen sums, then each pixel's four channels requantized as one vector with the channels' constants loaded
 * once and written by one narrowing store at o + k * ostride + oc. Each filter vector is loaded once for the
 * four pixels, as CMSIS-NN's Helium matrix multiply does. */
ECNN_INLINE void mve_block4x4(const mve_rq *q, const int8_t *const *xs, int32_t n_runs, int32_t xstep, int32_t run,
                              const int8_t *f, int32_t fstride, int32_t oc, int32_t m, int8_t *o, int32_t ostride)
{
    const mve_pred16_t pc = vctp32q((uint32_t)m);
    int32_t s[4][4];
    int32x4_t bias, mult, shift;
    int32_t j, r;
    for (j = 0; j < 4; ++j) {
        const int8_t *w = f + (oc + (j < m ? j : m - 1)) * fstride;
        mve_dot4px(xs[0], xstep, run, w, s[j], 1);
        for (r = 1; r < n_runs; ++r) {
            mve_dot4px(xs[r], xstep, run, w + r * run, s[j], 0);
        }
    }
    bias = vldrwq_z_s32(q->bias + oc, pc);
    mult = q->ms ? vldrwq_z_s32(q->mult + oc, pc) : vdupq_n_s32(q->mult[0]);
    shift = q->ms ? vldrwq_z_s32(q->shift + oc, pc) : vdupq_n_s32(q->shift[0]);
    for (j = 0; j < 4; ++j) {
        int32x4_t acc = vdupq_n_s32(s[0][j]);
        acc = vsetq_lane_s32(s[1][j], acc, 1);
        acc = vsetq_lane_s32(s[2][j], acc, 2);
        acc = vsetq_lane_s32(s[3][j], acc, 3);
        acc = ecnn_requant_mve(vaddq_s32(acc, bias), mult, shift);
        acc = vminq_s32(vmaxq_s32(vaddq_s32(acc, vdupq_n_s32(q->out_offset)), vdupq_n_s32(q->lo)), vdupq_n_s32(q->hi));
        vstrbq_p_s32(o + j * ostride + oc, acc, pc);
    }
}

static mve_rq conv_rq(const ecnn_conv_params *p)
{
    mve_rq q;
    q.bias = p->bias_folded;
    q.mult = p->mult;
    q.shift = p->shift;
    q.ms = 1;
    q.out_offset = p->out_offset;
    q.lo = p->act_min;
    q.hi = p->act_max;
    return q;
}
#endif

void ecnn_gemm(const ecnn_gemm_params *params, const int8_t *in, int8_t *out)
{
    const ecnn_gemm_params local = *params; /* a local copy: the int8 output stores cannot alias it */
    const ecnn_gemm_params *p = &local;
    const int32_t n = p->depth;
    const int32_t cols = p->cols;
    const int32_t ms = p->mult_stride;
    int32_t r = 0;
    int32_t o;
#if defined(ECNN_DOT_MVE)
    mve_rq q;
    q.bias = p->bias_folded;
    q.mult = p->mult;
    q.shift = p->shift;
    q.ms = ms;
    q.out_offset = p->out_offset;
    q.lo = p->act_min;
    q.hi = p->act_max;
    for (; r + 4 <= p->rows; r += 4) {
        for (o = 0; o < cols; o += 4) {
            const int8_t *x = in + r * n;
            mve_block4x4(&q, &x, 1, n, n, p->filter, n, o, cols - o < 4 ? cols - o : 4, out + r * cols, cols);
        }
    }
    for (; r < p->rows; ++r) {
        for (o = 0; o < cols; o += 4) {
            mve_pixel4(&q, in + r * n, 0, 1, n, p->filter, n, o, cols - o < 4 ? cols - o : 4, out + r * cols);
        }
    }
    return;
#endif
    for (; r + 2 <= p->rows; r += 2) {
        const int8_t *x0 = in + r * n;
        const int8_t *x1 = x0 + n;
        int8_t *y0 = out + r * cols;
        int8_t *y1 = y0 + cols;
        for (o = 0; o + 2 <= cols; o += 2) {
            const int8_t *w0 = p->filter + o * n;
            int32_t acc[4];
            acc[0] = p->bias_folded[o];
            acc[1] = p->bias_folded[o + 1];
            acc[2] = acc[0];
            acc[3] = acc[1];
            ecnn_dot2x2(x0, x1, w0, w0 + n, n, acc);
            y0[o] = requant(acc[0], p->mult[o * ms], p->shift[o * ms], p->out_offset, p->act_min, p->act_max);
            y0[o + 1] = requant(acc[1], p->mult[(o + 1) * ms], p->shift[(o + 1) * ms], p->out_offset, p->act_min,
                                p->act_max);
            y1[o] = requant(acc[2], p->mult[o * ms], p->shift[o * ms], p->out_offset, p->act_min, p->act_max);
            y1[o + 1] = requant(acc[3], p->mult[(o + 1) * ms], p->shift[(o + 1) * ms], p->out_offset, p->act_min,
                                p->act_max);
        }
        for (; o < cols; ++o) {
            const int8_t *w0 = p->filter + o * n;
            const int32_t a = wrap_add(p->bias_folded[o], ecnn_dot(x0, w0, n));
            const int32_t b = wrap_add(p->bias_folded[o], ecnn_dot(x1, w0, n));
            y0[o] = requant(a, p->mult[o * ms], p->shift[o * ms], p->out_offset, p->act_min, p->act_max);
            y1[o] = requant(b, p->mult[o * ms], p->shift[o * ms], p->out_offset, p->act_min, p->act_max);
        }
    }
    for (; r < p->rows; ++r) {
        const int8_t *x0 = in + r * n;
        int8_t *y0 = out + r * cols;
        for (o = 0; o + 2 <= cols; o += 2) {
            const int8_t *w0 = p->filter + o * n;
            int32_t acc[2];
            acc[0] = p->bias_folded[o];
            acc[1] = p->bias_folded[o + 1];
            ecnn_dot1x2(x0, w0, w0 + n, n, acc);
            y0[o] = requant(acc[0], p->mult[o * ms], p->shift[o * ms], p->out_offset, p->act_min, p->act_max);
            y0[o + 1] = requant(acc[1], p->mult[(o + 1) * ms], p->shift[(o + 1) * ms], p->out_offset, p->act_min,
                                p->act_max);
        }
        for (; o < cols; ++o) {
            const int32_t a = wrap_add(p->bias_folded[o], ecnn_dot(x0, p->filter + o * n, n));
            y0[o] = requant(a, p->mult[o * ms], p->shift[o * ms], p->out_offset, p->act_min, p->act_max);
        }
    }
}

/* One output pixel whose window crosses the border: taps [ky0, ky1) x [kx0, kx1) exist. */
static void conv_border_pixel(const ecnn_conv_params *p, const int8_t *in, int8_t *o, int32_t y0, int32_t x0)
{
    const int32_t ky0 = y0 < 0 ? -y0 : 0;
    const int32_t ky1 = y0 + p->k_h > p->in_h ? p->in_h - y0 : p->k_h;
    const int32_t kx0 = x0 < 0 ? -x0 : 0;
    const int32_t kx1 = x0 + p->k_w > p->in_w ? p->in_w - x0 : p->k_w;
    const int32_t run = (kx1 - kx0) * p->in_c;
    const int32_t frow = p->k_w * p->k_c;
    int32_t oc, ky;
    for (oc = 0; oc < p->out_c; ++oc) {
        const int8_t *f = p->filter + oc * p->k_h * frow + kx0 * p->k_c;
        int32_t acc = 0;
        if (run > 0) {
            for (ky = ky0; ky < ky1; ++ky) {
                acc += dot_off(in + ((y0 + ky) * p->in_w + x0 + kx0) * p->in_c, f + ky * frow, run, p->in_offset);
            }
        }
        if (p->bias) {
            acc = wrap_add(acc, p->bias[oc]);
        }
        o[oc] = requant(acc, p->mult[oc], p->shift[oc], p->out_offset, p->act_min, p->act_max);
    }
}

/* One kernel row of the window at x0 (k_w taps of input channels [c0, c0 + kc)) into dst; taps outside the
 * image, and every tap when row is 0 (a padding row), get the input zero point, which adds nothing to a
 * bias_folded sum: (zero_point + in_offset) * w = 0. */
static void window_row(const ecnn_conv_params *p, const int8_t *row, int32_t x0, int32_t c0, int32_t kc, int8_t *dst)
{
    const int8_t zp = (int8_t)(-p->in_offset);
    const int32_t kx0 = x0 < 0 ? -x0 : 0;
    const int32_t kx1 = x0 + p->k_w > p->in_w ? p->in_w - x0 : p->k_w;
    int32_t kx;
    if (row == 0 || kx1 <= kx0) {
        memset(dst, zp, (size_t)(p->k_w * kc));
        return;
    }
    if (kx0 > 0) {
        memset(dst, zp, (size_t)(kx0 * kc));
    }
    if (kc == p->in_c) {                       /* the taps that exist are one contiguous run */
        memcpy(dst + kx0 * kc, row + (x0 + kx0) * p->in_c, (size_t)((kx1 - kx0) * kc));
    } else {
        for (kx = kx0; kx < kx1; ++kx) {
            memcpy(dst + kx * kc, row + (x0 + kx) * p->in_c + c0, (size_t)kc);
        }
    }
    if (kx1 < p->k_w) {
        memset(dst + kx1 * kc, zp, (size_t)((p->k_w - kx1) * kc));
    }
}

/* The whole window of output pixel (y0, x0) as [k_h][k_w][kc], laid out like one output channel's filter. */
static void window_fill(const ecnn_conv_params *p, const int8_t *in, int32_t y0, int32_t x0, int32_t c0, int8_t *dst)
{
    const int32_t kc = p->k_c;
    const int32_t frow = p->k_w * kc;
    int32_t ky;
    for (ky = 0; ky < p->k_h; ++ky) {
        const int32_t y = y0 + ky;
        window_row(p, y >= 0 && y < p->in_h ? in + y * p->in_w * p->in_c : 0, x0, c0, kc, dst + ky * frow);
    }
}

/* Requantize and store the 2 x 2 block acc (pixels o, o + oc_n; channels oc, oc + 1). */
ECNN_INLINE void store2x2(const ecnn_conv_params *p, int8_t *o, int32_t oc_n, int32_t oc, const int32_t *acc)
{
    o[oc] = requant(acc[0], p->mult[oc], p->shift[oc], p->out_offset, p->act_min, p->act_max);
    o[oc + 1] = requant(acc[1], p->mult[oc + 1], p->shift[oc + 1], p->out_offset, p->act_min, p->act_max);
    o[oc_n + oc] = requant(acc[2], p->mult[oc], p->shift[oc], p->out_offset, p->act_min, p->act_max);
    o[oc_n + oc + 1] = requant(acc[3], p->mult[oc + 1], p->shift[oc + 1], p->out_offset, p->act_min, p->act_max);
}

/* Output channels of pixels o (window xa) and, when xb != 0, o + oc_n (window xb), each window one contiguous
 * run of n values laid out like a filter row: channels two by two. */
static void conv_windows(const ecnn_conv_params *params, const int8_t *xa, const int8_t *xb, int32_t n, int8_t *o,
                         int32_t oc_begin, int32_t oc_end)
{
    const ecnn_conv_params local = *params; /* a local copy: the int8 output stores cannot alias it */
    const ecnn_conv_params *p = &local;
    const int32_t oc_n = p->out_c;
    int32_t oc = oc_begin;
#if defined(ECNN_DOT_MVE)
    const mve_rq q = conv_rq(p);
    for (; oc < oc_end; oc += 4) {
        const int32_t m = oc_end - oc < 4 ? oc_end - oc : 4;
        mve_pixel4(&q, xa, 0, 1, n, p->filter, n, oc, m, o);
        if (xb) {
            mve_pixel4(&q, xb, 0, 1, n, p->filter, n, oc, m, o + oc_n);
        }
    }
    return;
#endif
    for (; oc + 2 <= oc_end; oc += 2) {
        const int8_t *f0 = p->filter + oc * n;
        int32_t acc[4];
        acc[0] = p->bias_folded[oc];
        acc[1] = p->bias_folded[oc + 1];
        if (xb) {
            acc[2] = acc[0];
            acc[3] = acc[1];
            ecnn_dot2x2(xa, xb, f0, f0 + n, n, acc);
            store2x2(p, o, oc_n, oc, acc);
        } else {
            ecnn_dot1x2(xa, f0, f0 + n, n, acc);
            o[oc] = requant(acc[0], p->mult[oc], p->shift[oc], p->out_offset, p->act_min, p->act_max);
            o[oc + 1] = requant(acc[1], p->mult[oc + 1], p->shift[oc + 1], p->out_offset, p->act_min, p->act_max);
        }
    }
    if (oc < oc_end) {
        const int8_t *f0 = p->filter + oc * n;
        o[oc] = requant(wrap_add(p->bias_folded[oc], ecnn_dot(xa, f0, n)), p->mult[oc], p->shift[oc], p->out_offset,
                        p->act_min, p->act_max);
        if (xb) {
            o[oc_n + oc] = requant(wrap_add(p->bias_folded[oc], ecnn_dot(xb, f0, n)), p->mult[oc], p->shift[oc],
                                   p->out_offset, p->act_min, p->act_max);
        }
    }
}

/* Grouped conv2d_fast (in_c = groups * k_c, k_c < in_c): the contiguous runs are one tap's k_c channels of
 * the channel's group (input channel offset group * k_c); output channels of a group are contiguous and
 * blocked two by two within the group. Same pixel order, pairing and border handling as ecnn_conv2d_fast. */
static void conv2d_fast_grouped(const ecnn_conv_params *params, const int8_t *in, int8_t *out, int8_t *window)
{
    const ecnn_conv_params local = *params; /* a local copy: the int8 output stores cannot alias it */
    const ecnn_conv_params *p = &local;
    const int32_t n_pix = p->out_h * p->out_w;
    const int32_t kc = p->k_c;
    const int32_t groups = p->in_c / kc;
    const int32_t per_group = p->out_c / groups;
    const int32_t frow = p->k_w * kc;
    const int32_t ksize = p->k_h * frow;
    const int32_t in_row = p->in_w * p->in_c;
    const int32_t x_step = p->stride_w * p->in_c;
    const int32_t oc_n = p->out_c;
    int32_t q = 0;
    while (q < n_pix) {
        const int32_t oy = q / p->out_w;
        const int32_t ox = q - oy * p->out_w;
        const int32_t y0 = oy * p->stride_h - p->pad_h;
        const int32_t x0 = ox * p->stride_w - p->pad_w;
        int8_t *o = out + q * oc_n;
        const int inside = y0 >= 0 && y0 + p->k_h <= p->in_h && x0 >= 0 && x0 + p->k_w <= p->in_w;
        const int pair = inside && ox + 1 < p->out_w && x0 + p->stride_w + p->k_w <= p->in_w;
        int32_t g, oc, ky, kx;
        if (!inside && window != 0) {      /* each group's window, zero-point padded: see window_row */
            const int two = ox + 1 < p->out_w;
            for (g = 0; g < groups; ++g) {
                window_fill(p, in, y0, x0, g * kc, window);
                if (two) {
                    window_fill(p, in, y0, x0 + p->stride_w, g * kc, window + ksize);
                }
                conv_windows(p, window, two ? window + ksize : 0, ksize, o, g * per_group, (g + 1) * per_group);
            }
            q += two ? 2 : 1;
            continue;
        }
        if (!inside) {
            const int32_t ky0 = y0 < 0 ? -y0 : 0;
            const int32_t ky1 = y0 + p->k_h > p->in_h ? p->in_h - y0 : p->k_h;
            const int32_t kx0 = x0 < 0 ? -x0 : 0;
            const int32_t kx1 = x0 + p->k_w > p->in_w ? p->in_w - x0 : p->k_w;
            for (oc = 0; oc < oc_n; ++oc) {
                const int8_t *f = p->filter + oc * ksize;
                const int8_t *src = in + (oc / per_group) * kc;
                int32_t acc = 0;
                for (ky = ky0; ky < ky1; ++ky) {
                    for (kx = kx0; kx < kx1; ++kx) {
                        acc += dot_off(src + ((y0 + ky) * p->in_w + x0 + kx) * p->in_c, f + ky * frow + kx * kc, kc,
                                       p->in_offset);
                    }
                }
                if (p->bias) {
                    acc = wrap_add(acc, p->bias[oc]);
                }
                o[oc] = requant(acc, p->mult[oc], p->shift[oc], p->out_offset, p->act_min, p->act_max);
            }
            q += 1;
            continue;
        }
        for (g = 0; g < groups; ++g) {
            const int8_t *base = in + y0 * in_row + x0 * p->in_c + g * kc;
            const int32_t oc_end = (g + 1) * per_group;
            for (oc = g * per_group; oc + 2 <= oc_end; oc += 2) {
                const int8_t *f0 = p->filter + oc * ksize;
                const int8_t *f1 = f0 + ksize;
                int32_t acc[4];
                acc[0] = p->bias_folded[oc];
                acc[1] = p->bias_folded[oc + 1];
                acc[2] = acc[0];
                acc[3] = acc[1];
                if (pair) {
                    for (ky = 0; ky < p->k_h; ++ky) {
                        for (kx = 0; kx < p->k_w; ++kx) {
                            const int8_t *xa = base + ky * in_row + kx * p->in_c;
                            const int32_t fo = ky * frow + kx * kc;
                            ecnn_dot2x2(xa, xa + x_step, f0 + fo, f1 + fo, kc, acc);
                        }
                    }
                    o[oc_n + oc] = requant(acc[2], p->mult[oc], p->shift[oc], p->out_offset, p->act_min, p->act_max);
                    o[oc_n + oc + 1] = requant(acc[3], p->mult[oc + 1], p->shift[oc + 1], p->out_offset, p->act_min,
                                               p->act_max);
                } else {
                    for (ky = 0; ky < p->k_h; ++ky) {
                        for (kx = 0; kx < p->k_w; ++kx) {
                            const int32_t fo = ky * frow + kx * kc;
                            ecnn_dot1x2(base + ky * in_row + kx * p->in_c, f0 + fo, f1 + fo, kc, acc);
                        }
                    }
                }
                o[oc] = requant(acc[0], p->mult[oc], p->shift[oc], p->out_offset, p->act_min, p->act_max);
                o[oc + 1] = requant(acc[1], p->mult[oc + 1], p->shift[oc + 1], p->out_offset, p->act_min, p->act_max);
            }
            for (; oc < oc_end; ++oc) {
                const int8_t *f0 = p->filter + oc * ksize;
                int32_t a = p->bias_folded[oc];
                int32_t b = a;
                for (ky = 0; ky < p->k_h; ++ky) {
                    for (kx = 0; kx < p->k_w; ++kx) {
                        const int8_t *xa = base + ky * in_row + kx * p->in_c;
                        const int32_t fo = ky * frow + kx * kc;
                        a = wrap_add(a, ecnn_dot(xa, f0 + fo, kc));
                        if (pair) {
                            b = wrap_add(b, ecnn_dot(xa + x_step, f0 + fo, kc));
                        }
                    }
                }
                o[oc] = requant(a, p->mult[oc], p->shift[oc], p->out_offset, p->act_min, p->act_max);
                if (pair) {
                    o[oc_n + oc] = requant(b, p->mult[oc], p->shift[oc], p->out_offset, p->act_min, p->act_max);
                }
            }
        }
        q += pair ? 2 : 1;
    }
}

void ecnn_conv2d_fast(const ecnn_conv_params *params, const int8_t *in, int8_t *out, int8_t *window)
{
    const ecnn_conv_params local = *params; /* a local copy: the int8 output stores cannot alias it */
    const ecnn_conv_params *p = &local;
    const int32_t n_pix = p->out_h * p->out_w;
    const int32_t run = p->k_w * p->in_c;      /* one kernel row: contiguous in input and filter */
    const int32_t ksize = p->k_h * run;
    const int32_t in_row = p->in_w * p->in_c;
    const int32_t x_step = p->stride_w * p->in_c;
    const int32_t oc_n = p->out_c;
    /* short rows (few input channels) are faster as one long run from the window buffer */
    const int copy_all = window != 0 && run < 16;
    int32_t q = 0;
    if (p->k_c != p->in_c) {
        conv2d_fast_grouped(p, in, out, window);
        return;
    }
    while (q < n_pix) {
        const int32_t oy = q / p->out_w;
        const int32_t ox = q - oy * p->out_w;
        const int32_t y0 = oy * p->stride_h - p->pad_h;
        const int32_t x0 = ox * p->stride_w - p->pad_w;
        int8_t *o = out + q * oc_n;
        const int inside = y0 >= 0 && y0 + p->k_h <= p->in_h && x0 >= 0 && x0 + p->k_w <= p->in_w;
        const int pair = inside && ox + 1 < p->out_w && x0 + p->stride_w + p->k_w <= p->in_w;
        const int8_t *base = in + y0 * in_row + x0 * p->in_c;
        int32_t oc, ky;
        if (!inside || copy_all) {
            if (window == 0) {
                conv_border_pixel(p, in, o, y0, x0);
                q += 1;
                continue;
            }
#if defined(ECNN_DOT_MVE)
            if (copy_all && ox + 3 < p->out_w) {  /* four windows of short rows (the scratch holds four) */
                const mve_rq rq = conv_rq(p);
                const int8_t *xs0 = window;
                for (ky = 0; ky < 4; ++ky) {
                    window_fill(p, in, y0, x0 + ky * p->stride_w, 0, window + ky * ksize);
                }
                for (oc = 0; oc < oc_n; oc += 4) {
                    mve_block4x4(&rq, &xs0, 1, ksize, ksize, p->filter, ksize, oc, oc_n - oc < 4 ? oc_n - oc : 4, o,
                                 oc_n);
                }
                q += 4;
                continue;
            }
#endif
            window_fill(p, in, y0, x0, 0, window);
            if (ox + 1 < p->out_w) {
                window_fill(p, in, y0, x0 + p->stride_w, 0, window + ksize);
                conv_windows(p, window, window + ksize, ksize, o, 0, oc_n);
                q += 2;
            } else {
                conv_windows(p, window, 0, ksize, o, 0, oc_n);
                q += 1;
            }
            continue;
        }
#if defined(ECNN_DOT_MVE)
        {
            const mve_rq rq = conv_rq(p);
            (void)pair;
            if (p->k_h <= ECNN_MVE_MAX_KH && ox + 3 < p->out_w && x0 + 3 * p->stride_w + p->k_w <= p->in_w) {
                const int8_t *xs[ECNN_MVE_MAX_KH];   /* four pixels inside: one load per filter vector */
                for (ky = 0; ky < p->k_h; ++ky) {
                    xs[ky] = base + ky * in_row;
                }
                for (oc = 0; oc < oc_n; oc += 4) {
                    mve_block4x4(&rq, xs, p->k_h, x_step, run, p->filter, ksize, oc, oc_n - oc < 4 ? oc_n - oc : 4,
                                 o, oc_n);
                }
                q += 4;
                continue;
            }
            for (oc = 0; oc < oc_n; oc += 4) {
                mve_pixel4(&rq, base, in_row, p->k_h, run, p->filter, ksize, oc, oc_n - oc < 4 ? oc_n - oc : 4, o);
            }
            q += 1;
            continue;
        }
#endif
        for (oc = 0; oc + 2 <= oc_n; oc += 2) {
            const int8_t *f0 = p->filter + oc * ksize;
            const int8_t *f1 = f0 + ksize;
            int32_t acc[4];
            acc[0] = p->bias_folded[oc];
            acc[1] = p->bias_folded[oc + 1];
            acc[2] = acc[0];
            acc[3] = acc[1];
            if (pair) {
                for (ky = 0; ky < p->k_h; ++ky) {
                    const int8_t *xa = base + ky * in_row;
                    ecnn_dot2x2(xa, xa + x_step, f0 + ky * run, f1 + ky * run, run, acc);
                }
                store2x2(p, o, oc_n, oc, acc);
            } else {
                for (ky = 0; ky < p->k_h; ++ky) {
                    ecnn_dot1x2(base + ky * in_row, f0 + ky * run, f1 + ky * run, run, acc);
                }
                o[oc] = requant(acc[0], p->mult[oc], p->shift[oc], p->out_offset, p->act_min, p->act_max);
                o[oc + 1] = requant(acc[1], p->mult[oc + 1], p->shift[oc + 1], p->out_offset, p->act_min, p->act_max);
            }
        }
        for (; oc < oc_n; ++oc) {
            const int8_t *f0 = p->filter + oc * ksize;
            int32_t a = p->bias_folded[oc];
            int32_t b = a;
            for (ky = 0; ky < p->k_h; ++ky) {
                a = wrap_add(a, ecnn_dot(base + ky * in_row, f0 + ky * run, run));
                if (pair) {
                    b = wrap_add(b, ecnn_dot(base + ky * in_row + x_step, f0 + ky * run, run));
                }
            }
            o[oc] = requant(a, p->mult[oc], p->shift[oc], p->out_offset, p->act_min, p->act_max);
            if (pair) {
                o[oc_n + oc] = requant(b, p->mult[oc], p->shift[oc], p->out_offset, p->act_min, p->act_max);
            }
        }
        q += pair ? 2 : 1;
    }
}

/* ---- line-based execution: one output row from input rows given by pointer ---- */

/* One output row of ecnn_conv2d_fast (same sums, same blocking) for a 3-row window: rows[0..2] are the input
 * rows the row's windows cover, 0 where a row is padding; window: 2 * 9 * in_c bytes for border windows. */
static void conv_row3_fast(const ecnn_conv_params *params, const int8_t *const *rows, int8_t *out, int8_t *window)
{
    const ecnn_conv_params local = *params; /* a local copy: the int8 output stores cannot alias it */
    const ecnn_conv_params *p = &local;
    const int32_t run = p->k_w * p->in_c;
    const int32_t ksize = 3 * run;
    const int32_t x_step = p->stride_w * p->in_c;
    const int32_t oc_n = p->out_c;
    const int all_rows = rows[0] != 0 && rows[1] != 0 && rows[2] != 0;
    int32_t ox = 0;
    while (ox < p->out_w) {
        const int32_t x0 = ox * p->stride_w - p->pad_w;
        int8_t *o = out + ox * oc_n;
        const int inside = all_rows && x0 >= 0 && x0 + p->k_w <= p->in_w;
        const int pair = inside && ox + 1 < p->out_w && x0 + p->stride_w + p->k_w <= p->in_w;
        int32_t oc, ky;
        const int8_t *xs[3];
        if (!inside) {                     /* zero-point padded windows, as in ecnn_conv2d_fast */
            const int two = ox + 1 < p->out_w;
            for (ky = 0; ky < 3; ++ky) {
                window_row(p, rows[ky], x0, 0, p->in_c, window + ky * run);
                if (two) {
                    window_row(p, rows[ky], x0 + p->stride_w, 0, p->in_c, window + ksize + ky * run);
                }
            }
            conv_windows(p, window, two ? window + ksize : 0, ksize, o, 0, oc_n);
            ox += two ? 2 : 1;
            continue;
        }
        for (ky = 0; ky < 3; ++ky) {
            xs[ky] = rows[ky] + x0 * p->in_c;
        }
#if defined(ECNN_DOT_MVE)
        if (ox + 3 < p->out_w && x0 + 3 * p->stride_w + p->k_w <= p->in_w) { /* four pixels inside */
            const mve_rq q = conv_rq(p);
            for (oc = 0; oc < oc_n; oc += 4) {
                mve_block4x4(&q, xs, 3, x_step, run, p->filter, ksize, oc, oc_n - oc < 4 ? oc_n - oc : 4, o, oc_n);
            }
            ox += 4;
            continue;
        }
#endif
        for (oc = 0; oc + 2 <= oc_n; oc += 2) {
            const int8_t *f0 = p->filter + oc * ksize;
            const int8_t *f1 = f0 + ksize;
            int32_t acc[4];
            acc[0] = p->bias_folded[oc];
            acc[1] = p->bias_folded[oc + 1];
            acc[2] = acc[0];
            acc[3] = acc[1];
            if (pair) {
                for (ky = 0; ky < 3; ++ky) {
                    ecnn_dot2x2(xs[ky], xs[ky] + x_step, f0 + ky * run, f1 + ky * run, run, acc);
                }
                o[oc_n + oc] = requant(acc[2], p->mult[oc], p->shift[oc], p->out_offset, p->act_min, p->act_max);
                o[oc_n + oc + 1] = requant(acc[3], p->mult[oc + 1], p->shift[oc + 1], p->out_offset, p->act_min,
                                           p->act_max);
            } else {
                for (ky = 0; ky < 3; ++ky) {
                    ecnn_dot1x2(xs[ky], f0 + ky * run, f1 + ky * run, run, acc);
                }
            }
            o[oc] = requant(acc[0], p->mult[oc], p->shift[oc], p->out_offset, p->act_min, p->act_max);
            o[oc + 1] = requant(acc[1], p->mult[oc + 1], p->shift[oc + 1], p->out_offset, p->act_min, p->act_max);
        }
        for (; oc < oc_n; ++oc) {
            const int8_t *f0 = p->filter + oc * ksize;
            int32_t a = p->bias_folded[oc];
            int32_t b = a;
            for (ky = 0; ky < 3; ++ky) {
                a = wrap_add(a, ecnn_dot(xs[ky], f0 + ky * run, run));
                if (pair) {
                    b = wrap_add(b, ecnn_dot(xs[ky] + x_step, f0 + ky * run, run));
                }
            }
            o[oc] = requant(a, p->mult[oc], p->shift[oc], p->out_offset, p->act_min, p->act_max);
            if (pair) {
                o[oc_n + oc] = requant(b, p->mult[oc], p->shift[oc], p->out_offset, p->act_min, p->act_max);
            }
        }
        ox += pair ? 2 : 1;
    }
}

void ecnn_resblock(const ecnn_resblock_params *p, int8_t *x, int8_t *scratch)
{
    const ecnn_conv_params *a = p->a;
    const ecnn_conv_params *b = p->b;
    const int32_t h = a->in_h;
    const int32_t x_row = a->in_w * a->in_c;  /* one row of X, U and Y */
    const int32_t t_row = a->out_w * a->out_c;
    int8_t *ring = scratch;                   /* T row t lives in slot t % 3 */
    int8_t *u = scratch + 3 * t_row;
    int8_t *window = u + x_row;               /* 2 * 9 * max(in_c of a, in_c of b) bytes: border windows */
    const int8_t *rows[3];
    int32_t t;
    for (t = 0; t <= h; ++t) {
        if (t < h) {                          /* T row t from X rows t-1 .. t+1 (padding outside) */
            rows[0] = t > 0 ? x + (t - 1) * x_row : 0;
            rows[1] = x + t * x_row;
            rows[2] = t + 1 < h ? x + (t + 1) * x_row : 0;
            conv_row3_fast(a, rows, ring + (t % 3) * t_row, window);
        }
        if (t > 0) {                          /* U row r from T rows r-1 .. r+1, then Y row r over X row r */
            const int32_t r = t - 1;
            int8_t *y = x + r * x_row;
            rows[0] = r > 0 ? ring + ((r + 2) % 3) * t_row : 0;
            rows[1] = ring + (r % 3) * t_row;
            rows[2] = r + 1 < h ? ring + ((r + 1) % 3) * t_row : 0;
            conv_row3_fast(b, rows, u, window);
            if (p->x_first) {
                add_rows(p->add, y, u, y, x_row);
            } else {
                add_rows(p->add, u, y, y, x_row);
            }
        }
    }
}

/* The taps of output pixel (y0, x0): taps[t] points at input channel 0 of tap t = ky * k_w + kx, or at zrow
 * (C bytes of the input zero point) where the tap is outside the image; returns 1 when every tap is inside. */
static int dw_taps(const ecnn_conv_params *p, const int8_t *in, const int8_t *zrow, int32_t y0, int32_t x0,
                   const int8_t **taps)
{
    const int32_t C = p->in_c;
    int inside = 1;
    int32_t ky, kx;
    for (ky = 0; ky < p->k_h; ++ky) {
        const int32_t y = y0 + ky;
        for (kx = 0; kx < p->k_w; ++kx) {
            const int32_t x = x0 + kx;
            const int ok = y >= 0 && y < p->in_h && x >= 0 && x < p->in_w;
            taps[ky * p->k_w + kx] = ok ? in + (y * p->in_w + x) * C : zrow;
            inside &= ok;
        }
    }
    return inside;
}

#if defined(ECNN_DOT_MVE)
/* Channels [c, c + 8) of one depthwise output pixel with Helium (tail: the channels left, when fewer than 8).
 * Inputs and weights are loaded widened to eight int16 lanes; VMULLB and VMULLT multiply the even and the odd
 * lanes into two int32x4 sums (8 products per 2 multiplies, exact: |x * w| <= 2^14). The even/odd sums are
 * requantized with the even/odd channels' constants (gathered) and interleaved back by VMOVNB/VMOVNT into one
 * int16x8 that a narrowing store writes as 8 int8. */
ECNN_INLINE void dw_block8_mve(const ecnn_conv_params *p, const int8_t *const *taps, int32_t n_taps, int32_t c,
                               int tail, int8_t *o)
{
    const int32_t C = p->out_c;
    const uint32x4_t ev = vidupq_n_u32(0, 2);
    const uint32x4_t od = vidupq_n_u32(1, 2);
    const int8_t *wc = p->filter + c;
    const mve_pred16_t m16 = tail ? vctp16q((uint32_t)(C - c)) : 0xffff;
    const mve_pred16_t me = tail ? vctp32q((uint32_t)(C - c + 1) >> 1) : 0xffff;
    const mve_pred16_t mo = tail ? vctp32q((uint32_t)(C - c) >> 1) : 0xffff;
    int32x4_t ae = vldrwq_gather_shifted_offset_z_s32(p->bias_folded + c, ev, me);
    int32x4_t ao = vldrwq_gather_shifted_offset_z_s32(p->bias_folded + c, od, mo);
    int16x8_t r;
    int32_t t;
    for (t = 0; t < n_taps; ++t) {
        const int16x8_t x = tail ? vldrbq_z_s16(taps[t] + c, m16) : vldrbq_s16(taps[t] + c);
        const int16x8_t v = tail ? vldrbq_z_s16(wc, m16) : vldrbq_s16(wc);
        ae = vaddq_s32(ae, vmullbq_int_s16(x, v));
        ao = vaddq_s32(ao, vmulltq_int_s16(x, v));
        wc += C;
    }
    ae = ecnn_requant_mve(ae, vldrwq_gather_shifted_offset_z_s32(p->mult + c, ev, me),
                          vldrwq_gather_shifted_offset_z_s32(p->shift + c, ev, me));
    ao = ecnn_requant_mve(ao, vldrwq_gather_shifted_offset_z_s32(p->mult + c, od, mo),
                          vldrwq_gather_shifted_offset_z_s32(p->shift + c, od, mo));
    ae = vminq_s32(vmaxq_s32(vaddq_s32(ae, vdupq_n_s32(p->out_offset)), vdupq_n_s32(p->act_min)),
                   vdupq_n_s32(p->act_max));
    ao = vminq_s32(vmaxq_s32(vaddq_s32(ao, vdupq_n_s32(p->out_offset)), vdupq_n_s32(p->act_min)),
                   vdupq_n_s32(p->act_max));
    r = vmovntq_s32(vmovnbq_s32(vdupq_n_s16(0), ae), ao);
    if (tail) {
        vstrbq_p_s16(o + c, r, m16);
    } else {
        vstrbq_s16(o + c, r);
    }
}
#endif

/* One output pixel: o[c] = requant(bias_folded[c] + sum_t taps[t][c] * w[t][c]) for every channel c. */
static void dw_pixel(const ecnn_conv_params *p, const int8_t *const *taps, int32_t n_taps, int8_t *o)
{
    const int32_t C = p->out_c;
    const int8_t *w = p->filter;
    int32_t c = 0;
    int32_t t;
#if defined(ECNN_DOT_MVE)
    for (; c + 8 <= C; c += 8) {
        dw_block8_mve(p, taps, n_taps, c, 0, o);
    }
    if (c < C) {
        dw_block8_mve(p, taps, n_taps, c, 1, o);
        c = C;
    }
#elif defined(ECNN_DOT_DSP)
    for (; c + 4 <= C; c += 4) {
        int32_t a0 = p->bias_folded[c];
        int32_t a1 = p->bias_folded[c + 1];
        int32_t a2 = p->bias_folded[c + 2];
        int32_t a3 = p->bias_folded[c + 3];
        const int8_t *wc = w + c;
        for (t = 0; t < n_taps; ++t) {
            const uint32_t x = ecnn_ld32(taps[t] + c);
            const uint32_t v = ecnn_ld32(wc);
            const uint32_t xe = __sxtb16(x);
            const uint32_t ve = __sxtb16(v);
            const uint32_t xo = ecnn_sxtb16_ror8(x);
            const uint32_t vo = ecnn_sxtb16_ror8(v);
            a0 = __smlabb(xe, ve, a0);
            a2 = __smlatt(xe, ve, a2);
            a1 = __smlabb(xo, vo, a1);
            a3 = __smlatt(xo, vo, a3);
            wc += C;
        }
        o[c] = requant(a0, p->mult[c], p->shift[c], p->out_offset, p->act_min, p->act_max);
        o[c + 1] = requant(a1, p->mult[c + 1], p->shift[c + 1], p->out_offset, p->act_min, p->act_max);
        o[c + 2] = requant(a2, p->mult[c + 2], p->shift[c + 2], p->out_offset, p->act_min, p->act_max);
        o[c + 3] = requant(a3, p->mult[c + 3], p->shift[c + 3], p->out_offset, p->act_min, p->act_max);
    }
#endif
    for (; c < C; ++c) {
        int32_t acc = p->bias_folded[c];
        for (t = 0; t < n_taps; ++t) {
            acc = wrap_add(acc, (int32_t)taps[t][c] * (int32_t)w[t * C + c]);
        }
        o[c] = requant(acc, p->mult[c], p->shift[c], p->out_offset, p->act_min, p->act_max);
    }
}

#if !defined(ECNN_DOT_MVE) && !defined(ECNN_DOT_DSP)
/* 3x3 windows inside the image: the nine taps unrolled, 16 channels at a time (compilers vectorize the block). */
static void dw_pixel3x3(const ecnn_conv_params *p, const int8_t *r0, int32_t in_row, int8_t *o)
{
    const int32_t C = p->out_c;
    const int32_t C2 = 2 * C;
    const int8_t *r1 = r0 + in_row;
    const int8_t *r2 = r1 + in_row;
    const int8_t *w = p->filter;
    int32_t c, j;
    for (c = 0; c < C; c += 16) {
        const int32_t n = C - c < 16 ? C - c : 16;
        int32_t acc[16];
        for (j = 0; j < n; ++j) {
            const int32_t k = c + j;
            acc[j] = r0[k] * w[k] + r0[C + k] * w[C + k] + r0[C2 + k] * w[C2 + k] + r1[k] * w[3 * C + k] +
                     r1[C + k] * w[4 * C + k] + r1[C2 + k] * w[5 * C + k] + r2[k] * w[6 * C + k] +
                     r2[C + k] * w[7 * C + k] + r2[C2 + k] * w[8 * C + k];
        }
        for (j = 0; j < n; ++j) {
            const int32_t k = c + j;
            o[k] = requant(wrap_add(acc[j], p->bias_folded[k]), p->mult[k], p->shift[k], p->out_offset, p->act_min,
                           p->act_max);
        }
    }
}
#endif

void ecnn_depthwise_fast(const ecnn_conv_params *params, const int8_t *in, int8_t *out, int8_t *zrow)
{
    const ecnn_conv_params local = *params; /* a local copy: the int8 output stores cannot alias it */
    const ecnn_conv_params *p = &local;
    const int32_t C = p->out_c;
    const int32_t n_taps = p->k_h * p->k_w;
    const int8_t *taps[ECNN_DW_MAX_TAPS];
    int32_t oy, ox;
    if (zrow) {
        memset(zrow, (int8_t)(-p->in_offset), (size_t)C);
    }
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t y0 = oy * p->stride_h - p->pad_h;
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t x0 = ox * p->stride_w - p->pad_w;
            int8_t *o = out + (oy * p->out_w + ox) * C;
            const int inside = dw_taps(p, in, zrow, y0, x0, taps);
#if !defined(ECNN_DOT_MVE) && !defined(ECNN_DOT_DSP)
            if (inside && p->k_h == 3 && p->k_w == 3) {
                dw_pixel3x3(p, taps[0], p->in_w * C, o);
                continue;
            }
#endif
            (void)inside;
            dw_pixel(p, taps, n_taps, o);
        }
    }
}

/* ---- fully connected ---- */

void ecnn_fully_connected(const ecnn_fc_params *p, const int8_t *in, int8_t *out)
{
    int32_t b, o, d;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = in + b * p->depth;
        for (o = 0; o < p->out_depth; ++o) {
            const int8_t *w = p->filter + o * p->depth;
            const int32_t k = p->per_channel ? o : 0;
            int32_t acc = 0;
            for (d = 0; d < p->depth; ++d) {
                acc += (int32_t)w[d] * ((int32_t)x[d] + p->in_offset);
            }
            if (p->bias) {
                acc = wrap_add(acc, p->bias[o]);
            }
            acc = mbqm(acc, p->mult[k], (int)p->shift[k]);
            acc += p->out_offset;
            out[b * p->out_depth + o] = (int8_t)clamp(acc, p->act_min, p->act_max);
        }
    }
}

/* ---- pooling ---- */

void ecnn_max_pool2d(const ecnn_pool_params *p, const int8_t *in, int8_t *out)
{
    int32_t oy, ox, c, y, x;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t y0 = oy * p->stride_h - p->pad_h;
        const int32_t ys = y0 < 0 ? 0 : y0;
        const int32_t ye = y0 + p->k_h > p->in_h ? p->in_h : y0 + p->k_h;
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t x0 = ox * p->stride_w - p->pad_w;
            const int32_t xs = x0 < 0 ? 0 : x0;
            const int32_t xe = x0 + p->k_w > p->in_w ? p->in_w : x0 + p->k_w;
            int8_t *o = out + (oy * p->out_w + ox) * p->c;
            for (c = 0; c < p->c; ++c) {
                int32_t m = -128;
                for (y = ys; y < ye; ++y) {
                    for (x = xs; x < xe; ++x) {
                        const int32_t v = in[(y * p->in_w + x) * p->c + c];
                        m = v > m ? v : m;
                    }
                }
                o[c] = (int8_t)clamp(m, p->act_min, p->act_max);
            }
        }
    }
}

void ecnn_avg_pool2d(const ecnn_pool_params *p, const int8_t *in, int8_t *out)
{
    int32_t oy, ox, c, y, x;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t y0 = oy * p->stride_h - p->pad_h;
        const int32_t ys = y0 < 0 ? 0 : y0;
        const int32_t ye = y0 + p->k_h > p->in_h ? p->in_h : y0 + p->k_h;
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t x0 = ox * p->stride_w - p->pad_w;
            const int32_t xs = x0 < 0 ? 0 : x0;
            const int32_t xe = x0 + p->k_w > p->in_w ? p->in_w : x0 + p->k_w;
            const int32_t n = (ye - ys) * (xe - xs);
            int8_t *o = out + (oy * p->out_w + ox) * p->c;
            for (c = 0; c < p->c; ++c) {
                int32_t acc = 0;
                for (y = ys; y < ye; ++y) {
                    for (x = xs; x < xe; ++x) {
                        acc += in[(y * p->in_w + x) * p->c + c];
                    }
                }
                if (n > 0) {
                    acc = acc > 0 ? (acc + n / 2) / n : (acc - n / 2) / n;
                }
                o[c] = (int8_t)clamp(acc, p->act_min, p->act_max);
            }
        }
    }
}

/* ---- mean over H and W ---- */

void ecnn_mean_hw(const ecnn_mean_params *p, const int8_t *in, int8_t *out)
{
    int32_t b, c, i;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = in + b * p->count * p->c;
        for (c = 0; c < p->c; ++c) {
            int32_t acc = 0;
            for (i = 0; i < p->count; ++i) {
                acc += (int32_t)x[i * p->c + c] - p->in_zp;
            }
            acc = mbqm(acc, p->mult, (int)p->shift) + p->out_zp;
            out[b * p->c + c] = (int8_t)clamp(acc, -128, 127);
        }
    }
}

/* ---- add ---- */

void ecnn_add(const ecnn_add_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    add_rows(p, in1, in2, out, p->size);
}

/* ---- softmax: gemmlowp fixed point, as TFLite's reference int8 softmax ---- */

/* exp(x) for x in [-1/4, 0), Q0.31 in and out */
static int32_t exp_quarter(int32_t a)
{
    const int32_t constant_term = 1895147668;     /* exp(-1/8) */
    const int32_t constant_1_over_3 = 715827883;
    const int32_t x = wrap_add(a, (int32_t)1 << 28);
    const int32_t x2 = srdhm(x, x);
    const int32_t x3 = srdhm(x2, x);
    const int32_t x4 = srdhm(x2, x2);
    const int32_t x4_over_4 = rdpot(x4, 2);
    const int32_t poly = rdpot(wrap_add(srdhm(wrap_add(x4_over_4, x3), constant_1_over_3), x2), 1);
    return wrap_add(constant_term, srdhm(constant_term, wrap_add(x, poly)));
}

/* exp(a) for a <= 0 given in Q5.26; result in Q0.31 */
static int32_t exp_negative(int32_t a)
{
    static const int32_t multipliers[7] = {
        1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242
    };
    const int32_t one_quarter = (int32_t)1 << 24;
    const int32_t a_mod = wrap_sub(a & (one_quarter - 1), one_quarter);
    const int32_t remainder = wrap_sub(a_mod, a);
    int32_t result = exp_quarter(sat_shl(a_mod, 5));
    int k;
    for (k = 0; k < 7; ++k) {
        if (remainder & ((int32_t)1 << (24 + k))) {
            result = srdhm(result, multipliers[k]);
        }
    }
    return a == 0 ? ECNN_INT32_MAX : result;
}

/* 1 / (1 + x) for x in [0, 1), Q0.31 in and out (Newton-Raphson, three steps) */
static int32_t one_over_one_plus_x(int32_t a)
{
    const int64_t sum = (int64_t)a + (int64_t)ECNN_INT32_MAX;
    const int32_t half_den = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    const int32_t c48_17 = 1515870810;
    const int32_t cneg32_17 = -1010580540;
    int32_t x = wrap_add(c48_17, srdhm(half_den, cneg32_17));
    int i;
    for (i = 0; i < 3; ++i) {
        const int32_t hdx = srdhm(half_den, x);
        const int32_t one_minus = wrap_sub((int32_t)1 << 29, hdx);
        x = wrap_add(x, sat_shl(srdhm(x, one_minus), 2));
    }
    return sat_shl(x, 1);
}

static int clz32(uint32_t x)
{
    int n = 0;
    if (x == 0) {
        return 32;
    }
    while (!(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
}

void ecnn_softmax(const ecnn_softmax_params *p, const int8_t *in, int8_t *out)
{
    int32_t r, c;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *x = in + r * p->depth;
        int8_t *o = out + r * p->depth;
        int32_t max_in = -128;
        int32_t sum = 0;
        int headroom, bits_over_unit;
        int32_t scale;
        for (c = 0; c < p->depth; ++c) {
            max_in = x[c] > max_in ? x[c] : max_in;
        }
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in;
            if (diff >= p->diff_min) {
                const int32_t scaled = srdhm(shl_wrap(diff, (int)p->input_left_shift), p->input_multiplier);
                sum = wrap_add(sum, rdpot(exp_negative(scaled), 12));
            }
        }
        headroom = clz32((uint32_t)sum);
        bits_over_unit = 12 - headroom;
        scale = one_over_one_plus_x((int32_t)(((uint32_t)sum << headroom) - ((uint32_t)1 << 31)));
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in;
            int32_t v = -128;
            if (diff >= p->diff_min) {
                const int32_t scaled = srdhm(shl_wrap(diff, (int)p->input_left_shift), p->input_multiplier);
                const int32_t e = exp_negative(scaled);
                v = rdpot(srdhm(scale, e), bits_over_unit + 31 - 8) - 128;
                v = clamp(v, -128, 127);
            }
            o[c] = (int8_t)v;
        }
    }
}

/* ---- data movement ---- */

void ecnn_pad(const ecnn_pad_params *p, const int8_t *in, int8_t *out)
{
    int32_t y, x, c;
    for (y = 0; y < p->out_h; ++y) {
        const int32_t iy = y - p->pad_top;
        for (x = 0; x < p->out_w; ++x) {
            const int32_t ix = x - p->pad_left;
            const int inside = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w;
            int8_t *o = out + (y * p->out_w + x) * p->out_c;
            for (c = 0; c < p->out_c; ++c) {
                const int32_t icc = c - p->pad_front;
                o[c] = (inside && icc >= 0 && icc < p->in_c) ? in[(iy * p->in_w + ix) * p->in_c + icc]
                                                             : (int8_t)p->value;
            }
        }
    }
}

void ecnn_concat(int32_t outer, int32_t n_inputs, const int32_t *inner, const int8_t *const *ins, int8_t *out)
{
    int32_t o, j, i;
    for (o = 0; o < outer; ++o) {
        for (j = 0; j < n_inputs; ++j) {
            const int8_t *src = ins[j] + o * inner[j];
            for (i = 0; i < inner[j]; ++i) {
                *out++ = src[i];
            }
        }
    }
}

void ecnn_transpose(const ecnn_transpose_params *p, const int8_t *in, int8_t *out)
{
    int32_t i0, i1, i2, i3, i4;
    for (i0 = 0; i0 < p->dims[0]; ++i0) {
        for (i1 = 0; i1 < p->dims[1]; ++i1) {
            for (i2 = 0; i2 < p->dims[2]; ++i2) {
                for (i3 = 0; i3 < p->dims[3]; ++i3) {
                    const int8_t *src = in + i0 * p->strides[0] + i1 * p->strides[1] + i2 * p->strides[2] +
                                        i3 * p->strides[3];
                    for (i4 = 0; i4 < p->dims[4]; ++i4) {
                        *out++ = src[i4 * p->strides[4]];
                    }
                }
            }
        }
    }
}

void ecnn_requantize(const ecnn_requant_params *p, const int8_t *in, int8_t *out)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t v = mbqm((int32_t)in[i] - p->in_zp, p->mult, (int)p->shift) + p->out_zp;
        out[i] = (int8_t)clamp(v, -128, 127);
    }
}

void ecnn_copy(int8_t *dst, const int8_t *src, int32_t n)
{
    if (n > 0 && dst != src) {
        memmove(dst, src, (size_t)n);
    }
}
