"""Boards as data: where code and data live, the clock the start-up sets, the UART the serial link uses, the
cycle counter and how the board is flashed. Vendor boards name their CPU target and the MCU family whose
register-level port (firmware_templates/boards/<family>.c) sets the clock and drives the UART.

Register addresses and field values come from the parts' reference manuals (RM0368 STM32F401, RM0383 F411,
RM0390 F446, RM0090 F405, RM0432 L4+, RM0385 F7, RM0433 H7, nRF51 RM v3, nRF52840 PS v1.7, RP2040 datasheet);
tests/test_boards.py checks the ones a wrong digit would silently break.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Uart:
    """The UART the serial firmware talks on: peripheral, base address, pins and how it reaches a computer."""

    peripheral: str  # e.g. "USART2"
    base: int
    tx: str  # pin as the board's manual names it, e.g. "PA2 (AF7)"
    rx: str
    baud: int = 115200
    connection: str = ""  # e.g. "ST-LINK virtual COM port (/dev/ttyACM0)"


@dataclass(frozen=True)
class Probe:
    """How a board is programmed: pyOCD target, OpenOCD config files, and a USB drive to copy an image to."""

    pyocd_target: str | None = None
    openocd: tuple[str, ...] = ()  # -f arguments, e.g. ("interface/stlink.cfg", "target/stm32f4x.cfg")
    drive: str | None = None  # volume label of the board's USB drive (RPI-RP2, MICROBIT)
    drive_format: str | None = None  # what that drive takes: "uf2" or "hex"
    uf2_family: int | None = None  # UF2 family ID of the part
    default: str = "pyocd"  # the --via a bare `edgecnn flash` uses
    note: str = ""


@dataclass(frozen=True)
class Board:
    """Where a board's code and data live, and how its first UART and its emulator are reached.

    The firmware is linked at the board's origins with lengths min(board, target), so a build that links
    also fits the target chip. uart_base is a CMSDK APB UART (the MPS2/MPS3 FPGA images); None means a
    vendor port (`family`) or the user provides board_uart_putc/getc. qemu_args are the flags QEMU needs
    besides -M.
    """

    name: str
    description: str
    flash_origin: int
    flash_bytes: int
    ram_origin: int
    ram_bytes: int
    uart_base: int | None = None
    qemu_machine: str | None = None
    qemu_args: tuple[str, ...] = ()
    cpu: str | None = None  # the CPU target a vendor board's firmware is compiled for
    family: str | None = None  # firmware_templates/boards/<family>.c: clock, UART and cycle counter
    clock_hz: int | None = None  # core clock after the start-up's clock setup
    uart: Uart | None = None
    cycle_counter: str | None = None  # "dwt", "systick" or "nrf-timer0" (what board_cycles_read counts)
    probe: Probe = field(default_factory=Probe)
    vector_offset: int = 0  # the vector table's offset from flash_origin (RP2040: 256 B of boot2 first)
    defines: tuple[tuple[str, int], ...] = ()  # family-port parameters written into board.h
    note: str = ""

    @property
    def family_sources(self) -> tuple[str, ...]:
        """The board port's C files (firmware_templates/boards/), copied beside startup.c."""
        if self.family is None:
            return ()
        return (f"{self.family}.c", "rp2040_boot2.c") if self.family == "rp2040" else (f"{self.family}.c",)


CYCLE_COUNTERS = {
    "dwt": "DWT CYCCNT (core clock cycles)",
    "systick": "SysTick with wrap count (core clock cycles)",
    "nrf-timer0": "TIMER0 at 16 MHz (= HCLK: core clock cycles; the nRF51 has no SysTick or DWT)",
}

_STLINK = "ST-LINK virtual COM port (USB, /dev/ttyACM0)"
_PLL_P_BITS = {2: 0, 4: 1, 6: 2, 8: 3}
_APB_BITS = {1: 0, 2: 4, 4: 5, 8: 6, 16: 7}  # STM32F4/F7 CFGR PPREx field values


