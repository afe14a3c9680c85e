/* edgecnn board port, RP2040 (Raspberry Pi Pico): 12 MHz crystal -> PLL_SYS 1500 MHz / 6 / 2 = 125 MHz for
 * clk_sys and clk_peri, UART0 (PL011) on GP0 (TX) and GP1 (RX), register level (RP2040 datasheet). The cycle
 * counter is SysTick with a wrap count (board_uart.c: the Cortex-M0+ has no DWT cycle counter). boot2 (rp2040_boot2.c)
 * has set up execute-in-place from the QSPI flash before this runs. */
#include <stdint.h>

#include "board.h"

#define REG(addr) (*(volatile uint32_t *)(addr))
#define CLR(addr) (*(volatile uint32_t *)((addr) + 0x3000u)) /* atomic bit-clear alias */
#define RESETS_BASE 0x4000C000u
#define RESETS_RESET REG(RESETS_BASE + 0x0u)
#define RESETS_DONE REG(RESETS_BASE + 0x8u)
#define RESET_IO_BANK0 (1u << 5)
#define RESET_PADS_BANK0 (1u << 8)
#define RESET_PLL_SYS (1u << 12)
#define RESET_UART0 (1u << 22)
#define XOSC_BASE 0x40024000u
#define XOSC_CTRL REG(XOSC_BASE + 0x00u)
#define XOSC_STATUS REG(XOSC_BASE + 0x04u)
#define XOSC_STARTUP REG(XOSC_BASE + 0x0Cu)
#define CLOCKS_BASE 0x40008000u
#define CLK_REF_CTRL REG(CLOCKS_BASE + 0x30u)
#define CLK_REF_SELECTED REG(CLOCKS_BASE + 0x38u)
#define CLK_SYS_CTRL REG(CLOCKS_BASE + 0x3Cu)
#define CLK_SYS_SELECTED REG(CLOCKS_BASE + 0x44u)
#define CLK_PERI_CTRL REG(CLOCKS_BASE + 0x48u)
#define PLL_SYS_BASE 0x40028000u
#define PLL_CS REG(PLL_SYS_BASE + 0x0u)
#define PLL_PWR REG(PLL_SYS_BASE + 0x4u)
#define PLL_FBDIV_INT REG(PLL_SYS_BASE + 0x8u)
#define PLL_PRIM REG(PLL_SYS_BASE + 0xCu)
#define IO_BANK0_GPIO_CTRL(n) REG(0x40014000u + 8u * (n) + 4u)
#define UART_DR REG(ECNN_UART_BASE + 0x000u)
#define UART_FR REG(ECNN_UART_BASE + 0x018u)
#define UART_IBRD REG(ECNN_UART_BASE + 0x024u)
#define UART_FBRD REG(ECNN_UART_BASE + 0x028u)
#define UART_LCR_H REG(ECNN_UART_BASE + 0x02Cu)
#define UART_CR REG(ECNN_UART_BASE + 0x030u)
#define UART_FR_RXFE (1u << 4)
#define UART_FR_TXFF (1u << 5)

uint32_t board_clock_hz = 6000000u; /* the ring oscillator, roughly, until the PLL runs */

static int wait_bits(volatile uint32_t *reg, uint32_t mask, uint32_t want)
{
    uint32_t n;
    for (n = 0; n < ECNN_WAIT_LOOPS; ++n) {
        if ((*reg & mask) == want) {
            return 1;
        }
    }
    return 0;
}

static void unreset(uint32_t bits)
{
    CLR(RESETS_BASE) = bits;
    (void)wait_bits(&RESETS_DONE, bits, bits);
}

void board_init(void)
{
    XOSC_CTRL = 0xAA0u; /* 1-15 MHz range */
    XOSC_STARTUP = 47u; /* ~1 ms at 12 MHz */
    XOSC_CTRL = (0xFABu << 12) | 0xAA0u;
    if (!wait_bits(&XOSC_STATUS, 1u << 31, 1u << 31)) {
        return;
    }
    CLK_SYS_CTRL &= ~1u; /* clk_sys from clk_ref while the PLL changes */
    (void)wait_bits(&CLK_SYS_SELECTED, 1u, 1u);
    CLK_REF_CTRL = 2u; /* clk_ref from XOSC */
    (void)wait_bits(&CLK_REF_SELECTED, 1u << 2, 1u << 2);
    RESETS_RESET |= RESET_PLL_SYS;
    unreset(RESET_PLL_SYS);
    PLL_CS = 1u;           /* REFDIV 1: 12 MHz reference */
    PLL_FBDIV_INT = 125u;  /* VCO 1500 MHz */
    CLR(PLL_SYS_BASE + 0x4u) = (1u << 0) | (1u << 5); /* power up the PLL and its VCO */
    if (!wait_bits(&PLL_CS, 1u << 31, 1u << 31)) {
        return;
    }
    PLL_PRIM = (6u << 16) | (2u << 12); /* /6 /2: 125 MHz */
    CLR(PLL_SYS_BASE + 0x4u) = 1u << 3; /* post dividers on */
    CLK_SYS_CTRL = (CLK_SYS_CTRL & ~(7u << 5)) | (0u << 5); /* aux source: PLL_SYS */
    CLK_SYS_CTRL |= 1u;                                       /* clk_sys from aux */
    if (!wait_bits(&CLK_SYS_SELECTED, 2u, 2u)) {
        return;
    }
    CLK_PERI_CTRL = (1u << 11) | (0u << 5); /* enabled, from clk_sys */
    board_clock_hz = ECNN_CLOCK_HZ;
}

void board_uart_init(void)
{
    uint32_t div = (8u * ECNN_UART_CLOCK_HZ) / ECNN_UART_BAUD;
    unreset(RESET_IO_BANK0 | RESET_PADS_BANK0 | RESET_UART0);
    IO_BANK0_GPIO_CTRL(0u) = 2u; /* GP0: UART0 TX */
    IO_BANK0_GPIO_CTRL(1u) = 2u; /* GP1: UART0 RX */
    UART_IBRD = div >> 7;
    UART_FBRD = ((div & 0x7Fu) + 1u) / 2u;
    UART_LCR_H = (3u << 5) | (1u << 4); /* 8N1, FIFOs on (also latches the divisor) */
    UART_CR = (1u << 0) | (1u << 8) | (1u << 9); /* UARTEN, TXE, RXE */
}

void board_uart_putc(uint8_t byte)
{
    while ((UART_FR & UART_FR_TXFF) != 0u) {
    }
    UART_DR = byte;
}

int board_uart_getc(void)
{
    while ((UART_FR & UART_FR_RXFE) != 0u) {
    }
    return (int)(UART_DR & 0xFFu);
}
