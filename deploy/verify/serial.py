"""Verifies a build on a board that runs the edgecnn serial firmware, over a serial port (pyserial).

    result = verify_serial("build/compact_cnn", "/dev/ttyACM0", samples=100)
    result = verify_serial("build/compact_cnn", "socket://127.0.0.1:4321")   # any pyserial URL

The result has the verify.json keys; instructions_per_inference is None (a board counts cycles, not
instructions: cycles_per_inference holds the mean of the board's counter, DWT CYCCNT or SysTick, when it has
one; for a registry board also clock_hz, cycle_counter and ms_per_inference at that clock), and
flash_bytes/ram_bytes come from the build's serial ELF for the board or CPU the board reports (None when that
ELF is not in the build).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from deploy.engine.description import FILE_NAME as DESCRIPTION_FILE
from deploy.engine.description import read_description
from deploy.devices.firmware import engine_dir, firmware_dir
from deploy.devices.toolchain import elf_sizes, ram_parts
from deploy.devices.serial_protocol import MAX_CHUNK, VERSION, Link, ProtocolError
from deploy.verify.common import compare_outputs, load_golden
from toolkit.errors import ConfigError, ToolchainError
from toolkit.boards import CYCLE_COUNTERS
from toolkit.targets import BOARD_TARGETS, BOARDS, TARGETS


def open_port(port: str, baudrate: int = 115200):
    """A pyserial port (device path or URL such as socket://host:port), with a clear error when it fails."""
    try:
        import serial
    except ImportError:
        raise ToolchainError("pyserial is not installed", hint="pip install pyserial (or run ./install.sh)") from None
    if not port:
        raise ConfigError("no serial port given", hint="use --device serial:/dev/ttyACM0 (or a pyserial URL)")
    try:
        return serial.serial_for_url(port, baudrate=baudrate, timeout=0.02, write_timeout=10)
    except (serial.SerialException, ValueError, OSError) as exc:
        raise ToolchainError(f"cannot open serial port {port}: {exc}",
                             hint="check the port name, that the board is connected, and your permissions "
                                  "(the dialout group on Linux)") from None


def _serial_elf_sizes(build_dir: Path, cpu: str, board: str | None) -> dict | None:
    """Sizes of the serial ELF the board reports it runs: a vendor board's folder (--target BOARD), else its
    CPU's folder or its custom board's."""
    target = TARGETS.get(cpu)
    if target is None or target.kind != "mcu":
        return None
    folders = [firmware_dir(build_dir, BOARD_TARGETS[board])] if board in BOARD_TARGETS else []
    folders.append(firmware_dir(build_dir, target, board))
    for folder in folders:
        elf = folder / "build" / "edgecnn_serial.elf"
        if elf.is_file():
            return elf_sizes(elf, target.stack_bytes)
    return None


def board_timing(board: str | None, cycles: list[int]) -> dict:
    """cycles_per_inference (mean of the board's counter; None when it reads 0: no counter, or QEMU's DWT), and for
    a registry board its clock, the counter used and ms_per_inference at that clock."""
    mean = int(round(sum(cycles) / len(cycles))) if cycles and all(cycles) else None
    out = {"cycles_per_inference": mean}
    brd = BOARDS.get(board or "")
    if brd is not None and brd.clock_hz:
        out.update(clock_hz=brd.clock_hz, cycle_counter=CYCLE_COUNTERS.get(brd.cycle_counter or "", None),
                   ms_per_inference=round(mean * 1000.0 / brd.clock_hz, 4) if mean else None)
    return out


def verify_serial(build_dir, port: str, samples: int | None = None, timeout: float = 2.0, baudrate: int = 115200,
                  retries: int = 3, transport=None, golden: dict | None = None, engine=None) -> dict:
    """Run the golden inputs of `build_dir` on the board at `port`; compare with the TFLM reference.

    `timeout` is per request; each request is retried `retries` times after a resync. `transport` may be
    an already-open pyserial-like object (then `port` is only its name in the result). `golden` replaces the
    build's golden.npz with other inputs and their TFLM outputs (deploy.verify.inputs). `engine`: the build's
    EngineDescription (by default its engine.json), which the board's model must match."""
    build_dir = Path(build_dir)
    golden = golden if golden is not None else load_golden(build_dir, samples)
    inputs = np.asarray(golden["inputs_int8"], dtype=np.int8).reshape(len(golden["inputs_int8"]), -1)
    ser = transport if transport is not None else open_port(port, baudrate)
    link = Link(ser, name=f"the board on {port}", timeout=timeout, retries=retries)
    t0 = time.perf_counter()
    try:
        link.drain(0.05)
        link.resync()  # whatever the board received before (boot noise, an earlier session) is flushed
        link.resyncs = 0
        info = link.info()
        if info.version != VERSION:
            raise ProtocolError(f"the board on {port} speaks protocol version {info.version}, edgecnn speaks {VERSION}",
                                hint="flash the serial firmware built by this version of edgecnn")
        want_in = inputs.shape[1]
        want_out = np.asarray(golden["outputs_int8"]).reshape(len(inputs), -1).shape[1]
        if engine is None and (engine_dir(build_dir) / DESCRIPTION_FILE).is_file():
            engine = read_description(engine_dir(build_dir))
        if engine is not None:
            if (engine.weight_bytes, engine.peak_ram_bytes) != (info.weight_bytes, info.peak_ram_bytes):
                raise ProtocolError(f"the board on {port} runs a different model ({info.weight_bytes} weight bytes, "
                                    f"{info.peak_ram_bytes} B RAM) than {build_dir} ({engine.weight_bytes}, "
                                    f"{engine.peak_ram_bytes})",
                                    hint=f"flash {build_dir}/firmware/<cpu or board>/build/edgecnn_serial.elf")
        if (info.input_size, info.output_size) != (want_in, want_out):
            raise ProtocolError(f"the board on {port} runs a model with {info.input_size} inputs and "
                                f"{info.output_size} outputs; {build_dir} has {want_in} and {want_out}",
                                hint=f"flash {build_dir}/firmware/<cpu or board>/build/edgecnn_serial.elf")
        outputs = np.zeros((len(inputs), want_out), dtype=np.int8)
        cycles = []
        link.chunk = max(1, min(info.max_chunk, MAX_CHUNK))
        for i, x in enumerate(inputs):
            out, cyc = link.infer(x.tobytes(), want_out)
            outputs[i] = np.frombuffer(out, dtype=np.int8)
            cycles.append(cyc)
        invocations, _last = link.timing()
    finally:
        if transport is None:
            ser.close()
    result = compare_outputs(golden, outputs, f"serial:{port}")
    sizes = _serial_elf_sizes(build_dir, info.cpu, info.board)
    result.update(
        flash_bytes=sizes["flash_bytes"] if sizes else None, ram_bytes=sizes["ram_bytes"] if sizes else None,
        ram_parts=ram_parts(sizes, info.peak_ram_bytes) if sizes else None,
        instructions_per_inference=None,
        **board_timing(info.board, cycles),
        cpu=info.cpu, board=info.board, invocations=int(invocations),
        link=dict(timeouts=link.timeouts, resyncs=link.resyncs, bad_frames=link.decoder.bad_frames),
        seconds=round(time.perf_counter() - t0, 3),
    )
    return result


__all__ = ["verify_serial", "open_port", "board_timing"]
