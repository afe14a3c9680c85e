/* edgecnn kernels, private: the DSP-extension (SXTB16/SMLAD) blocks of ecnn_conv.c that read inputs widened once
 * to int16 (ecnn_widen2): two rows by two filters and one row by four filters, in inline assembly. Included by
 * ecnn_conv.c only, after store2x2_rq. */
#ifndef ECNN_CONV_DSP_H
#define ECNN_CONV_DSP_H

#include "ecnn_internal.h"

#if defined(ECNN_DOT_DSP)
/* The output columns of a pair of rows (or of one row, ecnn_x16_cols4) on the DSP cores: the filters, the
 * per-channel constants and the output stage, read by the fused loops below. */
typedef struct {
    const int8_t *filter;       /* column 0's filter; column k's at filter + k * n */
    const int32_t *bias;        /* bias_folded of column 0 */
    const int32_t *mult;        /* column 0's mult and shift; column k's at k * ms */
    const int32_t *shift;
    int32_t ms;                 /* 1: per-channel mult/shift, 0: one entry */
    int32_t n;                  /* depth */
    int32_t cols;               /* columns: a multiple of 2 (ecnn_x16_cols) or 4 (ecnn_x16_cols4) */
    int32_t out_offset, lo, hi;
} ecnn_x16_cols_args;

/* The output stage `fast` (a constant, see requant_k) for a channel whose constants are m, s (mult, shift) and,
 * when fast != 0, h = rq_hi(s, out_offset), e = -s: rq_smlal then the clamp (one SSAT when the range is int8's). */
/* rq_smlal as one asm statement: the same five instructions, kept in order with the other outputs' (gcc, free to
 * interleave four of them, ran out of registers and spilled). */
ECNN_INLINE int32_t x16_smlal(int32_t acc, int32_t m, int32_t h, int32_t e)
{
    uint32_t lo;
    int32_t hi;
    __asm__ volatile("mov    %[lo], #0x80000000\n\t"
                     "add    %[hi], %[h], %[acc], asr #31\n\t"
                     "lsl    %[acc], %[acc], #1\n\t"
                     "smlal  %[lo], %[hi], %[acc], %[m]\n\t"
                     "asr    %[hi], %[hi], %[e]\n\t"
                     : [lo] "=&r"(lo), [hi] "=&r"(hi), [acc] "+r"(acc)
                     : [m] "r"(m), [h] "r"(h), [e] "r"(e));
    return hi;
}

ECNN_INLINE int8_t x16_rq(int fast, int32_t acc, int32_t m, int32_t s, int32_t h, int32_t e, int32_t oo, int32_t lo,
                          int32_t hi)
{
    if (fast == ECNN_RQ_FAST_SAT) {
        return (int8_t)__ssat(x16_smlal(acc, m, h, e), 8);
    }
    if (fast) {
        return (int8_t)clamp(x16_smlal(acc, m, h, e), lo, hi);
    }
    return requant(acc, m, s, oo, lo, hi);
}

/* The 2 x 2 block over every 4 values from w0 to end (p: end - w0, a multiple of 4, >= 4): two blocks a pass,
 * entered at the second when the count is odd. */
#define ECNN_X16_LOOP2X2                                                                                            \
    "tst    %[p], #4\n\t"                                                                                          \
    "bne    2f\n\t"                                                                                                \
    "1:\n\t" ECNN_DOT2X2_X16_BLOCK "2:\n\t" ECNN_DOT2X2_X16_BLOCK "cmp    %[w0], %[end]\n\t"                       \
    "bne    1b\n\t"
#define ECNN_X16_LOOP2X2_OPERANDS                                                                                   \
    : [a] "+r"(a), [b] "+r"(b), [c] "+r"(c), [d] "+r"(d), [s] "+r"(xs), [w0] "+r"(w0), [p] "+r"(p), [xa] "=&r"(xa), \
      [xb] "=&r"(xb), [pb] "=&r"(pb), [q] "=&r"(q), [qb] "=&r"(qb)                                                  \
    : [end] "r"(end), [nm] "r"(nm)                                                                                  \
    : "cc", "memory"

/* The last nt (< 4) values of depth of a 2 x 2 block: rows ta, tb (int8) against filters w, w + n. Rarely taken
 * (depths that are not a multiple of 4), so out of the fused loop. */
__attribute__((noinline)) static void x16_tail(int32_t *acc, const int8_t *ta, const int8_t *tb, const int8_t *w,
                                                 int32_t n, int32_t nt)
{
    int32_t i;
    for (i = 0; i < nt; ++i) {
        const int32_t u = ta[i];
        const int32_t v = tb[i];
        acc[0] = wrap_add(acc[0], u * (int32_t)w[i]);
        acc[1] = wrap_add(acc[1], u * (int32_t)w[n + i]);
        acc[2] = wrap_add(acc[2], v * (int32_t)w[i]);
        acc[3] = wrap_add(acc[3], v * (int32_t)w[n + i]);
    }
}

