"""Runs Cortex-M firmware in QEMU: the verify firmware over semihosting (with the instruction-counting plugin)
and the serial firmware with its UART on a loopback TCP port.

The plugin (firmware_templates/qemu_plugin/insn_count.c) is compiled with the host gcc once per build folder
into <build>/firmware/qemu_plugin/insn_count.so. Every QEMU run has a time limit; running past it is a
DeviceTimeoutError that names the board and the limit.
"""
from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deploy.engine.templates import TEMPLATE_DIR
from deploy.devices.toolchain import require_tool, symbol_address
from toolkit.errors import DeviceTimeoutError, ToolchainError
from toolkit.targets import Board

PLUGIN_SOURCE = TEMPLATE_DIR / "qemu_plugin" / "insn_count.c"
START_SYMBOL = "ecnn_invoke"
END_SYMBOL = "ecnn_mark_end"
# Firmware exit statuses (main_verify.c) -> what went wrong.
EXIT_REASONS = {1: "could not read inputs.bin or write outputs.bin through semihosting",
                2: "ecnn_invoke returned an error", 3: "a fault exception (stack overflow or bad memory access)"}


@dataclass
class QemuRun:
    outputs: np.ndarray  # (N, output_size) int8
    instructions: list[int]  # per inference, from the plugin ([] when not counted)
    seconds: float
    command: list[str]
    # per inference, the plugin's Cortex-M4 TRM-weighted cycle ESTIMATE ([] unless asked for with cycles=True)
    cycles: list[int] = field(default_factory=list)


