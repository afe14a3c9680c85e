/* edgecnn int8 kernels: convolutions (reference, GEMM for 1x1, fast windows, grouped, residual blocks). Portable
 * C99, no malloc, no floating point; see ecnn_kernels.h. */
#include "ecnn_internal.h"
#include "ecnn_conv_dsp.h" /* the DSP blocks on widened inputs */
#include "ecnn_conv_mve.h" /* the Helium blocks */
#include "ecnn_gemm3.h"    /* the DSP three-row GEMM block (ecnn_widen3) */

/* DSP GEMM: words of stack (1728 bytes) for rows widened to int16: three rows of up to 288 values (ECNN_GEMM3:
 * 3 x 3 x 32 windows), two of up to 432, or one of up to 864 (MLPerf's FC autoencoder's widest layer: 640) */
#define ECNN_GEMM_XS_WORDS 432
/* conv_windows for windows deeper than that: columns a pass (their sums take 2 words each of the same buffer, the
 * widened chunk of depth the rest: 304 values at 64 columns) */
#define ECNN_X16_COLS 64

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
    const int widen = n >= 4 && n <= ECNN_GEMM_XS_WORDS && cols >= 4; /* x16_cols: n & ~3 >= 4 */
    ecnn_x16_cols_args kc;
    kc.filter = p->filter;
    kc.bias = p->bias_folded;
    kc.mult = p->mult;
    kc.shift = p->shift;
    kc.ms = ms;
    kc.n = n;
    kc.cols = cols & ~1;
    kc.out_offset = p->out_offset;
    kc.lo = p->act_min;
    kc.hi = p->act_max;
#endif
#if defined(ECNN_DOT_DSP)
    if (p->rows3 && p->pairs) { /* the block on the column-pair filter (ECNN_GEMM3P) takes every row: a last one
                                 * or two as a triple that repeats the last row, stored twice at the same place */
        ecnn_gemm_params g = *p;
        g.y_stride = cols;
        g.y_stride2 = 2 * cols;
        for (; r + 3 <= p->rows; r += 3) {
            ecnn_widen3(in + r * n, in + (r + 1) * n, in + (r + 2) * n, n, xs);
            p->rows3(&g, xs, out + r * cols);
        }
        if (r < p->rows) {
            const int8_t *x1 = in + (p->rows - 1) * n;
            g.y_stride = (p->rows - 1 - r) * cols;
            g.y_stride2 = g.y_stride;
            ecnn_widen3(in + r * n, x1, x1, n, xs);
            p->rows3(&g, xs, out + r * cols);
        }
        return;
    }
    if (p->rows3) { /* the model's block specialized on n: rows three at a time */
        for (; r + 3 <= p->rows; r += 3) {
            ecnn_widen3(in + r * n, in + (r + 1) * n, in + (r + 2) * n, n, xs);
            p->rows3(p, xs, out + r * cols);
        }
    }