/* Every column pair of rows 0 and 1, widened in xs (ecnn_widen2; n4 = n & ~3 >= 4 values each): per pair, the
 * 2 x 2 dot block (ECNN_DOT2X2_X16_BLOCK, entered at its second copy when n4 / 4 is odd), the last n % 4 values
 * from ta, tb (rows 0 and 1's, int8), then the output stage with the pair's constants read once, stored at
 * y0[j], y1[j]. Reads nothing an output store may overwrite except through xs, ta, tb, which the caller keeps
 * apart from the output. One call per row pair: the loop state around the 14-register block is the compiler's
 * to spill. rq_hi(s, z) = 2^(e-1) + z 2^e = (2 z + 1) << (e - 1), e - 1 = ~s. */
ECNN_INLINE void x16_cols_body(const ecnn_x16_cols_args *k, const uint32_t *xs0, const int8_t *ta, const int8_t *tb,
                               int8_t *y0, int8_t *y1, const int fast)
{
    const int32_t n = k->n;
    const int32_t n4 = n & ~3;
    const int32_t nt = n & 3;
    const int32_t ms = k->ms;
    const int32_t oo = k->out_offset;
    const uint32_t oo21 = (uint32_t)oo * 2u + 1u;
    const int32_t lo = k->lo;
    const int32_t hi = k->hi;
    const int8_t *f = k->filter;
    const int32_t *bias = k->bias;
    const int32_t *mult = k->mult;
    const int32_t *shift = k->shift;
    const int32_t cols = k->cols;
    const int32_t nm = n - 4;
    int32_t j;
    for (j = 0; j < cols; j += 2) {
        const int8_t *w0 = f;
        const uint32_t *xs = xs0;
        const int8_t *end = f + n4;
        int32_t a = bias[j];
        int32_t b = bias[j + 1];
        int32_t c = a;
        int32_t d = b;
        uint32_t p = (uint32_t)n4;
        uint32_t xa, xb, pb, q, qb;
        __asm__ volatile(ECNN_X16_LOOP2X2 ECNN_X16_LOOP2X2_OPERANDS);
        if (nt) {
            int32_t t[4];
            t[0] = a;
            t[1] = b;
            t[2] = c;
            t[3] = d;
            x16_tail(t, ta, tb, end, n, nt);
            a = t[0];
            b = t[1];
            c = t[2];
            d = t[3];
        }
        {
            const int32_t m0 = mult[0];
            const int32_t m1 = mult[ms];
            const int32_t s0 = shift[0];
            const int32_t s1 = shift[ms];
            const int32_t h0 = fast ? (int32_t)(oo21 << (~s0)) : 0;
            const int32_t h1 = fast ? (int32_t)(oo21 << (~s1)) : 0;
            const int8_t r0 = x16_rq(fast, a, m0, s0, h0, -s0, oo, lo, hi);
            const int8_t r1 = x16_rq(fast, b, m1, s1, h1, -s1, oo, lo, hi);
            const int8_t r2 = x16_rq(fast, c, m0, s0, h0, -s0, oo, lo, hi);
            const int8_t r3 = x16_rq(fast, d, m1, s1, h1, -s1, oo, lo, hi);
            y0[j] = r0;
            y0[j + 1] = r1;
            y1[j] = r2;
            y1[j + 1] = r3;
        }
        f += 2 * n;
        mult += 2 * ms;
        shift += 2 * ms;
    }
}

/* The running sums acc (per column pair: row 0 . w0, row 0 . w1, row 1 . w0, row 1 . w1) of cols columns over
 * len4 (a multiple of 4, >= 4) more values of depth: rows widened in xs, column k's filter values at f + k * n.
 * For windows deeper than xs holds (conv_windows), taken a chunk at a time. */
__attribute__((noinline)) static void x16_cols_part(const uint32_t *xs0, const int8_t *f, int32_t n, int32_t len4,
                                                      int32_t cols, int32_t *acc)
{
    const int32_t nm = n - 4;
    int32_t j;
    for (j = 0; j < cols; j += 2) {
        const int8_t *w0 = f;
        const uint32_t *xs = xs0;
        const int8_t *end = f + len4;
        int32_t a = acc[0];
        int32_t b = acc[1];
        int32_t c = acc[2];
        int32_t d = acc[3];
        uint32_t p = (uint32_t)len4;
        uint32_t xa, xb, pb, q, qb;
        __asm__ volatile(ECNN_X16_LOOP2X2 ECNN_X16_LOOP2X2_OPERANDS);
        acc[0] = a;
        acc[1] = b;
        acc[2] = c;
        acc[3] = d;
        acc += 4;
        f += 2 * n;
    }
}

/* ECNN_RQ_FAST_SAT's x16_cols_body for depths that are a multiple of 4, the whole column loop in one asm statement:
 * the loop state lives in a stack record that the loop reads and updates (gcc spilled and reloaded it around the
 * 14-register dot block: 82 instructions per column pair outside the dot loop, here 70). Per pair: the bias pair
 * (LDRD), the 2 x 2 dot block loop (ECNN_X16_LOOP2X2), each channel's mult and shift, h = (2 z + 1) << ~s and
 * e = -s, the four rq_smlal and SSAT, the stores. Same operations and results as x16_cols_body. */
