/* edgecnn int8 kernels: fully connected. Portable C99, no malloc, no floating point; see ecnn_kernels.h. */
#include "ecnn_internal.h"

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
            acc = mbqm(acc, p->mult[k], (int)p->shift[k]);
            acc += p->out_offset;
            out[b * p->out_depth + o] = (int8_t)clamp(acc, p->act_min, p->act_max);
        }
    }
}
