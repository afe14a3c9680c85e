"""Deployment targets as data: CPU and FPU flags, memory sizes and the QEMU machine that emulates each; a vendor
board's name (toolkit.boards) is a target too: its CPU's flags with the board's memory, clock, UART and probe."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from toolkit.boards import VENDOR_BOARDS, Board, Probe, Uart  # noqa: F401 (Board, Probe, Uart: re-exported)
from toolkit.errors import ConfigError


@dataclass(frozen=True)
class Target:
    name: str
    kind: str  # "mcu", "android", "arduino" or "host"
    description: str
    cflags: tuple[str, ...] = ()
    flash_bytes: int | None = None  # a typical board's memory, checked before linking
    ram_bytes: int | None = None
    qemu_machine: str | None = None
    qemu_note: str = ""
    extra: dict = field(default_factory=dict)
    stack_bytes: int = 4096  # reserved for the firmware's main stack (counted in the RAM check)
    board: str | None = None  # the board a firmware build links for by default (else the QEMU machine's)
    cpu: str | None = None  # a board target's CPU target (None: this target is a CPU)

    @property
    def cpu_name(self) -> str:
        """The CPU target's name: the target's own, or a board target's CPU."""
        return self.cpu or self.name

    @property
    def kernel_path(self) -> str:
        """The engine's kernel path for this target's core, as ecnn_kernels.h picks it from the compiler's
        feature macros: "mve" (Helium: ECNN_MODEL_MVE), "dsp" (the DSP extension: ECNN_MODEL_DSP) or "plain"
        (every other core and the host). It decides which of the generated model's guarded constants are
        compiled (deploy.engine.ops.lowered.CArray.guard)."""
        mcpu = next((f.split("=", 1)[1] for f in self.cflags if f.startswith("-mcpu=")), "")
        if mcpu in ("cortex-m55", "cortex-m85"):
            return "mve"
        return "dsp" if mcpu in ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m35p") else "plain"


def _mcu(name, cpu, fpu_flags, flash, ram, machine, note, desc):
    return Target(name=name, kind="mcu", description=desc,
                  cflags=("-mcpu=" + cpu, "-mthumb", *fpu_flags), flash_bytes=flash, ram_bytes=ram,
                  qemu_machine=machine, qemu_note=note)


_SOFT = ("-mfloat-abi=soft",)
TARGETS: dict[str, Target] = {
    "cortex-m0plus": _mcu("cortex-m0plus", "cortex-m0plus", _SOFT, 256 * 1024, 32 * 1024, "mps2-an385",
                          "QEMU has no Cortex-M0+ board; the ARMv6-M binary runs on the M3 board (ARMv7-M is a "
                          "superset), so instruction counts are exact but timing is not M0+", "Cortex-M0+ (ARMv6-M)"),
    "cortex-m0": _mcu("cortex-m0", "cortex-m0", _SOFT, 256 * 1024, 16 * 1024, "microbit",
                      "the BBC micro:bit (nRF51822): a real Cortex-M0 with the part's memory map and UART",
                      "Cortex-M0 (ARMv6-M, e.g. nRF51)"),
    "cortex-m3": _mcu("cortex-m3", "cortex-m3", _SOFT, 512 * 1024, 64 * 1024, "mps2-an385", "", "Cortex-M3"),
    "cortex-m4": _mcu("cortex-m4", "cortex-m4", ("-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"), 1024 * 1024,
                      192 * 1024, "mps2-an386", "", "Cortex-M4F (e.g. STM32F4)"),
    "cortex-m7": _mcu("cortex-m7", "cortex-m7", ("-mfloat-abi=hard", "-mfpu=fpv5-d16"), 2048 * 1024,
                      512 * 1024, "mps2-an500", "", "Cortex-M7 (e.g. STM32F7/H7)"),
    "cortex-m33": _mcu("cortex-m33", "cortex-m33", ("-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"), 1024 * 1024,
                       256 * 1024, "mps2-an505", "", "Cortex-M33 (ARMv8-M mainline)"),
    "cortex-m55": _mcu("cortex-m55", "cortex-m55", ("-mfloat-abi=hard",), 2048 * 1024, 512 * 1024, "mps3-an547",
                       "", "Cortex-M55 (ARMv8.1-M with Helium)"),
    "android": Target("android", "android", "Android apps: LiteRT and ONNX Runtime Mobile bundle"),
    "arduino": Target("arduino", "arduino", "an Arduino library (the engine and a ClassifyGolden sketch, zipped for "
                      "Add .ZIP Library); flash counted for the Nano 33 BLE's Cortex-M4F",
                      cflags=("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16")),
    "host": Target("host", "host", "the build machine: generated C compiled with the host compiler"),
}
ALIASES = {"cortex-m": "cortex-m4"}