__attribute__((noinline)) static void x16_cols_sat4(const ecnn_x16_cols_args *k, const uint32_t *xs0, int8_t *y0,
                                                     int8_t *y1)
{
    struct {
        const int8_t *f;
        const int32_t *bias, *mult, *shift;
        int8_t *y0, *y1, *y0end;
        const uint32_t *xs0;
        int32_t n4, nm, ms4, oo21;
    } st;
    uint32_t a, b, c, d, s, w0, p, xa, xb, pb, q, qb, end, nm;
    st.f = k->filter;
    st.bias = k->bias;
    st.mult = k->mult;
    st.shift = k->shift;
    st.y0 = y0;
    st.y1 = y1;
    st.y0end = y0 + k->cols;
    st.xs0 = xs0;
    st.n4 = k->n; /* a multiple of 4 here; the next pair's filter is the dot loop's end + n */
    st.nm = k->n - 4;
    st.ms4 = k->ms * 4;
    st.oo21 = k->out_offset * 2 + 1;
    __asm__ volatile(
        "0:\n\t"
        "ldr    %[w0], %[f]\n\t"
        "ldr    %[s], %[xs0]\n\t"
        "ldr    %[p], %[n4]\n\t"
        "add    %[end], %[w0], %[p]\n\t"
        "ldr    %[nm], %[nmv]\n\t"
        "ldr    %[q], %[bias]\n\t"
        "ldrd   %[a], %[b], [%[q]], #8\n\t"
        "str    %[q], %[bias]\n\t"
        "mov    %[c], %[a]\n\t"
        "mov    %[d], %[b]\n\t"
        ECNN_X16_LOOP2X2
        "ldr    %[p], %[n4]\n\t" /* the next pair's filters: end + n */
        "add    %[w0], %[w0], %[p]\n\t"
        "str    %[w0], %[f]\n\t"
        "ldr    %[p], %[ms4]\n\t"
        "ldr    %[q], %[mult]\n\t"
        "ldr    %[xa], [%[q]]\n\t" /* m0 */
        "ldr    %[xb], [%[q], %[p]]\n\t" /* m1 */
        "add    %[q], %[q], %[p], lsl #1\n\t"
        "str    %[q], %[mult]\n\t"
        "ldr    %[q], %[shift]\n\t"
        "ldr    %[pb], [%[q]]\n\t" /* s0 */
        "ldr    %[qb], [%[q], %[p]]\n\t" /* s1 */
        "add    %[q], %[q], %[p], lsl #1\n\t"
        "str    %[q], %[shift]\n\t"
        "ldr    %[p], %[oo21]\n\t"
        "mvn    %[q], %[pb]\n\t"
        "lsl    %[q], %[p], %[q]\n\t" /* h0 */
        "rsb    %[pb], %[pb], #0\n\t" /* e0 */
        "mov    %[s], #0x80000000\n\t"
        "add    %[end], %[q], %[a], asr #31\n\t"
        "lsl    %[a], %[a], #1\n\t"
        "smlal  %[s], %[end], %[a], %[xa]\n\t"
        "asr    %[a], %[end], %[pb]\n\t"
        "mov    %[s], #0x80000000\n\t"
        "add    %[end], %[q], %[c], asr #31\n\t"
        "lsl    %[c], %[c], #1\n\t"
        "smlal  %[s], %[end], %[c], %[xa]\n\t"
        "asr    %[c], %[end], %[pb]\n\t"
        "mvn    %[q], %[qb]\n\t"
        "lsl    %[q], %[p], %[q]\n\t" /* h1 */
        "rsb    %[qb], %[qb], #0\n\t" /* e1 */
        "mov    %[s], #0x80000000\n\t"
        "add    %[end], %[q], %[b], asr #31\n\t"
        "lsl    %[b], %[b], #1\n\t"
        "smlal  %[s], %[end], %[b], %[xb]\n\t"
        "asr    %[b], %[end], %[qb]\n\t"
        "mov    %[s], #0x80000000\n\t"
        "add    %[end], %[q], %[d], asr #31\n\t"
        "lsl    %[d], %[d], #1\n\t"
        "smlal  %[s], %[end], %[d], %[xb]\n\t"
        "asr    %[d], %[end], %[qb]\n\t"
        "ssat   %[a], #8, %[a]\n\t"
        "ssat   %[b], #8, %[b]\n\t"
        "ssat   %[c], #8, %[c]\n\t"
        "ssat   %[d], #8, %[d]\n\t"
        "ldr    %[q], %[y1]\n\t"
        "strb   %[c], [%[q]]\n\t"
        "strb   %[d], [%[q], #1]\n\t"
        "add    %[q], %[q], #2\n\t"
        "str    %[q], %[y1]\n\t"
        "ldr    %[q], %[y0]\n\t"
        "strb   %[a], [%[q]]\n\t"
        "strb   %[b], [%[q], #1]\n\t"
        "add    %[q], %[q], #2\n\t"
        "str    %[q], %[y0]\n\t"
        "ldr    %[p], %[y0end]\n\t"
        "cmp    %[q], %[p]\n\t"
        "bne    0b\n\t"
        : [a] "=&r"(a), [b] "=&r"(b), [c] "=&r"(c), [d] "=&r"(d), [s] "=&r"(s), [w0] "=&r"(w0), [p] "=&r"(p),
          [xa] "=&r"(xa), [xb] "=&r"(xb), [pb] "=&r"(pb), [q] "=&r"(q), [qb] "=&r"(qb), [end] "=&r"(end),
          [nm] "=&r"(nm)
        : [f] "m"(st.f), [bias] "m"(st.bias), [mult] "m"(st.mult), [shift] "m"(st.shift), [y0] "m"(st.y0),
          [y1] "m"(st.y1), [y0end] "m"(st.y0end), [xs0] "m"(st.xs0), [n4] "m"(st.n4), [nmv] "m"(st.nm),
          [ms4] "m"(st.ms4), [oo21] "m"(st.oo21)
        : "cc", "memory"); /* the loop updates its record (f .. y1) in place: "memory" (more than 30 operands with
                            * those as "+m"); nothing reads the record after the loop */
}