def _gpio(pin: str) -> tuple[int, int]:
    """'PA2' -> (port 0, pin 2)."""
    return ord(pin[1]) - ord("A"), int(pin[2:])


def _stm32_pll(name, desc, cpu, family, flash, ram, sysclk, pll, latency, apb, uart, uart_base, uart_apb,
               uart_enr, uart_bit, pins, af, probe, ram_origin=0x20000000, **kw) -> Board:
    """An STM32F4/F7 board run from HSI (16 MHz) through the main PLL: pll = (M, N, P, Q), apb = (APB1, APB2)
    dividers; the UART sits on APB `uart_apb` and is enabled by bit `uart_bit` of RCC register `uart_enr`."""
    m, n, p, q = pll
    assert 16_000_000 // m * n // p == sysclk, name
    uart_clock = sysclk // apb[uart_apb - 1]
    defines = (("ECNN_PLL_M", m), ("ECNN_PLL_N", n), ("ECNN_PLL_P_BITS", _PLL_P_BITS[p]), ("ECNN_PLL_Q", q),
               ("ECNN_FLASH_LATENCY", latency), ("ECNN_PPRE1_BITS", _APB_BITS[apb[0]]),
               ("ECNN_PPRE2_BITS", _APB_BITS[apb[1]]), ("ECNN_UART_BASE", uart_base),
               ("ECNN_UART_CLOCK_HZ", uart_clock), ("ECNN_UART_RESET_CLOCK_HZ", 16_000_000),
               ("ECNN_UART_RCC_ENR", uart_enr), ("ECNN_UART_RCC_BIT", uart_bit), *_stm32_pins(*pins, af))
    return Board(name, desc, 0x08000000, flash, ram_origin, ram, cpu=cpu, family=family, clock_hz=sysclk,
                 uart=Uart(uart, uart_base, f"{pins[0]} (AF{af})", f"{pins[1]} (AF{af})",
                           connection=kw.pop("connection", _STLINK)),
                 cycle_counter="dwt", probe=probe, defines=defines, **kw)


def _stm32_pins(tx: str, rx: str, af: int) -> tuple[tuple[str, int], ...]:
    (tp, tn), (rp, rn) = _gpio(tx), _gpio(rx)
    return (("ECNN_UART_TX_PORT", tp), ("ECNN_UART_TX_PIN", tn), ("ECNN_UART_RX_PORT", rp), ("ECNN_UART_RX_PIN", rn),
            ("ECNN_UART_AF", af))


def _st_probe(pyocd: str, openocd_target: str) -> Probe:
    return Probe(pyocd_target=pyocd, openocd=("interface/stlink.cfg", f"target/{openocd_target}.cfg"),
                 note=f"pyOCD needs the part's CMSIS pack once: `pyocd pack install {pyocd}`")


