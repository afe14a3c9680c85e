/* edgecnn board UART: weak byte I/O for the serial firmware (CMSDK APB UART on the MPS2/MPS3 boards) and
 * a weak cycle counter. Override board_uart_init/putc/getc and board_cycles_* for another board. */
#include <stdint.h>

#include "board.h"

#ifdef ECNN_UART_CMSDK_BASE
#define UART_DATA (*(volatile uint32_t *)(ECNN_UART_CMSDK_BASE + 0x00u))
#define UART_STATE (*(volatile uint32_t *)(ECNN_UART_CMSDK_BASE + 0x04u))
#define UART_CTRL (*(volatile uint32_t *)(ECNN_UART_CMSDK_BASE + 0x08u))
#define UART_BAUDDIV (*(volatile uint32_t *)(ECNN_UART_CMSDK_BASE + 0x10u))
#define UART_STATE_TX_FULL 0x1u
#define UART_STATE_RX_FULL 0x2u
#endif

__attribute__((weak)) void board_uart_init(void)
{
#ifdef ECNN_UART_CMSDK_BASE
    UART_BAUDDIV = 16u; /* the smallest divisor the CMSDK UART accepts; QEMU ignores the rate */
    UART_CTRL = 0x3u;   /* TX and RX enabled, no interrupts */
#endif
}

__attribute__((weak)) void board_uart_putc(uint8_t byte)
{
#ifdef ECNN_UART_CMSDK_BASE
    while ((UART_STATE & UART_STATE_TX_FULL) != 0u) {
    }
    UART_DATA = byte;
#else
    (void)byte;
#endif
}

__attribute__((weak)) int board_uart_getc(void)
{
#ifdef ECNN_UART_CMSDK_BASE
    while ((UART_STATE & UART_STATE_RX_FULL) == 0u) {
    }
    return (int)(UART_DATA & 0xFFu);
#else
    for (;;) {
    }
#endif
}

/* The DWT cycle counter exists on ARMv7-M and ARMv8-M mainline cores (not on ARMv6-M, which counts with
 * SysTick below); build with -DECNN_USE_DWT=0 for a core that lacks it. QEMU reads the DWT as 0, which the host
 * reports as "no counter". */
#ifndef ECNN_USE_DWT
#if defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__) || defined(__ARM_ARCH_8M_MAIN__) || \
    defined(__ARM_ARCH_8_1M_MAIN__)
#define ECNN_USE_DWT 1
#else
#define ECNN_USE_DWT 0
#endif
#endif

#if ECNN_USE_DWT
#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define DWT_LAR (*(volatile uint32_t *)0xE0001FB0u)

__attribute__((weak)) void board_cycles_start(void)
{
    DEMCR |= (1u << 24);     /* TRCENA */
    DWT_LAR = 0xC5ACCE55u;   /* unlock (Cortex-M7); ignored where there is no lock */
    DWT_CYCCNT = 0u;
    DWT_CTRL |= 1u;          /* CYCCNTENA */
}

__attribute__((weak)) uint32_t board_cycles_read(void)
{
    return DWT_CYCCNT;
}
#else
/* ARMv6-M: SysTick (24 bits, core clock) with its wrap interrupt counting the upper bits. A part without
 * SysTick (the nRF51) overrides board_cycles_* in its port. */
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

static volatile uint32_t systick_wraps;

void SysTick_Handler(void);

void SysTick_Handler(void)
{
    ++systick_wraps;
}

__attribute__((weak)) void board_cycles_start(void)
{
    SYST_CSR = 0u;
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0u;
    systick_wraps = 0u;
    SYST_CSR = (1u << 2) | (1u << 1) | 1u; /* core clock, interrupt on wrap, enabled */
}

__attribute__((weak)) uint32_t board_cycles_read(void)
{
    uint32_t wraps;
    uint32_t value;
    do {
        wraps = systick_wraps;
        value = SYST_CVR;
    } while (wraps != systick_wraps);
    return (wraps << 24) + (0xFFFFFFu - value);
}
#endif
