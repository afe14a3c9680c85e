/* edgecnn int8 kernels: convolutions (reference, GEMM for 1x1, fast windows, grouped, residual blocks). Portable
 * C99, no malloc, no floating point; see ecnn_kernels.h. */
#include "ecnn_internal.h"

/* DSP GEMM: words of stack (1280 bytes) for rows widened to int16: two rows of up to 320 values, or one of up to
 * 640 (MLPerf's FC autoencoder's widest layer) */
#define ECNN_GEMM_XS_WORDS 320

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
/* nk blocks of 16 products for 4 inputs x 1 filter: a_k += x_k.w, every pointer advanced by 16 * nk (as
 * ECNN_MVE_DOT2X2: ten instructions per block, operands kept in registers). */
#define ECNN_MVE_DOT4X1(x0, x1, x2, x3, w, a0, a1, a2, a3, nk)                                                      \
    __asm__ volatile("wls lr, %[k], 2f\n"                                                                          \
                     "1:\n\t"                                                                                     \
                     "vldrb.8 q0, [%[wa]], #16\n\t"                                                               \
                     "vldrb.8 q1, [%[xa]], #16\n\t"                                                               \
                     "vldrb.8 q2, [%[xb]], #16\n\t"                                                               \
                     "vmladava.s8 %[p], q1, q0\n\t"                                                               \
                     "vldrb.8 q3, [%[xc]], #16\n\t"                                                               \
                     "vmladava.s8 %[q], q2, q0\n\t"                                                               \
                     "vldrb.8 q1, [%[xd]], #16\n\t"                                                               \
                     "vmladava.s8 %[r], q3, q0\n\t"                                                               \
                     "vmladava.s8 %[s], q1, q0\n\t"                                                               \
                     "le lr, 1b\n"                                                                                 \
                     "2:\n"                                                                                        \
                     : [xa] "+r"(x0), [xb] "+r"(x1), [xc] "+r"(x2), [xd] "+r"(x3), [wa] "+r"(w), [p] "+Te"(a0),      \
                       [q] "+Te"(a1), [r] "+Te"(a2), [s] "+Te"(a3)                                                   \
                     : [k] "r"(nk)                                                                                   \
                     : "q0", "q1", "q2", "q3", "lr", "memory")

/* nk blocks of 16 products for 2 inputs x 2 filters: a0 += x0.w0, a1 += x0.w1, a2 += x1.w0, a3 += x1.w1, every
 * pointer advanced by 16 * nk. In assembly so that the loop is the nine instructions it needs (four loads with
 * write-back, four VMLADAVA, LE) and the compiler keeps the operands in registers around it (VMLADAVA's
 * accumulator must be an even register: constraint Te). WLS skips the loop when nk is 0. */
#define ECNN_MVE_DOT2X2(x0, x1, w0, w1, a0, a1, a2, a3, nk)                                                          \
    __asm__ volatile("wls lr, %[k], 2f\n"                                                                          \
                     "1:\n\t"                                                                                     \
                     "vldrb.8 q0, [%[xa]], #16\n\t"                                                               \
                     "vldrb.8 q1, [%[xb]], #16\n\t"                                                               \
                     "vldrb.8 q2, [%[wa]], #16\n\t"                                                               \
                     "vldrb.8 q3, [%[wb]], #16\n\t"                                                               \
                     "vmladava.s8 %[p], q0, q2\n\t"                                                               \
                     "vmladava.s8 %[q], q0, q3\n\t"                                                               \
                     "vmladava.s8 %[r], q1, q2\n\t"                                                               \
                     "vmladava.s8 %[s], q1, q3\n\t"                                                               \
                     "le lr, 1b\n"                                                                                 \
                     "2:\n"                                                                                        \
                     : [xa] "+r"(x0), [xb] "+r"(x1), [wa] "+r"(w0), [wb] "+r"(w1), [p] "+Te"(a0), [q] "+Te"(a1),     \
                       [r] "+Te"(a2), [s] "+Te"(a3)                                                                  \
                     : [k] "r"(nk)                                                                                   \
                     : "q0", "q1", "q2", "q3", "lr", "memory")

/* Requantization of one kernel call for the Helium paths: bias_folded, per-channel (ms = 1) or per-tensor (ms = 0)
 * multipliers and shifts, output offset and activation clamp. */
