"""Vendor boards (toolkit.boards) against the parts' datasheets and reference manuals: every board's firmware
builds (serial mode), its vector table, linker memory map and UART base are the part's; `edgecnn build --target
BOARD` writes a folder whose Makefile and CMake files build; the RP2040 boot2 and UF2 image are well formed."""
from __future__ import annotations

import re
import shutil
import struct
import subprocess

import pytest

from conftest import run_cli
from deploy.devices import firmware, toolchain
from deploy.devices.firmware import build_firmware
from deploy.devices.images import UF2_MAGIC_END, UF2_MAGIC_START0, UF2_MAGIC_START1
from firmware_support import copy_build
from toolkit.errors import ConfigError
from toolkit.targets import BOARD_TARGETS, BOARDS, TARGETS, get_board, get_target

pytestmark = pytest.mark.toolchain
K = 1024

# From the datasheets and reference manuals, written down independently of toolkit/boards.py:
# (flash origin, flash bytes, RAM origin, RAM bytes, UART peripheral, UART base, maximum core clock)
PARTS = {
    "nucleo-f401re": (0x08000000, 512 * K, 0x20000000, 96 * K, "USART2", 0x40004400, 84_000_000),  # RM0368
    "nucleo-f411re": (0x08000000, 512 * K, 0x20000000, 128 * K, "USART2", 0x40004400, 100_000_000),  # RM0383
    "nucleo-f446re": (0x08000000, 512 * K, 0x20000000, 128 * K, "USART2", 0x40004400, 180_000_000),  # RM0390
    "netduinoplus2": (0x08000000, 1024 * K, 0x20000000, 128 * K, "USART1", 0x40011000, 168_000_000),  # RM0090
    "nucleo-f746zg": (0x08000000, 1024 * K, 0x20000000, 320 * K, "USART3", 0x40004800, 216_000_000),  # RM0385
    "nucleo-h743zi": (0x08000000, 2048 * K, 0x24000000, 512 * K, "USART3", 0x40004800, 480_000_000),  # RM0433
    "nucleo-l4r5zi": (0x08000000, 2048 * K, 0x20000000, 640 * K, "LPUART1", 0x40008000, 120_000_000),  # RM0432
    "nrf52840dk": (0x00000000, 1024 * K, 0x20000000, 256 * K, "UART0", 0x40002000, 64_000_000),  # nRF52840 PS
    "nano33ble": (0x00010000, 960 * K, 0x20000000, 256 * K, "UART0", 0x40002000, 64_000_000),  # after the bootloader
    "pico": (0x10000000, 2048 * K, 0x20000000, 264 * K, "UART0", 0x40034000, 133_000_000),  # RP2040 datasheet
    "microbit": (0x00000000, 256 * K, 0x20000000, 16 * K, "UART0", 0x40002000, 16_000_000),  # nRF51822-QFAA
}
# Register blocks the ports drive, from the same manuals (checked in the port's source text).
PORT_REGISTERS = {
    "stm32f4": {"RCC_BASE": 0x40023800, "FLASH_ACR": 0x40023C00},
    "stm32f7": {"RCC_BASE": 0x40023800, "FLASH_ACR": 0x40023C00},
    "stm32h7": {"RCC_BASE": 0x58024400, "PWR_BASE": 0x58024800, "FLASH_ACR": 0x52002000},
    "stm32l4": {"RCC_BASE": 0x40021000, "PWR_CR2": 0x40007004, "FLASH_ACR": 0x40022000},
    "nrf52": {"CLOCK_TASKS_HFCLKSTART": 0x40000000, "CLOCK_EVENTS_HFCLKSTARTED": 0x40000100},
    "nrf51": {"CLOCK_TASKS_HFCLKSTART": 0x40000000, "TIMER0_BASE": 0x40008000},
    "rp2040": {"RESETS_BASE": 0x4000C000, "XOSC_BASE": 0x40024000, "CLOCKS_BASE": 0x40008000,
               "PLL_SYS_BASE": 0x40028000},
}
CPU_OF = {"pico": "cortex-m0plus", "microbit": "cortex-m0", "nucleo-f746zg": "cortex-m7", "nucleo-h743zi": "cortex-m7"}


@pytest.fixture(scope="module")
def boards_build(build_dir, tmp_path_factory):
    """Serial firmware for every vendor board, built once (the engine is compiled once per CPU)."""
    b = copy_build(build_dir, tmp_path_factory.mktemp("boards") / "build")
    return b, {name: build_firmware(b, target, modes=("serial",)) for name, target in BOARD_TARGETS.items()}


