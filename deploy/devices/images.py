"""Flashable images of a firmware ELF: raw .bin and Intel .hex (arm-none-eabi-objcopy), and .uf2 for boards whose
USB drive takes one (the Pico's RPI-RP2), written beside the ELF.

UF2 (https://github.com/microsoft/uf2): 512-byte blocks, each carrying 256 bytes of the image at its flash
address, with the part's family ID so that a bootloader refuses an image for another chip.
"""
from __future__ import annotations

import struct
import subprocess
from pathlib import Path

from toolkit.errors import ToolchainError
from toolkit.targets import Board

UF2_MAGIC_START0 = 0x0A324655
UF2_MAGIC_START1 = 0x9E5D5157
UF2_MAGIC_END = 0x0AB16F30
UF2_FLAG_FAMILY_ID = 0x00002000
UF2_PAYLOAD = 256


def objcopy(elf: Path, fmt: str, dest: Path) -> Path:
    """arm-none-eabi-objcopy -O fmt (binary or ihex): the loadable sections at their load addresses."""
    from deploy.devices.toolchain import require_tool

    tool = require_tool("arm-none-eabi-objcopy")
    r = subprocess.run([tool, "-O", fmt, str(elf), str(dest)], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise ToolchainError(f"arm-none-eabi-objcopy -O {fmt} failed on {elf}: {r.stderr.strip()[:300]}")
    return dest


def uf2_blocks(data: bytes, address: int, family_id: int) -> bytes:
    """`data` (an image to be placed at `address`) as UF2 blocks for the part `family_id`."""
    chunks = [data[i:i + UF2_PAYLOAD] for i in range(0, len(data), UF2_PAYLOAD)] or [b""]
    out = bytearray()
    for n, chunk in enumerate(chunks):
        head = struct.pack("<8I", UF2_MAGIC_START0, UF2_MAGIC_START1, UF2_FLAG_FAMILY_ID, address + n * UF2_PAYLOAD,
                           UF2_PAYLOAD, n, len(chunks), family_id)
        out += head + chunk.ljust(476, b"\0") + struct.pack("<I", UF2_MAGIC_END)
    return bytes(out)


def write_images(elf: Path, board: Board) -> dict[str, Path]:
    """<elf>.bin and <elf>.hex, and <elf>.uf2 when the board's drive takes UF2; returns {format: path}."""
    elf = Path(elf)
    images = {"bin": objcopy(elf, "binary", elf.with_suffix(".bin")),
              "hex": objcopy(elf, "ihex", elf.with_suffix(".hex"))}
    if board.probe.uf2_family is not None:
        uf2 = elf.with_suffix(".uf2")
        uf2.write_bytes(uf2_blocks(images["bin"].read_bytes(), board.flash_origin, board.probe.uf2_family))
        images["uf2"] = uf2
    return images


__all__ = ["write_images", "uf2_blocks", "objcopy"]