typedef struct {
    const int32_t *bias;
    const int32_t *mult;
    const int32_t *shift;
    int32_t ms, out_offset, lo, hi;
    int32_t fast; /* rq_right: every shift a right shift (the short output stage) */
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

/* One output channel's sums over four pixels (one lane each, the bias included) through TFLM's output stage
 * with the channel's scalar constants (VQRDMULH and VRSHL take them from a core register: no constant vectors
 * to load or transpose), then the low bytes scattered to the four pixels' outputs o + offs (one VSTRB.32). The
 * rounding fix-up is ecnn_rdpot_mve's with the shift known to be a right shift; `fast` (a constant: rq_right)
 * says every shift is one. */
ECNN_INLINE void mve_store_px4(const mve_rq *q, int32x4_t s, int32_t c, uint32x4_t offs, int8_t *o, const int fast,
                               const mve_pred16_t px)
{
    const int32_t k = q->ms ? c : 0;
    const int32_t sh = q->shift[k];
    if (!fast && sh > 0) {
        s = vshlq_r_s32(s, sh);
    }
    s = vqrdmulhq_n_s32(s, q->mult[k]);
    if (fast || sh < 0) {
        s = vrshlq_n_s32(vqaddq_s32(s, vshrq_n_s32(s, 31)), sh);
    }
    s = vaddq_n_s32(s, q->out_offset);
    s = vminq_s32(vmaxq_s32(s, vdupq_n_s32(q->lo)), vdupq_n_s32(q->hi));
    vstrbq_scatter_offset_p_s32(o, offs, s, px);
}

ECNN_INLINE int32x4_t mve_lanes4(int32_t a0, int32_t a1, int32_t a2, int32_t a3)
{
    int32x4_t v = vdupq_n_s32(a0);
    v = vsetq_lane_s32(a1, v, 1);
    v = vsetq_lane_s32(a2, v, 2);
    return vsetq_lane_s32(a3, v, 3);
}

/* Four pixels times output channels [oc_begin, oc_end). Pixel k's input is n_runs runs of `run` values, the r-th
 * at xs[r] + k * xstep; channel c's filter is n_runs runs of `run` values from f + c * fstride; pixel k's
 * outputs start at o + k * ostride. Channel by channel: the four pixels' sums (each filter vector loaded once
 * for the four, as CMSIS-NN's Helium matrix multiply does), requantized as one vector and scattered. */
ECNN_INLINE void mve_px4_k(const mve_rq *q, const int8_t *const *xs, int32_t n_runs, int32_t xstep, int32_t run,
                           const int8_t *f, int32_t fstride, int32_t oc_begin, int32_t oc_end, int8_t *o,
                           int32_t ostride, const int fast, const mve_pred16_t px)
{
    const uint32x4_t offs = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)ostride);
    int32_t c, r;
    for (c = oc_begin; c < oc_end; ++c) {
        const int8_t *w = f + c * fstride;
        int32_t s[4];
        s[0] = s[1] = s[2] = s[3] = q->bias[c];
        for (r = 0; r < n_runs; ++r) {
            mve_dot4px(xs[r], xstep, run, w + r * run, s, 0);
        }
        mve_store_px4(q, mve_lanes4(s[0], s[1], s[2], s[3]), c, offs, o + c, fast, px);
    }
}

/* mve_px4_k for one run per pixel (the GEMM, windows copied whole): the filter rows follow one another, and
 * every per-channel constant is walked by a pointer (stride ms: per-tensor constants stay put). */
ECNN_INLINE void mve_px4_1(const mve_rq *q, const int8_t *x, int32_t xstep, int32_t n, const int8_t *f,
                           int32_t oc_begin, int32_t oc_end, int8_t *o, int32_t ostride, const int fast,
                           const mve_pred16_t px)
{
    const uint32x4_t offs = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)ostride);
    const int32x4_t lo = vdupq_n_s32(q->lo);
    const int32x4_t hi = vdupq_n_s32(q->hi);
    const int32_t oo = q->out_offset;
    const int32_t ms = q->ms;
    const int32_t *bias = q->bias + oc_begin;
    const int32_t *mult = q->mult + oc_begin * ms;
    const int32_t *shift = q->shift + oc_begin * ms;
    const int32_t nk = n >> 4;
    const int32_t nt = n & 15;
    const int8_t *w = f + oc_begin * n;
    int8_t *oc = o + oc_begin;
    int32_t c;
    for (c = oc_end - oc_begin; c > 0; --c) {
        const int8_t *x0 = x;
        const int8_t *x1 = x0 + xstep;
        const int8_t *x2 = x1 + xstep;
        const int8_t *x3 = x2 + xstep;
        int32_t a0 = *bias++;
        int32_t a1 = a0;
        int32_t a2 = a0;
        int32_t a3 = a0;
        ECNN_MVE_DOT4X1(x0, x1, x2, x3, w, a0, a1, a2, a3, nk);
        if (nt) {
            const mve_pred16_t pr = vctp8q((uint32_t)nt);
            const int8x16_t v = vldrbq_z_s8(w, pr);
            a0 = vmladavaq_p_s8(a0, vldrbq_z_s8(x0, pr), v, pr);
            a1 = vmladavaq_p_s8(a1, vldrbq_z_s8(x1, pr), v, pr);
            a2 = vmladavaq_p_s8(a2, vldrbq_z_s8(x2, pr), v, pr);
            a3 = vmladavaq_p_s8(a3, vldrbq_z_s8(x3, pr), v, pr);
            w += nt;
        }
        {   /* TFLM's output stage, as mve_store_px4 */
            int32x4_t r = mve_lanes4(a0, a1, a2, a3);
            const int32_t sh = *shift;
            if (!fast && sh > 0) {
                r = vshlq_r_s32(r, sh);
            }
            r = vqrdmulhq_n_s32(r, *mult);
            if (fast || sh < 0) {
                r = vrshlq_n_s32(vqaddq_s32(r, vshrq_n_s32(r, 31)), sh);
            }
            mult += ms;
            shift += ms;
            r = vminq_s32(vmaxq_s32(vaddq_n_s32(r, oo), lo), hi);
            if (px == 0xffff) {
                vstrbq_scatter_offset_s32(oc, offs, r);
            } else {
                vstrbq_scatter_offset_p_s32(oc, offs, r, px);
            }
            oc += 1;
        }
    }
}

/* Two pixels times output channels [oc_begin, oc_end), two channels at a time. Pixel a's input is n_runs runs of
 * `run` values at xs[r], pixel b's at xs[r] + xstep; channel c's filter is the n_runs runs one after another from
 * f + c * n_runs * run. Per 16 values two input and two filter loads feed four VMLADAVA. The 2 x 2 sums
 * [c, c+1 of a; c, c+1 of b] go through TFLM's output stage as one vector (the two channels' constants gathered
 * into lanes 0, 1 and again 2, 3) and are scattered to o + c and o + ostride + c. An odd last channel:
 * mve_pixel4 per pixel. */
