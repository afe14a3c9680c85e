/* edgecnn int8 kernels: depthwise convolutions. Portable C99, no malloc, no floating point; see ecnn_kernels.h. */
#include "ecnn_internal.h"

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
/* The taps of output pixel (y0, x0): taps[t] points at input channel 0 of tap t = ky * k_w + kx (input pixel
 * (y0 + ky * dil_h, x0 + kx * dil_w)), or at zrow (in_c bytes of the input zero point) where the tap is outside the
 * image; returns 1 when every tap is inside. */
static int dw_taps(const ecnn_conv_params *p, const int8_t *in, const int8_t *zrow, int32_t y0, int32_t x0,
                   const int8_t **taps)
{
    const int32_t C = p->in_c;
    int inside = 1;
    int32_t ky, kx;
    if (y0 >= 0 && x0 >= 0 && y0 + (p->k_h - 1) * p->dil_h < p->in_h && x0 + (p->k_w - 1) * p->dil_w < p->in_w) {
        const int8_t *r = in + (y0 * p->in_w + x0) * C; /* no padding: strides only */
        const int32_t row = p->in_w * C * p->dil_h;
        const int32_t col = C * p->dil_w;
        for (ky = 0; ky < p->k_h; ++ky, r += row) {
            const int8_t *q = r;
            for (kx = 0; kx < p->k_w; ++kx, q += col) {
                *taps++ = q;
            }
        }
        return 1;
    }
    for (ky = 0; ky < p->k_h; ++ky) {
        const int32_t y = y0 + ky * p->dil_h;
        for (kx = 0; kx < p->k_w; ++kx) {
            const int32_t x = x0 + kx * p->dil_w;
            const int ok = y >= 0 && y < p->in_h && x >= 0 && x < p->in_w;
            taps[ky * p->k_w + kx] = ok ? in + (y * p->in_w + x) * C : zrow;
            inside &= ok;
        }
    }
    return inside;
}

#if defined(ECNN_DOT_MVE)
/* The output stage of 8 channels from c whose even and odd channels' sums are ae and ao: each requantized with its
 * channels' constants (gathered at the lane offsets ev and od under the predicates me and mo), the output zero
 * point added, clamped, the two interleaved back by VMOVNB/VMOVNT and stored as 8 int8 (under m16 when `tail`). */
ECNN_INLINE void dw_out8_mve(const ecnn_conv_params *p, int32x4_t ae, int32x4_t ao, int32_t c, uint32x4_t ev,
                             uint32x4_t od, mve_pred16_t me, mve_pred16_t mo, mve_pred16_t m16, int tail, int8_t *o)
{
    int16x8_t r;
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
    int32_t t;
    for (t = 0; t < n_taps; ++t) {
        const int16x8_t x = tail ? vldrbq_z_s16(taps[t] + c, m16) : vldrbq_s16(taps[t] + c);
        const int16x8_t v = tail ? vldrbq_z_s16(wc, m16) : vldrbq_s16(wc);
        ae = vaddq_s32(ae, vmullbq_int_s16(x, v));
        ao = vaddq_s32(ao, vmulltq_int_s16(x, v));
        wc += C;
    }
    dw_out8_mve(p, ae, ao, c, ev, od, me, mo, m16, tail, o);
}
#endif

#if defined(ECNN_DOT_MVE)
/* The output stage of one pixel's 8 channels whose even and odd channels' sums are e and d (constants m and s
 * loaded the same way): requantize (right shifts only when `fast`: rq_right), add the output zero point, clamp,
 * interleave back (VMOVNB/VMOVNT) and store 8 int8. */
ECNN_INLINE void dw_store8_mve(const ecnn_conv_params *p, int32x4_t e, int32x4_t d, const int32x4x2_t m,
                               const int32x4x2_t s, const int fast, int8_t *o)
{
    if (fast) {
        e = ecnn_rdpot_mve(vqrdmulhq_s32(e, m.val[0]), s.val[0]);
        d = ecnn_rdpot_mve(vqrdmulhq_s32(d, m.val[1]), s.val[1]);
    } else {
        e = ecnn_requant_mve(e, m.val[0], s.val[0]);
        d = ecnn_requant_mve(d, m.val[1], s.val[1]);
    }
    e = vaddq_n_s32(e, p->out_offset);
    d = vaddq_n_s32(d, p->out_offset);
    {   /* saturating to int16 first changes nothing: the clamp bounds are int8 */
        int16x8_t r = vqmovntq_s32(vqmovnbq_s32(vdupq_n_s16(0), e), d);
        r = vminq_s16(vmaxq_s16(r, vdupq_n_s16((int16_t)p->act_min)), vdupq_n_s16((int16_t)p->act_max));
        vstrbq_s16(o, r);
    }
}

