/* edgecnn kernels: the GEMM's three-row block on the DSP cores (M4, M7, M33), specialized on the depth.
 *
 * ECNN_GEMM3(n, nb) (in the generated model, once per depth its layers need) defines the function
 * ECNN_GEMM3_FN(n) that ecnn_gemm's rows3 points to: every output column pair of three rows widened to int16 by
 * ecnn_widen3. The depth is a constant of the assembly, so the dot block's offsets are immediates: no pointer
 * steps, no loop count, and the second filter of a pair is read at [f, #n + o] instead of through a register.
 * That frees the registers for three rows at once: six accumulators, the four halves of the two filter words,
 * one widened pair and the two base pointers are the core's 14. Per 4 values of depth: 2 LDR, 4 SXTB16, 3 LDRD,
 * 12 SMLAD: 21 instructions per 24 products (the two-row loop, ECNN_X16_LOOP2X2: 25.5). nb blocks of 4 values
 * are unrolled and taken (n / 4) / nb times.
 *
 * On the other cores the macro defines nothing and the pointer is 0 (ecnn_gemm takes its other paths). */
#ifndef ECNN_GEMM3_H
#define ECNN_GEMM3_H

#include "ecnn_kernels.h"
#include "ecnn_dot.h"

#if defined(ECNN_DOT_DSP)
/* Three rows x0, x1, x2 of n values (a multiple of 4, at least 4) widened for ECNN_GEMM3: per 4 values k, row r's
 * words (x[k], x[k+2]), (x[k+1], x[k+3]) at xs[6 k / 4 + 2 r]. One asm loop: 3 LDR, 6 SXTB16, 3 STRD and the
 * loop's two per 12 values (the compiled loop stored word by word: 19). */
ECNN_DOT_INLINE void ecnn_widen3(const int8_t *x0, const int8_t *x1, const int8_t *x2, int32_t n, uint32_t *xs)
{
    const int8_t *const end = x0 + n;
    uint32_t a, b, c, d, e, f;
    __asm__ volatile(
        "1:\n\t"
        "ldr    %[a], [%[x0]], #4\n\t"
        "ldr    %[c], [%[x1]], #4\n\t"
        "ldr    %[e], [%[x2]], #4\n\t"
        "sxtb16 %[b], %[a], ror #8\n\t"
        "sxtb16 %[a], %[a]\n\t"
        "sxtb16 %[d], %[c], ror #8\n\t"
        "sxtb16 %[c], %[c]\n\t"
        "sxtb16 %[f], %[e], ror #8\n\t"
        "sxtb16 %[e], %[e]\n\t"
        "strd   %[e], %[f], [%[xs], #16]\n\t"
        "strd   %[c], %[d], [%[xs], #8]\n\t"
        "strd   %[a], %[b], [%[xs]], #24\n\t"
        "cmp    %[x0], %[end]\n\t"
        "bne    1b\n\t"
        : [x0] "+&r"(x0), [x1] "+&r"(x1), [x2] "+&r"(x2), [xs] "+&r"(xs), [a] "=&r"(a), [b] "=&r"(b),
          [c] "=&r"(c), [d] "=&r"(d), [e] "=&r"(e), [f] "=&r"(f)
        : [end] "r"(end)
        : "cc", "memory");
}

/* The loop record of ECNN_GEMM3: read and updated in memory by the assembly (its registers are all taken). */
typedef struct {
    const int8_t *f;             /* the column pair's filters (the second at f + n) */
    const int32_t *bias, *mult, *shift;
    int8_t *y, *yend;            /* row 0's output of the pair; row 0's end */
    const uint32_t *xs;          /* the widened rows */
    const int8_t *fend;          /* the pair's filter end (several passes of nb blocks) */
    int32_t ystride, ms4, oo21;  /* bytes from one row's outputs to the next; 4 * mult_stride; 2 out_offset + 1 */
    int32_t ystride2;            /* ECNN_GEMM3P: bytes from row 0's outputs to row 2's */
} ecnn_gemm3_state;

ECNN_DOT_INLINE void ecnn_gemm3_init(ecnn_gemm3_state *st, const ecnn_gemm_params *p, const uint32_t *xs, int8_t *y)
{
    st->f = p->filter;
    st->bias = p->bias_folded;
    st->mult = p->mult;
    st->shift = p->shift;
    st->y = y;
    st->yend = y + p->cols;
    st->xs = xs;
    st->fend = 0;
    st->ystride = p->y_stride ? p->y_stride : p->cols;
    st->ms4 = p->mult_stride * 4;
    st->oo21 = p->out_offset * 2 + 1;
    st->ystride2 = 2 * st->ystride;
}

