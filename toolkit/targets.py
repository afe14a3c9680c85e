"""Deployment targets as data: CPU and FPU flags, memory sizes and the QEMU machine that emulates each."""
from __future__ import annotations

from dataclasses import dataclass, field

from toolkit.errors import ConfigError


@dataclass(frozen=True)
class Target:
    name: str
    kind: str  # "mcu", "android" or "host"
    description: str
    cflags: tuple[str, ...] = ()
    flash_bytes: int | None = None  # a typical board's memory, checked before linking
    ram_bytes: int | None = None
    qemu_machine: str | None = None
    qemu_note: str = ""
    extra: dict = field(default_factory=dict)


def _mcu(name, cpu, fpu_flags, flash, ram, machine, note, desc):
    return Target(name=name, kind="mcu", description=desc,
                  cflags=("-mcpu=" + cpu, "-mthumb", *fpu_flags), flash_bytes=flash, ram_bytes=ram,
                  qemu_machine=machine, qemu_note=note)


_SOFT = ("-mfloat-abi=soft",)
TARGETS: dict[str, Target] = {
    "cortex-m0plus": _mcu("cortex-m0plus", "cortex-m0plus", _SOFT, 256 * 1024, 32 * 1024, "mps2-an385",
                          "QEMU has no Cortex-M0+ board; the ARMv6-M binary runs on the M3 board (ARMv7-M is a "
                          "superset), so instruction counts are exact but timing is not M0+", "Cortex-M0+ (ARMv6-M)"),
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
    "host": Target("host", "host", "the build machine: generated C compiled with the host compiler"),
}
ALIASES = {"cortex-m": "cortex-m4"}


def get_target(name: str) -> Target:
    key = ALIASES.get(name, name)
    if key not in TARGETS:
        raise ConfigError(f"unknown target {name!r}",
                          hint=f"known targets: {', '.join([*ALIASES, *TARGETS])} (see `edgecnn targets`)")
    return TARGETS[key]
