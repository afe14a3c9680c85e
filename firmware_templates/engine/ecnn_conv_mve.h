/* edgecnn kernels, private: the Helium (MVE) building blocks of ecnn_conv.c (the GEMM, convolution windows):
 * four pixels by one channel and two pixels by two channels of VMLADAVA sums, their output stage with scalar
 * or gathered constants, and the inline-assembly inner loops. Included by ecnn_conv.c only. */
#ifndef ECNN_CONV_MVE_H
#define ECNN_CONV_MVE_H

#include "ecnn_internal.h"

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

#define ECNN_MVE_MAX_KH 16 /* ecnn_conv2d_fast's two-pixel Helium path (rows read in place): kernels up to this many rows */

/* The vector (a0, a1, a2, a3). */
ECNN_INLINE int32x4_t mve_lanes4(int32_t a0, int32_t a1, int32_t a2, int32_t a3)
{
    int32x4_t v = vdupq_n_s32(a0);
    v = vsetq_lane_s32(a1, v, 1);
    v = vsetq_lane_s32(a2, v, 2);
    return vsetq_lane_s32(a3, v, 3);
}

/* Four pixels (inputs x + k * xstep, n values each) times output channels [oc_begin, oc_end), channel by channel:
 * the four pixels' sums (each filter vector loaded once for the four, as CMSIS-NN's Helium matrix multiply does),
 * then TFLM's output stage on the four as one vector with the channel's scalar constants (VQRDMULH and VRSHL take
 * them from a core register: nothing to transpose; the rounding fix-up is ecnn_rdpot_mve's for a known right
 * shift; `fast`, a constant, says every shift is one) and the low bytes scattered to o + k * ostride + c (one
 * VSTRB.32, predicated by px). Filter rows follow one another; per-channel constants are walked by pointers
 * (stride ms: per-tensor constants stay put). */
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
        {   /* TFLM's output stage on the four pixels (see above) */
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
            int32x4_t acc = mve_lanes4(a0, a1, a2, a3);
            const int32x4_t m = vldrwq_gather_shifted_offset_s32(q->mult + k0, coff);
            const int32x4_t sh = vldrwq_gather_shifted_offset_s32(q->shift + k0, coff);
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

/* Entry point of mve_px4_1, specialized on the output stage (q->fast) and on all four pixels being stored. npx:
 * how many of the four pixels are stored (the others' inputs must still be readable). */
static void mve_px4(const mve_rq *q, const int8_t *x, int32_t xstep, int32_t n, const int8_t *f, int32_t oc_begin,
                    int32_t oc_end, int8_t *o, int32_t ostride, int32_t npx)
{
    const mve_pred16_t px = vctp32q((uint32_t)npx);
    if (npx == 4) {
        if (q->fast) {
            mve_px4_1(q, x, xstep, n, f, oc_begin, oc_end, o, ostride, 1, 0xffff);
        } else {
            mve_px4_1(q, x, xstep, n, f, oc_begin, oc_end, o, ostride, 0, 0xffff);
        }
    } else if (q->fast) {
        mve_px4_1(q, x, xstep, n, f, oc_begin, oc_end, o, ostride, 1, px);
    } else {
        mve_px4_1(q, x, xstep, n, f, oc_begin, oc_end, o, ostride, 0, px);
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

#endif /* ECNN_CONV_MVE_H */
