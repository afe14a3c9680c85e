/* edgecnn int8 kernels: residual blocks (conv 3x3, conv 3x3, add) run line by line in place. Portable C99, no
 * malloc, no floating point; see ecnn_kernels.h. */
#include "ecnn_internal.h"

void ecnn_resblock(const ecnn_resblock_params *p, int8_t *x, int8_t *scratch)
{
    const ecnn_conv_params *a = p->a;
    const ecnn_conv_params *b = p->b;
    const int32_t h = a->in_h;
    const int32_t x_row = a->in_w * a->in_c;  /* one row of X, U and Y */
    const int32_t t_row = a->out_w * a->out_c;
    int8_t *ring = scratch;                   /* T row t lives in slot t % 3 */
    int8_t *u = scratch + 3 * t_row;
    int8_t *window = u + x_row;               /* 2 * 9 * max(in_c of a, in_c of b) bytes: windows */
    const int8_t *rows[3];
    int32_t t;
    for (t = 0; t <= h; ++t) {
        if (t < h) {                          /* T row t from X rows t-1 .. t+1 (padding outside) */
            rows[0] = t > 0 ? x + (t - 1) * x_row : 0;
            rows[1] = x + t * x_row;
            rows[2] = t + 1 < h ? x + (t + 1) * x_row : 0;
            ecnn_conv_row3(a, rows, ring + (t % 3) * t_row, window);
        }
        if (t > 0) {                          /* U row r from T rows r-1 .. r+1, then Y row r over X row r */
            const int32_t r = t - 1;
            int8_t *y = x + r * x_row;
            rows[0] = r > 0 ? ring + ((r + 2) % 3) * t_row : 0;
            rows[1] = ring + (r % 3) * t_row;
            rows[2] = r + 1 < h ? ring + ((r + 1) % 3) * t_row : 0;
            ecnn_conv_row3(b, rows, u, window);
            if (p->x_first) {
                ecnn_add_rows(p->add, y, u, y, x_row);
            } else {
                ecnn_add_rows(p->add, u, y, y, x_row);
            }
        }
    }
}
