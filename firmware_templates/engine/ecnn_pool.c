/* edgecnn int8 kernels: pooling and the spatial mean. Portable C99, no malloc, no floating point; see
 * ecnn_kernels.h. */
#include "ecnn_internal.h"

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
            c = 0;
#if defined(ECNN_DOT_DSP)
            if (n <= 255) { /* four channels a word: two SXTAB16 into int16 lanes (|sum| <= 255 * 128 < 2^15) */
                int32_t sums[4];
                for (; c + 4 <= p->c; c += 4) {
                    uint32_t ev = 0, od = 0;
                    int32_t k;
                    for (y = ys; y < ye; ++y) {
                        const int8_t *r = in + (y * p->in_w) * p->c + c;
                        for (x = xs; x < xe; ++x) {
                            const uint32_t w = ecnn_ld32(r + x * p->c);
                            ev = __sxtab16(ev, w);
                            od = ecnn_sxtab16_ror8(od, w);
                        }
                    }
                    sums[0] = (int16_t)(ev & 0xFFFFu);
                    sums[1] = (int16_t)(od & 0xFFFFu);
                    sums[2] = (int16_t)(ev >> 16);
                    sums[3] = (int16_t)(od >> 16);
                    for (k = 0; k < 4; ++k) {
                        const int32_t acc = sums[k] > 0 ? (sums[k] + n / 2) / n : (sums[k] - n / 2) / n;
                        o[c + k] = (int8_t)clamp(acc, p->act_min, p->act_max);
                    }
                }
            }
#endif
            for (; c < p->c; ++c) {
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
            int32_t acc = 0;
            for (i = 0; i < p->count; ++i) {
                acc += (int32_t)x[i * p->c + c] - p->in_zp;
            }
            acc = mbqm(acc, p->mult, (int)p->shift) + p->out_zp;
            out[b * p->c + c] = (int8_t)clamp(acc, -128, 127);
        }
    }
}
