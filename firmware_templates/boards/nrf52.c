/* edgecnn board port, nRF52840: HFXO started (64 MHz core from the crystal), UART0 (the non-DMA UART registers)
 * on the board's pins at 115200 baud, register level (nRF52840 Product Specification v1.7). The cycle counter
 * is the DWT's (board_uart.c). */
#include <stdint.h>

#include "board.h"

#define REG(addr) (*(volatile uint32_t *)(addr))
#define CLOCK_TASKS_HFCLKSTART REG(0x40000000u)
#define CLOCK_EVENTS_HFCLKSTARTED REG(0x40000100u)
#define GPIO_PORT(pin) (0x50000000u + 0x300u * ((uint32_t)(pin) >> 5))
#define GPIO_OUTSET(pin) REG(GPIO_PORT(pin) + 0x508u)
#define GPIO_DIRSET(pin) REG(GPIO_PORT(pin) + 0x518u)
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

uint32_t board_clock_hz = ECNN_CLOCK_HZ;

void board_init(void)
{
    uint32_t n;
    CLOCK_EVENTS_HFCLKSTARTED = 0u;
    CLOCK_TASKS_HFCLKSTART = 1u;
    for (n = 0; n < ECNN_WAIT_LOOPS && CLOCK_EVENTS_HFCLKSTARTED == 0u; ++n) {
    }
}

void board_uart_init(void)
{
    GPIO_OUTSET(ECNN_UART_TX_PIN) = 1u << (ECNN_UART_TX_PIN & 31u); /* idle high before the UART takes it */
    GPIO_DIRSET(ECNN_UART_TX_PIN) = 1u << (ECNN_UART_TX_PIN & 31u);
    UART_PSELTXD = ECNN_UART_TX_PIN; /* pin number with the port in bit 5; CONNECT (bit 31) = 0 */
    UART_PSELRXD = ECNN_UART_RX_PIN;
    UART_BAUDRATE = UART_BAUD_115200;
    UART_CONFIG = 0u; /* 8N1, no flow control */
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