ECNN_INLINE void mve_2x2_k(const mve_rq *q, const int8_t *const *xs, const int32_t n_runs, int32_t xstep,
                           int32_t run, const int8_t *f, int32_t oc_begin, int32_t oc_end, int8_t *o, int32_t ostride,
                           const int fast)
{
    const uint32x4_t lane = vidupq_n_u32(0, 1);              /* 0 1 2 3 */
    const uint32x4_t ch = vandq_u32(lane, vdupq_n_u32(1));   /* 0 1 0 1: the channel of each lane */
    const uint32x4_t offs = vaddq_u32(ch, vmulq_n_u32(vshrq_n_u32(lane, 1), (uint32_t)ostride));
    const uint32x4_t coff = vmulq_n_u32(ch, (uint32_t)q->ms);
    const int32x4_t lo = vdupq_n_s32(q->lo);
    const int32x4_t hi = vdupq_n_s32(q->hi);
    const int32_t oo = q->out_offset;
    const int32_t nk = run >> 4;
    const int32_t nt = run & 15;
    const int32_t fsize = n_runs * run;
    const int8_t *w0 = f + oc_begin * fsize;
    int32_t c;
    for (c = oc_begin; c + 2 <= oc_end; c += 2) {
        const int8_t *w1 = w0 + fsize;
        int32_t a0 = q->bias[c];
        int32_t a1 = q->bias[c + 1];
        int32_t a2 = a0;
        int32_t a3 = a1;
        int32_t r;
        for (r = 0; r < n_runs; ++r) {
            const int8_t *x0 = xs[r];
            const int8_t *x1 = x0 + xstep;
            int32_t k;
            (void)k;
            ECNN_MVE_DOT2X2(x0, x1, w0, w1, a0, a1, a2, a3, nk);
            if (nt) {
                const mve_pred16_t pr = vctp8q((uint32_t)nt);
                const int8x16_t u = vldrbq_z_s8(x0, pr);
                const int8x16_t v = vldrbq_z_s8(x1, pr);
                const int8x16_t g = vldrbq_z_s8(w0, pr);
                const int8x16_t h = vldrbq_z_s8(w1, pr);
                a0 = vmladavaq_p_s8(a0, u, g, pr);
                a1 = vmladavaq_p_s8(a1, u, h, pr);
                a2 = vmladavaq_p_s8(a2, v, g, pr);
                a3 = vmladavaq_p_s8(a3, v, h, pr);
                w0 += nt;
                w1 += nt;
            }
        }
        w0 = w1; /* channel c + 2 */
        {
            const int32_t k0 = q->ms ? c : 0;
            int32x4_t acc = vdupq_n_s32(a0);
            const int32x4_t m = vldrwq_gather_shifted_offset_s32(q->mult + k0, coff);
            const int32x4_t sh = vldrwq_gather_shifted_offset_s32(q->shift + k0, coff);
            acc = vsetq_lane_s32(a1, acc, 1);
            acc = vsetq_lane_s32(a2, acc, 2);
            acc = vsetq_lane_s32(a3, acc, 3);
            if (fast) {
                acc = ecnn_rdpot_mve(vqrdmulhq_s32(acc, m), sh);
            } else {
                acc = ecnn_requant_mve(acc, m, sh);
            }
            acc = vminq_s32(vmaxq_s32(vaddq_n_s32(acc, oo), lo), hi);
            vstrbq_scatter_offset_s32(o + c, offs, acc);
        }
    }
    if (c < oc_end) { /* the odd last channel */
        const int32_t k0 = q->ms ? c : 0;
        int32_t a0 = q->bias[c];
        int32_t a1 = a0;
        int32_t r;
        for (r = 0; r < n_runs; ++r) {
            a0 = wrap_add(a0, ecnn_dot(xs[r], w0 + r * run, run));
            a1 = wrap_add(a1, ecnn_dot(xs[r] + xstep, w0 + r * run, run));
        }
        a0 = requant(a0, q->mult[k0], q->shift[k0], oo, q->lo, q->hi);
        o[ostride + c] = (int8_t)requant(a1, q->mult[k0], q->shift[k0], oo, q->lo, q->hi);
        o[c] = (int8_t)a0;
    }
}

/* Entry point of mve_2x2_k: one copy per run count that matters (windows copied whole: 1; 3 x 3 kernels read in
 * place: 3) and per output stage (q->fast). */
static void mve_2x2(const mve_rq *q, const int8_t *const *xs, int32_t n_runs, int32_t xstep, int32_t run,
                    const int8_t *f, int32_t oc_begin, int32_t oc_end, int8_t *o, int32_t ostride)
{
    if (n_runs == 1) {
        if (q->fast) {
            mve_2x2_k(q, xs, 1, xstep, run, f, oc_begin, oc_end, o, ostride, 1);
        } else {
            mve_2x2_k(q, xs, 1, xstep, run, f, oc_begin, oc_end, o, ostride, 0);
        }
    } else if (n_runs == 3) {
        if (q->fast) {
            mve_2x2_k(q, xs, 3, xstep, run, f, oc_begin, oc_end, o, ostride, 1);
        } else {
            mve_2x2_k(q, xs, 3, xstep, run, f, oc_begin, oc_end, o, ostride, 0);
        }
    } else {
        mve_2x2_k(q, xs, n_runs, xstep, run, f, oc_begin, oc_end, o, ostride, 0);
    }
}

/* Entry point: specialized on the short output stage where the generator proved it (q->fast). npx: how many of
 * the four pixels are stored (the others' inputs must still be readable). */
