/* edgecnn serial link: framing shared with the host (deploy/serial_protocol.py; keep the numbers in step).
 *
 * Frame:    0xA5 | len (u16 LE, 1..ECNN_LINK_MAX_PAYLOAD) | payload[len] | crc (u16 LE)
 * CRC:      CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over the two length bytes and the payload.
 * Request:  payload = cmd | seq | arguments
 * Response: payload = cmd|0x80 | seq | status | data
 * Resync:   a frame whose length is out of range or whose CRC is wrong loses only its start byte; the
 *           receiver searches the following bytes for the next 0xA5. A host that lost a reply sends
 *           2 * ECNN_LINK_MAX_FRAME zero bytes (which complete and invalidate any partial frame) and pings.
 * All integers are little-endian.
 */
#ifndef ECNN_LINK_H
#define ECNN_LINK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ECNN_LINK_VERSION 1
#define ECNN_LINK_SOF 0xA5
#define ECNN_LINK_MAX_PAYLOAD 260
#define ECNN_LINK_MAX_FRAME (ECNN_LINK_MAX_PAYLOAD + 5)
#define ECNN_LINK_MAX_CHUNK 240 /* data bytes in one LOAD_INPUT or READ_OUTPUT */
#define ECNN_LINK_REPLY 0x80

#define ECNN_CMD_INFO 0x01        /* -> version u8, input_size u32, output_size u32, classes u16,
                                      peak_ram u32, weight_bytes u32, max_chunk u16, board str8, cpu str8 */
#define ECNN_CMD_LOAD_INPUT 0x02  /* offset u32, bytes -> (nothing) */
#define ECNN_CMD_INVOKE 0x03      /* -> engine status i32, cycles u32 */
#define ECNN_CMD_READ_OUTPUT 0x04 /* offset u32, count u16 -> bytes */
#define ECNN_CMD_TIMING 0x05      /* -> invocations u32, last cycles u32 (0: no cycle counter) */
#define ECNN_CMD_PING 0x06        /* bytes -> the same bytes */

#define ECNN_STATUS_OK 0
#define ECNN_STATUS_UNKNOWN_COMMAND 1
#define ECNN_STATUS_BAD_ARGUMENT 2
#define ECNN_STATUS_ENGINE_ERROR 3

typedef void (*ecnn_link_handler)(const uint8_t *payload, uint16_t len);

uint16_t ecnn_crc16(const uint8_t *data, size_t len, uint16_t crc);
/* Feed one received byte; calls `handler` for each complete, valid frame. */
void ecnn_link_feed(uint8_t byte, ecnn_link_handler handler);
/* Send one frame with the given payload (1..ECNN_LINK_MAX_PAYLOAD bytes). */
void ecnn_link_send(const uint8_t *payload, uint16_t len);
/* Frames dropped for a bad length or CRC since start-up. */
uint32_t ecnn_link_bad_frames(void);

#ifdef __cplusplus
}
#endif

#endif /* ECNN_LINK_H */
