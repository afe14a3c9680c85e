"""Owns the C toolchains: finding the compilers (arm-none-eabi-gcc, host gcc), the flags per target, and reading sizes.

Compiler flags come from the target's data (toolkit.targets.Target.cflags: CPU, Thumb, FPU) plus one of the flag
sets below; nothing else in edgecnn spells a -mcpu or an optimisation level.

    flags = firmware_cflags(target)                      # what the firmware is compiled with
    sizes = object_sizes(engine_dir, work, target)      # text/data/bss of the engine's objects for that CPU
    elf_sizes(elf, target.stack_bytes)                  # flash and RAM of a linked firmware
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from toolkit.errors import ToolchainError
from toolkit.targets import Target, get_target

# Every firmware build: C99, warnings are errors, unused code and data dropped at link.
FIRMWARE_CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-ffunction-sections", "-fdata-sections",
                   "-fno-common")
LDFLAGS = ("-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections", "-Wl,--no-warn-rwx-segments")
# The engine's objects alone, for a size figure where no firmware is linked (host and Arduino builds).
OBJECT_CFLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Os", "-c")
# The host build of the engine (verification with gcc), optionally under the sanitizers.
HOST_CFLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2")
SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g")
SIZE_CPU = "cortex-m4"  # the CPU whose flags measure a target that has none (host)

# Debian package that provides each tool (the ToolchainError names it).
TOOL_PACKAGES = {
    "arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi",
    "arm-none-eabi-size": "binutils-arm-none-eabi",
    "arm-none-eabi-nm": "binutils-arm-none-eabi",
    "arm-none-eabi-objcopy": "binutils-arm-none-eabi",
    "qemu-system-arm": "qemu-system-arm",
    "gcc": "gcc",
}


def require_tool(name: str) -> str:
    """Absolute path of an external tool, or a ToolchainError naming the Debian package to install."""
    path = shutil.which(name)
    if path is None:
        pkg = TOOL_PACKAGES.get(name, name)
        raise ToolchainError(f"{name} is not installed",
                             hint=f"install it with `sudo apt-get install {pkg}` (or run ./install.sh)")
    return path


def has_arm_toolchain() -> bool:
    """True when arm-none-eabi-gcc and arm-none-eabi-size are installed."""
    return shutil.which("arm-none-eabi-gcc") is not None and shutil.which("arm-none-eabi-size") is not None


def run_tool(cmd: list[str], what: str, cwd: Path | None = None, timeout: int = 300,
             env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a compiler, binutils or host command (env: variables added to this process's); a ToolchainError when
    it is not installed or does not finish in time (the caller reads the return code)."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=timeout,
                              env=None if env is None else {**os.environ, **env})
    except FileNotFoundError:
        raise ToolchainError(f"{cmd[0]} is not installed, so {what} cannot run",
                             hint="install it (Debian/Ubuntu: apt-get install build-essential gcc-arm-none-eabi "
                                  "binutils-arm-none-eabi)") from None
    except subprocess.TimeoutExpired:
        raise ToolchainError(f"{what} did not finish within {timeout} s: {' '.join(cmd[:3])} ...") from None


def cpu_flags(target: Target) -> tuple[Target, list[str]]:
    """The target whose CPU flags measure `target` (itself when it has flags, else Cortex-M4) and those flags."""
    if target.cflags:
        return target, list(target.cflags)
    cpu = get_target(SIZE_CPU)
    return cpu, list(cpu.cflags)


def firmware_cflags(target: Target) -> list[str]:
    """The flags every firmware source is compiled with for `target`: its CPU and FPU, then FIRMWARE_CFLAGS."""
    return [*target.cflags, *FIRMWARE_CFLAGS]


def object_cflags(target: Target) -> list[str]:
    """The flags the engine's objects are measured with for `target` (-Os, -c)."""
    return [*cpu_flags(target)[1], *OBJECT_CFLAGS]


