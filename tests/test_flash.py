"""`edgecnn flash`: the GDB path for real against QEMU's gdbstub (load, run, verify bit-exact over the emulated
UART), the USB-drive copy, and one clear line with a non-zero exit when no probe, drive or server is there."""
from __future__ import annotations

import json

import pytest

from conftest import run_cli
from deploy.devices.qemu import free_port, serial_qemu
from firmware_support import copy_build
from toolkit.targets import BOARDS

pytestmark = pytest.mark.toolchain


@pytest.fixture(scope="module")
def fbuild(build_dir, tmp_path_factory):
    return copy_build(build_dir, tmp_path_factory.mktemp("flash") / "build")


def _one_line_error(r, text: str) -> None:
    assert r.returncode != 0 and r.stderr.count("\n") == 1 and r.stderr.startswith("edgecnn: error: "), r.stderr
    assert text in r.stderr, r.stderr


def test_gdb_loads_and_runs_the_firmware_on_qemus_gdbstub(fbuild):
    """QEMU starts empty and halted; `edgecnn flash --via gdb` builds the netduinoplus2 firmware, loads it through
    the gdbstub and starts it; the board then answers `edgecnn verify` over its USART, bit-exact."""
    port = free_port()
    with serial_qemu(None, BOARDS["netduinoplus2"], timeout=180, via="pty", gdb_port=port) as pty:
        r = run_cli("flash", fbuild, "--board", "netduinoplus2", "--via", "gdb", f"127.0.0.1:{port}", timeout=180)
        assert r.returncode == 0, r.stderr
        assert "flashed" in r.stdout and f"GDB server at 127.0.0.1:{port}" in r.stdout
        r = run_cli("verify", fbuild, "--device", f"serial:{pty}", "--samples", "8", timeout=120)
    assert r.returncode == 0, r.stderr
    v = json.loads((fbuild / "verify.json").read_text())
    assert v["bit_exact"] == 1.0 and v["samples"] == 8 and v["board"] == "netduinoplus2"


def test_no_probe_is_one_clear_line(fbuild):
    r = run_cli("flash", fbuild, "--board", "nucleo-f446re")  # pyOCD, and no probe on this machine
    _one_line_error(r, "no debug probe found for nucleo-f446re")
    assert (fbuild / "firmware" / "nucleo-f446re" / "build" / "edgecnn_serial.hex").is_file()  # built first
    r = run_cli("flash", fbuild, "--board", "nucleo-f446re", "--via", "gdb", f"127.0.0.1:{free_port()}")
    _one_line_error(r, "no GDB server took the firmware at 127.0.0.1:")
    r = run_cli("flash", fbuild, "--board", "nucleo-f446re", "--via", "gdb")
    _one_line_error(r, "--via gdb needs the GDB server's HOST:PORT")
    r = run_cli("flash", fbuild, "--board", "nucleo-f999")
    _one_line_error(r, "--board 'nucleo-f999' is not a board edgecnn can flash")


def test_uf2_copy_to_the_picos_drive(fbuild, tmp_path):
    r = run_cli("flash", fbuild, "--board", "pico")  # the Pico's default: its RPI-RP2 drive, not mounted here
    _one_line_error(r, "no RPI-RP2 drive is mounted for pico")
    drive = tmp_path / "RPI-RP2"
    drive.mkdir()
    r = run_cli("flash", fbuild, "--board", "pico", "--via", "uf2", "--drive", drive)
    assert r.returncode == 0, r.stderr
    uf2 = fbuild / "firmware" / "pico" / "build" / "edgecnn_serial.uf2"
    assert (drive / "edgecnn.uf2").read_bytes() == uf2.read_bytes() and uf2.stat().st_size % 512 == 0
