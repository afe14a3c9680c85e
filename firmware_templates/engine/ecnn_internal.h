/* edgecnn kernels' private helpers: TFLite / gemmlowp fixed point and wrap-around arithmetic shared by the
 * kernel files (ecnn_conv.c, ecnn_depthwise.c, ...). Static inline: each kernel file inlines what it uses and
 * nothing else. Not part of the engine's API (that is ecnn_kernels.h). */
#ifndef ECNN_INTERNAL_H
#define ECNN_INTERNAL_H

#include "ecnn_kernels.h"
#include "ecnn_dot.h"

#if defined(ECNN_DOT_MVE) != defined(ECNN_MODEL_MVE) || defined(ECNN_DOT_DSP) != defined(ECNN_MODEL_DSP)
#error "ecnn_kernels.h and ecnn_dot.h disagree on this core's kernel path"
#endif

#include <string.h>

#define ECNN_INT32_MIN (-2147483647 - 1)
#define ECNN_INT32_MAX 2147483647

/* ---- wrapping and shifting helpers: defined behaviour for every input (UBSan clean) ---- */

static inline int32_t wrap_add(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

static inline int32_t wrap_sub(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

static inline int32_t shl_wrap(int32_t x, int n)
{
    return (int32_t)((uint32_t)x << n);
}

/* Arithmetic shift right, written so that it does not depend on how the compiler shifts negatives. */
static inline int32_t asr(int32_t x, int n)
{
    return x >= 0 ? (x >> n) : (int32_t)~(~x >> n);
}

static inline int32_t clamp(int32_t x, int32_t lo, int32_t hi)
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

/* TFLM's per-channel output stage: requantize, add the output zero point, clamp to the activation. */
ECNN_INLINE int8_t requant(int32_t acc, int32_t mult, int32_t shift, int32_t out_offset, int32_t lo, int32_t hi)
{
    return (int8_t)clamp(mbqm(acc, mult, (int)shift) + out_offset, lo, hi);
}

#if defined(ECNN_DOT_DSP)
/* SMMULR: (a * b + 2^31) >> 32, the high word of the product rounded (no ACLE intrinsic). */
ECNN_INLINE int32_t ecnn_smmulr(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* TFLM's output stage where the generator proved two things for every channel of the layer (rq_right): the
 * shift is a right shift by e in [1, 23], and |acc| < 2^30. Then
 *  - srdhm(acc, m) = floor((acc * m + 2^30) / 2^31) = floor((2 acc * m + 2^31) / 2^32) = SMMULR(2 acc, m), and
 *    2 acc does not overflow;
 *  - RoundingDivideByPOT(x, e) = (x + 2^(e-1) - (x < 0)) >> e (a floor shift): for x = q 2^e + r, 0 <= r < 2^e,
 *    both give q + (r >= 2^(e-1)) for x >= 0 and q + (r > 2^(e-1)) for x < 0; |x| < 2^30, so the sum does not
 *    overflow (QADD, which saturates, would keep it exact even if it did: both results then clamp to int8 127).
 * 10 instructions instead of 18. */
ECNN_INLINE int8_t requant_fast(int32_t acc, int32_t mult, int32_t shift, int32_t out_offset, int32_t lo, int32_t hi)
{
    const int32_t x = ecnn_smmulr(shl_wrap(acc, 1), mult);
    const int32_t half = (int32_t)((uint32_t)1 << (~shift)); /* ~shift = -shift - 1 = e - 1 */
    const int32_t r = asr(wrap_sub(__qadd(x, half), (int32_t)((uint32_t)x >> 31)), (int)-shift);
    return (int8_t)clamp(r + out_offset, lo, hi);
}

/* requant_fast for a layer whose activation range is the whole int8 range [-128, 127]: the clamp is one SSAT. */
ECNN_INLINE int8_t requant_fast_sat(int32_t acc, int32_t mult, int32_t shift, int32_t out_offset)
{
    const int32_t x = ecnn_smmulr(shl_wrap(acc, 1), mult);
    const int32_t half = (int32_t)((uint32_t)1 << (~shift));
    const int32_t r = asr(wrap_sub(__qadd(x, half), (int32_t)((uint32_t)x >> 31)), (int)-shift);
    return (int8_t)__ssat(wrap_add(r, out_offset), 8);
}

/* requant_fast's two roundings in one SMLAL, for kernels that keep a channel's constants in registers.
 * With x = SMMULR(2 acc, m) = floor((2 acc m + 2^31) / 2^32) and e = -shift, requant_fast is
 * floor((x + 2^(e-1) - [x < 0]) / 2^e) + z. Adding an integer h inside nested floor divisions is exact
 * (floor((floor(a / b) + h) / c) = floor((a + h b) / (b c))), so the result is the high word of
 *     2 acc m + 2^31 + (2^(e-1) + z 2^e - [x < 0]) 2^32
 * shifted right by e. [x < 0] = [acc < 0] except for acc = -1, m = 2^30, where x = 0 and both give 0 (e >= 1).
 * The high word stays inside int32: |2 acc m| < 2^61 (|acc| < 2^30), and 2^(e-1) + |z| 2^e < 2^31 (e <= 23).
 * rq_hi(shift, z) is the per-channel constant 2^(e-1) + z 2^e; rq_smlal gives the requantized value before the
 * clamp (z included): 5 instructions (LSL, MOV, ADD, SMLAL, ASR) where requant_fast takes 9. */
ECNN_INLINE int32_t rq_hi(int32_t shift, int32_t out_offset)
{
    return (int32_t)(((uint32_t)1 << (-shift - 1)) + ((uint32_t)out_offset << (-shift)));
}

ECNN_INLINE int32_t rq_smlal(int32_t acc, int32_t mult, int32_t hi_const, int32_t e)
{
    uint32_t lo = 0x80000000u;
    int32_t hi = wrap_add(hi_const, asr(acc, 31));
    __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(shl_wrap(acc, 1)), "r"(mult));
    return asr(hi, (int)e);
}

/* The DSP kernels' output stage by `fast` (a constant where kernels specialize on it): 0 TFLM's general form
 * (requant), 1 requant_fast (rq_right), 2 requant_fast_sat (rq_right and act_min, act_max = -128, 127). */
#define ECNN_RQ_FAST_SAT 2
ECNN_INLINE int8_t requant_k(int fast, int32_t acc, int32_t mult, int32_t shift, int32_t out_offset, int32_t lo,
                             int32_t hi)
{
    if (fast == ECNN_RQ_FAST_SAT) {
        return requant_fast_sat(acc, mult, shift, out_offset);
    }
    return fast ? requant_fast(acc, mult, shift, out_offset, lo, hi) : requant(acc, mult, shift, out_offset, lo, hi);
}

/* The `fast` value a DSP kernel specializes on for a layer (see requant_k). */
#define ECNN_RQ_MODE(p) ((p)->rq_right ? (((p)->act_min == -128 && (p)->act_max == 127) ? ECNN_RQ_FAST_SAT : 1) : 0)
#else
#define requant_k(fast, acc, mult, shift, out_offset, lo, hi) requant(acc, mult, shift, out_offset, lo, hi)
#endif

/* SaturatingRoundingMultiplyByPOT with a positive exponent: a saturating left shift. */
static inline int32_t sat_shl(int32_t x, int exponent)
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

/* n elements of TFLM's int8 ADD (ecnn_add.c); the residual block's add uses it too. */
void ecnn_add_rows(const ecnn_add_params *p, const int8_t *in1, const int8_t *in2, int8_t *out, int32_t n);

/* One output row of a 3x3 convolution from three input row pointers (ecnn_conv.c); residual blocks use it. */
void ecnn_conv_row3(const ecnn_conv_params *params, const int8_t *const *rows, int8_t *out, int8_t *window);

#endif /* ECNN_INTERNAL_H */
