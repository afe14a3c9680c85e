/* edgecnn debug build: appends each op's output to the file named by $ECNN_DEBUG_DUMP as records of
 * int32 step, int32 nbytes (host byte order) and the nbytes int8 values. */
#include <stdio.h>
#include <stdlib.h>

#include "debug_hook.h"

void ecnn_debug_dump(int32_t step, const char *name, const int8_t *data, int32_t nbytes)
{
    static FILE *f;
    const char *path = getenv("ECNN_DEBUG_DUMP");
    (void)name;
    if (!path) {
        return;
    }
    if (!f) {
        f = fopen(path, "wb");
        if (!f) {
            return;
        }
    }
    fwrite(&step, sizeof step, 1, f);
    fwrite(&nbytes, sizeof nbytes, 1, f);
    fwrite(data, 1, (size_t)nbytes, f);
    fflush(f);
}