def build_plugin(dest_dir: Path) -> Path:
    """Compile the instruction-counting plugin with the host gcc (no QEMU or GLib headers needed)."""
    gcc = require_tool("gcc")
    dest_dir = Path(dest_dir)
    so = dest_dir / "insn_count.so"
    if so.is_file() and so.stat().st_mtime >= PLUGIN_SOURCE.stat().st_mtime:
        return so
    dest_dir.mkdir(parents=True, exist_ok=True)
    tmp = dest_dir / f".insn_count.{os.getpid()}.so"
    r = subprocess.run([gcc, "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-fvisibility=hidden",
                        str(PLUGIN_SOURCE), "-o", str(tmp)], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise ToolchainError(f"gcc could not build the QEMU plugin {PLUGIN_SOURCE}: {r.stderr.strip()[:400]}")
    tmp.replace(so)
    return so.resolve()


def qemu_base_command(board: Board, elf: Path | None) -> list[str]:
    """QEMU for `board`, loading `elf` (None: nothing loaded, e.g. for a debugger to load it)."""
    if not board.qemu_machine:
        raise ToolchainError(f"board {board.name} has no QEMU model",
                             hint="verify on QEMU with a Cortex-M target's default board, or use serial:PORT")
    return [require_tool("qemu-system-arm"), "-M", board.qemu_machine, *board.qemu_args, "-display", "none",
            "-monitor", "none", *(["-kernel", str(elf)] if elf is not None else [])]


def run_verify_firmware(elf: Path, board: Board, inputs: np.ndarray, output_size: int, timeout: float,
                        plugin: Path | None = None, cycles: bool = False) -> QemuRun:
    """Run the verify firmware on `inputs` (N, input_size) int8; returns its outputs and instruction counts
    (and, with `cycles`, the plugin's cycle estimate per inference: slower, see insn_count.c)."""
    inputs = np.ascontiguousarray(inputs, dtype=np.int8).reshape(len(inputs), -1)
    cmd = qemu_base_command(board, elf) + ["-serial", "null", "-semihosting-config", "enable=on,target=native"]
    if plugin is not None:
        start, end = symbol_address(elf, START_SYMBOL), symbol_address(elf, END_SYMBOL)
        cmd += ["-plugin", f"{plugin},{plugin_args(start, end, cycles)}", "-d", "plugin", "-D", "plugin.log"]
    with tempfile.TemporaryDirectory(prefix="edgecnn-qemu-") as tmp:
        work = Path(tmp)
        inputs.tofile(work / "inputs.bin")
        t0 = time.perf_counter()
        try:
            r = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=timeout,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise DeviceTimeoutError(f"QEMU {board.qemu_machine} running {elf.name} on {len(inputs)} samples did not "
                                     f"finish within {timeout:.0f} s",
                                     hint="give a longer timeout or fewer --samples; if it hangs with one sample, "
                                          "the firmware is stuck (please report it)") from None
        seconds = time.perf_counter() - t0
        msg = (r.stdout + r.stderr).strip()
        if r.returncode != 0:
            why = EXIT_REASONS.get(r.returncode, f"QEMU exited with status {r.returncode}")
            raise ToolchainError(f"the firmware {elf} failed on QEMU {board.qemu_machine}: {why}"
                                 + (f": {msg[:400]}" if msg else ""),
                                 hint="check that qemu-system-arm works (`qemu-system-arm -M help`)")
        out_path = work / "outputs.bin"
        data = np.fromfile(out_path, dtype=np.int8) if out_path.is_file() else np.zeros(0, np.int8)
        if data.size != len(inputs) * output_size:
            raise ToolchainError(f"the firmware wrote {data.size} output bytes for {len(inputs)} samples on "
                                 f"QEMU {board.qemu_machine}, expected {len(inputs) * output_size}"
                                 + (f": {msg[:400]}" if msg else ""))
        counts: list[int] = []
        cyc: list[int] = []
        if plugin is not None:
            log = (work / "plugin.log").read_text() if (work / "plugin.log").is_file() else ""
            counts = [int(x) for x in re.findall(r"^edgecnn-insns (\d+)$", log, re.M)]
            if len(counts) != len(inputs):
                raise ToolchainError(f"the QEMU instruction counter reported {len(counts)} inferences for "
                                     f"{len(inputs)} samples", hint="QEMU must support TCG plugins (-plugin)")
            cyc = parse_cycles(log) if cycles else []
            if cycles and len(cyc) != len(inputs):
                raise ToolchainError(f"the QEMU plugin reported {len(cyc)} cycle estimates for {len(inputs)} samples")
    return QemuRun(outputs=data.reshape(len(inputs), output_size), instructions=counts, seconds=seconds,
                   command=cmd, cycles=cyc)


def plugin_args(start: int, end: int, cycles: bool = False) -> str:
    """The insn_count plugin's arguments: count from `start` to `end` (addresses); `cycles` adds the
    Cortex-M4 TRM-weighted cycle estimate (cycles=m4)."""
    return f"start=0x{start:x},end=0x{end:x}" + (",cycles=m4" if cycles else "")


def parse_cycles(log: str) -> list[int]:
    """The per-pass cycle estimates ("edgecnn-cycles N") in a plugin log."""
    return [int(x) for x in re.findall(r"^edgecnn-cycles (\d+)$", log, re.M)]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serial_qemu(elf: Path | None, board: Board, timeout: float = 600.0, start_timeout: float = 20.0,
                via: str = "tcp", gdb_port: int | None = None):
    """Run the serial firmware in QEMU with its UART on a loopback TCP port (via="tcp": yields
    "socket://127.0.0.1:PORT") or a pseudo-terminal (via="pty": yields "/dev/pts/N").

    With `gdb_port`, QEMU starts halted (-S) with its gdbstub on 127.0.0.1:gdb_port, and `elf` may be None: a
    debugger (`edgecnn flash --via gdb`) loads the firmware and starts it. QEMU is stopped on exit from the
    block, and after `timeout` seconds at the latest."""
    if via not in ("tcp", "pty"):
        raise ValueError(f"via must be 'tcp' or 'pty', not {via!r}")
    last = ""
    for _attempt in range(3):  # another process may take the port between free_port() and QEMU's bind
        port = free_port()
        chardev = "pty" if via == "pty" else f"tcp:127.0.0.1:{port},server=on,wait=off,nodelay=on"
        cmd = qemu_base_command(board, elf) + ["-serial", chardev]
        if gdb_port is not None:
            cmd += ["-S", "-gdb", f"tcp:127.0.0.1:{gdb_port}"]
        # QEMU names the pty on stdout; its errors go to stderr (read only if it fails to start)
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        url = _wait_pty(proc, start_timeout) if via == "pty" else _wait_tcp(proc, port, start_timeout)
        if url:
            break
        if proc.poll() is None:
            proc.kill()
        last = proc.communicate()[1].decode(errors="replace").strip()
    else:
        raise ToolchainError(f"QEMU {board.qemu_machine} did not open its serial port ({via}): {last[:300]}")
    killer = _Watchdog(proc, timeout)
    try:
        yield url
    finally:
        killer.cancel()
        _stop(proc)


def _wait_tcp(proc: subprocess.Popen, port: int, seconds: float) -> str | None:
    """Wait until QEMU listens on `port`. The probe connection is closed at once; with server=on QEMU then
    accepts the next client."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return f"socket://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    return None


def _wait_pty(proc: subprocess.Popen, seconds: float) -> str | None:
    """QEMU prints "char device redirected to /dev/pts/N (label serial0)" on stdout at start-up."""
    import select

    deadline = time.monotonic() + seconds
    seen = b""
    while time.monotonic() < deadline and proc.poll() is None:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                return None
            seen += chunk
            m = re.search(rb"redirected to (/dev/pts/\d+)", seen)
            if m:
                return m.group(1).decode()
    return None


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for f in (proc.stdout, proc.stderr):
        if f is not None:
            f.close()


class _Watchdog:
    """Stops a process after `seconds` unless cancelled (no QEMU outlives its time limit)."""

    def __init__(self, proc: subprocess.Popen, seconds: float):
        import threading

        self._timer = threading.Timer(seconds, self._fire, args=(proc,))
        self._timer.daemon = True
        self._timer.start()

    @staticmethod
    def _fire(proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.kill()

    def cancel(self) -> None:
        self._timer.cancel()


__all__ = ["DeviceTimeoutError", "QemuRun", "build_plugin", "parse_cycles", "plugin_args", "run_verify_firmware",
           "serial_qemu", "free_port"]