def test_registry_matches_the_parts():
    assert set(BOARD_TARGETS) == set(PARTS)
    for name, (fo, fb, ro, rb, uart, base, fmax) in PARTS.items():
        brd = BOARDS[name]
        assert (brd.flash_origin, brd.flash_bytes, brd.ram_origin, brd.ram_bytes) == (fo, fb, ro, rb), name
        assert (brd.uart.peripheral, brd.uart.base, brd.uart.baud) == (uart, base, 115200), name
        assert dict(brd.defines)["ECNN_UART_BASE"] == base, name
        assert 0 < brd.clock_hz <= fmax, name
        target = get_target(name)
        assert target.cpu_name == CPU_OF.get(name, "cortex-m4") and target.cflags == TARGETS[target.cpu_name].cflags
        assert get_board(target) is brd and brd.probe.pyocd_target and len(brd.probe.openocd) == 2
    assert get_target("cortex-m0").cflags[0] == "-mcpu=cortex-m0"


def test_a_board_with_another_cpu_is_refused():
    with pytest.raises(ConfigError, match="board pico has a cortex-m0plus, not the cortex-m4"):
        get_board(TARGETS["cortex-m4"], "pico")
    with pytest.raises(ConfigError, match="unknown target 'nucleo-f999'.*boards: nucleo-f401re"):
        get_target("nucleo-f999")


def _words(data: bytes, at: int) -> tuple[int, int]:
    return struct.unpack_from("<II", data, at)


def _accessed(elf, function: str) -> set[int]:
    """The addresses a function loads from or stores to through a base register holding a constant (a literal
    word, mov/movw/movt) plus an immediate offset: what objdump's disassembly shows, evaluated."""
    text = subprocess.run(["arm-none-eabi-objdump", "-d", str(elf)], capture_output=True, text=True).stdout
    body = re.search(rf"^[0-9a-f]+ <{function}>:\n(.*?)(?:\n\n|\Z)", text, re.M | re.S).group(1)
    pool = {int(a, 16): int(w, 16) for a, w in re.findall(r"^\s*([0-9a-f]+):\s+[0-9a-f ]+\s+\.word\s+0x([0-9a-f]+)",
                                                          body, re.M)}
    regs, out = {}, set()
    for line in body.splitlines():
        if m := re.search(r"\sldr(?:\.w)?\s+(r\d+), \[pc, #\d+\]\s+@ \(([0-9a-f]+)", line):
            regs[m.group(1)] = pool.get(int(m.group(2), 16))
        elif m := re.search(r"\smov(?:\.w|w|s)?\s+(r\d+), #(\d+)", line):
            regs[m.group(1)] = int(m.group(2))
        elif (m := re.search(r"\smovt\s+(r\d+), #(\d+)", line)) and regs.get(m.group(1)) is not None:
            regs[m.group(1)] = (regs[m.group(1)] & 0xFFFF) | int(m.group(2)) << 16
        elif m := re.search(r"\s(?:ldr|str)[a-z.]*\s+r\d+, \[(r\d+)(?:, #(\d+))?\]", line):
            if regs.get(m.group(1)) is not None:
                out.add(regs[m.group(1)] + int(m.group(2) or 0))
    return out


def test_every_board_links_at_the_parts_memory(boards_build):
    _, builds = boards_build
    for name, fw in builds.items():
        fo, fb, ro, rb, _, base, _ = PARTS[name]
        brd = BOARDS[name]
        image = fw.images["serial"]["bin"].read_bytes()
        sp, reset = _words(image, brd.vector_offset)
        assert ro < sp <= ro + rb and sp % 8 == 0, name  # initial stack pointer in the part's RAM
        assert reset & 1 and fo <= reset < fo + fb, name  # Thumb reset handler in the part's flash
        assert reset & ~1 == toolchain.symbol_address(fw.elves["serial"], "Reset_Handler"), name
        assert toolchain.symbol_address(fw.elves["serial"], "ecnn_vector_table") == fo + brd.vector_offset, name
        mem = dict(re.findall(r"^(FLASH|RAM|BOOT2)\s+(0x[0-9a-f]+\s+0x[0-9a-f]+)",
                              fw.elves["serial"].with_suffix(".map").read_text(), re.M))
        origins = {k: tuple(int(x, 16) for x in v.split()) for k, v in mem.items()}
        assert origins["RAM"] == (ro, rb), name
        assert origins["FLASH"] == (fo + brd.vector_offset, fb - brd.vector_offset), name
        for fn in ("board_uart_putc", "board_uart_getc"):
            addresses = _accessed(fw.elves["serial"], fn)
            assert any(base <= a < base + 0x600 for a in addresses), f"{name}: {fn} does not reach its UART {base:#x}"
        board_h = (fw.dir / "board.h").read_text()
        assert f"#define ECNN_UART_BASE 0x{base:08X}u" in board_h
        assert f"#define ECNN_CLOCK_HZ {brd.clock_hz}u" in board_h
        port = (fw.dir / f"{brd.family}.c").read_text()
        for reg, addr in PORT_REGISTERS[brd.family].items():
            assert re.search(rf"#define {reg} (REG\()?0x{addr:08X}u", port), f"{brd.family}.c: {reg}"
        assert fw.sizes["serial"]["ram_bytes"] <= rb and fw.sizes["serial"]["flash_bytes"] <= fb