#endif
    for (; r + 2 <= p->rows; r += 2) {
        const int8_t *x0 = in + r * n;
        const int8_t *x1 = x0 + n;
        int8_t *y0 = out + r * cols;
        int8_t *y1 = y0 + cols;
        o = 0;
#if defined(ECNN_DOT_DSP)
        if (widen) { /* every column pair in one call; the rows' last n % 4 values copied before any store */
            int8_t tail[8];
            int32_t i;
            ecnn_widen2(x0, x1, n & ~3, xs);
            for (i = 0; i < (n & 3); ++i) {
                tail[i] = x0[(n & ~3) + i];
                tail[4 + i] = x1[(n & ~3) + i];
            }
            ecnn_x16_cols(fast, &kc, xs, tail, tail + 4, y0, y1);
            o = kc.cols;
        }
#endif
        for (; o + 2 <= cols; o += 2) {
            const int8_t *w0 = p->filter + o * n;
            int32_t acc[4];
            acc[0] = p->bias_folded[o];
            acc[1] = p->bias_folded[o + 1];
            acc[2] = acc[0];
            acc[3] = acc[1];
            ecnn_dot2x2_n(x0, w0, n, acc); /* x1 = x0 + n */
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
        if (p->pairs) { /* a dense layer whose filter the generator stored as column pairs (x16_pairs4) */
            kc.cols = cols;
            ecnn_x16_pairs4(fast, &kc, (const uint32_t *)p->pairs, x0, xs, y0);
            continue;
        }
        if (n >= 4 && n <= 2 * ECNN_GEMM_XS_WORDS && cols >= 4) { /* one row (a dense layer): widened once,
                                                                   * four columns a pass, in one call */
            uint32_t *x16 = xs;
            int8_t tail[4];
            int32_t k;
            for (k = 0; k + 4 <= n; k += 4) {
                const uint32_t u = ecnn_ld32(x0 + k);
                *x16++ = __sxtb16(u);
                *x16++ = ecnn_sxtb16_ror8(u);
            }
            for (k = 0; k < (n & 3); ++k) { /* copied before any store (which may alias the row) */
                tail[k] = x0[(n & ~3) + k];
            }
            kc.cols = cols & ~3;
            ecnn_x16_cols4(fast, &kc, xs, tail, y0);
            kc.cols = cols & ~1;
            o = cols & ~3;
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
        mve_px4(&q, x, n, n, p->filter, 0, cols, out + r * cols, cols, 4);
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
    /* two windows widened once (as the GEMM's rows; x16_cols needs n & ~3 >= 4) */
    if (xb != 0 && n >= 4 && n <= ECNN_GEMM_XS_WORDS && oc_end - oc >= 4) {
        uint32_t xs[ECNN_GEMM_XS_WORDS];
        ecnn_x16_cols_args k;
        k.filter = p->filter + oc * n;
        k.bias = p->bias_folded + oc;
        k.mult = p->mult + oc;
        k.shift = p->shift + oc;
        k.ms = 1;
        k.n = n;
        k.cols = (oc_end - oc) & ~1;
        k.out_offset = p->out_offset;
        k.lo = p->act_min;
        k.hi = p->act_max;
        ecnn_widen2(xa, xb, n & ~3, xs);
        ecnn_x16_cols(ECNN_RQ_MODE(p), &k, xs, xa + (n & ~3), xb + (n & ~3), o + oc, o + oc_n + oc);
        oc += k.cols;
    } else if (xb != 0 && n > ECNN_GEMM_XS_WORDS && oc_end - oc >= 4) {
        /* deeper windows (3 x 3 x 64): the depth a chunk at a time widened into xs, the sums of up to
         * ECNN_X16_COLS columns kept after it, requantized at the end */
        uint32_t xs[ECNN_GEMM_XS_WORDS];
        const int mode = ECNN_RQ_MODE(p);
        while (oc_end - oc >= 4) {
            const int32_t cb = (oc_end - oc > ECNN_X16_COLS ? ECNN_X16_COLS : oc_end - oc) & ~1;
            const int32_t cs = (ECNN_GEMM_XS_WORDS - 2 * cb) & ~3;
            int32_t *acc = (int32_t *)(xs + ECNN_GEMM_XS_WORDS - 2 * cb);
            int32_t off, j;
            for (j = 0; j < cb; j += 2) {
                acc[2 * j] = p->bias_folded[oc + j];
                acc[2 * j + 1] = p->bias_folded[oc + j + 1];
                acc[2 * j + 2] = acc[2 * j];
                acc[2 * j + 3] = acc[2 * j + 1];
            }
            for (off = 0; off < n; off += cs) {
                const int32_t len = n - off < cs ? n - off : cs;
                const int32_t len4 = len & ~3;
                if (len4 > 0) {
                    ecnn_widen2(xa + off, xb + off, len4, xs);
                    x16_cols_part(xs, p->filter + oc * n + off, n, len4, cb, acc);
                }
                if (len & 3) {
                    for (j = 0; j < cb; j += 2) {
                        x16_tail(acc + 2 * j, xa + off + len4, xb + off + len4, p->filter + (oc + j) * n + off + len4,
                                 n, len & 3);
                    }
                }
            }
            for (j = 0; j < cb; ++j) { /* column j: its row 0 and row 1 sums */
                const int32_t c = oc + j;
                const int32_t s0 = acc[2 * (j & ~1) + (j & 1)];
                const int32_t s1 = acc[2 * (j & ~1) + 2 + (j & 1)];
                const int32_t m = p->mult[c];
                const int32_t sh = p->shift[c];
                if (mode) {
                    const int32_t h = (int32_t)(((uint32_t)p->out_offset * 2u + 1u) << (~sh));
                    o[c] = x16_rq(mode == ECNN_RQ_FAST_SAT ? ECNN_RQ_FAST_SAT : 1, s0, m, sh, h, -sh, p->out_offset,
                                  p->act_min, p->act_max);
                    o[oc_n + c] = x16_rq(mode == ECNN_RQ_FAST_SAT ? ECNN_RQ_FAST_SAT : 1, s1, m, sh, h, -sh,
                                         p->out_offset, p->act_min, p->act_max);
                } else {
                    o[c] = requant(s0, m, sh, p->out_offset, p->act_min, p->act_max);
                    o[oc_n + c] = requant(s1, m, sh, p->out_offset, p->act_min, p->act_max);
                }
            }
            oc += cb;
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

/* Every output channel of one pixel, or of two (`pair`: the second window x_step values further on), whose
 * windows are read in place: kernel row ky of the first window starts at xs[ky], or at first + ky * row_step
 * when xs is 0 (k_h rows of k_w * in_c values, laid out like a filter row). The path for windows inside the
 * image when they are not copied (ecnn_conv2d_fast and ecnn_conv_row3 share it). */
static void conv_in_place(const ecnn_conv_params *p, const int8_t *const *xs, const int8_t *first, int32_t row_step,
                          int pair, int8_t *o)
{
    const int32_t run = p->k_w * p->in_c;
    const int32_t ksize = p->k_h * run;
    const int32_t x_step = p->stride_w * p->in_c;
    const int32_t oc_n = p->out_c;
    int32_t oc = 0;
    int32_t ky;
#if defined(ECNN_DOT_DSP)
    if (pair && (run & 3) == 0 && ksize <= ECNN_GEMM_XS_WORDS && oc_n >= 4) {
        /* both windows widened first, row by row (every input read before the first store), then the GEMM's
         * column loop */
        uint32_t wide[ECNN_GEMM_XS_WORDS];
        ecnn_x16_cols_args k;
        for (ky = 0; ky < p->k_h; ++ky) {
            const int8_t *xa = xs ? xs[ky] : first + ky * row_step;
            ecnn_widen2(xa, xa + x_step, run, wide + ky * run);
        }
        k.filter = p->filter;
        k.bias = p->bias_folded;
        k.mult = p->mult;
        k.shift = p->shift;
        k.ms = 1;
        k.n = ksize; /* a multiple of 4: no last values */
        k.cols = oc_n & ~1;
        k.out_offset = p->out_offset;
        k.lo = p->act_min;
        k.hi = p->act_max;
        ecnn_x16_cols(ECNN_RQ_MODE(p), &k, wide, 0, 0, o, o + oc_n);
        oc = k.cols;
    }
#endif
    for (; oc + 2 <= oc_n; oc += 2) {
        const int8_t *f0 = p->filter + oc * ksize;
        const int8_t *f1 = f0 + ksize;
        int32_t acc[4];
        acc[0] = p->bias_folded[oc];
        acc[1] = p->bias_folded[oc + 1];
        acc[2] = acc[0];
        acc[3] = acc[1];
        for (ky = 0; ky < p->k_h; ++ky) {
            const int8_t *xa = xs ? xs[ky] : first + ky * row_step;
            if (pair) {
                ecnn_dot2x2(xa, xa + x_step, f0 + ky * run, f1 + ky * run, run, acc);
            } else {
                ecnn_dot1x2(xa, f0 + ky * run, f1 + ky * run, run, acc);
            }
        }
        if (pair) {
            store2x2(p, o, oc_n, oc, acc);
        } else {
            o[oc] = requant_k(p->rq_right, acc[0], p->mult[oc], p->shift[oc], p->out_offset, p->act_min, p->act_max);
            o[oc + 1] = requant_k(p->rq_right, acc[1], p->mult[oc + 1], p->shift[oc + 1], p->out_offset, p->act_min,
                                  p->act_max);
        }
    }
    for (; oc < oc_n; ++oc) {
        const int8_t *f0 = p->filter + oc * ksize;
        int32_t a = p->bias_folded[oc];
        int32_t b = a;
        for (ky = 0; ky < p->k_h; ++ky) {
            const int8_t *xa = xs ? xs[ky] : first + ky * row_step;
            a = wrap_add(a, ecnn_dot(xa, f0 + ky * run, run));
            if (pair) {
                b = wrap_add(b, ecnn_dot(xa + x_step, f0 + ky * run, run));
            }
        }
        o[oc] = requant_k(p->rq_right, a, p->mult[oc], p->shift[oc], p->out_offset, p->act_min, p->act_max);
        if (pair) {
            o[oc_n + oc] = requant_k(p->rq_right, b, p->mult[oc], p->shift[oc], p->out_offset, p->act_min,
                                     p->act_max);
        }
    }
}

#if defined(ECNN_DOT_DSP)
/* A window inside the image (kh rows of run values, in_row apart from src) copied row after row: words (the
 * DSP cores load and store unaligned words), the last one ending at the row's end (it may overlap the one
 * before, so nothing outside the row is read or written); rows under 4 values byte by byte. window_fill's
 * result without its border cases and calls, which cost more than the copy for short rows (a 3 x 3 RGB
 * window is three rows of 9). */
ECNN_INLINE void window_copy(const int8_t *src, int32_t in_row, int32_t run, int32_t kh, int8_t *dst)
{
    int32_t ky, i;
    for (ky = 0; ky < kh; ++ky) {
        if (run >= 4) {
            uint32_t v;
            for (i = 0; i + 4 < run; i += 4) {
                v = ecnn_ld32(src + i);
                memcpy(dst + i, &v, 4);
            }
            v = ecnn_ld32(src + run - 4);
            memcpy(dst + run - 4, &v, 4);
        } else {
            for (i = 0; i < run; ++i) {
                dst[i] = src[i];
            }
        }
        src += in_row;
        dst += run;
    }
}

#define ECNN_TRIPLE_MAX_KH 9    /* kernel rows (grouped: taps) of three windows read where they lie ... */
#define ECNN_TRIPLE_MAX_RUN 96  /* ... each of at most this many values (3 x 3 x 32); larger ones are copied */

/* Output channels oc0 .. oc0 + cols - 1 of three pixels (p->rows3): row ky of window k (run values, run a
 * multiple of 4) at w[3 * ky + k], or the input's zero point when that is 0 (a row outside the image; run <=
 * ECNN_TRIPLE_MAX_RUN); kh rows. A window copied whole is one row of k_h * k_w * k_c values (kh = 1); a grouped
 * convolution's window is k_h * k_w rows of k_c. All three windows are widened (ecnn_widen3) before the first
 * store. */
static void conv_triple(const ecnn_conv_params *p, const int8_t *const *w, int32_t kh, int32_t run, int32_t oc0,
                        int32_t cols, int8_t *o, int32_t npx)
{
    uint32_t wide[ECNN_GEMM_XS_WORDS];
    int8_t zrow[ECNN_TRIPLE_MAX_RUN];
    int zero_row = 0;
    ecnn_gemm_params g;
    int32_t ky;
    for (ky = 0; ky < kh; ++ky) {
        const int8_t *x0 = w[3 * ky], *x1 = w[3 * ky + 1], *x2 = w[3 * ky + 2];
        if ((x0 == 0 || x1 == 0 || x2 == 0) && !zero_row) {
            memset(zrow, (int8_t)(-p->in_offset), (size_t)run);
            zero_row = 1;
        }
        ecnn_widen3(x0 ? x0 : zrow, x1 ? x1 : zrow, x2 ? x2 : zrow, run, wide + ky * run * 3 / 2);
    }
    g.rows = 3;
    g.depth = kh * run;
    g.cols = cols;
    g.mult_stride = 1;
    g.out_offset = p->out_offset;
    g.act_min = p->act_min;
    g.act_max = p->act_max;
    g.rq_right = p->rq_right;
    g.filter = (p->filter4 ? p->filter4 : p->filter) + oc0 * g.depth;
    g.bias_folded = p->bias_folded + oc0;
    g.mult = p->mult + oc0;
    g.shift = p->shift + oc0;
    g.rows3 = p->rows3;
    g.pairs = p->pairs; /* ECNN_GEMM3P: npx pixels (1..3), the last repeated, stored twice at the same place */
    g.y_stride = npx > 1 ? p->out_c : 0;
    g.y_stride2 = npx > 2 ? 2 * p->out_c : g.y_stride;
    p->rows3(&g, wide, o + oc0);
}
#endif

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
#if defined(ECNN_DOT_DSP)
        /* three pixels at a time, as in ecnn_conv2d_fast, group by group: a window's taps (k_c values each) read
         * where they lie when its columns are inside (rows outside: the zero point), else copied (at most two) */
        if (p->rows3 && n_pix - q >= 3 && n_pix - q != 4 && p->k_h * p->k_w <= ECNN_TRIPLE_MAX_KH &&
            (kc & 3) == 0 && kc <= ECNN_TRIPLE_MAX_RUN) {
            const int32_t taps = p->k_h * p->k_w;
            int32_t k, copies = 0, ys[3], xs0[3];
            for (k = 0; k < 3; ++k) {
                const int32_t qy = (q + k) / p->out_w;
                ys[k] = qy * p->stride_h - p->pad_h;
                xs0[k] = (q + k - qy * p->out_w) * p->stride_w - p->pad_w;
                copies += xs0[k] < 0 || xs0[k] + p->k_w > p->in_w;
            }
            if (copies <= (window != 0 ? 2 : 0)) {
                for (g = 0; g < groups; ++g) {
                    const int8_t *w[3 * ECNN_TRIPLE_MAX_KH];
                    int8_t *dst = window;
                    for (k = 0; k < 3; ++k) {
                        if (xs0[k] >= 0 && xs0[k] + p->k_w <= p->in_w) {
                            for (ky = 0; ky < p->k_h; ++ky) {
                                const int32_t y = ys[k] + ky;
                                for (kx = 0; kx < p->k_w; ++kx) {
                                    w[3 * (ky * p->k_w + kx) + k] =
                                        y >= 0 && y < p->in_h ? in + y * in_row + (xs0[k] + kx) * p->in_c + g * kc : 0;
                                }
                            }
                        } else {
                            int32_t t;
                            window_fill(p, in, ys[k], xs0[k], g * kc, dst);
                            for (t = 0; t < taps; ++t) {
                                w[3 * t + k] = dst + t * kc;
                            }
                            dst += ksize;
                        }
                    }
                    conv_triple(p, w, taps, kc, g * per_group, per_group, o, 3);
                }
                q += 3;
                continue;
            }
        }
#endif
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
            mve_px4(&rq, window, ksize, ksize, p->filter, 0, oc_n, out + q * oc_n, oc_n, npx);
            q += npx;
        }
        return;
    }
    if (p->k_h <= ECNN_MVE_MAX_KH) { /* two pixels of a row at a time (a lone last one paired with itself) */
        const mve_rq rq = conv_rq(p);
        const int32_t x_step = p->stride_w * p->in_c;
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
#if defined(ECNN_DOT_DSP)
        /* three pixels at a time, consecutive in row-major order (a group may span two rows), while that leaves
         * no pixel alone (four left go as two pairs). A window whose columns are all inside the image is read where
         * it lies (its rows above or below the image: the zero point); the others are copied zero-point padded
         * into the scratch, which holds two (short rows: every window copied, the scratch holds four). */
        if (p->rows3 && (p->pairs || (n_pix - q >= 3 && n_pix - q != 4))) {
            /* the column-pair block (ECNN_GEMM3P) takes every pixel: a last one or two as a triple that repeats
             * the last (the generator checked that its windows stay within the copies the scratch holds) */
            const int32_t npx = p->pairs && n_pix - q < 3 ? n_pix - q : 3;
            const int in_place = !copy_all && (run & 3) == 0 && p->k_h <= ECNN_TRIPLE_MAX_KH &&
                                 run <= ECNN_TRIPLE_MAX_RUN;
            int32_t k, ky, copies = 0;
            int32_t ys[3], xs0[3];
            for (k = 0; k < npx; ++k) {
                const int32_t qy = (q + k) / p->out_w;
                ys[k] = qy * p->stride_h - p->pad_h;
                xs0[k] = (q + k - qy * p->out_w) * p->stride_w - p->pad_w;
                copies += !in_place || xs0[k] < 0 || xs0[k] + p->k_w > p->in_w;
            }
            if (copies <= (copy_all ? 3 : window != 0 ? 2 : 0)) {
                /* copies of short rows one after the other, each zero padded to a multiple of 4 (filter4) */
                const int32_t ksize4 = p->filter4 ? (ksize + 3) & ~3 : ksize;
                const int8_t *w[3 * ECNN_TRIPLE_MAX_KH];
                int8_t *dst = window;
                for (k = 0; k < 3; ++k) {
                    if (k >= npx) { /* a repeated last pixel */
                        for (ky = 0; ky < (in_place ? p->k_h : 1); ++ky) {
                            w[3 * ky + k] = w[3 * ky + npx - 1];
                        }
                    } else if (in_place && xs0[k] >= 0 && xs0[k] + p->k_w <= p->in_w) {
                        for (ky = 0; ky < p->k_h; ++ky) {
                            const int32_t y = ys[k] + ky;
                            w[3 * ky + k] = y >= 0 && y < p->in_h ? in + y * in_row + xs0[k] * p->in_c : 0;
                        }
                    } else {
                        if (ys[k] >= 0 && ys[k] + p->k_h <= p->in_h && xs0[k] >= 0 && xs0[k] + p->k_w <= p->in_w) {
                            window_copy(in + ys[k] * in_row + xs0[k] * p->in_c, in_row, run, p->k_h, dst);
                        } else {
                            window_fill(p, in, ys[k], xs0[k], 0, dst);
                        }
                        for (ky = 0; ky < (in_place ? p->k_h : 1); ++ky) {
                            w[3 * ky + k] = dst + ky * run;
                        }
                        if (ksize4 != ksize) {
                            memset(dst + ksize, 0, (size_t)(ksize4 - ksize));
                        }
                        dst += ksize4;
                    }
                }
                conv_triple(p, w, in_place ? p->k_h : 1, in_place ? run : ksize4, 0, oc_n, o, npx);
                q += npx;
                continue;
            }
        }
#endif
        if (!inside || copy_all) {
            if (window == 0) {
                conv_border_pixel(p, in, o, y0, x0);
                q += 1;
                continue;
            }
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
        {   /* kernels taller than ECNN_MVE_MAX_KH rows (the two-pixel path above takes the others) */
            const mve_rq rq = conv_rq(p);
            int32_t oc;
            (void)pair;
            for (oc = 0; oc < oc_n; oc += 4) {
                mve_pixel4(&rq, base, in_row, p->k_h, run, p->filter, ksize, oc, oc_n - oc < 4 ? oc_n - oc : 4, o);
            }
            q += 1;
            continue;
        }
#endif
#if defined(ECNN_DOT_DSP)
        /* two windows side by side in the scratch: then the GEMM's inner loop serves; also when the second one
         * crosses the border (zero-point padded, as the border path does), so that no pixel is left alone */
        if (window != 0 && ox + 1 < p->out_w) {
            window_fill(p, in, y0, x0, 0, window);
            window_fill(p, in, y0, x0 + p->stride_w, 0, window + ksize);
            conv_windows(p, window, window + ksize, ksize, o, 0, oc_n);
            q += 2;
            continue;
        }
#endif
        conv_in_place(p, 0, base, in_row, pair, o);
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
    (void)x_step; /* the Helium and DSP paths' */
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
        int32_t ky;
        const int8_t *xs[3];
#if defined(ECNN_DOT_DSP)
        /* three pixels at a time, as in ecnn_conv2d_fast (within the row; rows3 implies 4 | 3 run, so 4 | run);
         * at most two windows cross the left or right border (the scratch holds two) */
        if (p->rows3 && (p->pairs || (p->out_w - ox >= 3 && p->out_w - ox != 4)) && run <= ECNN_TRIPLE_MAX_RUN) {
            /* ECNN_GEMM3P: every pixel, as in ecnn_conv2d_fast */
            const int32_t npx = p->pairs && p->out_w - ox < 3 ? p->out_w - ox : 3;
            int32_t k, copies = 0;
            for (k = 0; k < npx; ++k) {
                const int32_t xk = x0 + k * p->stride_w;
                copies += xk < 0 || xk + p->k_w > p->in_w;
            }
            if (copies <= 2) {
                const int8_t *w[9];
                int8_t *dst = window;
                for (k = 0; k < 3; ++k) {
                    const int32_t xk = x0 + k * p->stride_w;
                    const int cols_in = xk >= 0 && xk + p->k_w <= p->in_w;
                    for (ky = 0; ky < 3; ++ky) {
                        if (k >= npx) { /* a repeated last pixel */
                            w[3 * ky + k] = w[3 * ky + npx - 1];
                        } else if (cols_in) { /* a row outside the image: the zero point */
                            w[3 * ky + k] = rows[ky] ? rows[ky] + xk * p->in_c : 0;
                        } else {
                            window_row(p, rows[ky], xk, 0, p->in_c, dst + ky * run);
                            w[3 * ky + k] = dst + ky * run;
                        }
                    }
                    dst += cols_in || k >= npx ? 0 : ksize;
                }
                conv_triple(p, w, 3, run, 0, oc_n, o, npx);
                ox += npx;
                continue;
            }
        }
#endif
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
#if defined(ECNN_DOT_DSP)
        if (window != 0 && ox + 1 < p->out_w) { /* as in ecnn_conv2d_fast: two windows side by side (the second
                                                  * zero-point padded where it crosses the border) */
            for (ky = 0; ky < 3; ++ky) {
                memcpy(window + ky * run, xs[ky], (size_t)run);
                if (pair) {
                    memcpy(window + ksize + ky * run, xs[ky] + x_step, (size_t)run);
                } else {
                    window_row(p, rows[ky], x0 + p->stride_w, 0, p->in_c, window + ksize + ky * run);
                }
            }
            conv_windows(p, window, window + ksize, ksize, o, 0, oc_n);
            ox += 2;
            continue;
        }
#endif
        conv_in_place(p, xs, 0, 0, pair, o);
        ox += pair ? 2 : 1;
    }
}