/* Widened row r (0..2) against the pair's filter halves: LDRD of its two words, four SMLAD. */
#define ECNN_GEMM3_ROW(off, ra, rb)                                                                               \
    "ldrd   %[xa], %[xb], [%[s], #(6 * .Lecnn_o + " off ")]\n\t"                                                  \
    "smlad  %[" ra "], %[xa], %[w], %[" ra "]\n\t"                                                               \
    "smlad  %[" ra "], %[xb], %[wb], %[" ra "]\n\t"                                                              \
    "smlad  %[" rb "], %[xa], %[v], %[" rb "]\n\t"                                                               \
    "smlad  %[" rb "], %[xb], %[vb], %[" rb "]\n\t"

/* rq_smlal (ecnn_internal.h) of acc with m, h, e, then SSAT: five instructions, t scratch. rq_smlal's SMLAL
 * on the low word 2^31 is one SMMLAR: the high word of (h + [acc < 0]) 2^32 + 2 acc m + 2^31, which SMMLAR
 * computes as (Ra 2^32 + Rn Rm + 2^31) >> 32. */
#define ECNN_GEMM3_RQ(acc, m, h, e)                                                                               \
    "add    %[t], %[" h "], %[" acc "], asr #31\n\t"                                                             \
    "lsl    %[" acc "], %[" acc "], #1\n\t"                                                                       \
    "smmlar %[t], %[" acc "], %[" m "], %[t]\n\t"                                                                \
    "asr    %[" acc "], %[t], %[" e "]\n\t"                                                                       \
    "ssat   %[" acc "], #8, %[" acc "]\n\t"

/* The column pair's output constants: mult in xa, xb; h = (2 z + 1) << ~s in v, vb; e = -s in w, wb (the
 * pointers advanced in the loop record). */
#define ECNN_GEMM3_CONSTS                                                                                         \
    "ldr    %[s], %[sms4]\n\t"                                                                                    \
    "ldr    %[v], %[smult]\n\t"                                                                                   \
    "ldr    %[xa], [%[v]]\n\t"                                                                                    \
    "ldr    %[xb], [%[v], %[s]]\n\t"                                                                              \
    "add    %[v], %[v], %[s], lsl #1\n\t"                                                                         \
    "str    %[v], %[smult]\n\t"                                                                                   \
    "ldr    %[v], %[sshift]\n\t"                                                                                  \
    "ldr    %[w], [%[v]]\n\t"                                                                                     \
    "ldr    %[wb], [%[v], %[s]]\n\t"                                                                              \
    "add    %[v], %[v], %[s], lsl #1\n\t"                                                                         \
    "str    %[v], %[sshift]\n\t"                                                                                  \
    "ldr    %[s], %[soo21]\n\t"                                                                                   \
    "mvn    %[v], %[w]\n\t"                                                                                       \
    "lsl    %[v], %[s], %[v]\n\t"                                                                                 \
    "rsb    %[w], %[w], #0\n\t"                                                                                   \
    "mvn    %[vb], %[wb]\n\t"                                                                                     \
    "lsl    %[vb], %[s], %[vb]\n\t"                                                                               \
    "rsb    %[wb], %[wb], #0\n\t"

/* Per column pair: the bias pair, (n / 4) / nb passes of nb unrolled blocks, the pair's mult and shift,
 * h = (2 z + 1) << ~s, e = -s, the six rq_smlal (SMMLAR) and SSAT, the stores. Same operations and results as
 * x16_cols_sat4 (ecnn_conv_dsp.h), three rows at a time. */
