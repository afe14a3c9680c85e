/* edgecnn int8 dot products: the inner loops of every convolution and GEMM, one implementation per core.
 *
 *   ecnn_dot(x, w, n)                      sum x[i] * w[i]
 *   ecnn_dot1x2(x, w0, w1, n, acc)         acc[0] += x.w0, acc[1] += x.w1
 *   ecnn_dot2x2(x0, x1, w0, w1, n, acc)    acc[0..3] += x0.w0, x0.w1, x1.w0, x1.w1
 *
 * Chosen at compile time from what the compiler says the core has:
 *   __ARM_FEATURE_MVE   (Cortex-M55, M85: Helium)  16 int8 products per VMLADAVA into a 32-bit scalar;
 *   __ARM_FEATURE_DSP   (Cortex-M4, M7, M33)      SXTB16 splits 4 int8 into two int16 pairs, SMLAD does two
 *                                                 products and the accumulation in one instruction;
 *   otherwise (M0+, M3, the host)                 portable C; 16-wide blocks that host compilers vectorize.
 * All three compute the same integers: each product fits 16 bits, the sums are exact in 32 bits for any
 * depth the engine accepts (< 2^16), and the accumulation into acc wraps like TFLM's int32 adds. Unaligned
 * 32-bit loads are used on the DSP cores (ARMv7E-M and ARMv8-M mainline allow them for LDR).
 */
#ifndef ECNN_DOT_H
#define ECNN_DOT_H

#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
#define ECNN_DOT_INLINE static inline __attribute__((always_inline))
#else
#define ECNN_DOT_INLINE static inline
#endif

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && !defined(ECNN_PORTABLE)
#include <arm_mve.h>
#define ECNN_DOT_PATH "mve"
#define ECNN_DOT_MVE 1

/* TFLM's MultiplyByQuantizedMultiplier on four lanes, as CMSIS-NN does it with Helium: VQRDMULH is gemmlowp's
 * SaturatingRoundingDoublingHighMul exactly; RoundingDivideByPOT rounds half away from zero, VRSHL rounds half
 * up, so negative lanes are first moved down by one (saturating) when there is a right shift. */
/* RoundingDivideByPOT(acc, -right) on four lanes, right <= 0. */
ECNN_DOT_INLINE int32x4_t ecnn_rdpot_mve(int32x4_t acc, int32x4_t right)
{
    acc = vqaddq_s32(acc, vshrq_n_s32(vandq_s32(acc, right), 31));
    return vrshlq_s32(acc, right);
}

ECNN_DOT_INLINE int32x4_t ecnn_requant_mve(int32x4_t acc, int32x4_t mult, int32x4_t shift)
{
    const int32x4_t zero = vdupq_n_s32(0);
    acc = vqrdmulhq_s32(vshlq_s32(acc, vmaxq_s32(shift, zero)), mult);
    return ecnn_rdpot_mve(acc, vminq_s32(shift, zero));
}

ECNN_DOT_INLINE int32_t ecnn_dot(const int8_t *x, const int8_t *w, int32_t n)
{
    int32_t acc = 0;
    int32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc = vmladavaq_s8(acc, vldrbq_s8(x + i), vldrbq_s8(w + i));
    }
    if (i < n) {
        const mve_pred16_t p = vctp8q((uint32_t)(n - i));
        acc = vmladavaq_s8(acc, vldrbq_z_s8(x + i, p), vldrbq_z_s8(w + i, p));
    }
    return acc;
}

ECNN_DOT_INLINE void ecnn_dot1x2(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n, int32_t *acc)
{
    int32_t a = acc[0];
    int32_t b = acc[1];
    int32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const int8x16_t u = vldrbq_s8(x + i);
        a = vmladavaq_s8(a, u, vldrbq_s8(w0 + i));
        b = vmladavaq_s8(b, u, vldrbq_s8(w1 + i));
    }
    if (i < n) {
        const mve_pred16_t p = vctp8q((uint32_t)(n - i));
        const int8x16_t u = vldrbq_z_s8(x + i, p);
        a = vmladavaq_s8(a, u, vldrbq_z_s8(w0 + i, p));
        b = vmladavaq_s8(b, u, vldrbq_z_s8(w1 + i, p));
    }
    acc[0] = a;
    acc[1] = b;
}