# RCC register offsets (F4/F7): APB1ENR 0x40, APB2ENR 0x44
_F4 = "stm32f4"
VENDOR_BOARDS: dict[str, Board] = {b.name: b for b in (
    _stm32_pll("nucleo-f401re", "ST NUCLEO-F401RE (STM32F401RE, Cortex-M4F, 84 MHz)", "cortex-m4", _F4,
               512 * 1024, 96 * 1024, 84_000_000, (16, 336, 4, 7), 2, (2, 1), "USART2", 0x40004400, 1, 0x40, 17,
               ("PA2", "PA3"), 7, _st_probe("stm32f401retx", "stm32f4x")),
    _stm32_pll("nucleo-f411re", "ST NUCLEO-F411RE (STM32F411RE, Cortex-M4F, 100 MHz)", "cortex-m4", _F4,
               512 * 1024, 128 * 1024, 100_000_000, (8, 100, 2, 4), 3, (2, 1), "USART2", 0x40004400, 1, 0x40, 17,
               ("PA2", "PA3"), 7, _st_probe("stm32f411retx", "stm32f4x")),
    _stm32_pll("nucleo-f446re", "ST NUCLEO-F446RE (STM32F446RE, Cortex-M4F, 168 MHz)", "cortex-m4", _F4,
               512 * 1024, 128 * 1024, 168_000_000, (8, 168, 2, 7), 5, (4, 2), "USART2", 0x40004400, 1, 0x40, 17,
               ("PA2", "PA3"), 7, _st_probe("stm32f446retx", "stm32f4x"),
               note="168 MHz: the 180 MHz maximum needs the over-drive regulator, which this start-up leaves off"),
    _stm32_pll("netduinoplus2", "Netduino Plus 2 (STM32F405RG, Cortex-M4F, 168 MHz) as QEMU emulates it",
               "cortex-m4", _F4, 1024 * 1024, 128 * 1024, 168_000_000, (8, 168, 2, 7), 5, (4, 2), "USART1",
               0x40011000, 2, 0x44, 4, ("PA9", "PA10"), 7, _st_probe("stm32f405rgtx", "stm32f4x"),
               qemu_machine="netduinoplus2", connection="USART1 on PA9/PA10 (QEMU: the first -serial)",
               note="QEMU models no RCC (reads 0): the start-up's PLL wait times out and the part stays on HSI"),
    _stm32_pll("nucleo-f746zg", "ST NUCLEO-F746ZG (STM32F746ZG, Cortex-M7, 168 MHz)", "cortex-m7", "stm32f7",
               1024 * 1024, 320 * 1024, 168_000_000, (8, 168, 2, 7), 5, (4, 2), "USART3", 0x40004800, 1, 0x40, 18,
               ("PD8", "PD9"), 7, _st_probe("stm32f746zgtx", "stm32f7x"),
               note="168 MHz: 216 MHz needs the over-drive regulator, which this start-up leaves off"),
    Board("nucleo-h743zi", "ST NUCLEO-H743ZI/ZI2 (STM32H743ZI, Cortex-M7, 400 MHz)", 0x08000000, 2048 * 1024,
          0x24000000, 512 * 1024, cpu="cortex-m7", family="stm32h7", clock_hz=400_000_000,
          uart=Uart("USART3", 0x40004800, "PD8 (AF7)", "PD9 (AF7)", connection=_STLINK), cycle_counter="dwt",
          probe=_st_probe("stm32h743zitx", "stm32h7x"),
          defines=(("ECNN_UART_BASE", 0x40004800), ("ECNN_UART_CLOCK_HZ", 100_000_000),
                   ("ECNN_UART_RESET_CLOCK_HZ", 64_000_000), *_stm32_pins("PD8", "PD9", 7)),
          note="HSI 64 MHz / 4 -> PLL1 x50 / 2 = 400 MHz at VOS1 (LDO supply); AXI SRAM (512 KiB at 0x24000000) "
               "holds data and stack"),
    Board("nucleo-l4r5zi", "ST NUCLEO-L4R5ZI (STM32L4R5ZI, Cortex-M4F, 80 MHz; the MLPerf Tiny reference board)",
          0x08000000, 2048 * 1024, 0x20000000, 640 * 1024, cpu="cortex-m4", family="stm32l4", clock_hz=80_000_000,
          uart=Uart("LPUART1", 0x40008000, "PG7 (AF8)", "PG8 (AF8)", connection=_STLINK), cycle_counter="dwt",
          probe=_st_probe("stm32l4r5zitx", "stm32l4x"),
          defines=(("ECNN_UART_BASE", 0x40008000), ("ECNN_UART_CLOCK_HZ", 80_000_000),
                   ("ECNN_UART_RESET_CLOCK_HZ", 4_000_000), *_stm32_pins("PG7", "PG8", 8)),
          note="HSI16 -> PLL x10 / 2 = 80 MHz in range 1 normal mode (120 MHz needs boost mode, left off)"),
    Board("nrf52840dk", "Nordic nRF52840 DK (nRF52840, Cortex-M4F, 64 MHz)", 0x00000000, 1024 * 1024,
          0x20000000, 256 * 1024, cpu="cortex-m4", family="nrf52", clock_hz=64_000_000,
          uart=Uart("UART0", 0x40002000, "P0.06", "P0.08", connection="J-Link OB virtual COM port (USB)"),
          cycle_counter="dwt",
          probe=Probe(pyocd_target="nrf52840", openocd=("interface/jlink.cfg", "target/nrf52.cfg"),
                      note="the DK's on-board probe is a J-Link: pyOCD drives it through pylink"),
          defines=(("ECNN_UART_BASE", 0x40002000), ("ECNN_UART_TX_PIN", 6), ("ECNN_UART_RX_PIN", 8))),
    Board("nano33ble", "Arduino Nano 33 BLE (nRF52840, Cortex-M4F, 64 MHz), after the Arduino bootloader",
          0x00010000, 960 * 1024, 0x20000000, 256 * 1024, cpu="cortex-m4", family="nrf52", clock_hz=64_000_000,
          uart=Uart("UART0", 0x40002000, "P1.03 (D1/TX)", "P1.10 (D0/RX)",
                    connection="a 3.3 V USB-serial adapter on D1 (TX) and D0 (RX): the board's USB is the nRF's own"),
          cycle_counter="dwt",
          probe=Probe(pyocd_target="nrf52840", openocd=("interface/cmsis-dap.cfg", "target/nrf52.cfg"),
                      note="an SWD probe on the bottom pads; the Arduino bootloader at 0x0 is kept"),
          defines=(("ECNN_UART_BASE", 0x40002000), ("ECNN_UART_TX_PIN", 32 + 3), ("ECNN_UART_RX_PIN", 32 + 10))),
    Board("pico", "Raspberry Pi Pico (RP2040, Cortex-M0+, 125 MHz)", 0x10000000, 2048 * 1024, 0x20000000,
          264 * 1024, cpu="cortex-m0plus", family="rp2040", clock_hz=125_000_000,
          uart=Uart("UART0", 0x40034000, "GP0 (pin 1)", "GP1 (pin 2)",
                    connection="a 3.3 V USB-serial adapter on GP0/GP1, or a Picoprobe's UART"),
          cycle_counter="systick", vector_offset=0x100,
          probe=Probe(pyocd_target="rp2040", openocd=("interface/cmsis-dap.cfg", "target/rp2040.cfg"),
                      drive="RPI-RP2", drive_format="uf2", uf2_family=0xE48BFF56, default="uf2",
                      note="hold BOOTSEL while plugging the Pico in: it mounts as the RPI-RP2 drive"),
          defines=(("ECNN_UART_BASE", 0x40034000), ("ECNN_UART_CLOCK_HZ", 125_000_000), ("ECNN_HAS_VTOR", 1)),
          note="XOSC 12 MHz -> PLL_SYS 1500 MHz / 6 / 2 = 125 MHz; a 256-byte boot2 (03h reads) precedes the "
               "vector table"),
    Board("microbit", "BBC micro:bit v1 (nRF51822, Cortex-M0, 16 MHz)", 0x00000000, 256 * 1024, 0x20000000,
          16 * 1024, cpu="cortex-m0", family="nrf51", clock_hz=16_000_000, qemu_machine="microbit",
          uart=Uart("UART0", 0x40002000, "P0.24", "P0.25", connection="DAPLink virtual COM port (USB)"),
          cycle_counter="nrf-timer0",
          probe=Probe(pyocd_target="nrf51", openocd=("interface/cmsis-dap.cfg", "target/nrf51.cfg"),
                      drive="MICROBIT", drive_format="hex", default="uf2",
                      note="the MICROBIT drive (DAPLink) takes an Intel .hex; pyOCD uses the same DAPLink"),
          defines=(("ECNN_UART_BASE", 0x40002000), ("ECNN_UART_TX_PIN", 24), ("ECNN_UART_RX_PIN", 25))),
)}