# The MPS2/MPS3 FPGA images as QEMU 7.2 models them. The TrustZone boards (AN505, AN547) boot in the
# secure state, so code and data are linked at the secure aliases (address bit 28 set).
BOARDS: dict[str, Board] = {
    "mps2-an385": Board("mps2-an385", "Arm MPS2 AN385 (Cortex-M3; also runs ARMv6-M builds)",
                        0x00000000, 4 * 1024 * 1024, 0x20000000, 4 * 1024 * 1024, 0x40004000, "mps2-an385"),
    "mps2-an386": Board("mps2-an386", "Arm MPS2 AN386 (Cortex-M4)",
                        0x00000000, 4 * 1024 * 1024, 0x20000000, 4 * 1024 * 1024, 0x40004000, "mps2-an386"),
    "mps2-an500": Board("mps2-an500", "Arm MPS2 AN500 (Cortex-M7)",
                        0x00000000, 4 * 1024 * 1024, 0x20000000, 4 * 1024 * 1024, 0x40004000, "mps2-an500"),
    "mps2-an505": Board("mps2-an505", "Arm MPS2 AN505 (Cortex-M33, SSE-200), secure state",
                        0x10000000, 4 * 1024 * 1024, 0x38000000, 2 * 1024 * 1024, 0x50200000, "mps2-an505"),
    "mps3-an547": Board("mps3-an547", "Arm MPS3 AN547 (Cortex-M55, SSE-300), secure state",
                        0x10000000, 512 * 1024, 0x30000000, 512 * 1024, 0x59303000, "mps3-an547"),
    **VENDOR_BOARDS,
}

BOARD_KEYS = ("name", "flash_origin", "flash_bytes", "ram_origin", "ram_bytes", "uart_base")


BOARD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
# Names a custom board cannot take: it names the folder firmware/<name>/, beside the CPUs' and these.
RESERVED_BOARD_NAMES = ("engine", "tflm", "qemu_plugin")
VECTOR_TABLE_ALIGN = 128  # VTOR ignores the low 7 address bits, and the vector table is linked at flash_origin


def _int(value, key: str) -> int:
    try:
        if isinstance(value, bool) or not isinstance(value, (int, str)):  # TOML true or 1.5 is no address
            raise TypeError
        return int(value, 0) if isinstance(value, str) else value
    except (TypeError, ValueError):
        raise ConfigError(f"[build.board] option {key} must be an integer (decimal or 0x hex), got {value!r}") \
            from None


def get_board(target: Target, board: Board | dict | str | None = None) -> Board:
    """The board a firmware build links for: the target's QEMU board, a named board, or a generic board
    given as {flash_origin, flash_bytes, ram_origin, ram_bytes[, uart_base, name]} (e.g. [build.board]); a Board
    object is already one."""
    if isinstance(board, Board):
        return board
    if not board:
        default = target.board or target.qemu_machine
        if default not in BOARDS:
            raise ConfigError(f"target {target.name} has no default board",
                              hint="give a board: flash_origin, flash_bytes, ram_origin, ram_bytes")
        return BOARDS[default]
    if isinstance(board, str):
        if board not in BOARDS:
            raise ConfigError(f"unknown board {board!r}", hint=f"known boards: {', '.join(BOARDS)}, or a generic "
                              "board given by flash_origin, flash_bytes, ram_origin, ram_bytes")
        brd = BOARDS[board]
        if brd.cpu is not None and brd.cpu != target.cpu_name:
            raise ConfigError(f"board {board} has a {brd.cpu}, not the {target.cpu_name} of --target {target.name}",
                              hint=f"use --target {board} (its CPU is implied)")
        return brd
    unknown = sorted(set(board) - set(BOARD_KEYS))
    if unknown:
        raise ConfigError(f"unknown [build.board] option(s) {', '.join(unknown)}",
                          hint=f"known: {', '.join(BOARD_KEYS)}")
    missing = [k for k in ("flash_origin", "flash_bytes", "ram_origin", "ram_bytes") if k not in board]
    if missing:
        raise ConfigError(f"the custom board ([build.board]) needs {', '.join(missing)}",
                          hint="give flash_origin, flash_bytes, ram_origin and ram_bytes (e.g. 0x08000000)")
    vals = {k: _int(board[k], k) for k in ("flash_origin", "flash_bytes", "ram_origin", "ram_bytes")}
    for k in ("flash_bytes", "ram_bytes"):
        if vals[k] <= 0:
            raise ConfigError(f"[build.board] option {k} must be positive, got {vals[k]}")
    uart = board.get("uart_base")
    uart = None if uart is None else _int(uart, "uart_base")
    name = _board_name(board.get("name", "generic"))
    _check_memory_map(name, vals, uart)
    return Board(name=name, description=f"{name} (custom board: the [build.board] memory map, no QEMU model)",
                 uart_base=uart, **vals)


