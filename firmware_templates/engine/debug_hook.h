/* edgecnn debug build: force-included (gcc -include) before edgecnn_model.c so that every op's output is
 * dumped by ecnn_debug_dump (debug_dump.c). Not part of the engine; used by deploy.verify_host. */
#ifndef ECNN_DEBUG_HOOK_H
#define ECNN_DEBUG_HOOK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void ecnn_debug_dump(int32_t step, const char *name, const int8_t *data, int32_t nbytes);

#define ECNN_DEBUG_AFTER_OP(step, name, ptr, nbytes) ecnn_debug_dump((step), (name), (ptr), (nbytes))

#ifdef __cplusplus
}
#endif

#endif /* ECNN_DEBUG_HOOK_H */