/* Channels [c, c + 8) of two output pixels whose taps are t0 and t1 (c + 8 <= C): each weight vector is loaded
 * once for both pixels; per tap and pixel one widening load, VMULLB and VMULLT (the even and the odd channels,
 * exact: |x * w| <= 2^14) and two adds. The constants are loaded de-interleaved by VLD20/VLD21. */
ECNN_INLINE void dw_pair8_mve(const ecnn_conv_params *p, const int8_t *const *t0, const int8_t *const *t1,
                              const int32_t n_taps, int32_t c, int8_t *o0, int8_t *o1, const int fast)
{
    const int32_t C = p->out_c;
    const int8_t *w = p->filter + c;
    const int32x4x2_t b = vld2q_s32(p->bias_folded + c);
    int32x4_t e0 = b.val[0];
    int32x4_t d0 = b.val[1];
    int32x4_t e1 = b.val[0];
    int32x4_t d1 = b.val[1];
    int32_t t;
    for (t = 0; t < n_taps; ++t) {
        const int16x8_t v = vldrbq_s16(w);
        const int16x8_t x = vldrbq_s16(t0[t] + c);
        const int16x8_t y = vldrbq_s16(t1[t] + c);
        e0 = vaddq_s32(e0, vmullbq_int_s16(x, v));
        d0 = vaddq_s32(d0, vmulltq_int_s16(x, v));
        e1 = vaddq_s32(e1, vmullbq_int_s16(y, v));
        d1 = vaddq_s32(d1, vmulltq_int_s16(y, v));
        w += C;
    }
    {
        const int32x4x2_t m = vld2q_s32(p->mult + c);
        const int32x4x2_t s = vld2q_s32(p->shift + c);
        dw_store8_mve(p, e0, d0, m, s, fast, o0 + c);
        dw_store8_mve(p, e1, d1, m, s, fast, o1 + c);
    }
}

/* Every 8-channel block of two output pixels (tail channels: one pixel at a time). */
ECNN_INLINE void dw_pair_mve(const ecnn_conv_params *p, const int8_t *const *t0, const int8_t *const *t1,
                             const int32_t n_taps, int8_t *o0, int8_t *o1, const int fast)
{
    const int32_t C = p->out_c;
    int32_t c = 0;
    if (n_taps == 9) { /* 3 x 3: a constant trip count, unrolled by the compiler */
        for (; c + 8 <= C; c += 8) {
            dw_pair8_mve(p, t0, t1, 9, c, o0, o1, fast);
        }
    } else {
        for (; c + 8 <= C; c += 8) {
            dw_pair8_mve(p, t0, t1, n_taps, c, o0, o1, fast);
        }
    }
    if (c < C) {
        dw_block8_mve(p, t0, n_taps, c, 1, o0);
        dw_block8_mve(p, t1, n_taps, c, 1, o1);
    }
}
#endif

#if defined(ECNN_DOT_DSP)
/* Channels [c, c + 4) of one depthwise pixel: a[k] += sum over the n taps of taps[t][c + k] * w[t * C + k]. */
ECNN_INLINE void dw4_dsp(const int8_t *const *taps, const int8_t *w, int32_t C, int32_t c, int32_t n, int32_t *a)
{
    int32_t a0 = a[0];
    int32_t a1 = a[1];
    int32_t a2 = a[2];
    int32_t a3 = a[3];
    int32_t t;
    for (t = 0; t < n; ++t) {
        const uint32_t x = ecnn_ld32(taps[t] + c);
        const uint32_t v = ecnn_ld32(w);
        const uint32_t xe = __sxtb16(x);
        const uint32_t ve = __sxtb16(v);
        const uint32_t xo = ecnn_sxtb16_ror8(x);
        const uint32_t vo = ecnn_sxtb16_ror8(v);
        a0 = __smlabb(xe, ve, a0);
        a2 = __smlatt(xe, ve, a2);
        a1 = __smlabb(xo, vo, a1);
        a3 = __smlatt(xo, vo, a3);
        w += C;
    }
    a[0] = a0;
    a[1] = a1;
    a[2] = a2;
    a[3] = a3;
}
#endif