#define ECNN_GEMM3_ASM(N, NB)                                                                                     \
    "0:\n\t"                                                                                                      \
    "ldr    %[t], %[sf]\n\t"                                                                                      \
    "ldr    %[s], %[sxs]\n\t"                                                                                     \
    "ldr    %[v], %[sbias]\n\t"                                                                                   \
    "ldrd   %[a0], %[b0], [%[v]], #8\n\t"                                                                         \
    "str    %[v], %[sbias]\n\t"                                                                                   \
    "mov    %[a1], %[a0]\n\t"                                                                                     \
    "mov    %[b1], %[b0]\n\t"                                                                                     \
    "mov    %[a2], %[a0]\n\t"                                                                                     \
    "mov    %[b2], %[b0]\n\t"                                                                                     \
    ".if (" N " / 4) > " NB "\n\t"                                                                                \
    "add    %[v], %[t], #" N "\n\t"                                                                               \
    "str    %[v], %[sfend]\n\t"                                                                                   \
    ".endif\n\t"                                                                                                  \
    "1:\n\t"                                                                                                      \
    ".set   .Lecnn_o, 0\n\t"                                                                                      \
    ".rept  " NB "\n\t"                                                                                           \
    "ldr    %[w], [%[t], #.Lecnn_o]\n\t"                                                                          \
    "ldr    %[v], [%[t], #(" N " + .Lecnn_o)]\n\t"                                                                \
    "sxtb16 %[wb], %[w], ror #8\n\t"                                                                              \
    "sxtb16 %[w], %[w]\n\t"                                                                                       \
    "sxtb16 %[vb], %[v], ror #8\n\t"                                                                              \
    "sxtb16 %[v], %[v]\n\t"                                                                                       \
    ECNN_GEMM3_ROW("0", "a0", "b0") ECNN_GEMM3_ROW("8", "a1", "b1") ECNN_GEMM3_ROW("16", "a2", "b2")              \
    ".set   .Lecnn_o, .Lecnn_o + 4\n\t"                                                                           \
    ".endr\n\t"                                                                                                   \
    ".if (" N " / 4) > " NB "\n\t"                                                                                \
    "add    %[t], %[t], #(4 * " NB ")\n\t"                                                                        \
    "add    %[s], %[s], #(24 * " NB ")\n\t"                                                                       \
    "ldr    %[v], %[sfend]\n\t"                                                                                   \
    "cmp    %[t], %[v]\n\t"                                                                                       \
    "bne    1b\n\t"                                                                                               \
    "add    %[t], %[t], #" N "\n\t"                                                                               \
    ".else\n\t"                                                                                                   \
    "add    %[t], %[t], #(2 * " N ")\n\t"                                                                         \
    ".endif\n\t"                                                                                                  \
    "str    %[t], %[sf]\n\t" /* the next pair's filters */                                                        \
    ECNN_GEMM3_CONSTS                                                                                             \
    ECNN_GEMM3_RQ("a0", "xa", "v", "w") ECNN_GEMM3_RQ("a1", "xa", "v", "w") ECNN_GEMM3_RQ("a2", "xa", "v", "w")   \
    ECNN_GEMM3_RQ("b0", "xb", "vb", "wb") ECNN_GEMM3_RQ("b1", "xb", "vb", "wb")                                   \
    ECNN_GEMM3_RQ("b2", "xb", "vb", "wb")                                                                         \
    "ldr    %[v], %[sy]\n\t"                                                                                      \
    "ldr    %[w], %[systride]\n\t"                                                                                \
    "strb   %[a0], [%[v]]\n\t"                                                                                    \
    "strb   %[b0], [%[v], #1]\n\t"                                                                                \
    "add    %[wb], %[v], %[w]\n\t"                                                                                \
    "strb   %[a1], [%[wb]]\n\t"                                                                                   \
    "strb   %[b1], [%[wb], #1]\n\t"                                                                               \
    "strb   %[a2], [%[wb], %[w]]\n\t"                                                                             \
    "add    %[wb], %[wb], %[w]\n\t"                                                                               \
    "strb   %[b2], [%[wb], #1]\n\t"                                                                               \
    "add    %[v], %[v], #2\n\t"                                                                                   \
    "str    %[v], %[sy]\n\t"                                                                                      \
    "ldr    %[w], %[syend]\n\t"                                                                                   \
    "cmp    %[v], %[w]\n\t"                                                                                       \
    "bne    0b\n\t"

/* ECNN_GEMM3P: the same block on the column-pair filter of ecnn_gemm_params.pairs (ecnn_conv_dsp.h's x16_pairs4
 * explains the trick; deploy.engine.ops.gemm_pairs writes it): per column pair and 4 values of depth two words,
 * for the widened words (x[k], x[k+2]) and (x[k+1], x[k+3]), one LDRD. Their raw halfwords L + 256 H go to the
 * accumulators a (A), their SXTB16 halves L to b (B): per 4 values 1 LDRD, 2 SXTB16, 3 LDRD, 12 SMLAD = 18
 * instructions per 24 products (ECNN_GEMM3: 21). After the depth, H = (A - B) >> 8 plus H's bias; L's sums are
 * in b. Rows 1 and 2 are stored at ystride and ystride2 from row 0 (ecnn_gemm runs a last one or two rows as a
 * triple that repeats a row, its outputs stored twice at the same place). */
