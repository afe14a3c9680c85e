/* edgecnn ARM semihosting calls, implemented with bkpt 0xab (no newlib rdimon needed). */
#include "semihost.h"

#include <stdint.h>

#define SYS_OPEN 0x01
#define SYS_CLOSE 0x02
#define SYS_WRITE0 0x04
#define SYS_WRITE 0x05
#define SYS_READ 0x06
#define SYS_EXIT 0x18
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static int32_t ecnn_sh_call(int32_t op, const void *arg)
{
    register int32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static size_t ecnn_strlen(const char *s)
{
    size_t n = 0;
    while (s[n] != '\0') {
        ++n;
    }
    return n;
}

int ecnn_sh_open(const char *name, int mode)
{
    uint32_t args[3];
    args[0] = (uint32_t)(uintptr_t)name;
    args[1] = (uint32_t)mode;
    args[2] = (uint32_t)ecnn_strlen(name);
    return (int)ecnn_sh_call(SYS_OPEN, args);
}

int ecnn_sh_close(int handle)
{
    uint32_t args[1];
    args[0] = (uint32_t)handle;
    return (int)ecnn_sh_call(SYS_CLOSE, args);
}

size_t ecnn_sh_read(int handle, void *buf, size_t len)
{
    uint32_t args[3];
    int32_t left;
    args[0] = (uint32_t)handle;
    args[1] = (uint32_t)(uintptr_t)buf;
    args[2] = (uint32_t)len;
    left = ecnn_sh_call(SYS_READ, args); /* returns the number of bytes NOT read */
    if (left < 0 || (size_t)left > len) {
        return 0;
    }
    return len - (size_t)left;
}

int ecnn_sh_write(int handle, const void *buf, size_t len)
{
    uint32_t args[3];
    args[0] = (uint32_t)handle;
    args[1] = (uint32_t)(uintptr_t)buf;
    args[2] = (uint32_t)len;
    return (int)ecnn_sh_call(SYS_WRITE, args);
}

void ecnn_sh_puts(const char *text)
{
    (void)ecnn_sh_call(SYS_WRITE0, text);
}

void ecnn_sh_exit(int status)
{
    uint32_t args[2];
    args[0] = ADP_STOPPED_APPLICATION_EXIT;
    args[1] = (uint32_t)status;
    (void)ecnn_sh_call(SYS_EXIT_EXTENDED, args);
    /* a host without SYS_EXIT_EXTENDED: plain SYS_EXIT (status 0 or 1 only) */
    (void)ecnn_sh_call(SYS_EXIT, (const void *)(uintptr_t)ADP_STOPPED_APPLICATION_EXIT);
    for (;;) {
    }
}

/* Verify builds: leaving main or faulting ends the emulation with a status the host can read. */
void board_exit(int status)
{
    ecnn_sh_exit(status);
}

void board_fault(uint32_t ipsr)
{
    (void)ipsr;
    ecnn_sh_puts("edgecnn: fault exception on the device (stack overflow or bad memory access)\n");
    ecnn_sh_exit(3);
}