/* x16_cols_body by output stage, not inlined (the dot block needs every core register). */
__attribute__((noinline)) static void x16_cols_sat(const ecnn_x16_cols_args *k, const uint32_t *xs, const int8_t *ta,
                                                     const int8_t *tb, int8_t *y0, int8_t *y1)
{
    x16_cols_body(k, xs, ta, tb, y0, y1, ECNN_RQ_FAST_SAT);
}

__attribute__((noinline)) static void x16_cols_fast(const ecnn_x16_cols_args *k, const uint32_t *xs, const int8_t *ta,
                                                      const int8_t *tb, int8_t *y0, int8_t *y1)
{
    x16_cols_body(k, xs, ta, tb, y0, y1, 1);
}

__attribute__((noinline)) static void x16_cols_gen(const ecnn_x16_cols_args *k, const uint32_t *xs, const int8_t *ta,
                                                     const int8_t *tb, int8_t *y0, int8_t *y1)
{
    x16_cols_body(k, xs, ta, tb, y0, y1, 0);
}

/* The column pairs of k for the output stage `mode` (ECNN_RQ_MODE). */
ECNN_INLINE void ecnn_x16_cols(int mode, const ecnn_x16_cols_args *k, const uint32_t *xs, const int8_t *ta,
                               const int8_t *tb, int8_t *y0, int8_t *y1)
{
    if (mode == ECNN_RQ_FAST_SAT && (k->n & 3) == 0) {
        x16_cols_sat4(k, xs, y0, y1);
    } else if (mode == ECNN_RQ_FAST_SAT) {
        x16_cols_sat(k, xs, ta, tb, y0, y1);
    } else if (mode) {
        x16_cols_fast(k, xs, ta, tb, y0, y1);
    } else {
        x16_cols_gen(k, xs, ta, tb, y0, y1);
    }
}
#endif

#if defined(ECNN_DOT_DSP)
/* 4 values of depth of one widened row (per 4 values the words (x[k], x[k+2]) and (x[k+1], x[k+3])) against four
 * int8 filter rows w0, w0 + n, w2, w2 + n (nm = n - 4: the second of each pair read after its pointer has
 * advanced): one LDRD for the row, the filters split by SXTB16: 21 instructions per 16 products. */
#define ECNN_DOT1X4_X16_FILTER(ld, acc)               \
    "ldr    %[p], " ld "\n\t"                       \
    "sxtb16 %[pb], %[p], ror #8\n\t"                \
    "sxtb16 %[p], %[p]\n\t"                         \
    "smlad  %[" acc "], %[xa], %[p], %[" acc "]\n\t" \
    "smlad  %[" acc "], %[xb], %[pb], %[" acc "]\n\t"
#define ECNN_DOT1X4_X16_BLOCK                                                                                      \
    "ldrd   %[xa], %[xb], [%[s]], #8\n\t" ECNN_DOT1X4_X16_FILTER("[%[w0]], #4", "a")                             \
        ECNN_DOT1X4_X16_FILTER("[%[w0], %[nm]]", "b") ECNN_DOT1X4_X16_FILTER("[%[w2]], #4", "c")                  \
            ECNN_DOT1X4_X16_FILTER("[%[w2], %[nm]]", "d")
#define ECNN_DOT1X4_X16_OPERANDS                                                                                   \
    : [a] "+r"(a), [b] "+r"(b), [c] "+r"(c), [d] "+r"(d), [s] "+r"(xs), [w0] "+r"(w0), [w2] "+r"(w2),               \
      [xa] "=&r"(xa), [xb] "=&r"(xb), [p] "=&r"(p), [pb] "=&r"(pb)                                                  \
    : [end] "r"(end), [nm] "r"(nm)                                                                                  \
    : "cc", "memory"

/* acc[0..3] += row . w0 .. row . w3 over the n & ~3 (>= 4) values of the widened row xs; w_k = w0 + k * n. A
 * function of its own: inlined into the column loop, its 12 registers were more than gcc could find. */
__attribute__((noinline)) static void x16_dot1x4(const uint32_t *xs, const int8_t *w0, int32_t n, int32_t *acc)
{
    const int32_t n4 = n & ~3;
    const int32_t nm = n - 4;
    const uint32_t *end = xs + n4 / 2;
    const int8_t *w2 = w0 + 2 * n;
    int32_t a = acc[0];
    int32_t b = acc[1];
    int32_t c = acc[2];
    int32_t d = acc[3];
    uint32_t xa, xb, p, pb;
    if (n4 & 4) { /* an odd count of blocks: one first, then two a pass */
        __asm__ volatile(ECNN_DOT1X4_X16_BLOCK ECNN_DOT1X4_X16_OPERANDS);
    }
    if (xs != end) {
        __asm__ volatile("1:\n\t" ECNN_DOT1X4_X16_BLOCK ECNN_DOT1X4_X16_BLOCK "cmp    %[s], %[end]\n\t"
                         "bne    1b\n\t" ECNN_DOT1X4_X16_OPERANDS);
    }
    acc[0] = a;
    acc[1] = b;
    acc[2] = c;
    acc[3] = d;
}

