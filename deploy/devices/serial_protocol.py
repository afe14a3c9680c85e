"""The framed serial protocol between the host and the edgecnn serial firmware (host side; the device side is
firmware_templates/cortex_m/ecnn_link.[ch], with the same numbers).

Frame:    0xA5 | len (u16 LE, 1..MAX_PAYLOAD) | payload | CRC-16/CCITT-FALSE (u16 LE) over len and payload
Request:  cmd | seq | arguments              Response: cmd|0x80 | seq | status | data

A frame with a bad length or CRC costs only its start byte: the decoder searches the following bytes for
the next 0xA5, so garbage before a frame or a corrupted frame never hides the next good one. A lost byte
leaves the device waiting inside a frame; the host then times out, sends 2 * MAX_FRAME zero bytes (which
complete and invalidate the partial frame), drains stale replies, pings with a fresh nonce, and retries.
"""
from __future__ import annotations

import os
import struct
import time
from dataclasses import dataclass
from enum import IntEnum

from toolkit.errors import DeviceTimeoutError, ToolchainError

VERSION = 1
SOF = 0xA5
MAX_PAYLOAD = 260
MAX_FRAME = MAX_PAYLOAD + 5
MAX_CHUNK = 240
REPLY = 0x80


class Cmd(IntEnum):
    INFO = 0x01
    LOAD_INPUT = 0x02
    INVOKE = 0x03
    READ_OUTPUT = 0x04
    TIMING = 0x05
    PING = 0x06


class Status(IntEnum):
    OK = 0
    UNKNOWN_COMMAND = 1
    BAD_ARGUMENT = 2
    ENGINE_ERROR = 3