ECNN_DOT_INLINE void ecnn_dot2x2(const int8_t *x0, const int8_t *x1, const int8_t *w0, const int8_t *w1, int32_t n,
                                 int32_t *acc)
{
    int32_t a = acc[0];
    int32_t b = acc[1];
    int32_t c = acc[2];
    int32_t d = acc[3];
    int32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const int8x16_t u = vldrbq_s8(x0 + i);
        const int8x16_t v = vldrbq_s8(x1 + i);
        const int8x16_t p = vldrbq_s8(w0 + i);
        const int8x16_t q = vldrbq_s8(w1 + i);
        a = vmladavaq_s8(a, u, p);
        b = vmladavaq_s8(b, u, q);
        c = vmladavaq_s8(c, v, p);
        d = vmladavaq_s8(d, v, q);
    }
    if (i < n) {
        const mve_pred16_t m = vctp8q((uint32_t)(n - i));
        const int8x16_t u = vldrbq_z_s8(x0 + i, m);
        const int8x16_t v = vldrbq_z_s8(x1 + i, m);
        const int8x16_t p = vldrbq_z_s8(w0 + i, m);
        const int8x16_t q = vldrbq_z_s8(w1 + i, m);
        a = vmladavaq_s8(a, u, p);
        b = vmladavaq_s8(b, u, q);
        c = vmladavaq_s8(c, v, p);
        d = vmladavaq_s8(d, v, q);
    }
    acc[0] = a;
    acc[1] = b;
    acc[2] = c;
    acc[3] = d;
}

#elif defined(__ARM_FEATURE_DSP) && !defined(ECNN_PORTABLE)
#include <arm_acle.h>
#define ECNN_DOT_PATH "dsp"
#define ECNN_DOT_DSP 1

ECNN_DOT_INLINE uint32_t ecnn_ld32(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4); /* one LDR (unaligned access is allowed on these cores) */
    return v;
}

/* a + bytes 1 and 3 of x sign-extended, in two int16 lanes (SXTAB16 with its rotation) */
ECNN_DOT_INLINE uint32_t ecnn_sxtab16_ror8(uint32_t a, uint32_t x)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}

/* bytes 1 and 3 sign-extended to two int16 lanes (gcc has no ACLE form of SXTB16's rotation) */
ECNN_DOT_INLINE uint32_t ecnn_sxtb16_ror8(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

ECNN_DOT_INLINE int32_t ecnn_dot(const int8_t *x, const int8_t *w, int32_t n)
{
    int32_t acc = 0;
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32_t u = ecnn_ld32(x + i);
        const uint32_t p = ecnn_ld32(w + i);
        acc = __smlad(__sxtb16(u), __sxtb16(p), acc);
        acc = __smlad(ecnn_sxtb16_ror8(u), ecnn_sxtb16_ror8(p), acc);
    }
    for (; i < n; ++i) {
        acc = (int32_t)((uint32_t)acc + (uint32_t)((int32_t)x[i] * (int32_t)w[i]));
    }
    return acc;
}

ECNN_DOT_INLINE void ecnn_dot1x2(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n, int32_t *acc)
{
    int32_t a = acc[0];
    int32_t b = acc[1];
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32_t u = ecnn_ld32(x + i);
        const uint32_t p = ecnn_ld32(w0 + i);
        const uint32_t q = ecnn_ld32(w1 + i);
        const uint32_t ue = __sxtb16(u);
        const uint32_t uo = ecnn_sxtb16_ror8(u);
        a = __smlad(ue, __sxtb16(p), a);
        a = __smlad(uo, ecnn_sxtb16_ror8(p), a);
        b = __smlad(ue, __sxtb16(q), b);
        b = __smlad(uo, ecnn_sxtb16_ror8(q), b);
    }
    for (; i < n; ++i) {
        const int32_t u = x[i];
        a = (int32_t)((uint32_t)a + (uint32_t)(u * (int32_t)w0[i]));
        b = (int32_t)((uint32_t)b + (uint32_t)(u * (int32_t)w1[i]));
    }
    acc[0] = a;
    acc[1] = b;
}

