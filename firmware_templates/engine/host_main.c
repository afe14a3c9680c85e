/* edgecnn host runner: reads int8 input vectors from a file, runs the engine on each, writes the outputs.
 *
 * usage: host_main INPUTS.bin OUTPUTS.bin
 * INPUTS.bin holds N * ECNN_INPUT_SIZE int8 values back to back; OUTPUTS.bin gets N * ECNN_OUTPUT_SIZE.
 * Exit status: 0 on success, 1 on a usage or I/O error, 2 when the engine reports an error.
 */
#include <stdio.h>
#include <stdint.h>

#include "edgecnn_model.h"

int main(int argc, char **argv)
{
    static int8_t input[ECNN_INPUT_SIZE];
    static int8_t output[ECNN_OUTPUT_SIZE];
    FILE *in;
    FILE *out;
    long n = 0;
    if (argc != 3) {
        fprintf(stderr, "usage: %s INPUTS.bin OUTPUTS.bin\n", argv[0]);
        return 1;
    }
    in = fopen(argv[1], "rb");
    if (!in) {
        fprintf(stderr, "cannot open %s\n", argv[1]);
        return 1;
    }
    out = fopen(argv[2], "wb");
    if (!out) {
        fprintf(stderr, "cannot create %s\n", argv[2]);
        fclose(in);
        return 1;
    }
    if (ecnn_init() != 0) {
        fclose(in);
        fclose(out);
        return 2;
    }
    while (fread(input, 1, sizeof input, in) == sizeof input) {
        if (ecnn_invoke(input, output) != 0) {
            fclose(in);
            fclose(out);
            return 2;
        }
        if (fwrite(output, 1, sizeof output, out) != sizeof output) {
            fprintf(stderr, "cannot write %s\n", argv[2]);
            fclose(in);
            fclose(out);
            return 1;
        }
        ++n;
    }
    fclose(in);
    if (fclose(out) != 0) {
        return 1;
    }
    fprintf(stderr, "%ld inferences\n", n);
    return 0;
}