/* The last nt (< 4) values of depth of one row t (int8) against four filters w + k * n. Out of the fused loop. */
__attribute__((noinline)) static void x16_tail4(int32_t *acc, const int8_t *t, const int8_t *w, int32_t n, int32_t nt)
{
    int32_t i, k;
    for (i = 0; i < nt; ++i) {
        for (k = 0; k < 4; ++k) {
            acc[k] = wrap_add(acc[k], (int32_t)t[i] * (int32_t)w[k * n + i]);
        }
    }
}

/* requant of four sums (columns k at mult[k * ms], shift[k * ms]) stored at y[0..3]. */
__attribute__((noinline)) static void x16_rq4_gen(int32_t a, int32_t b, int32_t c, int32_t d, const int32_t *mult,
                                                    const int32_t *shift, int32_t ms, int32_t oo, int32_t lo,
                                                    int32_t hi, int8_t *y)
{
    const int8_t r0 = requant(a, mult[0], shift[0], oo, lo, hi);
    const int8_t r1 = requant(b, mult[ms], shift[ms], oo, lo, hi);
    const int8_t r2 = requant(c, mult[2 * ms], shift[2 * ms], oo, lo, hi);
    const int8_t r3 = requant(d, mult[3 * ms], shift[3 * ms], oo, lo, hi);
    y[0] = r0;
    y[1] = r1;
    y[2] = r2;
    y[3] = r3;
}

/* The output stage `fast` (ECNN_RQ_MODE, a constant) of four sums a..d of columns whose constants are at
 * mult[k * ms], shift[k * ms], stored at y[0..3]. */
ECNN_INLINE void x16_store4(const int fast, int32_t a, int32_t b, int32_t c, int32_t d, const int32_t *mult,
                            const int32_t *shift, int32_t ms, int32_t oo, int32_t lo, int32_t hi, int8_t *y)
{
    const uint32_t oo21 = (uint32_t)oo * 2u + 1u;
    if (!fast) { /* TFLM's general form: out of line (inlined, it leaves too few registers for the block) */
        x16_rq4_gen(a, b, c, d, mult, shift, ms, oo, lo, hi, y);
    } else {
        const int32_t m0 = mult[0];
        const int32_t m1 = mult[ms];
        const int32_t m2 = mult[2 * ms];
        const int32_t m3 = mult[3 * ms];
        const int32_t s0 = shift[0];
        const int32_t s1 = shift[ms];
        const int32_t s2 = shift[2 * ms];
        const int32_t s3 = shift[3 * ms];
        const int8_t r0 = x16_rq(fast, a, m0, s0, fast ? (int32_t)(oo21 << (~s0)) : 0, -s0, oo, lo, hi);
        const int8_t r1 = x16_rq(fast, b, m1, s1, fast ? (int32_t)(oo21 << (~s1)) : 0, -s1, oo, lo, hi);
        const int8_t r2 = x16_rq(fast, c, m2, s2, fast ? (int32_t)(oo21 << (~s2)) : 0, -s2, oo, lo, hi);
        const int8_t r3 = x16_rq(fast, d, m3, s3, fast ? (int32_t)(oo21 << (~s3)) : 0, -s3, oo, lo, hi);
        y[0] = r0;
        y[1] = r1;
        y[2] = r2;
        y[3] = r3;
    }
}

/* ecnn_x16_cols for one row (a dense layer), four columns a pass: the row widened in xs (per 4 values the words
 * (x[k], x[k+2]) and (x[k+1], x[k+3]); n & ~3 >= 4 values), ECNN_DOT1X4_X16_BLOCK, the last n % 4 values from
 * t (int8), then the output stage with the four columns' constants, stored at y[j..j+3]. */
ECNN_INLINE void x16_cols4_body(const ecnn_x16_cols_args *k, const uint32_t *xs0, const int8_t *t, int8_t *y,
                                const int fast)
{
    const int32_t n = k->n;
    const int32_t n4 = n & ~3;
    const int32_t nt = n & 3;
    const int32_t ms = k->ms;
    const int8_t *f = k->filter;
    const int32_t *bias = k->bias;
    const int32_t *mult = k->mult;
    const int32_t *shift = k->shift;
    const int32_t cols = k->cols;
    int32_t j;
    for (j = 0; j < cols; j += 4) {
        int32_t acc[4];
        acc[0] = bias[j];
        acc[1] = bias[j + 1];
        acc[2] = bias[j + 2];
        acc[3] = bias[j + 3];
        x16_dot1x4(xs0, f, n, acc);
        if (nt) {
            x16_tail4(acc, t, f + n4, n, nt);
        }
        x16_store4(fast, acc[0], acc[1], acc[2], acc[3], mult, shift, ms, k->out_offset, k->lo, k->hi, y + j);
        f += 4 * n;
        mult += 4 * ms;
        shift += 4 * ms;
    }
}

__attribute__((noinline)) static void x16_cols4_sat(const ecnn_x16_cols_args *k, const uint32_t *xs, const int8_t *t,
                                                      int8_t *y)
{
    x16_cols4_body(k, xs, t, y, ECNN_RQ_FAST_SAT);
}

