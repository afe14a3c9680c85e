/* edgecnn board port, STM32F7 (F746): HSI -> main PLL clock, USART (ISR/RDR/TDR layout) on its GPIO pins,
 * register level (RM0385). The numbers (PLL, flash latency, APB dividers, USART, pins) are in board.h. Every
 * wait is bounded: if the PLL never locks, the part stays on HSI 16 MHz and the USART divisor follows. */
#include <stdint.h>

#include "board.h"

#define REG(addr) (*(volatile uint32_t *)(addr))
#define RCC_BASE 0x40023800u
#define RCC_CR REG(RCC_BASE + 0x00u)
#define RCC_PLLCFGR REG(RCC_BASE + 0x04u)
#define RCC_CFGR REG(RCC_BASE + 0x08u)
#define RCC_AHB1ENR REG(RCC_BASE + 0x30u)
#define RCC_UART_ENR REG(RCC_BASE + ECNN_UART_RCC_ENR)
#define FLASH_ACR REG(0x40023C00u)
#define GPIO_BASE(port) (0x40020000u + 0x400u * (uint32_t)(port))
#define GPIO_MODER(port) REG(GPIO_BASE(port) + 0x00u)
#define GPIO_OSPEEDR(port) REG(GPIO_BASE(port) + 0x08u)
#define GPIO_PUPDR(port) REG(GPIO_BASE(port) + 0x0Cu)
#define GPIO_AFR(port, pin) REG(GPIO_BASE(port) + 0x20u + 4u * ((uint32_t)(pin) / 8u))
#define USART_CR1 REG(ECNN_UART_BASE + 0x00u)
#define USART_BRR REG(ECNN_UART_BASE + 0x0Cu)
#define USART_ISR REG(ECNN_UART_BASE + 0x1Cu)
#define USART_ICR REG(ECNN_UART_BASE + 0x20u)
#define USART_RDR REG(ECNN_UART_BASE + 0x24u)
#define USART_TDR REG(ECNN_UART_BASE + 0x28u)

#define RCC_CR_HSION (1u << 0)
#define RCC_CR_HSIRDY (1u << 1)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)
#define FLASH_ACR_PRFTEN (1u << 8)
#define FLASH_ACR_ARTEN (1u << 9)
#define USART_CR1_UE (1u << 0)
#define USART_CR1_RE (1u << 2)
#define USART_CR1_TE (1u << 3)
#define USART_ISR_ORE (1u << 3)
#define USART_ISR_RXNE (1u << 5)
#define USART_ISR_TXE (1u << 7)

uint32_t board_clock_hz = 16000000u;
static uint32_t uart_clock_hz = ECNN_UART_RESET_CLOCK_HZ;

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

void board_init(void)
{
    RCC_CR |= RCC_CR_HSION;
    if (!wait_bits(&RCC_CR, RCC_CR_HSIRDY, RCC_CR_HSIRDY)) {
        return;
    }
    RCC_PLLCFGR = ECNN_PLL_M | (ECNN_PLL_N << 6) | (ECNN_PLL_P_BITS << 16) | (ECNN_PLL_Q << 24) | (2u << 28);
    RCC_CR |= RCC_CR_PLLON;
    if (!wait_bits(&RCC_CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY)) {
        RCC_CR &= ~RCC_CR_PLLON;
        return;
    }
    FLASH_ACR = FLASH_ACR_PRFTEN | FLASH_ACR_ARTEN | ECNN_FLASH_LATENCY;
    if (!wait_bits(&FLASH_ACR, 0xFu, ECNN_FLASH_LATENCY)) {
        return;
    }
    RCC_CFGR = (RCC_CFGR & ~((0xFu << 4) | (7u << 10) | (7u << 13))) | (ECNN_PPRE1_BITS << 10) |
               (ECNN_PPRE2_BITS << 13);
    RCC_CFGR = (RCC_CFGR & ~3u) | 2u; /* SW = PLL */
    if (!wait_bits(&RCC_CFGR, 0xCu, 0x8u)) {
        RCC_CFGR &= ~((7u << 10) | (7u << 13) | 3u);
        return;
    }
    board_clock_hz = ECNN_CLOCK_HZ;
    uart_clock_hz = ECNN_UART_CLOCK_HZ;
}

static void gpio_af(uint32_t port, uint32_t pin, uint32_t pull)
{
    RCC_AHB1ENR |= 1u << port;
    (void)RCC_AHB1ENR;
    GPIO_AFR(port, pin) = (GPIO_AFR(port, pin) & ~(0xFu << (4u * (pin % 8u)))) | (ECNN_UART_AF << (4u * (pin % 8u)));
    GPIO_OSPEEDR(port) |= 2u << (2u * pin);
    GPIO_PUPDR(port) = (GPIO_PUPDR(port) & ~(3u << (2u * pin))) | (pull << (2u * pin));
    GPIO_MODER(port) = (GPIO_MODER(port) & ~(3u << (2u * pin))) | (2u << (2u * pin));
}

void board_uart_init(void)
{
    gpio_af(ECNN_UART_TX_PORT, ECNN_UART_TX_PIN, 0u);
    gpio_af(ECNN_UART_RX_PORT, ECNN_UART_RX_PIN, 1u);
    RCC_UART_ENR |= 1u << ECNN_UART_RCC_BIT;
    (void)RCC_UART_ENR;
    USART_CR1 = 0u;
    USART_BRR = (uart_clock_hz + ECNN_UART_BAUD / 2u) / ECNN_UART_BAUD;
    USART_CR1 = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE;
}

void board_uart_putc(uint8_t byte)
{
    while ((USART_ISR & USART_ISR_TXE) == 0u) {
    }
    USART_TDR = byte;
}

int board_uart_getc(void)
{
    for (;;) {
        uint32_t isr = USART_ISR;
        if ((isr & USART_ISR_RXNE) != 0u) {
            return (int)(USART_RDR & 0xFFu);
        }
        if ((isr & USART_ISR_ORE) != 0u) {
            USART_ICR = USART_ISR_ORE; /* the link's CRC and resync recover the lost byte */
        }
    }
}
