/* edgecnn int8 kernels: data movement: pad, concatenation, transpose. Portable C99, no malloc, no floating point;
 * see ecnn_kernels.h. */
#include "ecnn_internal.h"

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

void ecnn_transpose(const ecnn_transpose_params *p, const int8_t *in, int8_t *out)
{
    int32_t i0, i1, i2, i3, i4;
    for (i0 = 0; i0 < p->dims[0]; ++i0) {
        for (i1 = 0; i1 < p->dims[1]; ++i1) {
            for (i2 = 0; i2 < p->dims[2]; ++i2) {
                for (i3 = 0; i3 < p->dims[3]; ++i3) {
                    const int8_t *src = in + i0 * p->strides[0] + i1 * p->strides[1] + i2 * p->strides[2] +
                                        i3 * p->strides[3];
                    for (i4 = 0; i4 < p->dims[4]; ++i4) {
                        *out++ = src[i4 * p->strides[4]];
                    }
                }
            }
        }
    }
}
