/* edgecnn ARM semihosting (bkpt 0xab): host files and exit codes for firmware running under QEMU or a debugger.
 *
 * Only for emulation and debug probes: on a board with no debugger attached, bkpt 0xab faults.
 */
#ifndef ECNN_SEMIHOST_H
#define ECNN_SEMIHOST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ECNN_SH_MODE_RB 1 /* fopen "rb" */
#define ECNN_SH_MODE_WB 5 /* fopen "wb" */

int ecnn_sh_open(const char *name, int mode);          /* handle, or -1 */
int ecnn_sh_close(int handle);                          /* 0 on success */
size_t ecnn_sh_read(int handle, void *buf, size_t len); /* bytes read */
int ecnn_sh_write(int handle, const void *buf, size_t len); /* 0 when every byte was written */
void ecnn_sh_puts(const char *text);                    /* to QEMU's stderr/console */
__attribute__((noreturn)) void ecnn_sh_exit(int status); /* ends the emulation with this exit status */

#ifdef __cplusplus
}
#endif

#endif /* ECNN_SEMIHOST_H */
