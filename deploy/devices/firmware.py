"""Generates and builds the Cortex-M firmware (verify and serial modes) for one CPU and board with arm-none-eabi-gcc.

Layout, next to the engine that deploy.engine.codegen writes into <build>/firmware/engine/:

    <build>/firmware/<cpu>/            board files: startup.c, board.h, linker.ld, Makefile, CMakeLists.txt,
                                       main_verify.c, semihost.[ch], main_serial.c, ecnn_link.[ch], board_uart.c,
                                       README.md, inputs.bin and expected.bin (golden inputs, TFLM's outputs)
    <build>/firmware/<cpu>/build/      edgecnn_verify.elf, edgecnn_serial.elf (+ .map, .bin, .hex; .uf2 where the
                                       board takes one), written by build_firmware
    <build>/firmware/<board name>/     the same for a vendor board (--target nucleo-f446re: plus its register-level
                                       port, e.g. stm32f4.c, for clock, UART and cycle counter), a custom board
                                       ([build.board]) or another CPU's board

Before linking, the model's constant bytes and RAM plan (from the engine's description, engine.json) plus the
compiled code are checked against the target chip; a model that does not fit is a ModelTooLargeError that gives
the numbers.
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deploy.engine.c_format import GENERATED_HEADER, c_string
from deploy.engine.description import FILE_NAME as DESCRIPTION_FILE
from deploy.engine.description import EngineDescription, read_description
from deploy.devices.images import write_images
from deploy.engine.templates import TEMPLATE_DIR, render, write_generated
from deploy.devices.toolchain import LDFLAGS, elf_sizes, firmware_cflags, parse_size_output, require_tool, run_tool
from toolkit.boards import CYCLE_COUNTERS
from toolkit.errors import ConfigError, OutputError, ToolchainError
from toolkit.fit import ModelTooLargeError, Need, fit_error, part_name
from toolkit.fit import limits as fit_limits
from toolkit.targets import Board, Target, get_board

MODES = ("verify", "serial")
STATIC_FILES = ("startup.c", "board_uart.c", "semihost.c", "semihost.h", "ecnn_link.c", "ecnn_link.h",
                "main_verify.c", "main_serial.c")
TEMPLATED_FILES = {"board.h": "board.h.j2", "linker.ld": "linker.ld.j2", "Makefile": "Makefile.j2",
                   "CMakeLists.txt": "CMakeLists.txt.j2", "README.md": "README.md.j2"}
COMMON_SOURCES = ("startup.c", "board_uart.c")  # in both modes (MODE_SOURCES starts with them)
MODE_SOURCES = {
    "verify": ("startup.c", "board_uart.c", "semihost.c", "main_verify.c"),
    "serial": ("startup.c", "board_uart.c", "ecnn_link.c", "main_serial.c"),
}


@dataclass
class FirmwareBuild:
    """What build_firmware produced: the ELF per mode and its memory use as the ELF says."""

    cpu: str
    board: str
    qemu_machine: str | None
    dir: Path
    elves: dict[str, Path]
    sizes: dict[str, dict]  # mode -> {flash_bytes, ram_bytes, text, data, bss, stack}
    engine: EngineDescription | None = None  # the engine the firmware runs (deploy.engine.description)
    limits: dict = field(default_factory=dict)  # {flash_bytes, ram_bytes} the firmware was linked against
    images: dict = field(default_factory=dict)  # mode -> {"bin": Path, "hex": Path[, "uf2": Path]}


def firmware_dir(build_dir: Path, target: Target, board: Board | str | None = None) -> Path:
    """<build>/firmware/<cpu>/ for the CPU's own (QEMU) board, <build>/firmware/<board name>/ for any other, so
    that verifying on QEMU never overwrites a custom board's files. `board` may be the name a firmware
    reports (ECNN_BOARD_NAME)."""
    target = mcu_target(target)
    name = board.name if isinstance(board, Board) else board
    own = target.board or target.qemu_machine
    return Path(build_dir) / "firmware" / (target.name if not name or name == own else name)


def engine_dir(build_dir: Path) -> Path:
    return Path(build_dir) / "firmware" / "engine"


def mcu_target(target: Target) -> Target:
    """The Cortex-M Target itself, or a ConfigError for a target that has no Cortex-M firmware. Names are resolved
    at the edges (the CLI, a device string, a board's report); deploy functions take the Target object."""
    if not isinstance(target, Target):
        raise TypeError(f"expected a toolkit.targets.Target, not {target!r} (look it up with get_target)")
    if target.kind != "mcu":
        raise ConfigError(f"{target.name} is not a Cortex-M target",
                          hint="use cortex-m0plus, m3, m4, m7, m33 or m55")
    return target


def ensure_engine(build_dir: Path) -> Path:
    """The engine folder of a build; generated from model_int8.tflite when the build has none yet. For callers
    outside a build (benchmarks, tests on a copied folder): the build's stages pass their engine description."""
    build_dir = Path(build_dir)
    edir = engine_dir(build_dir)
    if all((edir / f).is_file() for f in ("edgecnn_model.h", "edgecnn_model.c", DESCRIPTION_FILE)):
        return edir
    model = build_dir / "model_int8.tflite"
    if not model.is_file():
        raise OutputError(f"{build_dir} has no firmware/engine and no model_int8.tflite",
                          hint="point at the output folder of `edgecnn build`")
    from deploy.engine.codegen import generate_engine

    labels = None
    golden = build_dir / "golden.npz"
    if golden.is_file():
        import numpy as np

        with np.load(golden) as g:
            if "class_labels" in g:
                labels = [str(x) for x in g["class_labels"]]
    generate_engine(model, edir, labels=labels)
    return edir


def engine_sources(engine) -> tuple[str, ...]:
    """The C files of a generated engine (its EngineDescription lists them: only the kernels its model uses)."""
    return tuple(f for f in engine.files if f.endswith(".c"))


def _hex(v: int) -> str:
    return f"0x{v:08X}"


def link_limits(target: Target, board: Board) -> dict[str, int]:
    """What the firmware may use: the target chip's memory, capped by what the board has at its origins."""
    return fit_limits(target, board)


WAIT_LOOPS = 1_000_000  # bound of every clock/peripheral wait in a board port (ms on a real part)


def _c_int(name: str, v: int) -> str:
    return f"0x{v:08X}u" if name.endswith(("_BASE", "_ENR")) else f"{v}u"


def board_defines(brd: Board) -> str:
    """The #defines a vendor board's port reads (clock, baud, wait bound, its registry parameters); empty for
    the MPS2/MPS3 and custom boards."""
    if brd.family is None:
        return ""
    rows = [("ECNN_CLOCK_HZ", brd.clock_hz), ("ECNN_UART_BAUD", brd.uart.baud), ("ECNN_WAIT_LOOPS", WAIT_LOOPS),
            *brd.defines]
    return "\n".join(f"#define {k} {_c_int(k, v)}" for k, v in rows)


def flash_how(brd: Board) -> str:
    """One line on how `edgecnn flash` programs this board by default."""
    p = brd.probe
    if p.default == "uf2" and p.drive:
        return f"copies a .{p.drive_format} to the {p.drive} drive ({p.note or 'the board as a USB drive'})"
    return f"pyOCD, target {p.pyocd_target}" + (f"; {p.note}" if p.note else "")


def mode_sources(mode: str, brd: Board) -> tuple[str, ...]:
    """The board-folder C files of one firmware mode: start-up, UART, the board's port, the mode's main."""
    return (*MODE_SOURCES[mode], *brd.family_sources)


def generate_firmware(build_dir: Path, target: Target, board: Board | dict | str | None = None,
                      golden: dict | None = None, engine: EngineDescription | None = None) -> Path:
    """Write the board files for `target` into firmware_dir(build_dir, target, board) (byte-identical from run to
    run).

    With `golden` (inputs_int8, outputs_int8; by default the build's golden.npz), also inputs.bin and
    expected.bin, which `make run-verify` runs and compares. `engine`: the description of the engine in
    <build>/firmware/engine (the build passes it; without it, engine.json is read, or the engine generated)."""
    target = mcu_target(target)
    brd = get_board(target, board)
    edir = engine_dir(build_dir) if engine is not None else ensure_engine(build_dir)
    fdir = firmware_dir(build_dir, target, brd)
    if golden is None and (Path(build_dir) / "golden.npz").is_file():
        with np.load(Path(build_dir) / "golden.npz") as g:
            if "inputs_int8" in g and "outputs_int8" in g:
                golden = {k: g[k] for k in ("inputs_int8", "outputs_int8")}
    limits = link_limits(target, brd)
    rel_engine = Path("..") / edir.name if edir.parent == fdir.parent else edir.resolve()
    engine = engine if engine is not None else read_description(edir)
    engine_srcs = engine_sources(engine)
    ctx = dict(
        header=GENERATED_HEADER, cpu=target.name, board_description=brd.description,
        board_name=c_string(brd.name), cpu_name=c_string(target.cpu_name), board=brd, board_defines=board_defines(brd),
        make_common=" ".join([*COMMON_SOURCES, *brd.family_sources, *(f"$(ENGINE)/{e}" for e in engine_srcs)]),
        cmake_common=" ".join([*COMMON_SOURCES, *brd.family_sources, *(f"${{ENGINE}}/{e}" for e in engine_srcs)]),
        vector_offset=brd.vector_offset, flash_main_origin=_hex(brd.flash_origin + brd.vector_offset),
        flash_main_bytes=limits["flash_bytes"] - brd.vector_offset,
        flash_origin=_hex(brd.flash_origin), ram_origin=_hex(brd.ram_origin),
        flash_bytes=limits["flash_bytes"], ram_bytes=limits["ram_bytes"], stack_bytes=target.stack_bytes,
        uart_define=(f"#define ECNN_UART_CMSDK_BASE {_hex(brd.uart_base)}u /* CMSDK APB UART0 */"
                     if brd.uart_base is not None else "/* no CMSDK UART: the board port defines board_uart_* */"),
        engine_rel=str(rel_engine), cflags=" ".join(firmware_cflags(target)),
        ldflags=" ".join(["-T", "linker.ld", *LDFLAGS]),
        ldflags_cmake=" ".join(["-T${CMAKE_CURRENT_SOURCE_DIR}/linker.ld", *LDFLAGS]),
        qemu_machine=brd.qemu_machine or "", qemu_args=" ".join(brd.qemu_args), board_name_plain=brd.name,
        cycle_counter=CYCLE_COUNTERS.get(brd.cycle_counter or "", "DWT CYCCNT"), flash_how=flash_how(brd),
    )
    ctx.update(input_size=engine.input.size, output_size=engine.output.size,
               samples=len(golden["inputs_int8"]) if golden is not None else "the")
    texts: dict[str, str | bytes] = {name: render(f"cortex_m/{tpl}", **ctx) for name, tpl in TEMPLATED_FILES.items()}
    for name in STATIC_FILES:
        texts[name] = f"{GENERATED_HEADER}\n" + (TEMPLATE_DIR / "cortex_m" / name).read_text()
    for name in brd.family_sources:
        texts[name] = f"{GENERATED_HEADER}\n" + (TEMPLATE_DIR / "boards" / name).read_text()
    if golden is not None:
        texts["inputs.bin"] = np.ascontiguousarray(golden["inputs_int8"], dtype=np.int8).tobytes()
        texts["expected.bin"] = np.ascontiguousarray(golden["outputs_int8"], dtype=np.int8).tobytes()
    try:
        fdir.mkdir(parents=True, exist_ok=True)
        for name, text in texts.items():
            write_generated(fdir / name, text)  # unchanged files keep their mtimes, for make
    except OSError as exc:
        raise OutputError(f"cannot write the firmware into {fdir}: {exc.strerror}",
                          hint="check the output folder's permissions and free space") from None
    return fdir


def _compile_error(r: subprocess.CompletedProcess, src: str, fdir: Path) -> ToolchainError:
    err = (r.stderr or r.stdout).strip()
    if re.search(r"(stdint|string|stddef)\.h: No such file", err) or "nano.specs" in err:
        return ToolchainError("arm-none-eabi-gcc has no C library (newlib) headers or specs",
                              hint="install it with `sudo apt-get install libnewlib-arm-none-eabi`")
    lines = err.splitlines()
    return ToolchainError(f"arm-none-eabi-gcc failed on {src} in {fdir}: " + " | ".join(lines[:6]),
                          hint="the generated C must compile with -Wall -Wextra -Werror; please report this")


def check_fits(engine: EngineDescription, code: dict, limits: dict, target: Target, where: str,
               part: str | None = None) -> None:
    """ModelTooLargeError with the numbers when the model plus the firmware code exceed flash or RAM.

    `code` holds the compiled objects' sizes without the model: {flash, ram}. Object sizes include code
    the linker later drops, so this errs on the safe side by at most the unused kernels (a few KB)."""
    const = engine.const_bytes_for(target)
    need = Need(flash=code["flash"] + const, ram=code["ram"] + engine.peak_ram_bytes + target.stack_bytes,
                weights=engine.weight_bytes, activations=engine.peak_ram_bytes,
                flash_parts=(f" (weights and other constants {const:,} B, of which weights {engine.weight_bytes:,} "
                             f"B; firmware code {code['flash']:,} B)"),
                ram_parts=(f" (tensor arena {engine.peak_ram_bytes:,} B, stack {target.stack_bytes:,} B, firmware "
                           f"buffers {code['ram']:,} B)"))
    what = "the model" if where == "the model alone" else f"the model with its {where}"
    err = fit_error(what, part or target.name, need, limits)
    if err is not None:
        raise err


def _engine_object_dir(edir: Path, target: Target, flags: list[str]) -> Path:
    """firmware/.objects/<cpu>-<flags hash>/: the engine's objects, shared by every board with the same CPU flags
    (the engine never includes board.h), so building for several boards compiles the engine once per CPU."""
    import hashlib

    key = hashlib.sha1(" ".join(f for f in flags if not f.startswith("/")).encode()).hexdigest()[:10]
    d = edir.parent / ".objects" / f"{target.cpu_name}-{key}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def build_firmware(build_dir: Path, target: Target, board: Board | dict | str | None = None,
                   modes: tuple[str, ...] = MODES, engine: EngineDescription | None = None,
                   rendered: bool = False, golden: dict | None = None) -> FirmwareBuild:
    """Generate the board files (unless `rendered`: code generation already wrote them) and build the firmware
    ELFs for `target` with arm-none-eabi-gcc.

    Order: model-size check from the engine's description, compile every source to an object, check model plus
    objects against the target (ModelTooLargeError), link, read flash/RAM from the ELF."""
    target = mcu_target(target)
    brd = get_board(target, board)
    gcc = require_tool("arm-none-eabi-gcc")
    size_tool = require_tool("arm-none-eabi-size")
    fdir = (firmware_dir(build_dir, target, brd) if rendered and engine is not None
            else generate_firmware(build_dir, target, brd, golden=golden, engine=engine))
    edir = engine_dir(build_dir)
    engine = engine if engine is not None else read_description(edir)
    limits = link_limits(target, brd)
    part = part_name(target, brd)
    check_fits(engine, {"flash": 0, "ram": 0}, limits, target, "the model alone", part)
    out = fdir / "build"
    out.mkdir(exist_ok=True)
    flags = [*firmware_cflags(target), "-I", str(fdir), "-I", str(edir)]
    objects: dict[str, Path] = {}
    sources = {s: fdir / s for m in modes for s in mode_sources(m, brd)}
    engine_srcs = engine_sources(engine)
    sources.update({s: edir / s for s in engine_srcs})
    cache = _engine_object_dir(edir, target, flags)
    newest_engine = max(p.stat().st_mtime for p in edir.iterdir() if p.is_file())
    for name, src in sorted(sources.items()):
        obj = (cache if name in engine_srcs else out) / (Path(name).stem + ".o")
        if name in engine_srcs and obj.is_file() and obj.stat().st_mtime >= newest_engine:
            objects[name] = obj  # the same engine, compiled with the same flags for another board
            continue
        r = run_tool([gcc, *flags, "-c", str(src), "-o", str(obj)], "arm-none-eabi-gcc")
        if r.returncode != 0:
            raise _compile_error(r, name, fdir)
        objects[name] = obj
    r = run_tool([size_tool, *map(str, objects.values())], "arm-none-eabi-size")
    rows = {Path(row["filename"]).name: row for row in parse_size_output(r.stdout)}
    elves, sizes, images = {}, {}, {}
    for mode in modes:
        objs = [objects[s] for s in mode_sources(mode, brd)] + [objects[s] for s in engine_srcs]
        mine = [rows[o.name] for o in objs if o.name in rows]
        # objects hold the model's constants and arena too: the code is what is left
        code_flash = max(0, sum(x["text"] + x["data"] for x in mine) - engine.const_bytes_for(target))
        code_ram = max(0, sum(x["data"] + x["bss"] for x in mine) - engine.peak_ram_bytes)
        check_fits(engine, {"flash": code_flash, "ram": code_ram}, limits, target, f"{mode} firmware", part)
        elf = out / f"edgecnn_{mode}.elf"
        r = run_tool([gcc, *firmware_cflags(target), *map(str, objs), "-T", str(fdir / "linker.ld"), *LDFLAGS,
                  f"-Wl,-Map={out / f'edgecnn_{mode}.map'}", "-o", str(elf)], "arm-none-eabi-gcc (link)")
        if r.returncode != 0:
            err = r.stderr.strip()
            m = re.search(r"region `(FLASH|RAM)' overflowed by (\d+) bytes", err)
            if m:
                region, over = m.group(1), int(m.group(2))
                limit = limits[region.lower() + "_bytes"]
                raise ModelTooLargeError(f"the {mode} firmware for {part} does not fit: {region} overflowed "
                                         f"by {over:,} B (limit {limit:,} B)",
                                         hint="use a smaller model or a target with more memory")
            raise _compile_error(r, f"the link of edgecnn_{mode}.elf", fdir)
        elves[mode] = elf
        sizes[mode] = elf_sizes(elf, target.stack_bytes)
        images[mode] = write_images(elf, brd)
    return FirmwareBuild(cpu=target.name, board=brd.name, qemu_machine=brd.qemu_machine, dir=fdir, elves=elves,
                         sizes=sizes, engine=engine, limits=limits, images=images)


__all__ = ["FirmwareBuild", "ModelTooLargeError", "build_firmware", "generate_firmware", "ensure_engine",
           "firmware_dir", "mcu_target", "check_fits", "link_limits", "MODES"]
