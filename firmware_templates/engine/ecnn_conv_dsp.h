/* edgecnn kernels, private: the DSP-extension (SXTB16/SMLAD) blocks of ecnn_conv.c that read inputs widened once
 * to int16 (ecnn_widen2): two rows by two filters and one row by four filters, in inline assembly. Included by
 * ecnn_conv.c only, after store2x2_rq. */
#ifndef ECNN_CONV_DSP_H
#define ECNN_CONV_DSP_H

#include "ecnn_internal.h"

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

#endif /* ECNN_CONV_DSP_H */
