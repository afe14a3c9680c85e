"""deploy.devices.serial_protocol: CRC, framing, resynchronisation after garbage, and the request/retry logic."""
from __future__ import annotations

import re
import struct

import pytest

from deploy.devices import serial_protocol as sp
from deploy.devices.serial_protocol import Cmd, FrameDecoder, Link, Status, crc16_ccitt, encode_frame
from deploy.engine.templates import TEMPLATE_DIR
from toolkit.errors import DeviceTimeoutError


def test_crc16_ccitt_false_check_value():
    assert crc16_ccitt(b"123456789") == 0x29B1
    assert crc16_ccitt(b"") == 0xFFFF


def test_frame_layout_and_round_trip():
    f = encode_frame(b"\x06\x01hi")
    assert f[0] == 0xA5 and f[1:3] == b"\x04\x00" and f[3:7] == b"\x06\x01hi"
    assert struct.unpack("<H", f[7:])[0] == crc16_ccitt(f[1:7])
    assert FrameDecoder().feed(f) == [b"\x06\x01hi"]
    with pytest.raises(ValueError):
        encode_frame(b"")
    with pytest.raises(ValueError):
        encode_frame(bytes(sp.MAX_PAYLOAD + 1))


def test_byte_by_byte_and_back_to_back():
    frames = [encode_frame(bytes([i]) * (i + 1)) for i in range(5)]
    d = FrameDecoder()
    got = []
    for b in b"".join(frames):
        got += d.feed(bytes([b]))
    assert got == [bytes([i]) * (i + 1) for i in range(5)] and d.bad_frames == 0


def test_garbage_before_between_and_inside_frames_is_skipped():
    good = encode_frame(b"payload")
    fake = b"\xa5\x03\x00abc\x00\x00"  # a start byte and a plausible length, wrong CRC
    huge = b"\xa5\xff\xff"  # a length out of range
    d = FrameDecoder()
    assert d.feed(b"\x00\x13noise" + fake + huge + good + b"\xa5" + good) == [b"payload", b"payload"]
    assert d.bad_frames >= 3


def test_corrupted_and_truncated_frames_lose_only_themselves():
    good = encode_frame(b"second")
    bad = bytearray(encode_frame(b"first!"))
    bad[5] ^= 0x40  # a flipped bit
    assert FrameDecoder().feed(bytes(bad) + good) == [b"second"]
    lost = encode_frame(b"x" * 200)
    lost = lost[:10] + lost[11:]  # a lost byte: the receiver waits for one more byte ...
    d = FrameDecoder()
    assert d.feed(lost) == []
    assert d.feed(good) == [b"second"]  # ... the next frame completes it, the CRC fails, the rescan finds it
    d = FrameDecoder()
    assert d.feed(lost) == [] and d.feed(bytes(2 * sp.MAX_FRAME)) == []  # the host's flush clears it too
    assert not d.buf and d.feed(good) == [b"second"]


def test_constants_match_the_device_header():
    header = (TEMPLATE_DIR / "cortex_m" / "ecnn_link.h").read_text()
    defines = {m[0]: m[1] for m in re.findall(r"^#define (ECNN_\w+) (\w+)", header, re.M)}
    assert int(defines["ECNN_LINK_SOF"], 0) == sp.SOF and int(defines["ECNN_LINK_MAX_PAYLOAD"]) == sp.MAX_PAYLOAD
    assert int(defines["ECNN_LINK_MAX_CHUNK"]) == sp.MAX_CHUNK and int(defines["ECNN_LINK_VERSION"]) == sp.VERSION
    assert int(defines["ECNN_LINK_REPLY"], 0) == sp.REPLY
    for cmd in Cmd:
        assert int(defines[f"ECNN_CMD_{cmd.name}"], 0) == cmd.value
    for st in Status:
        assert int(defines[f"ECNN_STATUS_{st.name}"], 0) == st.value


class FakeDevice:
    """A pyserial-like transport with the device in Python: echoes PINGs; can lose replies or bytes."""

    def __init__(self, lose_replies=0, drop_byte_in_write=None):
        self.decoder = FrameDecoder()
        self.rx = bytearray()
        self.timeout = None
        self.lose_replies = lose_replies
        self.drop_byte_in_write = drop_byte_in_write
        self.writes = 0

    def write(self, data):
        self.writes += 1
        if self.writes == self.drop_byte_in_write:
            data = data[:4] + data[5:]
        for p in self.decoder.feed(bytes(data)):
            if self.lose_replies:
                self.lose_replies -= 1
                continue
            cmd, seq = p[0], p[1]
            status, body = (Status.OK, p[2:]) if cmd == Cmd.PING else (Status.UNKNOWN_COMMAND, b"")
            self.rx += b"junk" + encode_frame(bytes([cmd | sp.REPLY, seq, status]) + body)

    def read(self, n):
        out, self.rx = bytes(self.rx[:n]), self.rx[n:]
        return out

    @property
    def in_waiting(self):
        return len(self.rx)


def test_link_round_trip_through_noise():
    link = Link(FakeDevice(), timeout=0.2)
    assert link.ping(b"hello") == b"hello" and link.timeouts == 0


def test_lost_reply_is_retried_after_a_resync():
    dev = FakeDevice(lose_replies=1)
    link = Link(dev, timeout=0.1, retries=2)
    assert link.ping(b"again") == b"again"
    assert link.timeouts == 1 and link.resyncs == 1


def test_dropped_byte_is_recovered():
    link = Link(FakeDevice(drop_byte_in_write=1), timeout=0.1, retries=2)
    assert link.ping(b"x" * 30) == b"x" * 30
    assert link.timeouts == 1 and link.resyncs == 1


def test_silent_device_times_out_clearly():
    link = Link(FakeDevice(lose_replies=100), name="the board on /dev/null", timeout=0.05, retries=1)
    with pytest.raises(DeviceTimeoutError, match=r"the board on /dev/null did not answer PING within 0.05 s \(2 tries"):
        link.ping()


def test_error_status_is_a_protocol_error():
    with pytest.raises(sp.ProtocolError, match="UNKNOWN_COMMAND"):
        Link(FakeDevice(), timeout=0.2).timing()


def test_info_parsing():
    data = struct.pack("<BIIHIIH", 1, 64, 10, 10, 1536, 24312, 240) + b"\x0amps2-an386" + b"\x09cortex-m4"
    info = sp.parse_info(data)
    assert (info.input_size, info.output_size, info.board, info.cpu) == (64, 10, "mps2-an386", "cortex-m4")
    with pytest.raises(sp.ProtocolError, match="too short"):
        sp.parse_info(data[:5])
