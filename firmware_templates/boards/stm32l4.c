/* edgecnn board port, STM32L4+ (L4R5): HSI16 -> PLL x10 / 2 = 80 MHz (range 1 normal mode), LPUART1 on port G
 * (powered from VDDIO2, which must be declared valid), register level (RM0432). Every wait is bounded: if a
 * step fails, the part stays on the reset MSI 4 MHz and the LPUART divisor follows. */
#include <stdint.h>

#include "board.h"

#define REG(addr) (*(volatile uint32_t *)(addr))
#define RCC_BASE 0x40021000u
#define RCC_CR REG(RCC_BASE + 0x00u)
#define RCC_CFGR REG(RCC_BASE + 0x08u)
#define RCC_PLLCFGR REG(RCC_BASE + 0x0Cu)
#define RCC_AHB2ENR REG(RCC_BASE + 0x4Cu)
#define RCC_APB1ENR1 REG(RCC_BASE + 0x58u)
#define RCC_APB1ENR2 REG(RCC_BASE + 0x5Cu)
#define PWR_CR2 REG(0x40007004u)
#define FLASH_ACR REG(0x40022000u)
#define GPIO_BASE(port) (0x48000000u + 0x400u * (uint32_t)(port))
#define GPIO_MODER(port) REG(GPIO_BASE(port) + 0x00u)
#define GPIO_OSPEEDR(port) REG(GPIO_BASE(port) + 0x08u)
#define GPIO_PUPDR(port) REG(GPIO_BASE(port) + 0x0Cu)
#define GPIO_AFR(port, pin) REG(GPIO_BASE(port) + 0x20u + 4u * ((uint32_t)(pin) / 8u))
#define LPUART_CR1 REG(ECNN_UART_BASE + 0x00u)
#define LPUART_BRR REG(ECNN_UART_BASE + 0x0Cu)
#define LPUART_ISR REG(ECNN_UART_BASE + 0x1Cu)
#define LPUART_ICR REG(ECNN_UART_BASE + 0x20u)
#define LPUART_RDR REG(ECNN_UART_BASE + 0x24u)
#define LPUART_TDR REG(ECNN_UART_BASE + 0x28u)

#define RCC_CR_HSION (1u << 8)
#define RCC_CR_HSIRDY (1u << 10)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)
#define RCC_APB1ENR1_PWREN (1u << 28)
#define RCC_APB1ENR2_LPUART1EN (1u << 0)
#define PWR_CR2_IOSV (1u << 9)
#define FLASH_ACR_PRFTEN (1u << 8)
#define FLASH_ACR_ICEN (1u << 9)
#define FLASH_ACR_DCEN (1u << 10)
#define UART_CR1_UE (1u << 0)
#define UART_CR1_RE (1u << 2)
#define UART_CR1_TE (1u << 3)
#define UART_ISR_ORE (1u << 3)
#define UART_ISR_RXNE (1u << 5)
#define UART_ISR_TXE (1u << 7)
#define FLASH_LATENCY 4u /* 80 MHz in range 1 needs 3 wait states on the L4+; one more costs little */

uint32_t board_clock_hz = 4000000u;
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
    /* PLLSRC = HSI16, PLLM = /1, PLLN = 10 (160 MHz VCO), PLLR = /2 with PLLREN */
    RCC_PLLCFGR = 2u | (0u << 4) | (10u << 8) | (0u << 25) | (1u << 24);
    RCC_CR |= RCC_CR_PLLON;
    if (!wait_bits(&RCC_CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY)) {
        RCC_CR &= ~RCC_CR_PLLON;
        return;
    }
    FLASH_ACR = FLASH_ACR_PRFTEN | FLASH_ACR_ICEN | FLASH_ACR_DCEN | FLASH_LATENCY;
    if (!wait_bits(&FLASH_ACR, 0xFu, FLASH_LATENCY)) {
        return;
    }
    RCC_CFGR = (RCC_CFGR & ~((0xFu << 4) | (7u << 8) | (7u << 11) | 3u)) | 3u; /* AHB, APB1, APB2 /1; SW = PLL */
    if (!wait_bits(&RCC_CFGR, 3u << 2, 3u << 2)) {
        return;
    }
    board_clock_hz = ECNN_CLOCK_HZ;
    uart_clock_hz = ECNN_UART_CLOCK_HZ;
}

static void gpio_af(uint32_t port, uint32_t pin, uint32_t pull)
{
    RCC_AHB2ENR |= 1u << port;
    (void)RCC_AHB2ENR;
    GPIO_AFR(port, pin) = (GPIO_AFR(port, pin) & ~(0xFu << (4u * (pin % 8u)))) | (ECNN_UART_AF << (4u * (pin % 8u)));
    GPIO_OSPEEDR(port) |= 2u << (2u * pin);
    GPIO_PUPDR(port) = (GPIO_PUPDR(port) & ~(3u << (2u * pin))) | (pull << (2u * pin));
    GPIO_MODER(port) = (GPIO_MODER(port) & ~(3u << (2u * pin))) | (2u << (2u * pin));
}

void board_uart_init(void)
{
    RCC_APB1ENR1 |= RCC_APB1ENR1_PWREN;
    (void)RCC_APB1ENR1;
    PWR_CR2 |= PWR_CR2_IOSV; /* PG2..PG15 are supplied by VDDIO2: declare it valid */
    gpio_af(ECNN_UART_TX_PORT, ECNN_UART_TX_PIN, 0u);
    gpio_af(ECNN_UART_RX_PORT, ECNN_UART_RX_PIN, 1u);
    RCC_APB1ENR2 |= RCC_APB1ENR2_LPUART1EN;
    (void)RCC_APB1ENR2;
    LPUART_CR1 = 0u;
    /* LPUART: BRR = 256 * f_ck / baud (kernel clock: PCLK1, the reset choice) */
    LPUART_BRR = (uint32_t)(((uint64_t)uart_clock_hz * 256u + ECNN_UART_BAUD / 2u) / ECNN_UART_BAUD);
    LPUART_CR1 = UART_CR1_UE | UART_CR1_TE | UART_CR1_RE;
}

void board_uart_putc(uint8_t byte)
{
    while ((LPUART_ISR & UART_ISR_TXE) == 0u) {
    }
    LPUART_TDR = byte;
}

int board_uart_getc(void)
{
    for (;;) {
        uint32_t isr = LPUART_ISR;
        if ((isr & UART_ISR_RXNE) != 0u) {
            return (int)(LPUART_RDR & 0xFFu);
        }
        if ((isr & UART_ISR_ORE) != 0u) {
            LPUART_ICR = UART_ISR_ORE;
        }
    }
}