#define ECNN_GEMM3P_ASM(N, NB)                                                                                    \
    "0:\n\t"                                                                                                      \
    "ldr    %[t], %[sf]\n\t"                                                                                      \
    "ldr    %[s], %[sxs]\n\t"                                                                                     \
    "ldr    %[v], %[sbias]\n\t"                                                                                   \
    "ldr    %[a0], [%[v]], #8\n\t"                                                                                \
    "str    %[v], %[sbias]\n\t"                                                                                   \
    "mov    %[b0], %[a0]\n\t"                                                                                     \
    "mov    %[a1], %[a0]\n\t"                                                                                     \
    "mov    %[b1], %[a0]\n\t"                                                                                     \
    "mov    %[a2], %[a0]\n\t"                                                                                     \
    "mov    %[b2], %[a0]\n\t"                                                                                     \
    ".if (" N " / 4) > " NB "\n\t"                                                                                \
    "add    %[v], %[t], #(2 * " N ")\n\t"                                                                         \
    "str    %[v], %[sfend]\n\t"                                                                                   \
    ".endif\n\t"                                                                                                  \
    "1:\n\t"                                                                                                      \
    ".set   .Lecnn_o, 0\n\t"                                                                                      \
    ".rept  " NB "\n\t"                                                                                           \
    "ldrd   %[w], %[wb], [%[t], #(2 * .Lecnn_o)]\n\t"                                                             \
    "sxtb16 %[v], %[w]\n\t"                                                                                       \
    "sxtb16 %[vb], %[wb]\n\t"                                                                                     \
    ECNN_GEMM3_ROW("0", "a0", "b0") ECNN_GEMM3_ROW("8", "a1", "b1") ECNN_GEMM3_ROW("16", "a2", "b2")              \
    ".set   .Lecnn_o, .Lecnn_o + 4\n\t"                                                                           \
    ".endr\n\t"                                                                                                   \
    ".if (" N " / 4) > " NB "\n\t"                                                                                \
    "add    %[t], %[t], #(8 * " NB ")\n\t"                                                                        \
    "add    %[s], %[s], #(24 * " NB ")\n\t"                                                                       \
    "ldr    %[v], %[sfend]\n\t"                                                                                   \
    "cmp    %[t], %[v]\n\t"                                                                                       \
    "bne    1b\n\t"                                                                                               \
    ".else\n\t"                                                                                                   \
    "add    %[t], %[t], #(2 * " N ")\n\t"                                                                         \
    ".endif\n\t"                                                                                                  \
    "str    %[t], %[sf]\n\t" /* the next pair's filter */                                                         \
    "ldr    %[v], %[sbias]\n\t"                                                                                   \
    "ldr    %[v], [%[v], #-4]\n\t" /* H's bias */                                                                 \
    "sub    %[a0], %[a0], %[b0]\n\t"                                                                              \
    "add    %[a0], %[v], %[a0], asr #8\n\t"                                                                       \
    "sub    %[a1], %[a1], %[b1]\n\t"                                                                              \
    "add    %[a1], %[v], %[a1], asr #8\n\t"                                                                       \
    "sub    %[a2], %[a2], %[b2]\n\t"                                                                              \
    "add    %[a2], %[v], %[a2], asr #8\n\t"                                                                       \
    ECNN_GEMM3_CONSTS                                                                                             \
    ECNN_GEMM3_RQ("b0", "xa", "v", "w") ECNN_GEMM3_RQ("b1", "xa", "v", "w") ECNN_GEMM3_RQ("b2", "xa", "v", "w")   \
    ECNN_GEMM3_RQ("a0", "xb", "vb", "wb") ECNN_GEMM3_RQ("a1", "xb", "vb", "wb")                                   \
    ECNN_GEMM3_RQ("a2", "xb", "vb", "wb")                                                                         \
    "ldr    %[v], %[sy]\n\t"                                                                                      \
    "ldr    %[w], %[systride]\n\t"                                                                                \
    "strb   %[b0], [%[v]]\n\t"                                                                                    \
    "strb   %[a0], [%[v], #1]\n\t"                                                                                \
    "add    %[wb], %[v], %[w]\n\t"                                                                                \
    "strb   %[b1], [%[wb]]\n\t"                                                                                   \
    "strb   %[a1], [%[wb], #1]\n\t"                                                                               \
    "ldr    %[w], %[systride2]\n\t"                                                                               \
    "add    %[wb], %[v], %[w]\n\t"                                                                                \
    "strb   %[b2], [%[wb]]\n\t"                                                                                   \
    "strb   %[a2], [%[wb], #1]\n\t"                                                                               \
    "add    %[v], %[v], #2\n\t"                                                                                   \
    "str    %[v], %[sy]\n\t"                                                                                      \
    "ldr    %[w], %[syend]\n\t"                                                                                   \
    "cmp    %[v], %[w]\n\t"                                                                                       \
    "bne    0b\n\t"