__attribute__((noinline)) static void x16_cols4_fast(const ecnn_x16_cols_args *k, const uint32_t *xs, const int8_t *t,
                                                       int8_t *y)
{
    x16_cols4_body(k, xs, t, y, 1);
}

__attribute__((noinline)) static void x16_cols4_gen(const ecnn_x16_cols_args *k, const uint32_t *xs, const int8_t *t,
                                                      int8_t *y)
{
    x16_cols4_body(k, xs, t, y, 0);
}

/* The four-column passes of k over one widened row, output stage `mode` (ECNN_RQ_MODE). */
ECNN_INLINE void ecnn_x16_cols4(int mode, const ecnn_x16_cols_args *k, const uint32_t *xs, const int8_t *t, int8_t *y)
{
    if (mode == ECNN_RQ_FAST_SAT) {
        x16_cols4_sat(k, xs, t, y);
    } else if (mode) {
        x16_cols4_fast(k, xs, t, y);
    } else {
        x16_cols4_gen(k, xs, t, y);
    }
}

/* ---- dense layers (one row): two output channels in every filter word ----
 * The pair of columns L = 2i, H = 2i + 1 is stored, for each widened word (x[a], x[b]) of the row, as the word of
 * bytes [L[a], H'[a], L[b], H'[b]] (lowest first), H'[k] = H[k] - (L[k] < 0): each halfword then is, as int16,
 * exactly L[k] + 256 H[k]. One SMLAD of the raw word adds L.x + 256 H.x to A; SXTB16 turns the word into
 * (L[a], L[b]) for a second SMLAD that adds L.x to B. Two columns of two values take 3 instructions instead of
 * 4 (two SXTB16, two SMLAD). A and B start at L's bias, so H.x = (A - B) / 256 exactly (an arithmetic shift of
 * the wrapped difference) while |H.x| < 2^23: the generator checks 128 sum|H| < 2^23 for every pair
 * (deploy.engine.ops.dense_pairs). The filter of four columns (two pairs) per 4 values of depth: pair 0's words
 * for (x[k], x[k+2]) and (x[k+1], x[k+3]), then pair 1's; one LDM reads them. Per 16 products: LDRD, LDM,
 * 4 SXTB16, 8 SMLAD (14 instructions; ECNN_DOT1X4_X16_BLOCK: 21). */
#define ECNN_PAIRS4_HALF(w, x, a, b)                                                                              \
    "smlad  %[" a "], %[" w "], %[" x "], %[" a "]\n\t"                                                          \
    "sxtb16 %[" w "], %[" w "]\n\t"                                                                               \
    "smlad  %[" b "], %[" w "], %[" x "], %[" b "]\n\t"
#define ECNN_PAIRS4_BLOCK                                                                                         \
    "ldrd   %[xa], %[xb], [%[s]], #8\n\t"                                                                         \
    "ldm    %[w]!, {%[w0], %[w1], %[w2], %[w3]}\n\t" ECNN_PAIRS4_HALF("w0", "xa", "a0", "b0")                     \
        ECNN_PAIRS4_HALF("w1", "xb", "a0", "b0") ECNN_PAIRS4_HALF("w2", "xa", "a1", "b1")                         \
            ECNN_PAIRS4_HALF("w3", "xb", "a1", "b1")

/* acc[0..3] (A, B of pair 0, then of pair 1) over the widened row xs .. end (8 values a pass, two blocks) with
 * the four columns' pair filter at w; returns the next four columns' filter. The LDM's registers are fixed
 * (ascending, as its encoding wants). */
__attribute__((noinline)) static const uint32_t *x16_pairs4(const uint32_t *xs, const uint32_t *end,
                                                             const uint32_t *w, int32_t *acc)
{
    register uint32_t w0 __asm__("r8");
    register uint32_t w1 __asm__("r9");
    register uint32_t w2 __asm__("r10");
    register uint32_t w3 __asm__("r11");
    int32_t a0 = acc[0];
    int32_t b0 = acc[1];
    int32_t a1 = acc[2];
    int32_t b1 = acc[3];
    uint32_t xa, xb;
    __asm__ volatile("1:\n\t" ECNN_PAIRS4_BLOCK ECNN_PAIRS4_BLOCK "cmp    %[s], %[end]\n\t"
                     "bne    1b\n\t"
                     : [a0] "+r"(a0), [b0] "+r"(b0), [a1] "+r"(a1), [b1] "+r"(b1), [s] "+r"(xs), [w] "+r"(w),
                       [xa] "=&r"(xa), [xb] "=&r"(xb), [w0] "=&r"(w0), [w1] "=&r"(w1), [w2] "=&r"(w2),
                       [w3] "=&r"(w3)
                     : [end] "r"(end)
                     : "cc", "memory");
    acc[0] = a0;
    acc[1] = b0;
    acc[2] = a1;
    acc[3] = b1;
    return w;
}

/* H's sum from a pair's accumulators (A = bias_L + L.x + 256 H.x, B = bias_L + L.x) plus H's bias. */
ECNN_INLINE int32_t x16_pair_hi(int32_t a, int32_t b, int32_t bias)
{
    return wrap_add((int32_t)((uint32_t)a - (uint32_t)b) >> 8, bias);
}