def object_sizes(engine_dir: Path, work: Path, target: Target) -> dict | None:
    """text/data/bss (and `cpu`, the target whose flags were used) of the engine's objects compiled for `target`
    with OBJECT_CFLAGS; None without arm-none-eabi-gcc."""
    if not has_arm_toolchain():
        return None
    cpu, _ = cpu_flags(target)
    objs = []
    for c in sorted(Path(engine_dir).glob("*.c")):
        o = Path(work) / (c.stem + ".arm.o")
        r = run_tool(["arm-none-eabi-gcc", *object_cflags(target), "-I", str(engine_dir), str(c), "-o", str(o)],
                     f"compiling {c.name} for {cpu.name}")
        if r.returncode != 0:
            raise ToolchainError(f"compiling {c.name} for {cpu.name} failed: {(r.stderr or r.stdout).strip()[-1500:]}",
                                 hint="the generated C must compile cleanly; report this as an edgecnn bug")
        objs.append(str(o))
    r = run_tool(["arm-none-eabi-size", "-t", *objs], f"measuring the {cpu.name} objects")
    total = r.stdout.strip().splitlines()[-1].split()
    return dict(text=int(total[0]), data=int(total[1]), bss=int(total[2]), cpu=cpu.name)


def parse_size_output(text: str) -> list[dict]:
    """Rows of `arm-none-eabi-size` (Berkeley format): [{text, data, bss, filename}]."""
    rows = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 6 and parts[0].isdigit():
            rows.append(dict(text=int(parts[0]), data=int(parts[1]), bss=int(parts[2]), filename=parts[5]))
    return rows


def elf_sizes(elf: Path, stack_bytes: int) -> dict:
    """Flash (text + rodata + .data image) and RAM (.data + .bss, the reserved stack included) of an ELF."""
    size = require_tool("arm-none-eabi-size")
    r = run_tool([size, "-A", "-d", str(elf)], "arm-none-eabi-size")
    if r.returncode != 0:
        raise ToolchainError(f"arm-none-eabi-size failed on {elf}: {r.stderr.strip()}")
    sec = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit():
            sec[parts[0]] = int(parts[1])
    text = sec.get(".text", 0) + sec.get(".ARM.exidx", 0)
    data, bss, stack = sec.get(".data", 0), sec.get(".bss", 0), sec.get(".stack", stack_bytes)
    return dict(flash_bytes=text + data, ram_bytes=data + bss + stack, text=text, data=data, bss=bss,
                stack=stack)


def ram_parts(sizes: dict, engine_activations: int) -> dict:
    """What the firmware's RAM figure is made of: .data, .bss (the engine's activation arena, its I/O and the
    firmware's buffers) and the reserved stack; the engine's activations are also named on their own."""
    return dict(data=sizes["data"], bss=sizes["bss"], stack=sizes["stack"], engine_activations=engine_activations)


def ram_text(parts: dict | None, total: int | None, firmware: str = "firmware") -> str:
    """One line naming every part of RAM: the engine's activations (report.json's peak_ram_bytes) and, when a
    firmware was linked, its RAM = .data + .bss (the activations' static arena plus the firmware's own buffers,
    such as its input/output copies) + the reserved stack, e.g.

        engine activations 1,536 B (peak_ram_bytes); verify firmware RAM 5,708 B = .data 0 + .bss 1,612
        (activations 1,536 + firmware buffers 76) + stack 4,096
    """
    parts = parts or {}
    act = parts.get("engine_activations")
    text = f"engine activations {act:,} B (peak_ram_bytes)" if act is not None else ""
    if "bss" not in parts or total is None:
        return text
    inside = (f"activations {act:,} + firmware buffers {parts['bss'] - act:,}" if act is not None
              and parts["bss"] >= act else "activations and firmware buffers")
    return (f"{text}; " if text else "") + (
        f"{firmware} RAM {total:,} B = .data {parts['data']:,} + .bss {parts['bss']:,} ({inside}) "
        f"+ stack {parts['stack']:,}")


def symbol_address(elf: Path, name: str) -> int:
    """Address of a function or object in an ELF (Thumb bit cleared), from arm-none-eabi-nm."""
    nm = require_tool("arm-none-eabi-nm")
    r = run_tool([nm, str(elf)], "arm-none-eabi-nm")
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16) & ~1
    raise ToolchainError(f"symbol {name} is not in {elf}", hint="rebuild the firmware with this edgecnn version")


__all__ = ["require_tool", "has_arm_toolchain", "run_tool", "firmware_cflags", "object_cflags", "object_sizes",
           "parse_size_output", "elf_sizes", "ram_parts", "ram_text", "symbol_address", "FIRMWARE_CFLAGS", "LDFLAGS", "OBJECT_CFLAGS",
           "HOST_CFLAGS", "SANITIZE", "TOOL_PACKAGES"]
