"""Programs a vendor board with the serial firmware of a build: pyOCD (CMSIS-DAP, ST-LINK, J-Link probes; the
default), OpenOCD, any GDB server (`--via gdb HOST:PORT`: gdb-multiarch loads the ELF, sets the stack pointer and
reset handler from its vector table, and lets it run), or a copy to the board's USB drive (`--via uf2`: the
Pico's RPI-RP2 takes the .uf2, the micro:bit's MICROBIT drive the .hex).

    result = flash("build/compact_cnn", "nucleo-f446re")                         # pyOCD
    result = flash("build/compact_cnn", "microbit", via="gdb", address="localhost:1234")

The firmware is built first when the build has no serial ELF for the board yet. A missing probe, drive or tool is
a FlashError with one line saying what to connect or install.
"""
from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

from toolkit.errors import ConfigError, ToolchainError
from toolkit.targets import BOARD_TARGETS, Board, get_board

VIAS = ("pyocd", "openocd", "gdb", "uf2")
TOOL_PACKAGES = {"gdb-multiarch": "gdb-multiarch", "openocd": "openocd"}


class FlashError(ToolchainError):
    """The board could not be programmed: no probe or drive found, or the programmer failed."""


def _board(name: str) -> Board:
    if name not in BOARD_TARGETS:
        raise ConfigError(f"--board {name!r} is not a board edgecnn can flash",
                          hint=f"known boards: {', '.join(BOARD_TARGETS)}")
    return get_board(BOARD_TARGETS[name])


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise FlashError(f"{name} is not installed", hint=f"install it with `sudo apt-get install "
                                                          f"{TOOL_PACKAGES.get(name, name)}`, or use --via pyocd")
    return path


def serial_firmware(build_dir: Path, board: str) -> dict[str, Path]:
    """{"elf", "bin", "hex"[, "uf2"]} of the build's serial firmware for `board`, built now if it is missing (from
    the folder read through toolkit.artifacts.load_build, like `edgecnn verify`)."""
    from deploy.devices.firmware import build_firmware, firmware_dir
    from toolkit.artifacts import load_build

    target = BOARD_TARGETS[_board(board).name]
    out = firmware_dir(build_dir, target) / "build"
    names = {"elf": out / "edgecnn_serial.elf", "bin": out / "edgecnn_serial.bin", "hex": out / "edgecnn_serial.hex"}
    if _board(board).probe.uf2_family is not None:
        names["uf2"] = out / "edgecnn_serial.uf2"
    if all(p.is_file() for p in names.values()):
        return names
    build = load_build(build_dir)
    fw = build_firmware(build.out, target, modes=("serial",), engine=build.engine, golden=build.golden)
    return {"elf": fw.elves["serial"], **fw.images["serial"]}


def flash(build_dir, board: str, via: str | None = None, address: str | None = None,
          drive: str | Path | None = None) -> dict:
    """Program `board` with the serial firmware of `build_dir`; returns {board, via, image, how}."""
    brd = _board(board)
    via = via or brd.probe.default
    if via not in VIAS:
        raise ConfigError(f"--via {via!r} is not one of {', '.join(VIAS)}")
    if (via == "gdb") != (address is not None):
        raise ConfigError("--via gdb needs the GDB server's HOST:PORT (e.g. --via gdb localhost:3333)"
                          if via == "gdb" else f"HOST:PORT {address!r} is only for --via gdb")
    if via == "uf2" and brd.probe.drive is None:
        raise ConfigError(f"board {board} has no USB drive to copy firmware to", hint="use --via pyocd or openocd")
    build_dir = Path(build_dir).resolve()
    images = serial_firmware(build_dir, board)
    if via == "pyocd":
        how = _pyocd(brd, images["elf"])
    elif via == "openocd":
        how = _openocd(brd, images["elf"])
    elif via == "gdb":
        how = _gdb(brd, images, address)
    else:
        how = _drive(brd, images, drive)
    return {"board": board, "via": via, "image": str(images["elf"]), "how": how}


def _pyocd(brd: Board, elf: Path) -> str:
    try:
        from pyocd.core.exceptions import Error as PyocdError
        from pyocd.core.helpers import ConnectHelper
        from pyocd.flash.file_programmer import FileProgrammer
    except ImportError:
        raise FlashError("pyOCD is not installed", hint="reinstall edgecnn (./install.sh), or use --via openocd") from None
    import logging

    logging.getLogger("pyocd").setLevel(logging.CRITICAL)  # its own warnings would break the one-line errors
    try:
        probes = ConnectHelper.get_all_connected_probes(blocking=False, print_wait_message=False)
    except Exception as exc:  # noqa: BLE001 (USB back ends raise their own types)
        raise FlashError(f"pyOCD could not list debug probes: {exc}") from None
    if not probes:
        raise FlashError(f"no debug probe found for {brd.name}: connect the board's USB port "
                         f"({brd.uart.connection.split(' (')[0] if brd.uart else 'its probe'})",
                         hint="on Linux the probe needs udev rules (pyocd's udev/ folder); or use --via openocd, "
                              "--via gdb HOST:PORT" + (", --via uf2" if brd.probe.drive else ""))
    try:
        with ConnectHelper.session_with_chosen_probe(unique_id=probes[0].unique_id, target_override=brd.probe.pyocd_target,
                                                     blocking=False) as session:
            FileProgrammer(session).program(str(elf), file_format="elf")
            session.target.reset()
    except PyocdError as exc:
        raise FlashError(f"pyOCD could not program {brd.name} ({brd.probe.pyocd_target}): {exc}",
                         hint=brd.probe.note or "check the probe's connection and the target name") from None
    return f"pyOCD ({brd.probe.pyocd_target}) through probe {probes[0].unique_id}"