/* Every four columns of k (k->cols a multiple of 4) from the pair filter pf over the row widened in xs, n8
 * values (a multiple of 8, zero padded past the depth), with the output stage `fast`; stored at y[0..cols). */
ECNN_INLINE void x16_pairs4_body(const ecnn_x16_cols_args *k, const uint32_t *pf, const uint32_t *xs, int32_t n8,
                                 int8_t *y, const int fast)
{
    const uint32_t *end = xs + n8 / 2;
    const int32_t ms = k->ms;
    const int32_t *bias = k->bias;
    const int32_t *mult = k->mult;
    const int32_t *shift = k->shift;
    int32_t j;
    for (j = 0; j < k->cols; j += 4) {
        int32_t acc[4];
        acc[0] = bias[j];
        acc[1] = acc[0];
        acc[2] = bias[j + 2];
        acc[3] = acc[2];
        pf = x16_pairs4(xs, end, pf, acc);
        x16_store4(fast, acc[1], x16_pair_hi(acc[0], acc[1], bias[j + 1]), acc[3],
                   x16_pair_hi(acc[2], acc[3], bias[j + 3]), mult, shift, ms, k->out_offset, k->lo, k->hi, y + j);
        mult += 4 * ms;
        shift += 4 * ms;
    }
}

/* The loop record of x16_pairs4_sat: read and updated in memory by the assembly (its registers are all taken). */
typedef struct {
    const int32_t *bias, *mult, *shift;
    int8_t *y, *yend;
    const uint32_t *xs;
    uint32_t oo21; /* 2 out_offset + 1 */
} ecnn_pairs4_state;

/* rq_smlal (SMMLAR, as ECNN_GEMM3_RQ) and SSAT of the sum in register acc, the channel's mult and shift read
 * through xa and xb (post-indexed by `step`: 4 per channel, 0 for one per tensor); h = oo21 << ~s, e = -s. */
#define ECNN_PAIRS4_RQ(acc, step)                                                                                 \
    "ldr    %[w0], [%[xa]], #" step "\n\t"                                                                        \
    "ldr    %[w1], [%[xb]], #" step "\n\t"                                                                        \
    "mvn    %[w2], %[w1]\n\t"                                                                                     \
    "lsl    %[w2], %[w3], %[w2]\n\t"                                                                              \
    "rsb    %[w1], %[w1], #0\n\t"                                                                                 \
    "add    %[s], %[w2], %[" acc "], asr #31\n\t"                                                                \
    "lsl    %[" acc "], %[" acc "], #1\n\t"                                                                       \
    "smmlar %[s], %[" acc "], %[w0], %[s]\n\t"                                                                   \
    "asr    %[" acc "], %[s], %[w1]\n\t"                                                                          \
    "ssat   %[" acc "], #8, %[" acc "]\n\t"

/* x16_pairs4_body for ECNN_RQ_FAST_SAT as one asm statement, the column loop included: per four columns the
 * biases, the dot loop, H's sums, the four output stages and the stores (the compiled body took about 100
 * instructions and a call per four columns; this takes 63), 16 values of depth a pass. */
#define ECNN_PAIRS4_SAT_ASM(step)                                                                                 \
    "0:\n\t"                                                                                                      \
    "ldr    %[xa], %[sbias]\n\t"                                                                                  \
    "ldr    %[a0], [%[xa]]\n\t"                                                                                   \
    "ldr    %[a1], [%[xa], #8]\n\t"                                                                               \
    "mov    %[b0], %[a0]\n\t"                                                                                     \
    "mov    %[b1], %[a1]\n\t"                                                                                     \
    "ldr    %[s], %[sxs]\n\t"                                                                                     \
    "sub    %[xa], %[end], %[s]\n\t"                                                                              \
    "tst    %[xa], #16\n\t" /* an odd count of 8 values: entered at the second half of the 16 */                 \
    "bne    2f\n\t"                                                                                               \
    "1:\n\t" ECNN_PAIRS4_BLOCK ECNN_PAIRS4_BLOCK                                                                  \
    "2:\n\t" ECNN_PAIRS4_BLOCK ECNN_PAIRS4_BLOCK                                                                  \
    "cmp    %[s], %[end]\n\t"                                                                                     \
    "bne    1b\n\t"                                                                                               \
    "ldr    %[xa], %[sbias]\n\t"                                                                                  \
    "ldr    %[w0], [%[xa], #4]\n\t"                                                                               \
    "ldr    %[w1], [%[xa], #12]\n\t"                                                                              \
    "add    %[xa], %[xa], #16\n\t"                                                                                \
    "str    %[xa], %[sbias]\n\t"                                                                                  \
    "sub    %[a0], %[a0], %[b0]\n\t"                                                                              \
    "add    %[a0], %[w0], %[a0], asr #8\n\t"                                                                      \
    "sub    %[a1], %[a1], %[b1]\n\t"                                                                              \
    "add    %[a1], %[w1], %[a1], asr #8\n\t"                                                                      \
    "ldr    %[xa], %[smult]\n\t"                                                                                  \
    "ldr    %[xb], %[sshift]\n\t"                                                                                 \
    "ldr    %[w3], %[soo21]\n\t" ECNN_PAIRS4_RQ("b0", step) ECNN_PAIRS4_RQ("a0", step)                           \
        ECNN_PAIRS4_RQ("b1", step) ECNN_PAIRS4_RQ("a1", step)                                                     \
    "str    %[xa], %[smult]\n\t"                                                                                  \
    "str    %[xb], %[sshift]\n\t"                                                                                 \
    "ldr    %[s], %[sy]\n\t"                                                                                      \
    "strb   %[b0], [%[s]]\n\t"                                                                                    \
    "strb   %[a0], [%[s], #1]\n\t"                                                                                \
    "strb   %[b1], [%[s], #2]\n\t"                                                                                \
    "strb   %[a1], [%[s], #3]\n\t"                                                                                \
    "add    %[s], %[s], #4\n\t"                                                                                   \
    "str    %[s], %[sy]\n\t"                                                                                      \
    "ldr    %[xa], %[syend]\n\t"                                                                                  \
    "cmp    %[s], %[xa]\n\t"                                                                                      \
    "bne    0b\n\t"

