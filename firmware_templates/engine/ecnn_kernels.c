/* edgecnn int8 kernels: portable C99, no malloc, no floating point. See ecnn_kernels.h. */
#include "ecnn_kernels.h"

#include <string.h>

#define ECNN_INT32_MIN (-2147483647 - 1)
#define ECNN_INT32_MAX 2147483647

/* ---- wrapping and shifting helpers: defined behaviour for every input (UBSan clean) ---- */

static int32_t wrap_add(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

static int32_t wrap_sub(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

static int32_t shl_wrap(int32_t x, int n)
{
    return (int32_t)((uint32_t)x << n);
}

/* Arithmetic shift right, written so that it does not depend on how the compiler shifts negatives. */
static int32_t asr(int32_t x, int n)
{
    return x >= 0 ? (x >> n) : (int32_t)~(~x >> n);
}

static int32_t clamp(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

/* ---- TFLite / gemmlowp fixed point ---- */

int32_t ecnn_srdhm(int32_t a, int32_t b)
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

int32_t ecnn_rdpot(int32_t x, int exponent)
{
    const int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return asr(x, exponent) + (remainder > threshold ? 1 : 0);
}

int32_t ecnn_mbqm(int32_t x, int32_t multiplier, int shift)
{
    const int left = shift > 0 ? shift : 0;
    const int right = shift > 0 ? 0 : -shift;
    return ecnn_rdpot(ecnn_srdhm(shl_wrap(x, left), multiplier), right);
}

/* SaturatingRoundingMultiplyByPOT with a positive exponent: a saturating left shift. */
static int32_t sat_shl(int32_t x, int exponent)
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

/* ---- convolutions ---- */

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
                acc = ecnn_mbqm(acc, p->mult[oc], (int)p->shift[oc]);
                acc += p->out_offset;
                o[oc] = (int8_t)clamp(acc, p->act_min, p->act_max);
            }
        }
    }
}

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
                    acc = ecnn_mbqm(acc, p->mult[oc], (int)p->shift[oc]);
                    acc += p->out_offset;
                    o[oc] = (int8_t)clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

/* ---- fully connected ---- */

void ecnn_fully_connected(const ecnn_fc_params *p, const int8_t *in, int8_t *out)
{
    int32_t b, o, d;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = in + b * p->depth;
        for (o = 0; o < p->out_depth; ++o) {
            const int8_t *w = p->filter + o * p->depth;
            const int32_t k = p->per_channel ? o : 0;
            int32_t acc = 0;
            for (d = 0; d < p->depth; ++d) {
                acc += (int32_t)w[d] * ((int32_t)x[d] + p->in_offset);
            }
            if (p->bias) {
                acc = wrap_add(acc, p->bias[o]);
            }
            acc = ecnn_mbqm(acc, p->mult[k], (int)p->shift[k]);
            acc += p->out_offset;
            out[b * p->out_depth + o] = (int8_t)clamp(acc, p->act_min, p->act_max);
        }
    }
}

/* ---- pooling ---- */

void ecnn_max_pool2d(const ecnn_pool_params *p, const int8_t *in, int8_t *out)
{
    int32_t oy, ox, c, y, x;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t y0 = oy * p->stride_h - p->pad_h;
        const int32_t ys = y0 < 0 ? 0 : y0;
        const int32_t ye = y0 + p->k_h > p->in_h ? p->in_h : y0 + p->k_h;
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t x0 = ox * p->stride_w - p->pad_w;
            const int32_t xs = x0 < 0 ? 0 : x0;
            const int32_t xe = x0 + p->k_w > p->in_w ? p->in_w : x0 + p->k_w;
            int8_t *o = out + (oy * p->out_w + ox) * p->c;
            for (c = 0; c < p->c; ++c) {
                int32_t m = -128;
                for (y = ys; y < ye; ++y) {
                    for (x = xs; x < xe; ++x) {
                        const int32_t v = in[(y * p->in_w + x) * p->c + c];
                        m = v > m ? v : m;
                    }
                }
                o[c] = (int8_t)clamp(m, p->act_min, p->act_max);
            }
        }
    }
}

void ecnn_avg_pool2d(const ecnn_pool_params *p, const int8_t *in, int8_t *out)
{
    int32_t oy, ox, c, y, x;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t y0 = oy * p->stride_h - p->pad_h;
        const int32_t ys = y0 < 0 ? 0 : y0;
        const int32_t ye = y0 + p->k_h > p->in_h ? p->in_h : y0 + p->k_h;
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t x0 = ox * p->stride_w - p->pad_w;
            const int32_t xs = x0 < 0 ? 0 : x0;
            const int32_t xe = x0 + p->k_w > p->in_w ? p->in_w : x0 + p->k_w;
            const int32_t n = (ye - ys) * (xe - xs);
            int8_t *o = out + (oy * p->out_w + ox) * p->c;
            for (c = 0; c < p->c; ++c) {
                int32_t acc = 0;
                for (y = ys; y < ye; ++y) {
                    for (x = xs; x < xe; ++x) {
                        acc += in[(y * p->in_w + x) * p->c + c];
                    }
                }
                if (n > 0) {
                    acc = acc > 0 ? (acc + n / 2) / n : (acc - n / 2) / n;
                }
                o[c] = (int8_t)clamp(acc, p->act_min, p->act_max);
            }
        }
    }
}

/* ---- mean over H and W ---- */