def _openocd(brd: Board, elf: Path) -> str:
    openocd = _tool("openocd")
    cmd = [openocd]
    for cfg in brd.probe.openocd:
        cmd += ["-f", cfg]
    cmd += ["-c", f"program {elf} verify reset exit"]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        raise FlashError(f"OpenOCD did not finish programming {brd.name} within 180 s") from None
    if r.returncode != 0:
        err = r.stderr.strip().splitlines()
        last = next((line for line in reversed(err) if "Error" in line), err[-1] if err else "")
        if re.search(r"open failed|No device found|unable to find|could not find|not found", r.stderr, re.I):
            raise FlashError(f"no debug probe found for {brd.name} by OpenOCD ({' '.join(brd.probe.openocd)}): "
                             f"{last.strip()}", hint="connect the board's USB port, or use --via pyocd")
        raise FlashError(f"OpenOCD failed to program {brd.name}: {last.strip()}")
    return f"OpenOCD ({' '.join(brd.probe.openocd)})"


def _gdb(brd: Board, images: dict[str, Path], address: str) -> str:
    """Load the ELF through a GDB server, point SP and PC at the vector table's values, detach (the core runs)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--via gdb {address!r} is not HOST:PORT", hint="e.g. --via gdb localhost:3333")
    gdb = _tool("gdb-multiarch")
    sp, reset = struct.unpack_from("<II", images["bin"].read_bytes(), brd.vector_offset)
    cmd = [gdb, "-q", "-batch", "-nx", str(images["elf"]), "-ex", "set confirm off",
           "-ex", "set tcp auto-retry off", "-ex", "set tcp connect-timeout 5", "-ex", f"target remote {address}", "-ex", "load", "-ex", f"set $sp = {sp:#x}",
           "-ex", f"set $pc = {reset & ~1:#x}", "-ex", "detach"]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise FlashError(f"gdb-multiarch did not finish loading {images['elf'].name} through {address} in 120 s") \
            from None
    out = r.stdout + r.stderr
    if "Start address" not in out or "detached" not in out.lower():
        line = next((x for x in out.splitlines() if re.search(r"refused|error|timed out|cannot|failed", x, re.I)),
                    out.strip().splitlines()[-1] if out.strip() else "no output")
        raise FlashError(f"no GDB server took the firmware at {address}: {line.strip().removeprefix(address + ': ')}",
                         hint="start one first (pyocd gdbserver, openocd, JLinkGDBServer, or qemu -S -gdb tcp::PORT)")
    return f"gdb-multiarch through the GDB server at {address} (loaded, started at {reset & ~1:#x})"


def _mounted(label: str) -> list[Path]:
    """Mount points whose folder name is the drive's volume label (Linux /proc/mounts, macOS /Volumes)."""
    found = []
    try:
        with open("/proc/mounts", encoding="utf-8") as f:
            for line in f:
                mount = Path(line.split()[1].replace("\\040", " "))
                if mount.name == label:
                    found.append(mount)
    except OSError:
        pass
    mac = Path("/Volumes") / label
    return found + ([mac] if mac.is_dir() else [])


def _drive(brd: Board, images: dict[str, Path], drive: str | Path | None) -> str:
    label, fmt = brd.probe.drive, brd.probe.drive_format
    if drive is not None:
        target = Path(drive)
        if not target.is_dir():
            raise FlashError(f"--drive {target} is not a mounted folder", hint=f"give the {label} drive's mount point")
    else:
        found = _mounted(label)
        if not found:
            raise FlashError(f"no {label} drive is mounted for {brd.name}", hint=f"{brd.probe.note or 'plug it in'}; "
                             "or give its mount point with --drive PATH")
        target = found[0]
    image = images[fmt]
    dest = target / f"edgecnn.{fmt}"
    try:
        shutil.copyfile(image, dest)
        if hasattr(os, "sync"):
            os.sync()  # the board reboots into the image once the copy lands
    except OSError as exc:
        raise FlashError(f"cannot copy {image.name} to {target}: {exc.strerror}") from None
    return f"copied {image.name} to the {label} drive at {target}"


__all__ = ["flash", "FlashError", "VIAS", "serial_firmware"]