def test_rp2040_boot2_is_the_assembled_source_with_its_crc(boards_build, tmp_path):
    from deploy.engine.templates import TEMPLATE_DIR

    obj, raw = tmp_path / "boot2.o", tmp_path / "boot2.bin"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m0plus", "-mthumb", "-c",
                    str(TEMPLATE_DIR / "boards" / "rp2040_boot2.S"), "-o", str(obj)], check=True)
    subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", "-j", ".boot2", str(obj), str(raw)], check=True)
    code = raw.read_bytes()
    _, builds = boards_build
    image = builds["pico"].images["serial"]["bin"].read_bytes()
    boot2 = image[:256]
    assert boot2[:len(code)] == code and not any(boot2[len(code):252])
    crc = 0xFFFFFFFF  # CRC-32/MPEG-2, as the RP2040 boot ROM computes it
    for byte in boot2[:252]:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
    assert struct.unpack_from("<I", boot2, 252)[0] == crc
    uf2 = builds["pico"].images["serial"]["uf2"].read_bytes()
    assert len(uf2) % 512 == 0 and len(uf2) // 512 == -(-len(image) // 256)
    blocks = [struct.unpack_from("<8I", uf2, i) + struct.unpack_from("<I", uf2, i + 508)
              for i in range(0, len(uf2), 512)]
    for n, b in enumerate(blocks):
        assert (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8]) == (
            UF2_MAGIC_START0, UF2_MAGIC_START1, 0x2000, 0x10000000 + 256 * n, 256, n, len(blocks), 0xE48BFF56,
            UF2_MAGIC_END)
    assert uf2[32:32 + 256] == image[:256]


def test_build_target_board_writes_firmware_that_make_and_cmake_build(build_dir, tmp_path):
    out = tmp_path / "f446"
    r = run_cli("build", "--target", "nucleo-f446re", "--from-model", build_dir / "model_int8.tflite", "--out", out)
    assert r.returncode == 0, r.stderr
    fdir = out / "firmware" / "nucleo-f446re"
    assert (fdir / "stm32f4.c").is_file()
    assert "edgecnn flash ../.. --board nucleo-f446re" in (fdir / "README.md").read_text()
    r = subprocess.run(["make", "-C", str(fdir), "build/edgecnn_serial.bin", "build/edgecnn_serial.hex"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert {"edgecnn_serial.elf", "edgecnn_serial.bin", "edgecnn_serial.hex"} <= \
        {p.name for p in (fdir / "build").iterdir()}
    if shutil.which("cmake"):
        cm = tmp_path / "cm"
        r = subprocess.run(["cmake", "-S", str(fdir), "-B", str(cm)], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        r = subprocess.run(["cmake", "--build", str(cm), "--target", "edgecnn_serial.elf"], capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        assert (cm / "edgecnn_serial.elf").is_file()


@pytest.mark.parametrize("name", ["netduinoplus2", "microbit"])
def test_emulated_board_verifies_bit_exact_over_its_uart(boards_build, name):
    """The board's own serial firmware (clock set-up, its USART/UART driver) on QEMU's model of the part, driven
    through the emulated UART on a pseudo-terminal by `edgecnn verify --device serial:PTY`."""
    import json

    from deploy.devices.qemu import serial_qemu

    b, builds = boards_build
    with serial_qemu(builds[name].elves["serial"], BOARDS[name], timeout=120, via="pty") as pty:
        r = run_cli("verify", b, "--device", f"serial:{pty}", "--samples", "12", timeout=120)
    assert r.returncode == 0, r.stderr
    v = json.loads((b / "verify.json").read_text())
    assert v["bit_exact"] == 1.0 and v["samples"] == 12 and v["max_abs_diff_lsb"] == 0
    assert (v["board"], v["cpu"]) == (name, CPU_OF.get(name, "cortex-m4"))
    assert v["flash_bytes"] == builds[name].sizes["serial"]["flash_bytes"]  # the board's own ELF was found
    assert v["clock_hz"] == BOARDS[name].clock_hz
    if name == "microbit":  # TIMER0 runs in QEMU (on virtual time); QEMU's DWT reads 0: no figure for the M4
        assert v["cycles_per_inference"] > 0 and v["ms_per_inference"] == pytest.approx(
            v["cycles_per_inference"] / 16_000, rel=1e-3)
    else:
        assert v["cycles_per_inference"] is None and v["ms_per_inference"] is None
