/* edgecnn board port, nRF51 (BBC micro:bit v1, nRF51822): 16 MHz crystal started, UART0 on the board's pins at
 * 115200 baud, and TIMER0 at 16 MHz as the cycle counter (the nRF51's Cortex-M0 has neither SysTick nor a
 * DWT cycle counter), register level (nRF51 Series Reference Manual v3.0). */
#include <stdint.h>

#include "board.h"

#define REG(addr) (*(volatile uint32_t *)(addr))
#define CLOCK_TASKS_HFCLKSTART REG(0x40000000u)
#define CLOCK_EVENTS_HFCLKSTARTED REG(0x40000100u)
#define CLOCK_XTALFREQ REG(0x40000550u)
#define GPIO_OUTSET REG(0x50000508u)
#define GPIO_DIRSET REG(0x50000518u)
#define UART_TASKS_STARTRX REG(ECNN_UART_BASE + 0x000u)
#define UART_TASKS_STARTTX REG(ECNN_UART_BASE + 0x008u)
#define UART_EVENTS_RXDRDY REG(ECNN_UART_BASE + 0x108u)
#define UART_EVENTS_TXDRDY REG(ECNN_UART_BASE + 0x11Cu)
#define UART_ENABLE REG(ECNN_UART_BASE + 0x500u)
#define UART_PSELTXD REG(ECNN_UART_BASE + 0x50Cu)
#define UART_PSELRXD REG(ECNN_UART_BASE + 0x514u)
#define UART_RXD REG(ECNN_UART_BASE + 0x518u)
#define UART_TXD REG(ECNN_UART_BASE + 0x51Cu)
#define UART_BAUDRATE REG(ECNN_UART_BASE + 0x524u)
#define UART_CONFIG REG(ECNN_UART_BASE + 0x56Cu)
#define UART_BAUD_115200 0x01D7E000u
#define UART_ENABLE_UART 4u
#define TIMER0_BASE 0x40008000u
#define TIMER0_TASKS_START REG(TIMER0_BASE + 0x000u)
#define TIMER0_TASKS_STOP REG(TIMER0_BASE + 0x004u)
#define TIMER0_TASKS_CLEAR REG(TIMER0_BASE + 0x00Cu)
#define TIMER0_TASKS_CAPTURE0 REG(TIMER0_BASE + 0x040u)
#define TIMER0_MODE REG(TIMER0_BASE + 0x504u)
#define TIMER0_BITMODE REG(TIMER0_BASE + 0x508u)
#define TIMER0_PRESCALER REG(TIMER0_BASE + 0x510u)
#define TIMER0_CC0 REG(TIMER0_BASE + 0x540u)

uint32_t board_clock_hz = ECNN_CLOCK_HZ;

void board_init(void)
{
    uint32_t n;
    CLOCK_XTALFREQ = 0xFFu; /* the micro:bit's crystal is 16 MHz */
    CLOCK_EVENTS_HFCLKSTARTED = 0u;
    CLOCK_TASKS_HFCLKSTART = 1u;
    for (n = 0; n < ECNN_WAIT_LOOPS && CLOCK_EVENTS_HFCLKSTARTED == 0u; ++n) {
    }
}

void board_uart_init(void)
{
    GPIO_OUTSET = 1u << ECNN_UART_TX_PIN;
    GPIO_DIRSET = 1u << ECNN_UART_TX_PIN;
    UART_PSELTXD = ECNN_UART_TX_PIN;
    UART_PSELRXD = ECNN_UART_RX_PIN;
    UART_BAUDRATE = UART_BAUD_115200;
    UART_CONFIG = 0u;
    UART_ENABLE = UART_ENABLE_UART;
    UART_EVENTS_RXDRDY = 0u;
    UART_EVENTS_TXDRDY = 0u;
    UART_TASKS_STARTRX = 1u;
    UART_TASKS_STARTTX = 1u;
}

void board_uart_putc(uint8_t byte)
{
    UART_EVENTS_TXDRDY = 0u;
    UART_TXD = byte;
    while (UART_EVENTS_TXDRDY == 0u) {
    }
}

int board_uart_getc(void)
{
    while (UART_EVENTS_RXDRDY == 0u) {
    }
    UART_EVENTS_RXDRDY = 0u; /* clear before reading RXD: the read moves the next byte in and raises it again */
    return (int)(UART_RXD & 0xFFu);
}

void board_cycles_start(void)
{
    TIMER0_TASKS_STOP = 1u;
    TIMER0_MODE = 0u;      /* timer */
    TIMER0_BITMODE = 3u;   /* 32 bit */
    TIMER0_PRESCALER = 0u; /* 16 MHz: one tick per core clock cycle */
    TIMER0_TASKS_CLEAR = 1u;
    TIMER0_TASKS_START = 1u;
}

uint32_t board_cycles_read(void)
{
    TIMER0_TASKS_CAPTURE0 = 1u;
    return TIMER0_CC0;
}