static void mve_px4(const mve_rq *q, const int8_t *const *xs, int32_t n_runs, int32_t xstep, int32_t run,
                    const int8_t *f, int32_t fstride, int32_t oc_begin, int32_t oc_end, int8_t *o, int32_t ostride,
                    int32_t npx)
{
    const mve_pred16_t px = vctp32q((uint32_t)npx);
    if (n_runs == 1 && fstride == run && npx == 4) { /* the common case: all four stored, no predicate */
        if (q->fast) {
            mve_px4_1(q, xs[0], xstep, run, f, oc_begin, oc_end, o, ostride, 1, 0xffff);
        } else {
            mve_px4_1(q, xs[0], xstep, run, f, oc_begin, oc_end, o, ostride, 0, 0xffff);
        }
    } else if (n_runs == 1 && fstride == run) {
        if (q->fast) {
            mve_px4_1(q, xs[0], xstep, run, f, oc_begin, oc_end, o, ostride, 1, px);
        } else {
            mve_px4_1(q, xs[0], xstep, run, f, oc_begin, oc_end, o, ostride, 0, px);
        }
    } else if (q->fast) {
        mve_px4_k(q, xs, n_runs, xstep, run, f, fstride, oc_begin, oc_end, o, ostride, 1, px);
    } else {
        mve_px4_k(q, xs, n_runs, xstep, run, f, fstride, oc_begin, oc_end, o, ostride, 0, px);
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
    q.fast = p->rq_right;
    return q;
}
#endif

/* Requantize the 2 x 2 block acc (two pixels; channels k, k + 1 whose mult/shift are at mult[0], mult[ms]) and
 * store it at y0[0..1] and y1[0..1]. Every constant is read before the first int8 store (which may alias it). */
ECNN_INLINE void store2x2_rq(const int32_t *mult, const int32_t *shift, int32_t ms, int32_t oo, int32_t lo, int32_t hi,
                             const int fast, const int32_t *acc, int8_t *y0, int8_t *y1)
{
    const int32_t m0 = mult[0];
    const int32_t m1 = mult[ms];
    const int32_t s0 = shift[0];
    const int32_t s1 = shift[ms];
    const int8_t r0 = requant_k(fast, acc[0], m0, s0, oo, lo, hi);
    const int8_t r1 = requant_k(fast, acc[1], m1, s1, oo, lo, hi);
    const int8_t r2 = requant_k(fast, acc[2], m0, s0, oo, lo, hi);
    const int8_t r3 = requant_k(fast, acc[3], m1, s1, oo, lo, hi);
    (void)fast;
    y0[0] = r0;
    y0[1] = r1;
    y1[0] = r2;
    y1[1] = r3;
}

#if defined(ECNN_DOT_DSP)
/* acc[0..3] += (row 0 . w0, row 0 . w1, row 1 . w0, row 1 . w1) over n4 values (a multiple of 4) of widened rows
 * xs (ecnn_widen2). A function of its own (not inlined): its loop needs every core register. */
__attribute__((noinline)) static void ecnn_dot2x2_x16(const uint32_t *xs, const int8_t *w0, const int8_t *w1,
                                                        int32_t n4, int32_t *acc)
{
    int32_t a = acc[0];
    int32_t b = acc[1];
    int32_t c = acc[2];
    int32_t d = acc[3];
    const int8_t *end = w0 + (n4 & ~7);
    uint32_t xa, xb, p, pb, q, qb;
    if (w0 != end) {
        __asm__ volatile("1:\n\t" ECNN_DOT2X2_X16_BLOCK ECNN_DOT2X2_X16_BLOCK "cmp    %[w0], %[end]\n\t"
                         "bne    1b\n\t" ECNN_DOT2X2_X16_OPERANDS);
    }
    if (n4 & 4) {
        __asm__ volatile(ECNN_DOT2X2_X16_BLOCK ECNN_DOT2X2_X16_OPERANDS);
    }
    acc[0] = a;
    acc[1] = b;
    acc[2] = c;
    acc[3] = d;
}
#endif

#if defined(ECNN_DOT_DSP)
/* 4 values of depth of one widened row (ecnn_widen2 with one row: per 4 values the words (x[k], x[k+2]) and
 * (x[k+1], x[k+3])) against four int8 filter rows: one LDRD for the row, the filters split by SXTB16:
 * 21 instructions per 16 products (ecnn_dot1x2 takes 13 per 8). */
#define ECNN_DOT1X4_X16_FILTER(w, acc)                \
    "ldr    %[p], [%[" w "]], #4\n\t"                \
    "sxtb16 %[pb], %[p], ror #8\n\t"                 \
    "sxtb16 %[p], %[p]\n\t"                          \
    "smlad  %[" acc "], %[xa], %[p], %[" acc "]\n\t" \
    "smlad  %[" acc "], %[xb], %[pb], %[" acc "]\n\t"
#define ECNN_DOT1X4_X16_BLOCK                                                                              \
    "ldrd   %[xa], %[xb], [%[s]], #8\n\t" ECNN_DOT1X4_X16_FILTER("w0", "a") ECNN_DOT1X4_X16_FILTER("w1", "b") \
        ECNN_DOT1X4_X16_FILTER("w2", "c") ECNN_DOT1X4_X16_FILTER("w3", "d")

/* acc[0..3] += row . w0 .. row . w3 over n4 values (a multiple of 4) of the widened row xs; w_k = w0 + k * n.
 * Not inlined, as ecnn_dot2x2_x16. */
__attribute__((noinline)) static void ecnn_dot1x4_x16(const uint32_t *xs, const int8_t *w0, int32_t n, int32_t n4,
                                                        int32_t *acc)
{
    int32_t a = acc[0];
    int32_t b = acc[1];
    int32_t c = acc[2];
    int32_t d = acc[3];
    const int8_t *w1 = w0 + n;
    const int8_t *w2 = w1 + n;
    const int8_t *w3 = w2 + n;
    const uint32_t *end = xs + n4 / 2;
    uint32_t xa, xb, p, pb;
    if (n4 > 0) {
        __asm__ volatile("1:\n\t" ECNN_DOT1X4_X16_BLOCK "cmp    %[s], %[end]\n\t"
                         "bne    1b\n\t"
                         : [a] "+r"(a), [b] "+r"(b), [c] "+r"(c), [d] "+r"(d), [s] "+r"(xs), [w0] "+r"(w0),
                           [w1] "+r"(w1), [w2] "+r"(w2), [w3] "+r"(w3), [xa] "=&r"(xa), [xb] "=&r"(xb), [p] "=&r"(p),
                           [pb] "=&r"(pb)
                         : [end] "r"(end)
                         : "cc", "memory");
    }
    acc[0] = a;
    acc[1] = b;
    acc[2] = c;
    acc[3] = d;
}
#endif

/* ecnn_gemm on the cores without Helium: two rows by two columns at a time (ecnn_dot2x2), `fast` a constant. */
ECNN_INLINE void gemm_rows(const ecnn_gemm_params *p, const int8_t *in, int8_t *out, const int fast)
{
    const int32_t n = p->depth;
    const int32_t cols = p->cols;
    const int32_t ms = p->mult_stride;
    int32_t r = 0;
    int32_t o;
    (void)fast; /* no fast form without the DSP extension */
#if defined(ECNN_DOT_DSP)
    uint32_t xs[ECNN_GEMM_XS_WORDS]; /* two rows widened to int16 (ecnn_widen2): n words; one row: n / 2 */
    const int widen = n <= ECNN_GEMM_XS_WORDS && cols >= 4;
#endif
    for (; r + 2 <= p->rows; r += 2) {
        const int8_t *x0 = in + r * n;
        const int8_t *x1 = x0 + n;
        int8_t *y0 = out + r * cols;
        int8_t *y1 = y0 + cols;
#if defined(ECNN_DOT_DSP)
        if (widen) {
            ecnn_widen2(x0, x1, n & ~3, xs);
        }
#endif
        for (o = 0; o + 2 <= cols; o += 2) {
            const int8_t *w0 = p->filter + o * n;
            int32_t acc[4];
            acc[0] = p->bias_folded[o];
            acc[1] = p->bias_folded[o + 1];
            acc[2] = acc[0];
            acc[3] = acc[1];
#if defined(ECNN_DOT_DSP)
            if (widen) {
                int32_t i;
                ecnn_dot2x2_x16(xs, w0, w0 + n, n & ~3, acc);
                for (i = n & ~3; i < n; ++i) { /* the last n % 4 values */
                    acc[0] = wrap_add(acc[0], (int32_t)x0[i] * (int32_t)w0[i]);
                    acc[1] = wrap_add(acc[1], (int32_t)x0[i] * (int32_t)w0[n + i]);
                    acc[2] = wrap_add(acc[2], (int32_t)x1[i] * (int32_t)w0[i]);
                    acc[3] = wrap_add(acc[3], (int32_t)x1[i] * (int32_t)w0[n + i]);
                }
            } else {
                ecnn_dot2x2_n(x0, w0, n, acc); /* x1 = x0 + n */
            }
#else
            ecnn_dot2x2_n(x0, w0, n, acc); /* x1 = x0 + n */
#endif
            store2x2_rq(p->mult + o * ms, p->shift + o * ms, ms, p->out_offset, p->act_min, p->act_max, fast, acc,
                        y0 + o, y1 + o);
        }
        for (; o < cols; ++o) {
            const int8_t *w0 = p->filter + o * n;
            const int32_t a = wrap_add(p->bias_folded[o], ecnn_dot(x0, w0, n));
            const int32_t b = wrap_add(p->bias_folded[o], ecnn_dot(x1, w0, n));
            y0[o] = requant_k(fast, a, p->mult[o * ms], p->shift[o * ms], p->out_offset, p->act_min, p->act_max);
            y1[o] = requant_k(fast, b, p->mult[o * ms], p->shift[o * ms], p->out_offset, p->act_min, p->act_max);
        }
    }
    for (; r < p->rows; ++r) {
        const int8_t *x0 = in + r * n;
        int8_t *y0 = out + r * cols;
        o = 0;
#if defined(ECNN_DOT_DSP)
        if (n <= 2 * ECNN_GEMM_XS_WORDS && cols >= 4) { /* one row (a dense layer): widened once, four columns a pass */
            uint32_t *x16 = xs;
            int32_t k;
            for (k = 0; k + 4 <= n; k += 4) {
                const uint32_t u = ecnn_ld32(x0 + k);
                *x16++ = __sxtb16(u);
                *x16++ = ecnn_sxtb16_ror8(u);
            }
            for (; o + 4 <= cols; o += 4) {
                const int8_t *w0 = p->filter + o * n;
                int32_t acc[4];
                int32_t i, j;
                for (j = 0; j < 4; ++j) {
                    acc[j] = p->bias_folded[o + j];
                }
                ecnn_dot1x4_x16(xs, w0, n, n & ~3, acc);
                for (i = n & ~3; i < n; ++i) { /* the last n % 4 values */
                    for (j = 0; j < 4; ++j) {
                        acc[j] = wrap_add(acc[j], (int32_t)x0[i] * (int32_t)w0[j * n + i]);
                    }
                }
                {   /* all four computed before the first store (which may alias the row) */
                    const int8_t r0 = requant_k(fast, acc[0], p->mult[o * ms], p->shift[o * ms], p->out_offset,
                                                p->act_min, p->act_max);
                    const int8_t r1 = requant_k(fast, acc[1], p->mult[(o + 1) * ms], p->shift[(o + 1) * ms],
                                                p->out_offset, p->act_min, p->act_max);
                    const int8_t r2 = requant_k(fast, acc[2], p->mult[(o + 2) * ms], p->shift[(o + 2) * ms],
                                                p->out_offset, p->act_min, p->act_max);
                    const int8_t r3 = requant_k(fast, acc[3], p->mult[(o + 3) * ms], p->shift[(o + 3) * ms],
                                                p->out_offset, p->act_min, p->act_max);
                    y0[o] = r0;
                    y0[o + 1] = r1;
                    y0[o + 2] = r2;
                    y0[o + 3] = r3;
                }
            }
        }
#endif
        for (; o + 2 <= cols; o += 2) {
            const int8_t *w0 = p->filter + o * n;
            int32_t acc[2];
            acc[0] = p->bias_folded[o];
            acc[1] = p->bias_folded[o + 1];
            ecnn_dot1x2(x0, w0, w0 + n, n, acc);
            y0[o] = requant_k(fast, acc[0], p->mult[o * ms], p->shift[o * ms], p->out_offset, p->act_min,
                              p->act_max);
            y0[o + 1] = requant_k(fast, acc[1], p->mult[(o + 1) * ms], p->shift[(o + 1) * ms], p->out_offset,
                                  p->act_min, p->act_max);
        }
        for (; o < cols; ++o) {
            const int32_t a = wrap_add(p->bias_folded[o], ecnn_dot(x0, p->filter + o * n, n));
            y0[o] = requant_k(fast, a, p->mult[o * ms], p->shift[o * ms], p->out_offset, p->act_min, p->act_max);
        }
    }
}


void ecnn_gemm(const ecnn_gemm_params *params, const int8_t *in, int8_t *out)
{
    const ecnn_gemm_params local = *params; /* a local copy: the int8 output stores cannot alias it */
    const ecnn_gemm_params *p = &local;
#if defined(ECNN_DOT_MVE)
    const int32_t n = p->depth;
    const int32_t cols = p->cols;
    const int32_t ms = p->mult_stride;
    int32_t r = 0;
    int32_t o;
    mve_rq q;
    q.bias = p->bias_folded;
    q.mult = p->mult;
    q.shift = p->shift;
    q.ms = ms;
    q.out_offset = p->out_offset;
    q.lo = p->act_min;
    q.hi = p->act_max;
    q.fast = p->rq_right;
    for (; r + 4 <= p->rows; r += 4) {
        const int8_t *x = in + r * n;
        mve_px4(&q, &x, 1, n, n, p->filter, n, 0, cols, out + r * cols, cols, 4);
    }
    for (; r < p->rows; ++r) {
        for (o = 0; o < cols; o += 4) {
            mve_pixel4(&q, in + r * n, 0, 1, n, p->filter, n, o, cols - o < 4 ? cols - o : 4, out + r * cols);
        }
    }
    return;
#else
#if defined(ECNN_DOT_DSP)
    if (ECNN_RQ_MODE(p) == ECNN_RQ_FAST_SAT) {
        gemm_rows(p, in, out, ECNN_RQ_FAST_SAT);
        return;
    }
    if (p->rq_right) {
        gemm_rows(p, in, out, 1);
        return;
    }
#endif
    gemm_rows(p, in, out, 0);
#endif
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
        o[oc] = requant_k(p->rq_right, acc, p->mult[oc], p->shift[oc], p->out_offset, p->act_min, p->act_max);
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
    store2x2_rq(p->mult + oc, p->shift + oc, 1, p->out_offset, p->act_min, p->act_max, p->rq_right, acc, o + oc,
                o + oc_n + oc);
}

#if defined(ECNN_DOT_DSP)
/* Output channels [oc, oc_end) of two windows xa, xb (n values each, widened into xs by ecnn_widen2), two at a
 * time: ecnn_dot2x2_x16, the last n % 4 values from the int8 windows, then the output stage `fast` (a constant:
 * requant_k). Returns the first channel not done (one is left when the count is odd). */
ECNN_INLINE int32_t windows_x16(const ecnn_conv_params *p, const uint32_t *xs, const int8_t *xa, const int8_t *xb,
                                int32_t n, int8_t *o, int32_t oc, int32_t oc_end, const int fast)
{
    const int32_t oc_n = p->out_c;
    for (; oc + 2 <= oc_end; oc += 2) {
        const int8_t *f0 = p->filter + oc * n;
        int32_t acc[4];
        int32_t i;
        acc[0] = p->bias_folded[oc];
        acc[1] = p->bias_folded[oc + 1];
        acc[2] = acc[0];
        acc[3] = acc[1];
        ecnn_dot2x2_x16(xs, f0, f0 + n, n & ~3, acc);
        for (i = n & ~3; i < n; ++i) {
            acc[0] = wrap_add(acc[0], (int32_t)xa[i] * (int32_t)f0[i]);
            acc[1] = wrap_add(acc[1], (int32_t)xa[i] * (int32_t)f0[n + i]);
            acc[2] = wrap_add(acc[2], (int32_t)xb[i] * (int32_t)f0[i]);
            acc[3] = wrap_add(acc[3], (int32_t)xb[i] * (int32_t)f0[n + i]);
        }
        store2x2_rq(p->mult + oc, p->shift + oc, 1, p->out_offset, p->act_min, p->act_max, fast, acc, o + oc,
                    o + oc_n + oc);
    }
    return oc;
}
#endif

/* Output channels of pixels o (window xa) and, when xb != 0, o + oc_n (window xb = xa + n), each window one
 * contiguous run of n values laid out like a filter row: channels two by two. */
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
#if defined(ECNN_DOT_DSP)
    if (xb != 0 && n <= ECNN_GEMM_XS_WORDS && oc_end - oc >= 4) { /* two windows widened once (as the GEMM's rows) */
        uint32_t xs[ECNN_GEMM_XS_WORDS];
        const int mode = ECNN_RQ_MODE(p);
        ecnn_widen2(xa, xb, n & ~3, xs);
        if (mode == ECNN_RQ_FAST_SAT) {
            oc = windows_x16(p, xs, xa, xb, n, o, oc, oc_end, ECNN_RQ_FAST_SAT);
        } else if (mode) {
            oc = windows_x16(p, xs, xa, xb, n, o, oc, oc_end, 1);
        } else {
            oc = windows_x16(p, xs, xa, xb, n, o, oc, oc_end, 0);
        }
    }
#endif
    for (; oc + 2 <= oc_end; oc += 2) {
        const int8_t *f0 = p->filter + oc * n;
        int32_t acc[4];
        acc[0] = p->bias_folded[oc];
        acc[1] = p->bias_folded[oc + 1];
        if (xb) {
            acc[2] = acc[0];
            acc[3] = acc[1];
            ecnn_dot2x2_n(xa, f0, n, acc); /* xb = xa + n */
            store2x2(p, o, oc_n, oc, acc);
        } else {
            ecnn_dot1x2(xa, f0, f0 + n, n, acc);
            o[oc] = requant_k(p->rq_right, acc[0], p->mult[oc], p->shift[oc], p->out_offset, p->act_min, p->act_max);
            o[oc + 1] = requant_k(p->rq_right, acc[1], p->mult[oc + 1], p->shift[oc + 1], p->out_offset, p->act_min,
                                  p->act_max);
        }
    }
    if (oc < oc_end) {
        const int8_t *f0 = p->filter + oc * n;
        o[oc] = requant_k(p->rq_right, wrap_add(p->bias_folded[oc], ecnn_dot(xa, f0, n)), p->mult[oc], p->shift[oc],
                          p->out_offset, p->act_min, p->act_max);
        if (xb) {
            o[oc_n + oc] = requant_k(p->rq_right, wrap_add(p->bias_folded[oc], ecnn_dot(xb, f0, n)), p->mult[oc],
                                     p->shift[oc], p->out_offset, p->act_min, p->act_max);
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
                o[oc] = requant_k(p->rq_right, acc, p->mult[oc], p->shift[oc], p->out_offset, p->act_min, p->act_max);
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
                    o[oc_n + oc] = requant_k(p->rq_right, acc[2], p->mult[oc], p->shift[oc], p->out_offset, p->act_min,
                                             p->act_max);
                    o[oc_n + oc + 1] = requant_k(p->rq_right, acc[3], p->mult[oc + 1], p->shift[oc + 1], p->out_offset,
                                                 p->act_min, p->act_max);
                } else {
                    for (ky = 0; ky < p->k_h; ++ky) {
                        for (kx = 0; kx < p->k_w; ++kx) {
                            const int32_t fo = ky * frow + kx * kc;
                            ecnn_dot1x2(base + ky * in_row + kx * p->in_c, f0 + fo, f1 + fo, kc, acc);
                        }
                    }
                }
                o[oc] = requant_k(p->rq_right, acc[0], p->mult[oc], p->shift[oc], p->out_offset, p->act_min,
                                  p->act_max);
                o[oc + 1] = requant_k(p->rq_right, acc[1], p->mult[oc + 1], p->shift[oc + 1], p->out_offset, p->act_min,
                                      p->act_max);
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
                o[oc] = requant_k(p->rq_right, a, p->mult[oc], p->shift[oc], p->out_offset, p->act_min, p->act_max);
                if (pair) {
                    o[oc_n + oc] = requant_k(p->rq_right, b, p->mult[oc], p->shift[oc], p->out_offset, p->act_min,
                                             p->act_max);
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
#if defined(ECNN_DOT_MVE)
    if (copy_all) { /* short rows: every window copied whole, four at a time (the scratch holds four) */
        const mve_rq rq = conv_rq(p);
        const int8_t *xs0 = window;
        int32_t oy = 0;
        int32_t ox = 0;
        while (q < n_pix) { /* consecutive pixels in row-major order (a group may span two rows) */
            const int32_t npx = n_pix - q < 4 ? n_pix - q : 4;
            int32_t k;
            for (k = 0; k < npx; ++k) {
                window_fill(p, in, oy * p->stride_h - p->pad_h, ox * p->stride_w - p->pad_w, 0, window + k * ksize);
                if (++ox == p->out_w) {
                    ox = 0;
                    ++oy;
                }
            }
            mve_px4(&rq, &xs0, 1, ksize, ksize, p->filter, ksize, 0, oc_n, out + q * oc_n, oc_n, npx);
            q += npx;
        }
        return;
    }
    if (p->k_h <= ECNN_MVE_MAX_KH) { /* two pixels of a row at a time (a lone last one paired with itself) */
        const mve_rq rq = conv_rq(p);
        const int8_t *xs[ECNN_MVE_MAX_KH];
        int32_t oy, ox, ky;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            const int rows_in = y0 >= 0 && y0 + p->k_h <= p->in_h;
            for (ox = 0; ox < p->out_w; ox += 2) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                const int two = ox + 1 < p->out_w;
                const int32_t ostride = two ? oc_n : 0;
                int8_t *o = out + (oy * p->out_w + ox) * oc_n;
                if (rows_in && x0 >= 0 && x0 + (two ? p->stride_w : 0) + p->k_w <= p->in_w) { /* read in place */
                    const int8_t *base = in + y0 * in_row + x0 * p->in_c;
                    for (ky = 0; ky < p->k_h; ++ky) {
                        xs[ky] = base + ky * in_row;
                    }
                    mve_2x2(&rq, xs, p->k_h, two ? x_step : 0, run, p->filter, 0, oc_n, o, ostride);
                } else { /* zero-point padded copies (a border exists, so the generator gave the scratch) */
                    window_fill(p, in, y0, x0, 0, window);
                    if (two) {
                        window_fill(p, in, y0, x0 + p->stride_w, 0, window + ksize);
                    }
                    xs[0] = window;
                    mve_2x2(&rq, xs, 1, two ? ksize : 0, ksize, p->filter, 0, oc_n, o, ostride);
                }
            }
        }
        return;
    }
#endif
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
                mve_px4(&rq, &xs0, 1, ksize, ksize, p->filter, ksize, 0, oc_n, o, oc_n, 4);
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
                mve_px4(&rq, xs, p->k_h, x_step, run, p->filter, ksize, 0, oc_n, o, oc_n, 4);
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
#if defined(ECNN_DOT_DSP)
        if (pair && window != 0) { /* two windows side by side in the scratch: then the GEMM's inner loop serves */
            window_fill(p, in, y0, x0, 0, window);
            window_fill(p, in, y0, x0 + p->stride_w, 0, window + ksize);
            conv_windows(p, window, window + ksize, ksize, o, 0, oc_n);
            q += 2;
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
                o[oc] = requant_k(p->rq_right, acc[0], p->mult[oc], p->shift[oc], p->out_offset, p->act_min,
                                  p->act_max);
                o[oc + 1] = requant_k(p->rq_right, acc[1], p->mult[oc + 1], p->shift[oc + 1], p->out_offset, p->act_min,
                                      p->act_max);
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
            o[oc] = requant_k(p->rq_right, a, p->mult[oc], p->shift[oc], p->out_offset, p->act_min, p->act_max);
            if (pair) {
                o[oc_n + oc] = requant_k(p->rq_right, b, p->mult[oc], p->shift[oc], p->out_offset, p->act_min,
                                         p->act_max);
            }
        }
        q += pair ? 2 : 1;
    }
}