#if defined(ECNN_DOT_DSP)
/* Output channels [c, c + 4) of one pixel from their sums: all four requantized before the first int8 store,
 * which may alias the constants. */
ECNN_INLINE void dw_store4_dsp(const ecnn_conv_params *p, int32_t a0, int32_t a1, int32_t a2, int32_t a3, int32_t c,
                               int8_t *o, const int fast)
{
    const int8_t r0 = requant_k(fast, a0, p->mult[c], p->shift[c], p->out_offset, p->act_min, p->act_max);
    const int8_t r1 = requant_k(fast, a1, p->mult[c + 1], p->shift[c + 1], p->out_offset, p->act_min, p->act_max);
    const int8_t r2 = requant_k(fast, a2, p->mult[c + 2], p->shift[c + 2], p->out_offset, p->act_min, p->act_max);
    const int8_t r3 = requant_k(fast, a3, p->mult[c + 3], p->shift[c + 3], p->out_offset, p->act_min, p->act_max);
    o[c] = r0;
    o[c + 1] = r1;
    o[c + 2] = r2;
    o[c + 3] = r3;
}
#endif

/* One output pixel: o[c] = requant(bias_folded[c] + sum_t taps[t][c] * w[t][c]) for every channel c. */
#if defined(ECNN_DOT_DSP)
#define ECNN_DW_PIXEL ECNN_INLINE /* specialized on `fast` */
#else
#define ECNN_DW_PIXEL static      /* one copy, called per pixel, as before the DSP short form (fewer spills) */
#endif
ECNN_DW_PIXEL void dw_pixel(const ecnn_conv_params *p, const int8_t *const *taps, int32_t n_taps, int8_t *o,
                         const int fast)
{
    const int32_t C = p->out_c;
    const int8_t *w = p->filter;
    int32_t c = 0;
    int32_t t;
    (void)fast; /* only the paired Helium blocks and the DSP path have a short form */
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
        int32_t a0, a1, a2, a3;
        int32_t a[4];
        a[0] = p->bias_folded[c];
        a[1] = p->bias_folded[c + 1];
        a[2] = p->bias_folded[c + 2];
        a[3] = p->bias_folded[c + 3];
        if (n_taps == 9) { /* 3 x 3: a constant trip count, unrolled by the compiler */
            dw4_dsp(taps, w + c, C, c, 9, a);
        } else {
            dw4_dsp(taps, w + c, C, c, n_taps, a);
        }
        a0 = a[0];
        a1 = a[1];
        a2 = a[2];
        a3 = a[3];
        dw_store4_dsp(p, a0, a1, a2, a3, c, o, fast);
    }
#endif
    for (; c < C; ++c) {
        int32_t acc = p->bias_folded[c];
        for (t = 0; t < n_taps; ++t) {
            acc = wrap_add(acc, (int32_t)taps[t][c] * (int32_t)w[t * C + c]);
        }
        o[c] = requant_k(fast, acc, p->mult[c], p->shift[c], p->out_offset, p->act_min, p->act_max);
    }
}

#if defined(ECNN_DOT_MVE)
/* Channels [c, c + 8) (fewer at the tail) of one pixel of a depthwise with depth multiplier M > 1: output channel
 * k reads input channel k / M, so the inputs come by a gathering load (VLDRB.S16 with a vector of byte offsets)
 * and the rest is dw_block8_mve's: VMULLB/VMULLT into the even and odd channels' sums. */
