/* edgecnn verify firmware (QEMU): runs the engine on every input in the host file inputs.bin and writes
 * the outputs to outputs.bin, both through ARM semihosting, then exits with status 0.
 *
 * inputs.bin holds N * ECNN_INPUT_SIZE int8 values back to back; outputs.bin gets N * ECNN_OUTPUT_SIZE.
 * Exit status: 0 done, 1 file error, 2 engine error, 3 fault. ecnn_mark_end() follows each ecnn_invoke()
 * so an instruction counter can measure from ecnn_invoke's entry to here.
 */
#include <stdint.h>

#include "board.h"
#include "edgecnn_model.h"
#include "semihost.h"

void ecnn_mark_end(void);

__attribute__((noinline)) void ecnn_mark_end(void)
{
    __asm__ volatile("" ::: "memory");
}

static int8_t input[ECNN_INPUT_SIZE];
static int8_t output[ECNN_OUTPUT_SIZE];

int main(void)
{
    int in;
    int out;
    int rc;
    in = ecnn_sh_open("inputs.bin", ECNN_SH_MODE_RB);
    if (in < 0) {
        ecnn_sh_puts("edgecnn: cannot open inputs.bin\n");
        return 1;
    }
    out = ecnn_sh_open("outputs.bin", ECNN_SH_MODE_WB);
    if (out < 0) {
        ecnn_sh_puts("edgecnn: cannot create outputs.bin\n");
        return 1;
    }
    if (ecnn_init() != 0) {
        return 2;
    }
    while (ecnn_sh_read(in, input, sizeof input) == sizeof input) {
        rc = ecnn_invoke(input, output);
        ecnn_mark_end();
        if (rc != 0) {
            ecnn_sh_puts("edgecnn: ecnn_invoke failed\n");
            return 2;
        }
        if (ecnn_sh_write(out, output, sizeof output) != 0) {
            ecnn_sh_puts("edgecnn: cannot write outputs.bin\n");
            return 1;
        }
    }
    (void)ecnn_sh_close(in);
    return ecnn_sh_close(out) == 0 ? 0 : 1;
}
