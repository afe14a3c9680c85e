/* edgecnn serial link: frame parser with resynchronisation, CRC-16/CCITT-FALSE, frame sender. */
#include "ecnn_link.h"

#include "board.h"

static uint8_t rx_buf[ECNN_LINK_MAX_FRAME];
static size_t rx_len;
static uint32_t bad_frames;

uint16_t ecnn_crc16(const uint8_t *data, size_t len, uint16_t crc)
{
    size_t i;
    int bit;
    for (i = 0; i < len; ++i) {
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (bit = 0; bit < 8; ++bit) {
            if ((crc & 0x8000u) != 0u) {
                crc = (uint16_t)(((uint32_t)crc << 1) ^ 0x1021u);
            } else {
                crc = (uint16_t)((uint32_t)crc << 1);
            }
        }
    }
    return crc;
}

static void drop(size_t count)
{
    size_t i;
    for (i = count; i < rx_len; ++i) {
        rx_buf[i - count] = rx_buf[i];
    }
    rx_len -= count;
}

void ecnn_link_feed(uint8_t byte, ecnn_link_handler handler)
{
    if (rx_len == 0u && byte != ECNN_LINK_SOF) {
        return; /* hunting for a start byte */
    }
    rx_buf[rx_len++] = byte;
    for (;;) {
        size_t skip = 0u;
        uint16_t len;
        uint16_t crc;
        while (skip < rx_len && rx_buf[skip] != ECNN_LINK_SOF) {
            ++skip;
        }
        if (skip > 0u) {
            drop(skip);
        }
        if (rx_len < 3u) {
            return;
        }
        len = (uint16_t)(rx_buf[1] | (rx_buf[2] << 8));
        if (len == 0u || len > ECNN_LINK_MAX_PAYLOAD) {
            ++bad_frames;
            drop(1u);
            continue;
        }
        if (rx_len < (size_t)len + 5u) {
            return;
        }
        crc = (uint16_t)(rx_buf[3u + len] | (rx_buf[4u + len] << 8));
        if (ecnn_crc16(&rx_buf[1], (size_t)len + 2u, 0xFFFFu) != crc) {
            ++bad_frames;
            drop(1u);
            continue;
        }
        handler(&rx_buf[3], len);
        drop((size_t)len + 5u);
    }
}

void ecnn_link_send(const uint8_t *payload, uint16_t len)
{
    uint8_t head[3];
    uint16_t crc;
    uint16_t i;
    head[0] = ECNN_LINK_SOF;
    head[1] = (uint8_t)(len & 0xFFu);
    head[2] = (uint8_t)(len >> 8);
    crc = ecnn_crc16(&head[1], 2u, 0xFFFFu);
    crc = ecnn_crc16(payload, len, crc);
    for (i = 0; i < 3u; ++i) {
        board_uart_putc(head[i]);
    }
    for (i = 0; i < len; ++i) {
        board_uart_putc(payload[i]);
    }
    board_uart_putc((uint8_t)(crc & 0xFFu));
    board_uart_putc((uint8_t)(crc >> 8));
}

uint32_t ecnn_link_bad_frames(void)
{
    return bad_frames;
}