/* ---- line-based execution: one output row from input rows given by pointer ---- */

/* One output row of ecnn_conv2d_fast (same sums, same blocking) for a 3-row window: rows[0..2] are the input
 * rows the row's windows cover, 0 where a row is padding; window: 2 * 9 * in_c bytes (windows copied whole: border windows; on Helium all). */
void ecnn_conv_row3(const ecnn_conv_params *params, const int8_t *const *rows, int8_t *out, int8_t *window)
{
    const ecnn_conv_params local = *params; /* a local copy: the int8 output stores cannot alias it */
    const ecnn_conv_params *p = &local;
    const int32_t run = p->k_w * p->in_c;
    const int32_t ksize = 3 * run;
    const int32_t x_step = p->stride_w * p->in_c;
    const int32_t oc_n = p->out_c;
    const int all_rows = rows[0] != 0 && rows[1] != 0 && rows[2] != 0;
    int32_t ox = 0;
#if defined(ECNN_DOT_MVE)
    {   /* two pixels at a time (a lone last one paired with itself): read in place, or copied zero-point padded */
        const mve_rq rq = conv_rq(p);
        const int8_t *xs[3];
        for (; ox < p->out_w; ox += 2) {
            const int32_t x0 = ox * p->stride_w - p->pad_w;
            const int two = ox + 1 < p->out_w;
            const int32_t ostride = two ? oc_n : 0;
            int8_t *o = out + ox * oc_n;
            int32_t ky;
            if (all_rows && x0 >= 0 && x0 + (two ? p->stride_w : 0) + p->k_w <= p->in_w) {
                for (ky = 0; ky < 3; ++ky) {
                    xs[ky] = rows[ky] + x0 * p->in_c;
                }
                mve_2x2(&rq, xs, 3, two ? x_step : 0, run, p->filter, 0, oc_n, o, ostride);
            } else {
                for (ky = 0; ky < 3; ++ky) {
                    window_row(p, rows[ky], x0, 0, p->in_c, window + ky * run);
                    if (two) {
                        window_row(p, rows[ky], x0 + p->stride_w, 0, p->in_c, window + ksize + ky * run);
                    }
                }
                xs[0] = window;
                mve_2x2(&rq, xs, 1, two ? ksize : 0, ksize, p->filter, 0, oc_n, o, ostride);
            }
        }
        return;
    }
#endif
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
            mve_px4(&q, xs, 3, x_step, run, p->filter, ksize, 0, oc_n, o, oc_n, 4);
            ox += 4;
            continue;
        }