ECNN_DOT_INLINE void ecnn_dot2x2(const int8_t *x0, const int8_t *x1, const int8_t *w0, const int8_t *w1, int32_t n,
                                 int32_t *acc)
{
    int32_t a = acc[0];
    int32_t b = acc[1];
    int32_t c = acc[2];
    int32_t d = acc[3];
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32_t u = ecnn_ld32(x0 + i);
        const uint32_t v = ecnn_ld32(x1 + i);
        const uint32_t p = ecnn_ld32(w0 + i);
        const uint32_t q = ecnn_ld32(w1 + i);
        const uint32_t pe = __sxtb16(p);
        const uint32_t qe = __sxtb16(q);
        const uint32_t po = ecnn_sxtb16_ror8(p);
        const uint32_t qo = ecnn_sxtb16_ror8(q);
        uint32_t e = __sxtb16(u);
        a = __smlad(e, pe, a);
        b = __smlad(e, qe, b);
        e = ecnn_sxtb16_ror8(u);
        a = __smlad(e, po, a);
        b = __smlad(e, qo, b);
        e = __sxtb16(v);
        c = __smlad(e, pe, c);
        d = __smlad(e, qe, d);
        e = ecnn_sxtb16_ror8(v);
        c = __smlad(e, po, c);
        d = __smlad(e, qo, d);
    }
    for (; i < n; ++i) {
        const int32_t u = x0[i];
        const int32_t v = x1[i];
        const int32_t p = w0[i];
        const int32_t q = w1[i];
        a = (int32_t)((uint32_t)a + (uint32_t)(u * p));
        b = (int32_t)((uint32_t)b + (uint32_t)(u * q));
        c = (int32_t)((uint32_t)c + (uint32_t)(v * p));
        d = (int32_t)((uint32_t)d + (uint32_t)(v * q));
    }
    acc[0] = a;
    acc[1] = b;
    acc[2] = c;
    acc[3] = d;
}

/* Four bytes of depth for rows x, x + n and filters w, w + n (x and w advance by 4; nm = n - 4): 4 loads,
 * 8 SXTB16, 8 SMLAD. Written out so that the 14 values it needs stay in registers (gcc spilled three). */
#define ECNN_DOT2X2_BLOCK                          \
    "ldr    %[p], [%[w]], #4\n\t"                  \
    "ldr    %[u], [%[x]], #4\n\t"                  \
    "ldr    %[q], [%[w], %[nm]]\n\t"               \
    "sxtb16 %[ue], %[u]\n\t"                       \
    "sxtb16 %[u], %[u], ror #8\n\t"                \
    "sxtb16 %[pe], %[p]\n\t"                       \
    "sxtb16 %[p], %[p], ror #8\n\t"                \
    "smlad  %[a], %[ue], %[pe], %[a]\n\t"          \
    "smlad  %[a], %[u], %[p], %[a]\n\t"            \
    "sxtb16 %[qe], %[q]\n\t"                       \
    "sxtb16 %[q], %[q], ror #8\n\t"                \
    "smlad  %[b], %[ue], %[qe], %[b]\n\t"          \
    "smlad  %[b], %[u], %[q], %[b]\n\t"            \
    "ldr    %[u], [%[x], %[nm]]\n\t"               \
    "sxtb16 %[ue], %[u]\n\t"                       \
    "sxtb16 %[u], %[u], ror #8\n\t"                \
    "smlad  %[c], %[ue], %[pe], %[c]\n\t"          \
    "smlad  %[c], %[u], %[p], %[c]\n\t"            \
    "smlad  %[d], %[ue], %[qe], %[d]\n\t"          \
    "smlad  %[d], %[u], %[q], %[d]\n\t"