def _board_name(value) -> str:
    """A custom board's name: it names its firmware folder and is compiled into the firmware and its Makefile."""
    if not isinstance(value, str) or not BOARD_NAME.fullmatch(value):
        raise ConfigError(f"[build.board] name {value!r} cannot name a board",
                          hint="use 1 to 64 letters, digits, '.', '_', '+' or '-', starting with a letter or digit "
                               "(e.g. nucleo-f446re): it names the folder firmware/<name>/")
    taken = {n.lower() for n in (*BOARDS, *TARGETS, *ALIASES, *RESERVED_BOARD_NAMES)}
    if value.lower() in taken:
        raise ConfigError(f"[build.board] name {value!r} is taken by a built-in board, target or firmware folder",
                          hint="give the board its own name (e.g. the product's, nucleo-f446re)")
    return value


def _check_memory_map(name: str, v: dict, uart: int | None) -> None:
    """A ConfigError unless both regions lie in the 32-bit address space, apart, and aligned as the firmware
    needs (vector table at flash_origin, 8-byte aligned stack in RAM)."""
    for region in ("flash", "ram"):
        origin, size = v[f"{region}_origin"], v[f"{region}_bytes"]
        if origin < 0 or origin + size > 1 << 32:
            raise ConfigError(f"[build.board] {region}_origin 0x{origin:X} plus {region}_bytes {size:,} of board "
                              f"{name} leaves the 32-bit address space", hint="check the chip's memory map")
    if v["flash_origin"] % VECTOR_TABLE_ALIGN:
        raise ConfigError(f"[build.board] flash_origin 0x{v['flash_origin']:X} of board {name} is not a multiple of "
                          f"{VECTOR_TABLE_ALIGN}: the vector table is linked there",
                          hint="give the address where the chip's flash starts (e.g. 0x08000000)")
    if v["ram_origin"] % 8:
        raise ConfigError(f"[build.board] ram_origin 0x{v['ram_origin']:X} of board {name} is not a multiple of 8",
                          hint="give the address where the chip's RAM starts (e.g. 0x20000000)")
    f0, f1 = v["flash_origin"], v["flash_origin"] + v["flash_bytes"]
    r0, r1 = v["ram_origin"], v["ram_origin"] + v["ram_bytes"]
    if f0 < r1 and r0 < f1:
        raise ConfigError(f"[build.board] flash 0x{f0:X}-0x{f1 - 1:X} and RAM 0x{r0:X}-0x{r1 - 1:X} of board {name} "
                          "overlap", hint="check flash_origin, flash_bytes, ram_origin and ram_bytes against the "
                                          "chip's memory map")
    if uart is not None and not (0 <= uart < 1 << 32 and uart % 4 == 0):
        raise ConfigError(f"[build.board] uart_base {uart:#x} of board {name} is not a 4-byte aligned 32-bit address",
                          hint="give the base address of the board's CMSDK UART, or leave uart_base out and "
                               "provide board_uart_init/putc/getc")


def check_build_board(target: Target, board: dict | str | None, verify: str = "none") -> Board | None:
    """Everything about a build's board that can be checked before the first stage: its fields (get_board),
    and that `--verify qemu` has a QEMU machine to run it on. None when the build names no board."""
    if not board:
        return None
    brd = get_board(target, board)
    if verify == "qemu" and brd.qemu_machine is None:
        raise ConfigError(f"--verify qemu cannot run the firmware of board {brd.name}: no QEMU machine emulates a "
                          "custom [build.board]",
                          hint=f"use --verify host, or flash firmware/{brd.name}/build/edgecnn_serial.elf to the "
                               "board and run `edgecnn verify OUT --device serial:PORT`")
    return brd


def board_target(board: Board) -> Target:
    """A vendor board as a target: its CPU's compiler flags and stack, the board's memory, QEMU machine and name."""
    cpu = TARGETS[board.cpu]
    return Target(name=board.name, kind="mcu", description=board.description, cflags=cpu.cflags,
                  flash_bytes=board.flash_bytes, ram_bytes=board.ram_bytes, qemu_machine=board.qemu_machine,
                  stack_bytes=cpu.stack_bytes, board=board.name, cpu=cpu.name)


# Vendor boards are targets by their names: `--target nucleo-f446re`. TARGETS keeps the CPUs (and android, host).
BOARD_TARGETS: dict[str, Target] = {b.name: board_target(b) for b in BOARDS.values() if b.cpu is not None}


def target_names(engine_only: bool = False) -> list[str]:
    """Every --target name, for the command line's choices: aliases, CPUs, android, host, arduino and the vendor
    boards; engine_only leaves out the targets with no generated C (android)."""
    names = [*ALIASES, *TARGETS, *BOARD_TARGETS]
    return [n for n in names if not engine_only or get_target(n).kind != "android"]


def get_target(name: str) -> Target:
    """The one place a --target name is resolved: a CPU (or alias), android, host, or a vendor board."""
    key = ALIASES.get(name, name)
    if key in TARGETS:
        return TARGETS[key]
    if key in BOARD_TARGETS:
        return BOARD_TARGETS[key]
    raise ConfigError(f"unknown target {name!r}",
                      hint=f"known targets: {', '.join([*ALIASES, *TARGETS])}; boards: {', '.join(BOARD_TARGETS)} "
                           "(see `edgecnn targets`)")
