/* edgecnn int8 kernels: fixed-point entry points, requantization and copies (in every build). Portable C99, no
 * malloc, no floating point; see ecnn_kernels.h. */
#include "ecnn_internal.h"

int32_t ecnn_srdhm(int32_t a, int32_t b)
{
    return srdhm(a, b);
}

int32_t ecnn_rdpot(int32_t x, int exponent)
{
    return rdpot(x, exponent);
}

int32_t ecnn_mbqm(int32_t x, int32_t multiplier, int shift)
{
    if (multiplier < 0) { /* not a QuantizeMultiplier output; the general form */
        return rdpot(srdhm(shl_wrap(x, shift > 0 ? shift : 0), multiplier), shift > 0 ? 0 : -shift);
    }
    return mbqm(x, multiplier, shift);
}

void ecnn_requantize(const ecnn_requant_params *p, const int8_t *in, int8_t *out)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t v = mbqm((int32_t)in[i] - p->in_zp, p->mult, (int)p->shift) + p->out_zp;
        out[i] = (int8_t)clamp(v, -128, 127);
    }
}

void ecnn_copy(int8_t *dst, const int8_t *src, int32_t n)
{
    if (n > 0 && dst != src) {
        memmove(dst, src, (size_t)n);
    }
}
