/* edgecnn int8 kernels: element-wise ADD of equal shapes. Portable C99, no malloc, no floating point; see
 * ecnn_kernels.h. */
#include "ecnn_internal.h"

/* n elements of TFLM's int8 ADD: both inputs rescaled (left shift, per-input multiplier), summed, requantized.
 * The three multipliers come from QuantizeMultiplierSmallerThanOneExp, so they are >= 0 and srdhm_pos equals
 * srdhm; the shifts are <= 0 (a rounding right shift by -shift). With Helium, four lanes at a time: VQRDMULH is
 * srdhm exactly and ecnn_rdpot_mve is RoundingDivideByPOT exactly, so every lane matches the scalar code. */
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