#define ECNN_DOT2X2_OPERANDS                                                                                   \
    : [a] "+r"(a), [b] "+r"(b), [c] "+r"(c), [d] "+r"(d), [x] "+r"(x), [w] "+r"(w), [p] "=&r"(p), [q] "=&r"(q), \
      [u] "=&r"(u), [ue] "=&r"(ue), [pe] "=&r"(pe), [qe] "=&r"(qe)                                             \
    : [nm] "r"(nm), [end] "r"(end)                                                                             \
    : "cc", "memory"

/* Rows x0 and x1 (n4 values each, a multiple of 4) widened once to int16 in SXTB16 order and interleaved by 4
 * values: per 4 values k..k+3, row 0's (x[k], x[k+2]) and (x[k+1], x[k+3]) as two words, then row 1's. A GEMM
 * widens its two rows once and reuses them for every pair of output columns (ECNN_DOT2X2_X16_BLOCK). */
ECNN_DOT_INLINE void ecnn_widen2(const int8_t *x0, const int8_t *x1, int32_t n4, uint32_t *xs)
{
    int32_t k;
    for (k = 0; k < n4; k += 4) {
        const uint32_t u = ecnn_ld32(x0 + k);
        const uint32_t v = ecnn_ld32(x1 + k);
        xs[0] = __sxtb16(u);
        xs[1] = ecnn_sxtb16_ror8(u);
        xs[2] = __sxtb16(v);
        xs[3] = ecnn_sxtb16_ror8(v);
        xs += 4;
    }
}

/* 4 values of depth of the 2 x 2 block from widened rows xs (ecnn_widen2) and int8 filters w0, w0 + n (nm = n - 4,
 * the second filter read after w0 has advanced): one LDRD per row, the filters split by SXTB16: 16 instructions
 * per 16 products (the int8 x int8 block takes 20). 13 registers with the loop's end. */
#define ECNN_DOT2X2_X16_BLOCK                        \
    "ldr    %[p], [%[w0]], #4\n\t"                  \
    "ldr    %[q], [%[w0], %[nm]]\n\t"               \
    "sxtb16 %[pb], %[p], ror #8\n\t"                \
    "sxtb16 %[p], %[p]\n\t"                         \
    "sxtb16 %[qb], %[q], ror #8\n\t"                \
    "sxtb16 %[q], %[q]\n\t"                         \
    "ldrd   %[xa], %[xb], [%[s]], #8\n\t"           \
    "smlad  %[a], %[xa], %[p], %[a]\n\t"            \
    "smlad  %[a], %[xb], %[pb], %[a]\n\t"           \
    "smlad  %[b], %[xa], %[q], %[b]\n\t"            \
    "smlad  %[b], %[xb], %[qb], %[b]\n\t"           \
    "ldrd   %[xa], %[xb], [%[s]], #8\n\t"           \
    "smlad  %[c], %[xa], %[p], %[c]\n\t"            \
    "smlad  %[c], %[xb], %[pb], %[c]\n\t"           \
    "smlad  %[d], %[xa], %[q], %[d]\n\t"            \
    "smlad  %[d], %[xb], %[qb], %[d]\n\t"

/* ecnn_dot2x2 for rows x, x + n against filters w, w + n (a GEMM's two rows and two columns): 8 bytes of depth
 * per loop pass in 42 instructions, where the C form took 48 with spills. Same sums (SMLAD wraps as the C adds). */
