/* edgecnn Cortex-M start-up: vector table, reset handler (.data copy, .bss clear, FPU on), fault handlers.
 *
 * Plain C, no assembly file: the vector table is an array placed in .isr_vector by the linker script,
 * whose first word is the initial stack pointer. Works on ARMv6-M, ARMv7-M and ARMv8-M (secure state).
 */
#include <stdint.h>

#include "board.h"

extern uint32_t __data_load__[];
extern uint32_t __data_start__[];
extern uint32_t __data_end__[];
extern uint32_t __bss_start__[];
extern uint32_t __bss_end__[];
extern uint32_t __stack_top__[];

int main(void);
void Reset_Handler(void);
void Default_Handler(void);

/* Called when main returns (verify builds exit QEMU through semihosting) and on a fault. Weak: a board
 * port may override them, e.g. to blink an LED. */
__attribute__((weak, noreturn)) void board_exit(int status)
{
    (void)status;
    for (;;) {
    }
}

__attribute__((weak, noreturn)) void board_fault(uint32_t ipsr)
{
    (void)ipsr;
    for (;;) {
    }
}

/* Clock set-up before main; a board port (boards/<family>.c) overrides it. */
__attribute__((weak)) void board_init(void)
{
}

void Default_Handler(void)
{
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    board_fault(ipsr & 0x1ffu);
}

void NMI_Handler(void) __attribute__((weak, alias("Default_Handler")));
void HardFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void MemManage_Handler(void) __attribute__((weak, alias("Default_Handler")));
void BusFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void UsageFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SecureFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SVC_Handler(void) __attribute__((weak, alias("Default_Handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("Default_Handler")));
void PendSV_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));

typedef void (*ecnn_vector)(void);

/* 16 system exceptions; interrupts stay disabled in this firmware, so no external vectors are needed. */
__attribute__((section(".isr_vector"), used)) const ecnn_vector ecnn_vector_table[16] = {
    (ecnn_vector)(uintptr_t)__stack_top__,
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    SecureFault_Handler,
    0,
    0,
    0,
    SVC_Handler,
    DebugMon_Handler,
    0,
    PendSV_Handler,
    SysTick_Handler,
};

#define ECNN_SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define ECNN_SCB_VTOR (*(volatile uint32_t *)0xE000ED08u)

void Reset_Handler(void)
{
    uint32_t *src = __data_load__;
    uint32_t *dst = __data_start__;
    while (dst < __data_end__) {
        *dst++ = *src++;
    }
    for (dst = __bss_start__; dst < __bss_end__; ++dst) {
        *dst = 0u;
    }
#if defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__) || defined(__ARM_ARCH_8M_MAIN__) || \
    defined(__ARM_ARCH_8_1M_MAIN__) || defined(ECNN_HAS_VTOR)
    ECNN_SCB_VTOR = (uint32_t)(uintptr_t)ecnn_vector_table;
#endif
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    ECNN_SCB_CPACR |= (0xFu << 20); /* CP10, CP11 full access: the FPU (and Helium) may be used */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    board_init(); /* after .data and .bss: the port records the clock it set in its variables */
    board_exit(main());
}