ECNN_INLINE void dw_block8_mult_mve(const ecnn_conv_params *p, const int8_t *const *taps, int32_t n_taps, int32_t c,
                                    int8_t *o)
{
    const int32_t C = p->out_c;
    const uint32x4_t ev = vidupq_n_u32(0, 2);
    const uint32x4_t od = vidupq_n_u32(1, 2);
    const int8_t *wc = p->filter + c;
    const int32_t left = C - c < 8 ? C - c : 8;
    const mve_pred16_t m16 = vctp16q((uint32_t)left);
    const mve_pred16_t me = vctp32q((uint32_t)(left + 1) >> 1);
    const mve_pred16_t mo = vctp32q((uint32_t)left >> 1);
    uint16_t off[8];
    uint16x8_t ov;
    int32x4_t ae, ao;
    int32_t t, k;
    for (k = 0; k < 8; ++k) {
        off[k] = (uint16_t)((c + (k < left ? k : 0)) / p->depth_mult);
    }
    ov = vldrhq_u16(off);
    ae = vldrwq_gather_shifted_offset_z_s32(p->bias_folded + c, ev, me);
    ao = vldrwq_gather_shifted_offset_z_s32(p->bias_folded + c, od, mo);
    for (t = 0; t < n_taps; ++t) {
        const int16x8_t x = vldrbq_gather_offset_z_s16(taps[t], ov, m16);
        const int16x8_t v = vldrbq_z_s16(wc, m16);
        ae = vaddq_s32(ae, vmullbq_int_s16(x, v));
        ao = vaddq_s32(ao, vmulltq_int_s16(x, v));
        wc += C;
    }
    dw_out8_mve(p, ae, ao, c, ev, od, me, mo, m16, 1, o);
}
#endif

/* One output pixel of a depthwise with depth multiplier M = depth_mult > 1: o[c] = requant(bias_folded[c] +
 * sum_t taps[t][c / M] * w[t][c]). Helium: 8 channels a block by gathering loads; DSP, M = 2: four channels
 * (two input channels, each read once as a halfword) by four halfword multiply-accumulates per tap. */