/* The operands of both blocks: the core's 14 registers, the loop record in memory (ystride2: ECNN_GEMM3P's) */
#define ECNN_GEMM3_OPERANDS                                                                                       \
    : [a0] "=&r"(a0), [b0] "=&r"(b0), [a1] "=&r"(a1), [b1] "=&r"(b1), [a2] "=&r"(a2), [b2] "=&r"(b2), [w] "=&r"(w),    \
      [wb] "=&r"(wb), [v] "=&r"(v), [vb] "=&r"(vb), [xa] "=&r"(xa), [xb] "=&r"(xb), [s] "=&r"(s), [t] "=&r"(t)         \
    : [sf] "m"(st.f), [sbias] "m"(st.bias), [smult] "m"(st.mult), [sshift] "m"(st.shift), [sy] "m"(st.y),         \
      [syend] "m"(st.yend), [sxs] "m"(st.xs), [sfend] "m"(st.fend), [systride] "m"(st.ystride), [sms4] "m"(st.ms4), \
      [soo21] "m"(st.oo21), [systride2] "m"(st.ystride2)                                                          \
    : "cc", "memory"

#define ECNN_GEMM3_FN(n) ecnn_gemm3_##n
/* n: the depth (a multiple of 4, 3 n / 2 words fit ecnn_gemm's buffer); nb: blocks per pass, (n / 4) % nb == 0.
 * For a layer with rq_right, act range -128..127 and an even column count (the code generator checks). */
#define ECNN_GEMM3(n, nb)                                                                                         \
    __attribute__((noinline)) static void ecnn_gemm3_##n(const ecnn_gemm_params *p, const uint32_t *xs, int8_t *y) \
    {                                                                                                             \
        ecnn_gemm3_state st;                                                                                      \
        uint32_t a0, b0, a1, b1, a2, b2, w, wb, v, vb, xa, xb, s, t;                                              \
        ecnn_gemm3_init(&st, p, xs, y);                                                                           \
        __asm__ volatile(ECNN_GEMM3_ASM(#n, #nb)                                                                  \
                         ECNN_GEMM3_OPERANDS);                                                            \
    }

#define ECNN_GEMM3P_FN(n) ecnn_gemm3p_##n
/* ECNN_GEMM3 on the column-pair filter p->pairs, for ecnn_gemm only: rows 1 and 2 stored at p->y_stride and
 * p->y_stride2 from row 0 (ecnn_gemm sets both). */
#define ECNN_GEMM3P(n, nb)                                                                                        \
    __attribute__((noinline)) static void ecnn_gemm3p_##n(const ecnn_gemm_params *p, const uint32_t *xs, int8_t *y) \
    {                                                                                                             \
        ecnn_gemm3_state st;                                                                                      \
        uint32_t a0, b0, a1, b1, a2, b2, w, wb, v, vb, xa, xb, s, t;                                              \
        ecnn_gemm3_init(&st, p, xs, y);                                                                           \
        st.f = (const int8_t *)p->pairs;                                                                          \
        st.ystride = p->y_stride;                                                                                 \
        st.ystride2 = p->y_stride2;                                                                               \
        __asm__ volatile(ECNN_GEMM3P_ASM(#n, #nb)                                                                 \
                         ECNN_GEMM3_OPERANDS);                                                            \
    }
#else
#define ECNN_GEMM3_FN(n) 0
#define ECNN_GEMM3(n, nb)
#define ECNN_GEMM3P_FN(n) 0
#define ECNN_GEMM3P(n, nb)
#endif

#endif /* ECNN_GEMM3_H */