ECNN_DOT_INLINE void ecnn_dot2x2_n(const int8_t *x, const int8_t *w, int32_t n, int32_t *acc)
{
    int32_t a = acc[0];
    int32_t b = acc[1];
    int32_t c = acc[2];
    int32_t d = acc[3];
    const int32_t nm = n - 4;
    const int8_t *end = x + (n & ~7);
    uint32_t p, q, u, ue, pe, qe;
    int32_t i;
    if (x != end) {
        __asm__ volatile("1:\n\t" ECNN_DOT2X2_BLOCK ECNN_DOT2X2_BLOCK "cmp    %[x], %[end]\n\t"
                         "bne    1b\n\t" ECNN_DOT2X2_OPERANDS);
    }
    if (n & 4) {
        __asm__ volatile(ECNN_DOT2X2_BLOCK ECNN_DOT2X2_OPERANDS);
    }
    for (i = 0; i < (n & 3); ++i) {
        const int32_t u0 = x[i];
        const int32_t v0 = x[n + i];
        const int32_t p0 = w[i];
        const int32_t q0 = w[n + i];
        a = (int32_t)((uint32_t)a + (uint32_t)(u0 * p0));
        b = (int32_t)((uint32_t)b + (uint32_t)(u0 * q0));
        c = (int32_t)((uint32_t)c + (uint32_t)(v0 * p0));
        d = (int32_t)((uint32_t)d + (uint32_t)(v0 * q0));
    }
    acc[0] = a;
    acc[1] = b;
    acc[2] = c;
    acc[3] = d;
}

#elif defined(__ARM_ARCH_6M__) && defined(__GNUC__) && !defined(ECNN_PORTABLE) && defined(__OPTIMIZE__) &&          \
    !defined(__OPTIMIZE_SIZE__)
/* (At -O0 and -Os gcc cannot allocate these blocks' high-register operands, "inconsistent operand constraints":
 * such builds take the portable C below, the M3's path, bit-exact all the same.) */
#define ECNN_DOT_PATH "armv6m"
#define ECNN_DOT_V6M 1

/* ARMv6-M (Cortex-M0, M0+): Thumb-1 has eight low registers, and LDRSB only takes [Rn, Rm]; compiled from C, the
 * 2 x 2 block spills its sums (23 instructions per 4 products). Here one input against two filters runs with
 * the bases pre-advanced by n and one index counting up from -n to 0 (ADDS sets Z: no compare), the two sums in
 * high registers (ADD reaches them; MULS and LDRSB need the low ones): 9 instructions per 2 products. */
ECNN_DOT_INLINE void ecnn_dot1x2(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n, int32_t *acc)
{
    int32_t a = acc[0];
    int32_t b = acc[1];
    if (n > 0) {
        int32_t i = -n;
        int32_t t0, t1, t2;
        __asm__ volatile(".syntax unified\n" /* gcc hands Thumb-1 inline asm divided syntax */
                         "1:\n\t"
                         "ldrsb %[t0], [%[x], %[i]]\n\t"
                         "ldrsb %[t1], [%[p], %[i]]\n\t"
                         "ldrsb %[t2], [%[q], %[i]]\n\t"
                         "muls %[t1], %[t0], %[t1]\n\t"
                         "muls %[t2], %[t0], %[t2]\n\t"
                         "add %[a], %[t1]\n\t"
                         "add %[b], %[t2]\n\t"
                         "adds %[i], #1\n\t"
                         "bne 1b\n\t"
                         ".syntax divided\n"
                         : [i] "+l"(i), [a] "+h"(a), [b] "+h"(b), [t0] "=&l"(t0), [t1] "=&l"(t1), [t2] "=&l"(t2)
                         : [x] "l"(x + n), [p] "l"(w0 + n), [q] "l"(w1 + n)
                         : "cc", "memory");
    }
    acc[0] = a;
    acc[1] = b;
}

/* One input against one filter, the same way: 7 instructions per product. */
ECNN_DOT_INLINE int32_t ecnn_dot(const int8_t *x, const int8_t *w, int32_t n)
{
    int32_t a = 0;
    if (n > 0) {
        int32_t i = -n;
        int32_t t0, t1;
        __asm__ volatile(".syntax unified\n" /* gcc hands Thumb-1 inline asm divided syntax */
                         "1:\n\t"
                         "ldrsb %[t0], [%[x], %[i]]\n\t"
                         "ldrsb %[t1], [%[p], %[i]]\n\t"
                         "muls %[t1], %[t0], %[t1]\n\t"
                         "add %[a], %[t1]\n\t"
                         "adds %[i], #1\n\t"
                         "bne 1b\n\t"
                         ".syntax divided\n"
                         : [i] "+l"(i), [a] "+h"(a), [t0] "=&l"(t0), [t1] "=&l"(t1)
                         : [x] "l"(x + n), [p] "l"(w + n)
                         : "cc", "memory");
    }
    return a;
}