#endif
#if defined(ECNN_DOT_DSP)
        if (pair && window != 0) { /* as in ecnn_conv2d_fast: two windows side by side, the GEMM's inner loop */
            for (ky = 0; ky < 3; ++ky) {
                memcpy(window + ky * run, xs[ky], (size_t)run);
                memcpy(window + ksize + ky * run, xs[ky] + x_step, (size_t)run);
            }
            conv_windows(p, window, window + ksize, ksize, o, 0, oc_n);
            ox += 2;
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
                o[oc_n + oc] = requant_k(p->rq_right, acc[2], p->mult[oc], p->shift[oc], p->out_offset, p->act_min,
                                         p->act_max);
                o[oc_n + oc + 1] = requant_k(p->rq_right, acc[3], p->mult[oc + 1], p->shift[oc + 1], p->out_offset,
                                             p->act_min, p->act_max);
            } else {
                for (ky = 0; ky < 3; ++ky) {
                    ecnn_dot1x2(xs[ky], f0 + ky * run, f1 + ky * run, run, acc);
                }
            }
            o[oc] = requant_k(p->rq_right, acc[0], p->mult[oc], p->shift[oc], p->out_offset, p->act_min, p->act_max);
            o[oc + 1] = requant_k(p->rq_right, acc[1], p->mult[oc + 1], p->shift[oc + 1], p->out_offset, p->act_min,
                                  p->act_max);
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
            o[oc] = requant_k(p->rq_right, a, p->mult[oc], p->shift[oc], p->out_offset, p->act_min, p->act_max);
            if (pair) {
                o[oc_n + oc] = requant_k(p->rq_right, b, p->mult[oc], p->shift[oc], p->out_offset, p->act_min,
                                         p->act_max);
            }
        }
        ox += pair ? 2 : 1;
    }
}
