/* edgecnn serial firmware: answers the framed protocol of ecnn_link.h over the board UART
 * (query model info, load input, invoke, read output, read timing). Never returns.
 */
#include <stdint.h>

#include "board.h"
#include "ecnn_link.h"
#include "edgecnn_model.h"

void ecnn_mark_end(void);

__attribute__((noinline)) void ecnn_mark_end(void)
{
    __asm__ volatile("" ::: "memory");
}

static int8_t input[ECNN_INPUT_SIZE];
static int8_t output[ECNN_OUTPUT_SIZE];
static uint8_t reply[ECNN_LINK_MAX_PAYLOAD];
static uint32_t invocations;
static uint32_t last_cycles;

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint16_t put_u32(uint16_t at, uint32_t v)
{
    reply[at] = (uint8_t)(v & 0xFFu);
    reply[at + 1u] = (uint8_t)((v >> 8) & 0xFFu);
    reply[at + 2u] = (uint8_t)((v >> 16) & 0xFFu);
    reply[at + 3u] = (uint8_t)(v >> 24);
    return (uint16_t)(at + 4u);
}

static uint16_t put_u16(uint16_t at, uint32_t v)
{
    reply[at] = (uint8_t)(v & 0xFFu);
    reply[at + 1u] = (uint8_t)((v >> 8) & 0xFFu);
    return (uint16_t)(at + 2u);
}

static uint16_t put_str(uint16_t at, const char *s)
{
    uint16_t n = 0;
    while (s[n] != '\0' && n < 32u) {
        reply[at + 1u + n] = (uint8_t)s[n];
        ++n;
    }
    reply[at] = (uint8_t)n;
    return (uint16_t)(at + 1u + n);
}

static uint8_t handle(uint8_t cmd, const uint8_t *arg, uint16_t n, uint16_t *len)
{
    uint16_t at = *len;
    uint32_t offset;
    uint32_t count;
    uint32_t i;
    int rc;
    switch (cmd) {
    case ECNN_CMD_INFO:
        reply[at++] = ECNN_LINK_VERSION;
        at = put_u32(at, ECNN_INPUT_SIZE);
        at = put_u32(at, ECNN_OUTPUT_SIZE);
        at = put_u16(at, ECNN_NUM_CLASSES);
        at = put_u32(at, ECNN_PEAK_RAM_BYTES);
        at = put_u32(at, ECNN_WEIGHT_BYTES);
        at = put_u16(at, ECNN_LINK_MAX_CHUNK);
        at = put_str(at, ECNN_BOARD_NAME);
        at = put_str(at, ECNN_CPU_NAME);
        break;
    case ECNN_CMD_LOAD_INPUT:
        if (n < 4u) {
            return ECNN_STATUS_BAD_ARGUMENT;
        }
        offset = get_u32(arg);
        count = (uint32_t)n - 4u;
        if (offset > ECNN_INPUT_SIZE || count > ECNN_INPUT_SIZE - offset) {
            return ECNN_STATUS_BAD_ARGUMENT;
        }
        for (i = 0; i < count; ++i) {
            input[offset + i] = (int8_t)arg[4u + i];
        }
        break;
    case ECNN_CMD_INVOKE:
        board_cycles_start();
        rc = ecnn_invoke(input, output);
        ecnn_mark_end();
        last_cycles = board_cycles_read();
        ++invocations;
        at = put_u32(at, (uint32_t)rc);
        at = put_u32(at, last_cycles);
        if (rc != 0) {
            *len = at;
            return ECNN_STATUS_ENGINE_ERROR;
        }
        break;
    case ECNN_CMD_READ_OUTPUT:
        if (n != 6u) {
            return ECNN_STATUS_BAD_ARGUMENT;
        }
        offset = get_u32(arg);
        count = (uint32_t)arg[4] | ((uint32_t)arg[5] << 8);
        if (count > ECNN_LINK_MAX_CHUNK || offset > ECNN_OUTPUT_SIZE || count > ECNN_OUTPUT_SIZE - offset) {
            return ECNN_STATUS_BAD_ARGUMENT;
        }
        for (i = 0; i < count; ++i) {
            reply[at++] = (uint8_t)output[offset + i];
        }
        break;
    case ECNN_CMD_TIMING:
        at = put_u32(at, invocations);
        at = put_u32(at, last_cycles);
        break;
    case ECNN_CMD_PING:
        if (n > ECNN_LINK_MAX_PAYLOAD - 3u) {
            return ECNN_STATUS_BAD_ARGUMENT;
        }
        for (i = 0; i < n; ++i) {
            reply[at++] = arg[i];
        }
        break;
    default:
        return ECNN_STATUS_UNKNOWN_COMMAND;
    }
    *len = at;
    return ECNN_STATUS_OK;
}

static void on_frame(const uint8_t *payload, uint16_t len)
{
    uint16_t out_len = 3u;
    if (len < 2u) {
        return; /* no room for cmd and seq: not a request */
    }
    reply[0] = (uint8_t)(payload[0] | ECNN_LINK_REPLY);
    reply[1] = payload[1];
    reply[2] = handle(payload[0], &payload[2], (uint16_t)(len - 2u), &out_len);
    ecnn_link_send(reply, out_len);
}

int main(void)
{
    board_uart_init();
    (void)ecnn_init();
    for (;;) {
        ecnn_link_feed((uint8_t)board_uart_getc(), on_frame);
    }
}