ECNN_DW_PIXEL void dw_pixel_mult(const ecnn_conv_params *p, const int8_t *const *taps, int32_t n_taps, int8_t *o,
                                 const int fast)
{
    const int32_t C = p->out_c;
    const int32_t M = p->depth_mult;
    const int8_t *w = p->filter;
    int32_t c = 0;
    int32_t t;
    (void)fast;
#if defined(ECNN_DOT_MVE)
    for (; c < C; c += 8) {
        dw_block8_mult_mve(p, taps, n_taps, c, o);
    }
#elif defined(ECNN_DOT_DSP)
    if (M == 2) {
        for (; c + 4 <= C; c += 4) {
            int32_t a0 = p->bias_folded[c];
            int32_t a1 = p->bias_folded[c + 1];
            int32_t a2 = p->bias_folded[c + 2];
            int32_t a3 = p->bias_folded[c + 3];
            const int8_t *wt = w + c;
            for (t = 0; t < n_taps; ++t, wt += C) {
                uint16_t h;
                uint32_t x, v, xe, xo, ve, vo;
                memcpy(&h, taps[t] + (c >> 1), 2); /* input channels c / 2 and c / 2 + 1 */
                x = h;
                v = ecnn_ld32(wt);
                xe = __sxtb16(x);          /* bottom: input c / 2 */
                xo = ecnn_sxtb16_ror8(x);  /* bottom: input c / 2 + 1 */
                ve = __sxtb16(v);          /* w[c], w[c + 2] */
                vo = ecnn_sxtb16_ror8(v);  /* w[c + 1], w[c + 3] */
                a0 = __smlabb(xe, ve, a0);
                a1 = __smlabb(xe, vo, a1);
                a2 = __smlabt(xo, ve, a2);
                a3 = __smlabt(xo, vo, a3);
            }
            dw_store4_dsp(p, a0, a1, a2, a3, c, o, fast);
        }
    }
#endif
    for (; c < C; ++c) {
        const int32_t ic = c / M;
        int32_t acc = p->bias_folded[c];
        for (t = 0; t < n_taps; ++t) {
            acc = wrap_add(acc, (int32_t)taps[t][ic] * (int32_t)w[t * C + c]);
        }
        o[c] = requant_k(fast, acc, p->mult[c], p->shift[c], p->out_offset, p->act_min, p->act_max);
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

#if defined(ECNN_DOT_DSP)
/* The planar 3x3 path (ECNN_DW_PLANAR): one channel at a time. The channel's input is copied into `plane`, a
 * zero-point-padded image of one byte per pixel, and the channel's nine weights, bias and output constants stay
 * in registers while every output pixel of the channel is computed from it. Along a plane row, one unaligned LDR
 * and two SXTB16 give (p0, p2) and (p1, p3); two adjacent outputs then take SMLAD with the packed pair
 * (w0, w2) and one halfword multiply by w1 each: 7 instructions per kernel row and output pair, where the
 * pixel-major path takes about 20. The plane runs along the longer side of the image (a transposed copy when
 * the image is taller than wide) so that its rows are long.
 * In place: every output byte of channel c lands on an input byte of channel c when out - in is a multiple of C
 * (the plan's granule), and channel c is copied before any of its outputs is written. */
typedef struct {
    int32_t rows, cols;         /* output plane: rows x cols; the input plane is prows x wp */
    int32_t s, prows, wp;       /* stride (1 or 2); the input plane's rows and row length: (n - 1) s + 3 */
    int32_t in_rows, in_cols;   /* input image in plane orientation */
    int32_t pad_r, pad_c;       /* plane position of input (0, 0) */
    int32_t in_rstep, in_cstep; /* input bytes per plane row / column */
    int32_t out_rstep, out_cstep;
    int transposed;
} dw_plane;

static void dw_plane_geometry(const ecnn_conv_params *p, dw_plane *g)
{
    const int32_t C = p->out_c;
    g->transposed = p->out_w < p->out_h;
    if (g->transposed) {
        g->rows = p->out_w, g->cols = p->out_h, g->in_rows = p->in_w, g->in_cols = p->in_h;
        g->pad_r = p->pad_w, g->pad_c = p->pad_h;
        g->in_rstep = C, g->in_cstep = p->in_w * C, g->out_rstep = C, g->out_cstep = p->out_w * C;
    } else {
        g->rows = p->out_h, g->cols = p->out_w, g->in_rows = p->in_h, g->in_cols = p->in_w;
        g->pad_r = p->pad_h, g->pad_c = p->pad_w;
        g->in_rstep = p->in_w * C, g->in_cstep = C, g->out_rstep = p->out_w * C, g->out_cstep = C;
    }
    g->s = p->stride_h;
    g->prows = (g->rows - 1) * g->s + 3;
    g->wp = (g->cols - 1) * g->s + 3;
}

/* Copy channel c of the input (in + c) into the plane's interior (its border holds the zero point already):
 * four bytes gathered into one word store. */
static void dw_plane_fill(const dw_plane *g, const int8_t *in, int8_t *plane, int32_t wp)
{
    const int32_t s = g->in_cstep, rstep = g->in_rstep;
    const int32_t n = g->in_cols < wp - g->pad_c ? g->in_cols : wp - g->pad_c;
    const int32_t rows = g->in_rows < g->prows - g->pad_r ? g->in_rows : g->prows - g->pad_r;
    int8_t *dst = plane + g->pad_r * wp + g->pad_c;
    int32_t r, k;
    for (r = 0; r < rows; ++r, dst += wp, in += rstep) {
        const uint8_t *src = (const uint8_t *)in;
        k = n & ~3;
        if (k) { /* one asm loop: 4 LDRB, 3 ORR, the word store and the loop's 3 (compiled: 15 with two spills) */
            uint8_t *d = (uint8_t *)dst;
            const uint8_t *const dend = d + k;
            const int32_t s2 = 2 * s, s3 = 3 * s, s4 = 4 * s;
            uint32_t a, b, c, e;
            __asm__ volatile("1:\n\t"
                             "ldrb   %[a], [%[src]]\n\t"
                             "ldrb   %[b], [%[src], %[s]]\n\t"
                             "ldrb   %[c], [%[src], %[s2]]\n\t"
                             "ldrb   %[e], [%[src], %[s3]]\n\t"
                             "add    %[src], %[src], %[s4]\n\t"
                             "orr    %[a], %[a], %[b], lsl #8\n\t"
                             "orr    %[a], %[a], %[c], lsl #16\n\t"
                             "orr    %[a], %[a], %[e], lsl #24\n\t"
                             "str    %[a], [%[d]], #4\n\t" /* unaligned word stores are allowed on ARMv7E-M */
                             "cmp    %[d], %[dend]\n\t"
                             "bne    1b\n\t"
                             : [src] "+&r"(src), [d] "+&r"(d), [a] "=&r"(a), [b] "=&r"(b), [c] "=&r"(c),
                               [e] "=&r"(e)
                             : [s] "r"(s), [s2] "r"(s2), [s3] "r"(s3), [s4] "r"(s4), [dend] "r"(dend)
                             : "cc", "memory");
        }
        for (; k < n; ++k, src += s) {
            dst[k] = (int8_t)*src;
        }
    }
}

ECNN_INLINE uint32_t pack16(int32_t lo, int32_t hi)
{
    return ((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16);
}


/* One channel's constants for the planar path: the nine weights in SMLAD order (tap (i, j) of the plane is
 * filter tap (j, i) when the plane is transposed), the folded bias and rq_smlal's constants, and the plane and
 * output geometry. */
typedef struct {
    uint32_t w02_0, w02_1, w02_2, w1_01; /* (w[i][0], w[i][2]) of plane rows i = 0..2; (w[0][1], w[1][1]) */
    int32_t w1_2, bias, hc, m, e;         /* hc, m adjacent: one LDRD */
    int32_t wp, cs, rows, cols, rstep;
} dw_chan;

static void dw_chan_init(const ecnn_conv_params *p, const dw_plane *g, int32_t c, dw_chan *k)
{
    const int32_t C = p->out_c;
    const int8_t *w = p->filter + c;
    const int32_t t01 = g->transposed ? 3 : 1, t10 = g->transposed ? 1 : 3;
    k->w02_0 = pack16(w[0], w[2 * t01 * C]);
    k->w02_1 = pack16(w[t10 * C], w[(t10 + 2 * t01) * C]);
    k->w02_2 = pack16(w[2 * t10 * C], w[(2 * t10 + 2 * t01) * C]);
    k->w1_01 = pack16(w[t01 * C], w[(t10 + t01) * C]);
    k->w1_2 = w[(2 * t10 + t01) * C];
    k->bias = p->bias_folded[c];
    k->hc = rq_hi(p->shift[c], p->out_offset);
    k->m = p->mult[c];
    k->e = -p->shift[c];
    k->wp = g->wp;
    k->cs = g->out_cstep;
    k->rows = g->rows;
    k->cols = g->cols;
    k->rstep = g->out_rstep;
}

/* One output at plane position q (the last of an odd row; its loads read up to one byte past the row, and the
 * plane has 3 to spare). */
ECNN_INLINE int8_t dw_plane_single(const dw_chan *k, const int8_t *q)
{
    uint32_t u = ecnn_ld32(q);
    int32_t a = __smlad(__sxtb16(u), k->w02_0, k->bias);
    a = __smlabb((int32_t)ecnn_sxtb16_ror8(u), (int32_t)k->w1_01, a);
    u = ecnn_ld32(q + k->wp);
    a = __smlad(__sxtb16(u), k->w02_1, a);
    a = __smlabt((int32_t)ecnn_sxtb16_ror8(u), (int32_t)k->w1_01, a);
    u = ecnn_ld32(q + 2 * k->wp);
    a = __smlad(__sxtb16(u), k->w02_2, a);
    a = __smlabb((int32_t)ecnn_sxtb16_ror8(u), k->w1_2, a);
    return (int8_t)__ssat(rq_smlal(a, k->m, k->hc, k->e), 8);
}

/* Every output of one channel from the filled plane (stride 1). The pairs of a row are one loop in assembly, 45 instructions per pair where the compiled C took 51
 * (it spilled the constants; here the five weight words stay in registers and the rest is read from the
 * stack, the output constants with one LDRD). Same operations, same order of sums as dw_plane_single. */
__attribute__((noinline)) static void dw_plane_channel_sat(const dw_chan *kc, const int8_t *plane, int8_t *out)
{
    const dw_chan k = *kc; /* on the stack: the loop reads its constants from there */
    const int32_t pairs2 = k.cols & ~1;
    int32_t r;
    for (r = 0; r < k.rows; ++r) {
        const int8_t *q = plane + r * k.wp;
        const int8_t *const end = q + pairs2;
        int8_t *o = out + r * k.rstep;
        uint32_t a, b, ev, od, x, t1, t2;
        if (pairs2) {
            __asm__ volatile(
                "1:\n\t"
                "ldr    %[a], %[bias]\n\t"
                "ldr    %[x], [%[q]]\n\t"
                "sxtb16 %[ev], %[x]\n\t"
                "sxtb16 %[od], %[x], ror #8\n\t"
                "smlad  %[b], %[od], %[w0], %[a]\n\t"
                "smlad  %[a], %[ev], %[w0], %[a]\n\t"
                "smlabb %[a], %[od], %[v01], %[a]\n\t"
                "smlatb %[b], %[ev], %[v01], %[b]\n\t"
                "ldr    %[t1], %[wp]\n\t"
                "ldr    %[x], [%[q], %[t1]]\n\t"
                "sxtb16 %[ev], %[x]\n\t"
                "sxtb16 %[od], %[x], ror #8\n\t"
                "smlad  %[a], %[ev], %[w1], %[a]\n\t"
                "smlad  %[b], %[od], %[w1], %[b]\n\t"
                "smlabt %[a], %[od], %[v01], %[a]\n\t"
                "smlatt %[b], %[ev], %[v01], %[b]\n\t"
                "ldr    %[x], [%[q], %[t1], lsl #1]\n\t"
                "sxtb16 %[ev], %[x]\n\t"
                "sxtb16 %[od], %[x], ror #8\n\t"
                "smlad  %[a], %[ev], %[w2], %[a]\n\t"
                "smlad  %[b], %[od], %[w2], %[b]\n\t"
                "smlabb %[a], %[od], %[v2], %[a]\n\t"
                "smlatb %[b], %[ev], %[v2], %[b]\n\t"
                "ldrd   %[ev], %[od], %[hc]\n\t" /* ev = hc, od = m (adjacent in dw_chan): rq_smlal on both sums */
                "ldr    %[t1], %[e]\n\t"
                "lsl    %[x], %[a], #1\n\t"
                "add    %[a], %[ev], %[a], asr #31\n\t"
                "mov    %[t2], #0x80000000\n\t"
                "smlal  %[t2], %[a], %[x], %[od]\n\t"
                "asr    %[a], %[a], %[t1]\n\t"
                "lsl    %[x], %[b], #1\n\t"
                "add    %[b], %[ev], %[b], asr #31\n\t"
                "mov    %[t2], #0x80000000\n\t"
                "smlal  %[t2], %[b], %[x], %[od]\n\t"
                "asr    %[b], %[b], %[t1]\n\t"
                "ssat   %[a], #8, %[a]\n\t"
                "ssat   %[b], #8, %[b]\n\t"
                "ldr    %[t1], %[cs]\n\t"
                "strb   %[a], [%[o]]\n\t"
                "strb   %[b], [%[o], %[t1]]\n\t"
                "add    %[o], %[o], %[t1], lsl #1\n\t"
                "adds   %[q], %[q], #2\n\t"
                "ldr    %[t1], %[end]\n\t"
                "cmp    %[q], %[t1]\n\t"
                "bne    1b\n\t"
                : [q] "+r"(q), [o] "+r"(o), [a] "=&r"(a), [b] "=&r"(b), [ev] "=&r"(ev), [od] "=&r"(od),
                  [x] "=&r"(x), [t1] "=&r"(t1), [t2] "=&r"(t2)
                : [w0] "r"(k.w02_0), [w1] "r"(k.w02_1), [w2] "r"(k.w02_2), [v01] "r"(k.w1_01), [v2] "r"(k.w1_2),
                  [bias] "m"(k.bias), [wp] "m"(k.wp), [hc] "m"(k.hc), [e] "m"(k.e), [cs] "m"(k.cs), [end] "m"(end)
                : "cc", "memory");
        }
        if (k.cols & 1) {
            *o = dw_plane_single(&k, end);
        }
    }
}

/* Every output of channel c for stride 2: one output per window, at plane columns 2j .. 2j + 2 (an LDR and
 * two SXTB16 per kernel row give (p0, p2) for the packed (w0, w2) and p1 for w1). */
static void dw_plane_channel_s2(const dw_chan *kc, const int8_t *plane, int8_t *out)
{
    const dw_chan k = *kc; /* a local copy: the int8 stores cannot alias it */
    int32_t r, j;
    for (r = 0; r < k.rows; ++r) {
        const int8_t *q = plane + 2 * r * k.wp;
        int8_t *o = out + r * k.rstep;
        for (j = 0; j < k.cols; ++j, q += 2, o += k.cs) {
            *o = dw_plane_single(&k, q);
        }
    }
}

static void dw_planar(const ecnn_conv_params *p, const int8_t *in, int8_t *out, int8_t *plane)
{
    dw_plane g;
    int32_t c, wp;
    dw_plane_geometry(p, &g);
    wp = g.wp;
    memset(plane, (int8_t)(-p->in_offset), (size_t)(g.prows * wp));
    for (c = 0; c < p->out_c; ++c) {
        dw_chan k;
        dw_plane_fill(&g, in + c, plane, wp);
        dw_chan_init(p, &g, c, &k);
        if (g.s == 2) {
            dw_plane_channel_s2(&k, plane, out + c);
        } else {
            dw_plane_channel_sat(&k, plane, out + c);
        }
    }
}
#endif

/* Every output pixel of ecnn_depthwise_fast; `fast` is a constant (see requant_fast). */
ECNN_INLINE void dw_all(const ecnn_conv_params *p, const int8_t *in, int8_t *out, const int8_t *zrow, const int fast)
{
    const int32_t C = p->out_c;
    const int32_t n_taps = p->k_h * p->k_w;
    const int8_t *taps[ECNN_DW_MAX_TAPS];
    int32_t oy, ox;
#if defined(ECNN_DOT_MVE)
    const int8_t *taps1[ECNN_DW_MAX_TAPS];
    const int32_t n = p->out_h * p->out_w;
    int32_t i;
#endif
    if (p->depth_mult != 1) { /* output channel c reads input channel c / depth_mult: one pixel at a time */
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                (void)dw_taps(p, in, zrow, oy * p->stride_h - p->pad_h, ox * p->stride_w - p->pad_w, taps);
                dw_pixel_mult(p, taps, n_taps, out + (oy * p->out_w + ox) * C, fast);
            }
        }
        return;
    }
#if defined(ECNN_DOT_MVE)
    for (i = 0; i + 1 < n; i += 2) { /* two pixels at a time (row order: the pair may span two rows) */
        const int32_t oy1 = (i + 1) / p->out_w;
        const int32_t ox1 = i + 1 - oy1 * p->out_w;
        oy = i / p->out_w;
        ox = i - oy * p->out_w;
        (void)dw_taps(p, in, zrow, oy * p->stride_h - p->pad_h, ox * p->stride_w - p->pad_w, taps);
        (void)dw_taps(p, in, zrow, oy1 * p->stride_h - p->pad_h, ox1 * p->stride_w - p->pad_w, taps1);
        dw_pair_mve(p, taps, taps1, n_taps, out + i * C, out + (i + 1) * C, fast);
    }
    if (i < n) { /* the last pixel of an odd count */
        oy = i / p->out_w;
        ox = i - oy * p->out_w;
        (void)dw_taps(p, in, zrow, oy * p->stride_h - p->pad_h, ox * p->stride_w - p->pad_w, taps);
        dw_pixel(p, taps, n_taps, out + i * C, fast);
    }
    return;
#endif
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t y0 = oy * p->stride_h - p->pad_h;
        ox = 0;
        for (; ox < p->out_w; ++ox) {
            const int32_t x0 = ox * p->stride_w - p->pad_w;
            int8_t *o = out + (oy * p->out_w + ox) * C;
            const int inside = dw_taps(p, in, zrow, y0, x0, taps);
#if !defined(ECNN_DOT_MVE) && !defined(ECNN_DOT_DSP)
            if (inside && p->k_h == 3 && p->k_w == 3 && p->dil_h == 1 && p->dil_w == 1) {
                dw_pixel3x3(p, taps[0], p->in_w * C, o);
                continue;
            }
#endif
            (void)inside;
            dw_pixel(p, taps, n_taps, o, fast);
        }
    }
}

void ecnn_depthwise_fast(const ecnn_conv_params *params, const int8_t *in, int8_t *out, int8_t *zrow)
{
    const ecnn_conv_params local = *params; /* a local copy: the int8 output stores cannot alias it */
    const ecnn_conv_params *p = &local;
#if defined(ECNN_DOT_DSP)
    if (ECNN_DW_PLANAR(p)) { /* zrow: the plane (the generator sized it) */
        dw_planar(p, in, out, zrow);
        return;
    }
#endif
    if (zrow) {
        memset(zrow, (int8_t)(-p->in_offset), (size_t)p->in_c);
    }
#if defined(ECNN_DOT_DSP)
    if (ECNN_RQ_MODE(p) == ECNN_RQ_FAST_SAT) {
        dw_all(p, in, out, zrow, ECNN_RQ_FAST_SAT);
        return;
    }
#endif
#if defined(ECNN_DOT_DSP) || defined(ECNN_DOT_MVE)
    if (p->rq_right) {
        dw_all(p, in, out, zrow, 1);
        return;
    }
#endif
    dw_all(p, in, out, zrow, 0);
}