/* Two inputs against two filters: two passes of ecnn_dot1x2 (the filters are read twice; no register is left
 * for a second input). */
ECNN_DOT_INLINE void ecnn_dot2x2(const int8_t *x0, const int8_t *x1, const int8_t *w0, const int8_t *w1, int32_t n,
                                 int32_t *acc)
{
    ecnn_dot1x2(x0, w0, w1, n, acc);
    ecnn_dot1x2(x1, w0, w1, n, acc + 2);
}

#else
#define ECNN_DOT_PATH "portable"

/* The 16-wide inner blocks have a constant trip count, which lets compilers vectorize them. */
ECNN_DOT_INLINE int32_t ecnn_dot(const int8_t *x, const int8_t *w, int32_t n)
{
    int32_t acc = 0;
    int32_t i = 0;
    int32_t j;
    for (; i + 16 <= n; i += 16) {
        for (j = 0; j < 16; ++j) {
            acc += (int32_t)x[i + j] * (int32_t)w[i + j];
        }
    }
    for (; i < n; ++i) {
        acc += (int32_t)x[i] * (int32_t)w[i];
    }
    return acc;
}

ECNN_DOT_INLINE void ecnn_dot1x2(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n, int32_t *acc)
{
    int32_t a = 0;
    int32_t b = 0;
    int32_t i = 0;
    int32_t j;
    for (; i + 16 <= n; i += 16) {
        for (j = 0; j < 16; ++j) {
            const int32_t u = x[i + j];
            a += u * (int32_t)w0[i + j];
            b += u * (int32_t)w1[i + j];
        }
    }
    for (; i < n; ++i) {
        const int32_t u = x[i];
        a += u * (int32_t)w0[i];
        b += u * (int32_t)w1[i];
    }
    acc[0] = (int32_t)((uint32_t)acc[0] + (uint32_t)a);
    acc[1] = (int32_t)((uint32_t)acc[1] + (uint32_t)b);
}

ECNN_DOT_INLINE void ecnn_dot2x2(const int8_t *x0, const int8_t *x1, const int8_t *w0, const int8_t *w1, int32_t n,
                                 int32_t *acc)
{
    int32_t a = 0;
    int32_t b = 0;
    int32_t c = 0;
    int32_t d = 0;
    int32_t i = 0;
    int32_t j;
    for (; i + 16 <= n; i += 16) {
        for (j = 0; j < 16; ++j) {
            const int32_t u = x0[i + j];
            const int32_t v = x1[i + j];
            const int32_t p = w0[i + j];
            const int32_t q = w1[i + j];
            a += u * p;
            b += u * q;
            c += v * p;
            d += v * q;
        }
    }
    for (; i < n; ++i) {
        const int32_t u = x0[i];
        const int32_t v = x1[i];
        const int32_t p = w0[i];
        const int32_t q = w1[i];
        a += u * p;
        b += u * q;
        c += v * p;
        d += v * q;
    }
    acc[0] = (int32_t)((uint32_t)acc[0] + (uint32_t)a);
    acc[1] = (int32_t)((uint32_t)acc[1] + (uint32_t)b);
    acc[2] = (int32_t)((uint32_t)acc[2] + (uint32_t)c);
    acc[3] = (int32_t)((uint32_t)acc[3] + (uint32_t)d);
}

#endif

#if !defined(ECNN_DOT_DSP)
ECNN_DOT_INLINE void ecnn_dot2x2_n(const int8_t *x, const int8_t *w, int32_t n, int32_t *acc)
{
    ecnn_dot2x2(x, x + n, w, w + n, n, acc);
}
#endif

#endif /* ECNN_DOT_H */
