"""One entry point for `edgecnn verify OUT --device host|qemu[:CPU]|serial:PORT` and `edgecnn build --verify`.

    result = verify_device("build/compact_cnn", "qemu:cortex-m7", samples=100)   # writes verify.json
    result = verify_device("build/compact_cnn", "host", inputs="mine.npz")       # the user's own inputs

Takes the build (toolkit.artifacts.Build, or a folder read through its loader), parses the device string (or
takes a Target), runs the matching verifier (deploy.verify.host, deploy.verify.qemu,
deploy.verify.serial) on the build's golden.npz or on the user's inputs (deploy.verify.inputs, compared with
TFLM on the same inputs), writes <build>/verify-<device>.json and verify.json with where the inputs came from,
and with check=True raises VerificationError naming the first differing sample (after writing, so the record
of the failure stays).
"""
from __future__ import annotations

from pathlib import Path

from deploy.verify.common import check_verification, select_samples, write_verify_json
from toolkit.artifacts import Build, load_build
from toolkit.errors import ConfigError
from toolkit.targets import ALIASES, BOARD_TARGETS, TARGETS, Target, get_target

DEVICE_KINDS = ("host", "qemu", "serial")


def parse_device(spec: str, default_cpu: str = "cortex-m4") -> tuple[str, str | None]:
    """'qemu' -> ('qemu', default_cpu); 'qemu:m7' or 'qemu:cortex-m7' -> ('qemu', 'cortex-m7');
    'serial:/dev/ttyACM0' -> ('serial', '/dev/ttyACM0') (any pyserial URL after the colon); 'host'."""
    kind, _, arg = str(spec).partition(":")
    if kind not in DEVICE_KINDS:
        raise ConfigError(f"--device {spec!r} is not host, qemu[:CPU] or serial:PORT")
    if kind == "host":
        if arg:
            raise ConfigError(f"--device {spec!r}: host takes no argument")
        return kind, None
    if kind == "serial":
        if not arg:
            raise ConfigError("--device serial needs a port, e.g. serial:/dev/ttyACM0 or serial:socket://HOST:PORT")
        return kind, arg
    cpu = arg or default_cpu
    board = BOARD_TARGETS.get(cpu)
    if board is not None and board.qemu_machine is None:  # a build for a board QEMU does not model
        raise ConfigError(f"--device {spec!r}: no QEMU machine emulates board {cpu}",
                          hint=f"use --device qemu:{board.cpu} (its CPU on QEMU's own board) or serial:PORT "
                               "(the board itself, running firmware/<board>/build/edgecnn_serial.elf)")
    if not cpu.startswith("cortex-"):
        cpu = f"cortex-{cpu}"
    cpu = ALIASES.get(cpu, cpu)
    if cpu not in TARGETS or TARGETS[cpu].kind != "mcu":
        known = ", ".join(n for n, t in TARGETS.items() if t.kind == "mcu")
        raise ConfigError(f"--device {spec!r}: {arg or cpu} is not a Cortex-M CPU", hint=f"known: {known}")
    return kind, cpu


def verify_device(build, device: str | Target, samples: int | None = None, *, board: dict | str | None = None,
                  timeout: float | None = None, check: bool = False, write: bool = True,
                  inputs: str | Path | None = None) -> dict:
    """Verify a build on `device`; returns the verify.json dict (and writes it unless write=False).

    `build`: a toolkit.artifacts.Build (the build's stages hand theirs), or a build folder, read through
    toolkit.artifacts.load_build. `device`: a Target (QEMU's model of that Cortex-M), or a device string
    (host, qemu[:CPU], serial:PORT; a bare qemu is the build's own CPU). `inputs`: a .npy/.npz of the user's own
    inputs (deploy.verify.inputs) instead of the build's golden.npz."""
    from deploy.verify.inputs import golden_inputs_info, load_user_inputs

    if not isinstance(build, Build):
        build = load_build(build)
    build_dir = build.out
    if isinstance(device, Target):
        kind, arg = "qemu", device
    else:
        kind, arg = parse_device(device, default_cpu=build.mcu_target.name)
        if kind == "qemu":
            arg = get_target(arg)
    golden = load_user_inputs(inputs, build_dir, samples) if inputs is not None else None
    if kind == "host":
        from deploy.verify.host import verify_host

        result = verify_host(build_dir, samples=samples, golden=golden if golden is not None else build.golden,
                             engine=build.engine, target=build.target)
    elif kind == "qemu":
        from deploy.verify.qemu import verify_qemu

        result = verify_qemu(build, arg, samples=samples, timeout=timeout, board=board, golden=golden)
    else:
        from deploy.verify.serial import verify_serial

        result = verify_serial(build_dir, arg, samples=samples, timeout=timeout if timeout is not None else 2.0,
                               golden=golden if golden is not None else select_samples(build.golden, samples),
                               engine=build.engine)
    if golden is not None:
        result["inputs"] = golden["inputs"]
        result["caveats"] = list(result.get("caveats") or []) + golden["caveats"]
    else:
        result["inputs"] = golden_inputs_info(build_dir, result["samples"],
                                              labelled=build.golden is not None and "labels" in build.golden)
    if result.get("first_mismatch") is not None:
        result["first_differing_layer"] = _locate_layer(build, result["first_mismatch"],
                                                        golden["inputs_int8"] if golden is not None else None)
    if write:
        write_verify_json(build_dir, result)
    if check:
        check_verification(result)
    return result


def _locate_layer(build: Build, first: dict, inputs=None) -> dict | None:
    """Which layer first differs, from a host debug build of the same engine on the first bad sample.

    On a device the cause can also be the compiler or the board; a host run that agrees with TFLM on every
    layer says so (None), which is itself the clue."""
    from deploy.verify.host import first_differing_layer
    from toolkit.errors import EdgecnnError

    try:
        if inputs is None and build.golden is not None:
            inputs = build.golden["inputs_int8"]
        return first_differing_layer(build.out, int(first.get("sample", 0)), inputs, model=build.int8_tflite,
                                     engine=build.engine)
    except EdgecnnError:
        return None


__all__ = ["verify_device", "parse_device", "DEVICE_KINDS"]
