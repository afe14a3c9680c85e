/* edgecnn board port, STM32F4 (F401, F411, F446, F405): HSI -> main PLL clock, USART on its GPIO pins,
 * register level (RM0368, RM0383, RM0390, RM0090). The numbers (PLL, flash latency, APB dividers, USART, pins)
 * are in board.h. Every wait is bounded: if the PLL never locks (QEMU models no RCC), the part stays on HSI
 * 16 MHz and the USART divisor follows. */
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
#define USART_SR REG(ECNN_UART_BASE + 0x00u)
#define USART_DR REG(ECNN_UART_BASE + 0x04u)
#define USART_BRR REG(ECNN_UART_BASE + 0x08u)
#define USART_CR1 REG(ECNN_UART_BASE + 0x0Cu)

#define RCC_CR_HSION (1u << 0)
#define RCC_CR_HSIRDY (1u << 1)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)
#define FLASH_ACR_PRFTEN (1u << 8)
#define FLASH_ACR_ICEN (1u << 9)
#define FLASH_ACR_DCEN (1u << 10)
#define USART_SR_RXNE (1u << 5)
#define USART_SR_TXE (1u << 7)
#define USART_CR1_RE (1u << 2)
#define USART_CR1_TE (1u << 3)
#define USART_CR1_UE (1u << 13)

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
        return; /* stays on HSI */
    }
    FLASH_ACR = FLASH_ACR_PRFTEN | FLASH_ACR_ICEN | FLASH_ACR_DCEN | ECNN_FLASH_LATENCY;
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
    gpio_af(ECNN_UART_RX_PORT, ECNN_UART_RX_PIN, 1u); /* pull-up: an unconnected RX reads idle */
    RCC_UART_ENR |= 1u << ECNN_UART_RCC_BIT;
    (void)RCC_UART_ENR;
    USART_CR1 = 0u;
    USART_BRR = (uart_clock_hz + ECNN_UART_BAUD / 2u) / ECNN_UART_BAUD; /* 16x oversampling */
    USART_CR1 = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE;
}

void board_uart_putc(uint8_t byte)
{
    while ((USART_SR & USART_SR_TXE) == 0u) {
    }
    USART_DR = byte;
}

int board_uart_getc(void)
{
    while ((USART_SR & USART_SR_RXNE) == 0u) {
    }
    return (int)(USART_DR & 0xFFu); /* reading SR then DR also clears an overrun */
}