class ProtocolError(ToolchainError):
    """The device answered, but not as the protocol says (error status, short reply, other model)."""


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16_ccitt(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor ("123456789" -> 0x29B1)."""
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[((crc >> 8) ^ b) & 0xFF]
    return crc


def encode_frame(payload: bytes) -> bytes:
    payload = bytes(payload)
    if not 1 <= len(payload) <= MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes; a frame carries 1..{MAX_PAYLOAD}")
    body = struct.pack("<H", len(payload)) + payload
    return bytes([SOF]) + body + struct.pack("<H", crc16_ccitt(body))


class FrameDecoder:
    """Byte stream -> payloads of valid frames, resynchronising after garbage exactly like the device."""

    def __init__(self):
        self.buf = bytearray()
        self.bad_frames = 0
        self.skipped_bytes = 0

    def feed(self, data: bytes) -> list[bytes]:
        self.buf += data
        frames = []
        while True:
            start = self.buf.find(SOF)
            if start < 0:
                self.skipped_bytes += len(self.buf)
                self.buf.clear()
                return frames
            if start:
                self.skipped_bytes += start
                del self.buf[:start]
            if len(self.buf) < 3:
                return frames
            n = self.buf[1] | (self.buf[2] << 8)
            if not 1 <= n <= MAX_PAYLOAD:
                self.bad_frames += 1
                del self.buf[:1]
                continue
            if len(self.buf) < n + 5:
                return frames
            crc = self.buf[3 + n] | (self.buf[4 + n] << 8)
            if crc16_ccitt(bytes(self.buf[1:3 + n])) != crc:
                self.bad_frames += 1
                del self.buf[:1]
                continue
            frames.append(bytes(self.buf[3:3 + n]))
            del self.buf[:n + 5]

    def reset(self) -> None:
        self.buf.clear()


def encode_request(cmd: int, seq: int, args: bytes = b"") -> bytes:
    return encode_frame(bytes([int(cmd), seq & 0xFF]) + bytes(args))


@dataclass(frozen=True)
class Reply:
    cmd: int
    seq: int
    status: int
    data: bytes


def parse_reply(payload: bytes) -> Reply | None:
    """A response payload, or None for a payload that is not a response (too short, no reply bit)."""
    if len(payload) < 3 or not payload[0] & REPLY:
        return None
    return Reply(cmd=payload[0] & 0x7F, seq=payload[1], status=payload[2], data=bytes(payload[3:]))


@dataclass(frozen=True)
class DeviceInfo:
    version: int
    input_size: int
    output_size: int
    classes: int
    peak_ram_bytes: int
    weight_bytes: int
    max_chunk: int
    board: str
    cpu: str


def parse_info(data: bytes) -> DeviceInfo:
    try:
        version, n_in, n_out, classes, ram, weights, chunk = struct.unpack_from("<BIIHIIH", data, 0)
        at = struct.calcsize("<BIIHIIH")
        strings = []
        for _ in range(2):
            k = data[at]
            strings.append(data[at + 1:at + 1 + k].decode("ascii", errors="replace"))
            at += 1 + k
    except (struct.error, IndexError):
        raise ProtocolError(f"the device's INFO reply is {len(data)} bytes, too short",
                            hint="flash the serial firmware built by this version of edgecnn") from None
    return DeviceInfo(version, n_in, n_out, classes, ram, weights, chunk, strings[0], strings[1])


class Link:
    """Requests and replies over a byte transport with pyserial's read/write/timeout interface.

    Every request waits `timeout` seconds for its reply; on a timeout the link resynchronises and tries
    again, `retries` times, before raising DeviceTimeoutError. Replies whose sequence number does not
    match (late answers to earlier tries) are dropped."""

    def __init__(self, transport, name: str = "device", timeout: float = 2.0, retries: int = 3):
        self.t = transport
        self.name = name
        self.timeout = timeout
        self.retries = retries
        self.decoder = FrameDecoder()
        self.seq = 0
        self.timeouts = 0
        self.resyncs = 0
        self.pending: list[bytes] = []
        self.chunk = MAX_CHUNK
        try:
            self.t.timeout = 0.02
        except (AttributeError, ValueError):
            pass

    # -- raw I/O -------------------------------------------------------------------------------------
    def _read_frames(self, deadline: float) -> list[bytes]:
        while True:
            if self.pending:
                out, self.pending = self.pending, []
                return out
            waiting = getattr(self.t, "in_waiting", 0) or 1
            data = self.t.read(min(max(waiting, 1), 4096))
            if data:
                frames = self.decoder.feed(data)
                if frames:
                    return frames
            if time.monotonic() >= deadline:
                return []

    def _wait_reply(self, cmd: int, seq: int, timeout: float) -> Reply | None:
        deadline = time.monotonic() + timeout
        while True:
            frames = self._read_frames(deadline)
            if not frames:
                return None
            for i, payload in enumerate(frames):
                r = parse_reply(payload)
                if r is not None and r.cmd == cmd and r.seq == seq:
                    self.pending = frames[i + 1:]
                    return r

    def send_raw(self, data: bytes) -> None:
        self.t.write(bytes(data))
        flush = getattr(self.t, "flush", None)
        if flush:
            flush()

    def drain(self, seconds: float = 0.1) -> None:
        """Read and drop whatever arrives for `seconds` (stale replies, boot noise)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.t.read(4096)
        self.decoder.reset()
        self.pending = []

    # -- requests ------------------------------------------------------------------------------------
    def _next_seq(self) -> int:
        self.seq = (self.seq + 1) & 0xFF
        return self.seq

    def request_once(self, cmd: int, args: bytes = b"", timeout: float | None = None) -> Reply | None:
        seq = self._next_seq()
        self.send_raw(encode_request(cmd, seq, args))
        return self._wait_reply(int(cmd), seq, self.timeout if timeout is None else timeout)

    def resync(self) -> bool:
        """Flush any partial frame on the device, drop stale replies, and check with a fresh-nonce ping."""
        self.resyncs += 1
        self.send_raw(bytes(2 * MAX_FRAME))
        self.drain(0.05)
        nonce = os.urandom(8)
        r = self.request_once(Cmd.PING, nonce)
        return r is not None and r.status == Status.OK and r.data == nonce

    def request(self, cmd: int, args: bytes = b"") -> Reply:
        for attempt in range(self.retries + 1):
            r = self.request_once(cmd, args)
            if r is not None:
                if r.status != Status.OK:
                    raise ProtocolError(f"{self.name} answered {Cmd(cmd).name} with status "
                                        f"{_status_name(r.status)}",
                                        hint="flash the serial firmware built from this model")
                return r
            self.timeouts += 1
            if attempt < self.retries:
                self.resync()
        raise DeviceTimeoutError(f"{self.name} did not answer {Cmd(cmd).name} within {self.timeout:g} s "
                                 f"({self.retries + 1} tries, resynchronised in between)",
                                 hint="check the port, the baud rate, and that the board runs the edgecnn serial "
                                      "firmware (firmware/<cpu>/build/edgecnn_serial.elf)")

    # -- commands ------------------------------------------------------------------------------------
    def ping(self, data: bytes = b"edgecnn") -> bytes:
        return self.request(Cmd.PING, data).data

    def info(self) -> DeviceInfo:
        return parse_info(self.request(Cmd.INFO).data)

    def load_input(self, data: bytes, chunk: int | None = None) -> None:
        chunk = chunk or self.chunk
        for off in range(0, len(data), chunk):
            self.request(Cmd.LOAD_INPUT, struct.pack("<I", off) + bytes(data[off:off + chunk]))

    def invoke(self) -> tuple[int, int]:
        """(engine status, cycles or 0)."""
        r = self.request(Cmd.INVOKE)
        rc, cycles = struct.unpack_from("<iI", r.data, 0)
        return rc, cycles

    def read_output(self, size: int, chunk: int | None = None) -> bytes:
        chunk = chunk or self.chunk
        out = bytearray()
        for off in range(0, size, chunk):
            n = min(chunk, size - off)
            r = self.request(Cmd.READ_OUTPUT, struct.pack("<IH", off, n))
            if len(r.data) != n:
                raise ProtocolError(f"{self.name} returned {len(r.data)} output bytes, expected {n}")
            out += r.data
        return bytes(out)

    def timing(self) -> tuple[int, int]:
        """(invocations since boot, cycles of the last one or 0 when the board has no cycle counter)."""
        r = self.request(Cmd.TIMING)
        return struct.unpack_from("<II", r.data, 0)

    def infer(self, data: bytes, output_size: int, attempts: int = 3) -> tuple[bytes, int]:
        """One whole inference (load, invoke, read); repeated from the start when a resync happened
        midway, since a corrupted frame could in principle have passed the CRC. Returns (output, cycles)."""
        for _ in range(attempts):
            before = self.resyncs
            self.load_input(data)
            rc, cycles = self.invoke()
            out = self.read_output(output_size)
            if self.resyncs == before:
                return out, cycles
        return out, cycles


def _status_name(status: int) -> str:
    try:
        return Status(status).name
    except ValueError:
        return str(status)


__all__ = ["VERSION", "SOF", "MAX_PAYLOAD", "MAX_FRAME", "MAX_CHUNK", "Cmd", "Status", "crc16_ccitt",
           "encode_frame", "FrameDecoder", "encode_request", "parse_reply", "Reply", "DeviceInfo", "parse_info",
           "Link", "DeviceTimeoutError", "ProtocolError"]