void ecnn_mean_hw(const ecnn_mean_params *p, const int8_t *in, int8_t *out)
{
    int32_t b, c, i;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = in + b * p->count * p->c;
        for (c = 0; c < p->c; ++c) {
            int32_t sum = 0;
            int32_t lo = 0;
            int32_t hi = p->n_thresholds;
            for (i = 0; i < p->count; ++i) {
                sum += x[i * p->c + c];
            }
            /* number of thresholds <= sum: first index whose threshold exceeds sum */
            while (lo < hi) {
                const int32_t mid = lo + (hi - lo) / 2;
                if (p->thresholds[mid] <= sum) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            out[b * p->c + c] = (int8_t)(p->base + lo);
        }
    }
}

/* ---- add ---- */

void ecnn_add(const ecnn_add_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t a = shl_wrap((int32_t)in1[i] + p->in1_offset, (int)p->left_shift);
        const int32_t b = shl_wrap((int32_t)in2[i] + p->in2_offset, (int)p->left_shift);
        const int32_t sa = ecnn_rdpot(ecnn_srdhm(a, p->in1_mult), (int)-p->in1_shift);
        const int32_t sb = ecnn_rdpot(ecnn_srdhm(b, p->in2_mult), (int)-p->in2_shift);
        const int32_t sum = wrap_add(sa, sb);
        const int32_t r = ecnn_rdpot(ecnn_srdhm(sum, p->out_mult), (int)-p->out_shift) + p->out_offset;
        out[i] = (int8_t)clamp(r, p->act_min, p->act_max);
    }
}

/* ---- softmax: gemmlowp fixed point, as TFLite's reference int8 softmax ---- */

/* exp(x) for x in [-1/4, 0), Q0.31 in and out */
static int32_t exp_quarter(int32_t a)
{
    const int32_t constant_term = 1895147668;     /* exp(-1/8) */
    const int32_t constant_1_over_3 = 715827883;
    const int32_t x = wrap_add(a, (int32_t)1 << 28);
    const int32_t x2 = ecnn_srdhm(x, x);
    const int32_t x3 = ecnn_srdhm(x2, x);
    const int32_t x4 = ecnn_srdhm(x2, x2);
    const int32_t x4_over_4 = ecnn_rdpot(x4, 2);
    const int32_t poly = ecnn_rdpot(wrap_add(ecnn_srdhm(wrap_add(x4_over_4, x3), constant_1_over_3), x2), 1);
    return wrap_add(constant_term, ecnn_srdhm(constant_term, wrap_add(x, poly)));
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
            result = ecnn_srdhm(result, multipliers[k]);
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
    int32_t x = wrap_add(c48_17, ecnn_srdhm(half_den, cneg32_17));
    int i;
    for (i = 0; i < 3; ++i) {
        const int32_t hdx = ecnn_srdhm(half_den, x);
        const int32_t one_minus = wrap_sub((int32_t)1 << 29, hdx);
        x = wrap_add(x, sat_shl(ecnn_srdhm(x, one_minus), 2));
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
                const int32_t scaled = ecnn_srdhm(shl_wrap(diff, (int)p->input_left_shift), p->input_multiplier);
                sum = wrap_add(sum, ecnn_rdpot(exp_negative(scaled), 12));
            }
        }
        headroom = clz32((uint32_t)sum);
        bits_over_unit = 12 - headroom;
        scale = one_over_one_plus_x((int32_t)(((uint32_t)sum << headroom) - ((uint32_t)1 << 31)));
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in;
            int32_t v = -128;
            if (diff >= p->diff_min) {
                const int32_t scaled = ecnn_srdhm(shl_wrap(diff, (int)p->input_left_shift), p->input_multiplier);
                const int32_t e = exp_negative(scaled);
                v = ecnn_rdpot(ecnn_srdhm(scale, e), bits_over_unit + 31 - 8) - 128;
                v = clamp(v, -128, 127);
            }
            o[c] = (int8_t)v;
        }
    }
}

/* ---- data movement ---- */

void ecnn_pad(const ecnn_pad_params *p, const int8_t *in, int8_t *out)
{
    int32_t y, x, c;
    for (y = 0; y < p->out_h; ++y) {
        const int32_t iy = y - p->pad_top;
        for (x = 0; x < p->out_w; ++x) {
            const int32_t ix = x - p->pad_left;
            const int inside = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w;
            int8_t *o = out + (y * p->out_w + x) * p->out_c;
            for (c = 0; c < p->out_c; ++c) {
                const int32_t icc = c - p->pad_front;
                o[c] = (inside && icc >= 0 && icc < p->in_c) ? in[(iy * p->in_w + ix) * p->in_c + icc]
                                                             : (int8_t)p->value;
            }
        }
    }
}

void ecnn_concat(int32_t outer, int32_t n_inputs, const int32_t *inner, const int8_t *const *ins, int8_t *out)
{
    int32_t o, j, i;
    for (o = 0; o < outer; ++o) {
        for (j = 0; j < n_inputs; ++j) {
            const int8_t *src = ins[j] + o * inner[j];
            for (i = 0; i < inner[j]; ++i) {
                *out++ = src[i];
            }
        }
    }
}

void ecnn_requantize(const ecnn_requant_params *p, const int8_t *in, int8_t *out)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t v = ecnn_mbqm((int32_t)in[i] - p->in_zp, p->mult, (int)p->shift) + p->out_zp;
        out[i] = (int8_t)clamp(v, -128, 127);
    }
}

void ecnn_copy(int8_t *dst, const int8_t *src, int32_t n)
{
    if (n > 0 && dst != src) {
        memmove(dst, src, (size_t)n);
    }
}
