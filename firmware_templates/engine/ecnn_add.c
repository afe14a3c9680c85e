/* edgecnn int8 kernels: element-wise ADD of equal shapes. Portable C99, no malloc, no floating point; see
 * ecnn_kernels.h. */
#include "ecnn_internal.h"

/* n elements of TFLM's int8 ADD: both inputs rescaled (left shift, per-input multiplier), summed, requantized.
 * The three multipliers come from QuantizeMultiplierSmallerThanOneExp, so they are >= 0 and srdhm_pos equals
 * srdhm; the shifts are <= 0 (a rounding right shift by -shift). With Helium, four lanes at a time: VQRDMULH is
 * srdhm exactly and ecnn_rdpot_mve is RoundingDivideByPOT exactly, so every lane matches the scalar code. */
#if defined(ECNN_DOT_DSP)
/* One input's rescaling, x = (in + offset) << left with |x| <= 255 << 21 < 2^30: srdhm then a rounding right
 * shift by e. e in 1..23: one rq_smlal (zero point 0, see ecnn_internal.h); e = 0 (the
 * multiplier of the input with the larger scale is 1/2): srdhm alone, SMMULR(2 x, m) as in requant_fast. */
ECNN_INLINE int32_t add_input(int32_t x, int32_t m, int32_t h, int32_t e, const int e0)
{
    return e0 ? ecnn_smmulr(shl_wrap(x, 1), m) : rq_smlal(x, m, h, e);
}

/* ecnn_add_rows where every rescaling has a short form (see ecnn_add_rows); e0_1, e0_2 constants. The input
 * sum stays below 2^29 (each term below 2^28), so the output's rq_smlal is exact for shifts 1..23. */
ECNN_INLINE void add_rows_dsp(const ecnn_add_params *p, const int8_t *in1, const int8_t *in2, int8_t *out, int32_t n,
                              const int e0_1, const int e0_2)
{
    const int32_t off1 = p->in1_offset, off2 = p->in2_offset, left = p->left_shift;
    const int32_t m1 = p->in1_mult, m2 = p->in2_mult, mo = p->out_mult;
    const int32_t s1 = -p->in1_shift, s2 = -p->in2_shift, so = -p->out_shift;
    const int32_t h1 = e0_1 ? 0 : rq_hi(-s1, 0), h2 = e0_2 ? 0 : rq_hi(-s2, 0), ho = rq_hi(-so, p->out_offset);
    const int32_t lo = p->act_min, hi = p->act_max;
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t a = add_input(shl_wrap(in1[i] + off1, (int)left), m1, h1, s1, e0_1);
        const int32_t b = add_input(shl_wrap(in2[i] + off2, (int)left), m2, h2, s2, e0_2);
        out[i] = (int8_t)clamp(rq_smlal(wrap_add(a, b), mo, ho, so), lo, hi);
    }
}
#endif

#if defined(ECNN_DOT_DSP)
/* ecnn_add_rows by the tables (t1, t2 at value 0), n >= 1 elements, act_max 127: per element two LDRSB, two
 * LDR, the sum, then rq_smlal as one SMMLAR (its high word of 2 sum m + 2^31 + (h + [sum < 0]) 2^32 is
 * SMMLAR's (Ra 2^32 + Rn Rm + 2^31) >> 32), ASR, SSAT, the act_min clamp, STRB: 15 instructions with the
 * loop's two. in2 and out are addressed from in1's pointer, so that every value lives in a register. */
static void add_rows_lut_dsp(const int32_t *t1, const int32_t *t2, const int8_t *in1, const int8_t *in2, int8_t *out,
                             int32_t n, int32_t mo, int32_t ho, int32_t so, int32_t lo)
{
    const int8_t *x = in1;
    const int8_t *const end = in1 + n;
    const int32_t d2 = (int32_t)(in2 - in1);
    const int32_t dout = (int32_t)(out - in1) - 1; /* from x after its increment */
    int32_t a, b, r;
    __asm__ volatile(
        "1:\n\t"
        "ldrsb  %[a], [%[x], %[d2]]\n\t"
        "ldrsb  %[b], [%[x]], #1\n\t"
        "ldr    %[a], [%[t2], %[a], lsl #2]\n\t"
        "ldr    %[b], [%[t1], %[b], lsl #2]\n\t"
        "add    %[a], %[a], %[b]\n\t"
        "add    %[r], %[ho], %[a], asr #31\n\t"
        "smmlar %[r], %[a], %[mo], %[r]\n\t"
        "asr    %[r], %[r], %[so]\n\t"
        "ssat   %[r], #8, %[r]\n\t"
        "cmp    %[r], %[lo]\n\t"
        "it     lt\n\t"
        "movlt  %[r], %[lo]\n\t"
        "strb   %[r], [%[x], %[dout]]\n\t"
        "cmp    %[x], %[end]\n\t"
        "bne    1b\n\t"
        : [x] "+&r"(x), [a] "=&r"(a), [b] "=&r"(b), [r] "=&r"(r)
        : [end] "r"(end), [d2] "r"(d2), [dout] "r"(dout), [t1] "r"(t1), [t2] "r"(t2), [mo] "r"(mo), [ho] "r"(ho),
          [so] "r"(so), [lo] "r"(lo)
        : "cc", "memory");
}
#endif

void ecnn_add_rows(const ecnn_add_params *p, const int8_t *in1, const int8_t *in2, int8_t *out, int32_t n)
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
    if (p->in1_table != 0) { /* each input's rescaled value looked up, twice (see ecnn_add_params) */
        const int32_t *t1 = p->in1_table + 128;
        const int32_t *t2 = p->in2_table + 128;
#if defined(ECNN_DOT_DSP)
        if (n > 0) { /* act_max = 127 (the generator gives tables only then) */
            add_rows_lut_dsp(t1, t2, in1, in2, out, n, mo, rq_hi(-so, oo), so, lo);
        }
#else
        for (i = 0; i < n; ++i) {
            const int32_t s2 = t1[in1[i]] + t2[in2[i]];
            out[i] = (int8_t)clamp(rdpot(srdhm_pos(asr(s2, 1), mo), so) + oo, lo, hi);
        }
#endif
        return;
    }
#if defined(ECNN_DOT_DSP)
    if (left >= 0 && left <= 21 && s1 >= 0 && s1 <= 23 && s2 >= 0 && s2 <= 23 && so >= 1 && so <= 23) {
        if (s1 == 0 || s2 == 0) { /* the input with the larger scale has the multiplier 1/2: shift 0 */
            if (s1 == 0 && s2 == 0) {
                add_rows_dsp(p, in1, in2, out, n, 1, 1);
            } else if (s1 == 0) {
                add_rows_dsp(p, in1, in2, out, n, 1, 0);
            } else {
                add_rows_dsp(p, in1, in2, out, n, 0, 1);
            }
        } else {
            add_rows_dsp(p, in1, in2, out, n, 0, 0);
        }
        return;
    }
#endif
    for (i = 0; i < n; ++i) {
        const int32_t a = rdpot(srdhm_pos(shl_wrap(in1[i] + off1, (int)left), m1), s1);
        const int32_t b = rdpot(srdhm_pos(shl_wrap(in2[i] + off2, (int)left), m2), s2);
        out[i] = (int8_t)clamp(rdpot(srdhm_pos(wrap_add(a, b), mo), so) + oo, lo, hi);
    }
#endif
}
void ecnn_add(const ecnn_add_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    ecnn_add_rows(p, in1, in2, out, p->size);
}
