/* edgecnn board port, STM32H7 (H743): LDO supply, VOS1, HSI 64 MHz / 4 -> PLL1 x50 / 2 = 400 MHz core,
 * 200 MHz AXI/AHB, 100 MHz APBs; USART (ISR/RDR/TDR layout) on its GPIO pins, register level (RM0433).
 * Every wait is bounded: if a step fails, the part stays on HSI 64 MHz and the USART divisor follows. */
#include <stdint.h>

#include "board.h"

#define REG(addr) (*(volatile uint32_t *)(addr))
#define RCC_BASE 0x58024400u
#define RCC_CR REG(RCC_BASE + 0x000u)
#define RCC_CFGR REG(RCC_BASE + 0x010u)
#define RCC_D1CFGR REG(RCC_BASE + 0x018u)
#define RCC_D2CFGR REG(RCC_BASE + 0x01Cu)
#define RCC_D3CFGR REG(RCC_BASE + 0x020u)
#define RCC_PLLCKSELR REG(RCC_BASE + 0x028u)
#define RCC_PLLCFGR REG(RCC_BASE + 0x02Cu)
#define RCC_PLL1DIVR REG(RCC_BASE + 0x030u)
#define RCC_AHB4ENR REG(RCC_BASE + 0x0E0u)
#define RCC_APB1LENR REG(RCC_BASE + 0x0E8u)
#define PWR_BASE 0x58024800u
#define PWR_CSR1 REG(PWR_BASE + 0x04u)
#define PWR_CR3 REG(PWR_BASE + 0x0Cu)
#define PWR_D3CR REG(PWR_BASE + 0x18u)
#define FLASH_ACR REG(0x52002000u)
#define GPIO_BASE(port) (0x58020000u + 0x400u * (uint32_t)(port))
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

#define PWR_CR3_LDOEN (1u << 1)
#define PWR_CSR1_ACTVOSRDY (1u << 13)
#define PWR_D3CR_VOSRDY (1u << 13)
#define RCC_CR_PLL1ON (1u << 24)
#define RCC_CR_PLL1RDY (1u << 25)
#define USART_CR1_UE (1u << 0)
#define USART_CR1_RE (1u << 2)
#define USART_CR1_TE (1u << 3)
#define USART_ISR_ORE (1u << 3)
#define USART_ISR_RXNE (1u << 5)
#define USART_ISR_TXE (1u << 7)
#define USART3_APB1LEN_BIT 18u

uint32_t board_clock_hz = 64000000u;
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
    PWR_CR3 = PWR_CR3_LDOEN; /* the NUCLEO-H743ZI powers the core from the LDO; write-once after reset */
    if (!wait_bits(&PWR_CSR1, PWR_CSR1_ACTVOSRDY, PWR_CSR1_ACTVOSRDY)) {
        return;
    }
    PWR_D3CR = (PWR_D3CR & ~(3u << 14)) | (3u << 14); /* VOS1: up to 400 MHz */
    if (!wait_bits(&PWR_D3CR, PWR_D3CR_VOSRDY, PWR_D3CR_VOSRDY)) {
        return;
    }
    RCC_PLLCKSELR = (RCC_PLLCKSELR & ~((0x3Fu << 4) | 3u)) | (4u << 4); /* HSI, DIVM1 = 4: 16 MHz in */
    RCC_PLLCFGR = (RCC_PLLCFGR & ~0xFu) | (3u << 2) | (1u << 16) | (1u << 17) | (1u << 18); /* 8-16 MHz, wide VCO */
    RCC_PLL1DIVR = (50u - 1u) | ((2u - 1u) << 9) | ((4u - 1u) << 16) | ((2u - 1u) << 24); /* 800 MHz VCO, P /2 */
    RCC_CR |= RCC_CR_PLL1ON;
    if (!wait_bits(&RCC_CR, RCC_CR_PLL1RDY, RCC_CR_PLL1RDY)) {
        RCC_CR &= ~RCC_CR_PLL1ON;
        return;
    }
    FLASH_ACR = 2u | (2u << 4); /* 2 wait states, WRHIGHFREQ 2: AXI at 200 MHz in VOS1 */
    if (!wait_bits(&FLASH_ACR, 0x3Fu, 2u | (2u << 4))) {
        return;
    }
    RCC_D1CFGR = (4u << 4) | 8u;       /* D1CPRE /1, D1PPRE /2, HPRE /2 */
    RCC_D2CFGR = (4u << 4) | (4u << 8); /* D2PPRE1 /2, D2PPRE2 /2 */
    RCC_D3CFGR = (4u << 4);             /* D3PPRE /2 */
    RCC_CFGR = (RCC_CFGR & ~7u) | 3u;   /* SW = PLL1 */
    if (!wait_bits(&RCC_CFGR, 7u << 3, 3u << 3)) {
        RCC_D1CFGR = 0u;
        RCC_D2CFGR = 0u;
        RCC_D3CFGR = 0u;
        return;
    }
    board_clock_hz = ECNN_CLOCK_HZ;
    uart_clock_hz = ECNN_UART_CLOCK_HZ;
}

static void gpio_af(uint32_t port, uint32_t pin, uint32_t pull)
{
    RCC_AHB4ENR |= 1u << port;
    (void)RCC_AHB4ENR;
    GPIO_AFR(port, pin) = (GPIO_AFR(port, pin) & ~(0xFu << (4u * (pin % 8u)))) | (ECNN_UART_AF << (4u * (pin % 8u)));
    GPIO_OSPEEDR(port) |= 2u << (2u * pin);
    GPIO_PUPDR(port) = (GPIO_PUPDR(port) & ~(3u << (2u * pin))) | (pull << (2u * pin));
    GPIO_MODER(port) = (GPIO_MODER(port) & ~(3u << (2u * pin))) | (2u << (2u * pin));
}

void board_uart_init(void)
{
    gpio_af(ECNN_UART_TX_PORT, ECNN_UART_TX_PIN, 0u);
    gpio_af(ECNN_UART_RX_PORT, ECNN_UART_RX_PIN, 1u);
    RCC_APB1LENR |= 1u << USART3_APB1LEN_BIT;
    (void)RCC_APB1LENR;
    USART_CR1 = 0u;
    USART_BRR = (uart_clock_hz + ECNN_UART_BAUD / 2u) / ECNN_UART_BAUD; /* kernel clock: pclk1 (reset choice) */
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
            USART_ICR = USART_ISR_ORE;
        }
    }
}
