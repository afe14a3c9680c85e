/* edgecnn int8 kernels: softmax, gemmlowp fixed point as TFLite's reference int8 softmax. Portable C99, no malloc,
 * no floating point; see ecnn_kernels.h. */
#include "ecnn_internal.h"

/* exp(x) for x in [-1/4, 0), Q0.31 in and out */
static int32_t exp_quarter(int32_t a)
{
    const int32_t constant_term = 1895147668;     /* exp(-1/8) */
    const int32_t constant_1_over_3 = 715827883;
    const int32_t x = wrap_add(a, (int32_t)1 << 28);
    const int32_t x2 = srdhm(x, x);
    const int32_t x3 = srdhm(x2, x);
    const int32_t x4 = srdhm(x2, x2);
    const int32_t x4_over_4 = rdpot(x4, 2);
    const int32_t poly = rdpot(wrap_add(srdhm(wrap_add(x4_over_4, x3), constant_1_over_3), x2), 1);
    return wrap_add(constant_term, srdhm(constant_term, wrap_add(x, poly)));
}

/* exp(a) for a <= 0 given in Q5.26; result in Q0.31 */
static int32_t exp_negative(int32_t a)
{
    static const int32_t multipliers[7] = {
        1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242
    };
    const int32_t one_quarter = (int32_t)1 << 24;
    const int32_t a_mod = wrap_sub(a & (one_quarter - 1), one_quarter);
    const int32_t remainder = wrap_sub(a_mod, a);
    int32_t result = exp_quarter(sat_shl(a_mod, 5));
    int k;
    for (k = 0; k < 7; ++k) {
        if (remainder & ((int32_t)1 << (24 + k))) {
            result = srdhm(result, multipliers[k]);
        }
    }
    return a == 0 ? ECNN_INT32_MAX : result;
}

/* 1 / (1 + x) for x in [0, 1), Q0.31 in and out (Newton-Raphson, three steps) */
static int32_t one_over_one_plus_x(int32_t a)
{
    const int64_t sum = (int64_t)a + (int64_t)ECNN_INT32_MAX;
    const int32_t half_den = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    const int32_t c48_17 = 1515870810;
    const int32_t cneg32_17 = -1010580540;
    int32_t x = wrap_add(c48_17, srdhm(half_den, cneg32_17));
    int i;
    for (i = 0; i < 3; ++i) {
        const int32_t hdx = srdhm(half_den, x);
        const int32_t one_minus = wrap_sub((int32_t)1 << 29, hdx);
        x = wrap_add(x, sat_shl(srdhm(x, one_minus), 2));
    }
    return sat_shl(x, 1);
}

static int clz32(uint32_t x)
{
    int n = 0;
    if (x == 0) {
        return 32;
    }
    while (!(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
}

void ecnn_softmax(const ecnn_softmax_params *p, const int8_t *in, int8_t *out)
{
    int32_t r, c;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *x = in + r * p->depth;
        int8_t *o = out + r * p->depth;
        int32_t max_in = -128;
        int32_t sum = 0;
        int headroom, bits_over_unit;
        int32_t scale;
        for (c = 0; c < p->depth; ++c) {
            max_in = x[c] > max_in ? x[c] : max_in;
        }
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in;
            if (diff >= p->diff_min) {
                const int32_t scaled = srdhm(shl_wrap(diff, (int)p->input_left_shift), p->input_multiplier);
                sum = wrap_add(sum, rdpot(exp_negative(scaled), 12));
            }
        }
        headroom = clz32((uint32_t)sum);
        bits_over_unit = 12 - headroom;
        scale = one_over_one_plus_x((int32_t)(((uint32_t)sum << headroom) - ((uint32_t)1 << 31)));
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in;
            int32_t v = -128;
            if (diff >= p->diff_min) {
                const int32_t scaled = srdhm(shl_wrap(diff, (int)p->input_left_shift), p->input_multiplier);
                const int32_t e = exp_negative(scaled);
                v = rdpot(srdhm(scale, e), bits_over_unit + 31 - 8) - 128;
                v = clamp(v, -128, 127);
            }
            o[c] = (int8_t)v;
        }
    }
}