#define ECNN_PAIRS4_SAT_OPERANDS                                                                                  \
    : [a0] "=&r"(a0), [b0] "=&r"(b0), [a1] "=&r"(a1), [b1] "=&r"(b1), [s] "=&r"(s), [w] "+&r"(w),                \
      [xa] "=&r"(xa), [xb] "=&r"(xb), [w0] "=&r"(w0), [w1] "=&r"(w1), [w2] "=&r"(w2), [w3] "=&r"(w3)              \
    : [end] "r"(end), [sbias] "m"(st.bias), [smult] "m"(st.mult), [sshift] "m"(st.shift), [sy] "m"(st.y),         \
      [syend] "m"(st.yend), [sxs] "m"(st.xs), [soo21] "m"(st.oo21)                                                \
    : "cc", "memory"

__attribute__((noinline)) static void x16_pairs4_sat(const ecnn_x16_cols_args *k, const uint32_t *pf,
                                                       const uint32_t *xs, int32_t n8, int8_t *y)
{
    register uint32_t w0 __asm__("r8");
    register uint32_t w1 __asm__("r9");
    register uint32_t w2 __asm__("r10");
    register uint32_t w3 __asm__("r11");
    ecnn_pairs4_state st;
    const uint32_t *end = xs + n8 / 2;
    const uint32_t *w = pf;
    uint32_t a0, b0, a1, b1, s, xa, xb;
    st.bias = k->bias;
    st.mult = k->mult;
    st.shift = k->shift;
    st.y = y;
    st.yend = y + k->cols;
    st.xs = xs;
    st.oo21 = (uint32_t)k->out_offset * 2u + 1u;
    if (k->ms) {
        __asm__ volatile(ECNN_PAIRS4_SAT_ASM("4") ECNN_PAIRS4_SAT_OPERANDS);
    } else {
        __asm__ volatile(ECNN_PAIRS4_SAT_ASM("0") ECNN_PAIRS4_SAT_OPERANDS);
    }
}

__attribute__((noinline)) static void x16_pairs4_fast(const ecnn_x16_cols_args *k, const uint32_t *pf,
                                                        const uint32_t *xs, int32_t n8, int8_t *y)
{
    x16_pairs4_body(k, pf, xs, n8, y, 1);
}

__attribute__((noinline)) static void x16_pairs4_gen(const ecnn_x16_cols_args *k, const uint32_t *pf,
                                                       const uint32_t *xs, int32_t n8, int8_t *y)
{
    x16_pairs4_body(k, pf, xs, n8, y, 0);
}

/* One row x of n values widened for x16_pairs4 into xs: n8 values (n rounded up to 8), zeros past n. */
ECNN_INLINE void x16_widen_row8(const int8_t *x, int32_t n, uint32_t *xs)
{
    const int32_t n8 = (n + 7) & ~7;
    int32_t k;
    for (k = 0; k + 4 <= n; k += 4) {
        const uint32_t u = ecnn_ld32(x + k);
        *xs++ = __sxtb16(u);
        *xs++ = ecnn_sxtb16_ror8(u);
    }
    if (k < n) {
        int8_t t[4] = {0, 0, 0, 0};
        int32_t i;
        for (i = 0; k + i < n; ++i) {
            t[i] = x[k + i];
        }
        *xs++ = __sxtb16(ecnn_ld32(t));
        *xs++ = ecnn_sxtb16_ror8(ecnn_ld32(t));
        k += 4;
    }
    for (; k < n8; k += 4) {
        *xs++ = 0;
        *xs++ = 0;
    }
}

/* A dense layer's row through the pair filter pf, output stage `mode` (ECNN_RQ_MODE); the row is widened into
 * xs (n rounded up to 8 values: at most 2 ECNN_GEMM_XS_WORDS) before any output is stored. */
ECNN_INLINE void ecnn_x16_pairs4(int mode, const ecnn_x16_cols_args *k, const uint32_t *pf, const int8_t *x,
                                 uint32_t *xs, int8_t *y)
{
    const int32_t n8 = (k->n + 7) & ~7;
    x16_widen_row8(x, k->n, xs);
    if (mode == ECNN_RQ_FAST_SAT) {
        x16_pairs4_sat(k, pf, xs, n8, y);
    } else if (mode) {
        x16_pairs4_fast(k, pf, xs, n8, y);
    } else {
        x16_pairs4_gen(k, pf, xs, n8, y);
    }
}
#endif

#endif /* ECNN_CONV_DSP_H */
