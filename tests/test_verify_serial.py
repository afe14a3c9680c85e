"""deploy.verify.serial end to end against the serial firmware on QEMU's emulated UART: bit-exact answers, and
recovery from garbage bytes, a dropped byte, a lost reply (timeout) and a resync. The build folder is a copy of
conftest's untrained_dir (firmware_support.untrained_build: an untrained compact_cnn on the digits test split; no
training, no CLI)."""
from __future__ import annotations

import socket

import pytest

from deploy.devices import serial_protocol as sp
from deploy.devices.firmware import build_firmware
from deploy.devices.qemu import serial_qemu
from deploy.devices.serial_protocol import Link
from deploy.verify.serial import open_port, verify_serial
from firmware_support import copy_untrained
from toolkit.errors import DeviceTimeoutError, ToolchainError
from toolkit.targets import TARGETS, get_board

pytestmark = pytest.mark.toolchain


@pytest.fixture(scope="module")
def sbuild(untrained_dir, tmp_path_factory):
    return copy_untrained(untrained_dir, tmp_path_factory.mktemp("serial") / "build")


@pytest.fixture(scope="module")
def board_url(sbuild):
    """The M4 serial firmware running in QEMU, its UART on a loopback TCP port."""
    fw = build_firmware(sbuild, TARGETS["cortex-m4"], modes=("serial",))
    with serial_qemu(fw.elves["serial"], get_board(TARGETS["cortex-m4"]), timeout=240) as url:
        yield url


class Faulty:
    """Wraps a pyserial port: drops one byte from one write, and sends garbage before another."""

    def __init__(self, inner, drop_in_write: int, garbage_before_write: int):
        self.inner, self.n = inner, 0
        self.drop_in_write, self.garbage_before_write = drop_in_write, garbage_before_write

    def write(self, data):
        self.n += 1
        if self.n == self.garbage_before_write:
            self.inner.write(b"\x00\xff\x13garbage\xa5\x04\x00\x01\x02\x03\x04\xde\xad\xa5")
        if self.n == self.drop_in_write and len(data) > 4:
            data = data[:len(data) // 2] + data[len(data) // 2 + 1:]
        return self.inner.write(data)

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __setattr__(self, name, value):
        if name == "timeout":
            self.inner.timeout = value
        else:
            object.__setattr__(self, name, value)


def test_serial_verification_is_bit_exact(sbuild, board_url):
    r = verify_serial(sbuild, board_url, samples=25, timeout=2.0)
    assert r["device"] == f"serial:{board_url}" and r["samples"] == 25
    assert r["bit_exact"] == 1.0 and r["accuracy"]["device"] == r["accuracy"]["int8"]
    assert r["cpu"] == "cortex-m4" and r["board"] == "mps2-an386" and r["invocations"] >= 25
    assert r["flash_bytes"] > 0 and r["ram_bytes"] > 0  # from the build's serial ELF
    assert r["instructions_per_inference"] is None and r["cycles_per_inference"] is None  # QEMU has no DWT
    assert r["link"]["timeouts"] == 0


def test_dropped_byte_and_garbage_during_verification_are_recovered(sbuild, board_url):
    port = open_port(board_url)
    try:
        faulty = Faulty(port, drop_in_write=8, garbage_before_write=12)
        r = verify_serial(sbuild, board_url, samples=8, timeout=0.5, transport=faulty)
    finally:
        port.close()
    assert r["bit_exact"] == 1.0, r["first_mismatch"]
    assert r["link"]["timeouts"] >= 1 and r["link"]["resyncs"] >= 1  # the dropped byte cost one timeout


def test_garbage_and_a_fake_frame_need_no_timeout(board_url):
    port = open_port(board_url)
    try:
        link = Link(port, timeout=1.0, retries=0)
        assert link.resync()
        link.send_raw(b"noise\x00\xa5\x05\x00bogus\x12\x34" + bytes(range(0, 0xA5)))
        assert link.ping(b"still here") == b"still here"  # the device rescanned past the bad frame
        assert link.timeouts == 0
        info = link.info()
        assert (info.input_size, info.output_size, info.cpu) == (64, 10, "cortex-m4")
    finally:
        port.close()


def test_lost_reply_times_out_then_resyncs(board_url):
    port = open_port(board_url)
    try:
        link = Link(port, timeout=0.3, retries=2)
        assert link.resync()
        big = sp.encode_request(sp.Cmd.PING, 0x77, b"y" * 200)
        link.send_raw(big[:100])  # half a frame: the device waits inside it, no reply comes
        assert link.request_once(sp.Cmd.TIMING, timeout=0.3) is None  # swallowed by the pending frame
        assert link.resync()  # the flush completes and invalidates it
        invocations, cycles = link.timing()
        assert cycles == 0 and invocations >= 0
    finally:
        port.close()


def test_silent_port_is_a_clear_timeout(sbuild):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        url = f"socket://127.0.0.1:{srv.getsockname()[1]}"
        with pytest.raises(DeviceTimeoutError, match=r"did not answer INFO within 0.2 s \(2 tries"):
            verify_serial(sbuild, url, samples=2, timeout=0.2, retries=1)


def test_unopenable_port_names_it():
    with pytest.raises(ToolchainError, match="cannot open serial port /dev/edgecnn-no-such-port"):
        open_port("/dev/edgecnn-no-such-port")


def test_pty_transport_works(sbuild):
    fw = build_firmware(sbuild, TARGETS["cortex-m0plus"], modes=("serial",))
    with serial_qemu(fw.elves["serial"], get_board(TARGETS["cortex-m0plus"]), timeout=120, via="pty") as dev:
        assert dev.startswith("/dev/pts/")
        r = verify_serial(sbuild, dev, samples=4, timeout=2.0)
    assert r["bit_exact"] == 1.0 and r["cpu"] == "cortex-m0plus" and r["board"] == "mps2-an385"
