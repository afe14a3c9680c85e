"""What a model needs on its target, as a build measures it: the engine planned, its flash from the firmware linked
for the target (or the engine's objects where no firmware links), its RAM from the plan, and whether it fits; and
`edgecnn report FILE.tflite`, the report of an int8 model alone."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from toolkit.errors import ModelFileError
from toolkit.fit import ModelTooLargeError, part_name
from toolkit.targets import Board, Target, get_board


def mark_fallback(report: dict, refused: str) -> None:
    """A model the engine refuses goes to TFLM (firmware/tflm): say so, and claim no flash figure (none is linked)."""
    mem = report["memory"]
    mem["engine_refused"] = refused
    mem["flash_bytes"] = None
    mem["flash_bytes_measured_with"] = (f"not measured: the TFLM fallback is not linked (the .tflite alone is "
                                        f"{mem['tflite_bytes']:,} B)")
    report["deploy_route"] = "tflm"
    report["verified"] = False
    report["fallback"] = f"TFLM fallback: not verified: {refused}"


def plan_engine_memory(graph, labels, target: Target, board: Board | dict | None = None, into: Path | None = None,
                       golden: dict | None = None) -> tuple[Any, dict, Any]:
    """Plan the engine for `graph` and measure what it needs on `target`: the plan, the report's memory keys
    (peak_ram_bytes, flash_bytes and how it was measured, engine_constant_bytes, and the linked serial firmware's
    RAM part by part when one was linked), and that deploy.devices.firmware.FirmwareBuild (None when none was linked).
    into: the build folder, where the engine and the serial firmware (with `golden`'s inputs) are written and
    linked for good, so that nothing is compiled twice; None links in a temporary folder. Raises
    UnsupportedOpError naming the layer the engine cannot run."""
    from deploy.engine.codegen import plan_engine

    plan = plan_engine(graph, labels)
    fit = {"fits": True}
    try:
        flash, flash_how, fw = _engine_memory(plan, target, board, into, golden)
        if target.kind == "mcu" and fw is None:  # not linked (no arm-none-eabi-gcc): the model alone is checked
            from deploy.devices.firmware import check_fits, link_limits

            brd = get_board(target, board)
            check_fits(plan.description, {"flash": 0, "ram": 0}, link_limits(target, brd), target, "the model alone",
                       part_name(target, brd))
    except ModelTooLargeError as exc:
        flash, flash_how, fw = plan.info.const_bytes_for(target), getattr(exc, "flash_how", exc.message), None
        fit = {"fits": False, "does_not_fit": exc.message, "fit_part": exc.part, "fit_limits": exc.limits,
               "fit_need": {k: getattr(exc.need, k) for k in ("flash", "ram", "weights", "activations")}}
    fields = {"flash_bytes": flash, "peak_ram_bytes": plan.info.peak_ram_bytes,
              "flash_bytes_measured_with": flash_how, "engine_constant_bytes": plan.info.const_bytes_for(target),
              **fit}
    if fw is not None:  # the linked serial firmware's RAM, part by part (the activations are in .bss)
        from deploy.devices.toolchain import ram_parts

        fields["firmware_ram_bytes"] = fw.sizes["serial"]["ram_bytes"]
        fields["firmware_ram_parts"] = ram_parts(fw.sizes["serial"], plan.info.peak_ram_bytes)
    return plan, fields, fw


def tflite_report(path, target_name: str = "cortex-m4", board: dict | None = None) -> dict:
    """`edgecnn report FILE.tflite`: the report stage alone on an int8 .tflite, with the engine planned and its RAM
    and flash measured for the target as a build does (no data set, so no accuracy). A model the engine cannot
    run is still reported (TFLM's arena, the layers) with the reason under memory.engine_refused."""
    from deploy.report.report import build_report
    from deploy.engine.tflite_reader import read_tflite
    from deploy.convert.tflm import measure_arena
    from toolkit.errors import UnsupportedOpError
    from toolkit.targets import get_target

    path = Path(path)
    target = get_target(target_name)
    if path.suffix != ".tflite":
        raise ModelFileError(f"{path} is neither a build folder nor a .tflite file",
                             hint="give the output folder of `edgecnn build` or an int8 .tflite")
    graph = read_tflite(path)  # errors name the file
    data = path.read_bytes()
    arena = measure_arena(data, what=str(path))
    engine_memory, refused = None, None
    if target.kind != "android":
        try:
            _, engine_memory, _ = plan_engine_memory(graph, None, target, board)
        except UnsupportedOpError as exc:
            refused = str(exc)
    accuracy = {"float": None, "int8": None,
                "reason": "not measured: a .tflite file alone has no test data (edgecnn build --from-model "
                          f"{path.name} --dataset D measures it)"}
    rep = build_report(graph, name=path.stem, conv=None, tflite_bytes=len(data), arena=arena, accuracy=accuracy,
                       target=target.name)
    if engine_memory is not None:
        rep["memory"].update(engine_memory)
    if refused is not None:
        mark_fallback(rep, refused)
    return rep


def _engine_memory(plan, target: Target, board: Board | dict | None, into: Path | None = None,
                   golden: dict | None = None) -> tuple[int, str, Any]:
    """Flash of what a user flashes: for a Cortex-M target, the serial firmware (engine, start-up, UART link)
    linked for that CPU and board with --gc-sections (in `into`, the build folder, or a temporary one); elsewhere
    the engine's objects built with the target's own compiler flags (deploy.devices.toolchain; Cortex-M4's for a target
    without any, the host). Also the linked deploy.devices.firmware.FirmwareBuild (its sizes: RAM = .data + .bss +
    stack), None when no firmware was linked."""
    import contextlib
    import tempfile

    from deploy.engine.codegen import write_engine
    from deploy.devices.toolchain import has_arm_toolchain, object_cflags, object_sizes

    if target.kind == "mcu" and has_arm_toolchain():
        from deploy.devices.firmware import build_firmware, engine_dir

        with contextlib.ExitStack() as stack:
            folder = Path(into) if into is not None else Path(stack.enter_context(
                tempfile.TemporaryDirectory(prefix="edgecnn_flash_")))
            write_engine(plan, engine_dir(folder), target)
            try:
                fw = build_firmware(folder, target, board, modes=("serial",), engine=plan.description, golden=golden)
            except ModelTooLargeError as exc:
                exc.flash_how = f"engine constants only: {exc.message}"
                raise
        how = (f"text + data of the serial firmware linked for {target.name} ({fw.board}; "
               f"{' '.join(target.cflags)} -O2, --gc-sections): engine, start-up code and UART link")
        return fw.sizes["serial"]["flash_bytes"], how, fw
    with tempfile.TemporaryDirectory(prefix="edgecnn_flash_") as tmp:
        src = write_engine(plan, Path(tmp) / "firmware" / "engine", target)
        sizes = object_sizes(Path(src.files[0]).parent, Path(tmp), target)
    if sizes is None:
        how = "engine constants only (arm-none-eabi-gcc not installed: code not counted)"
        return plan.info.const_bytes_for(target), how, None
    flags = " ".join(f for f in object_cflags(target) if f.startswith(("-m", "-O")))
    return sizes["text"] + sizes["data"], (f"text + data of the engine objects, arm-none-eabi-gcc {flags} "
                                           f"({sizes['cpu']}; --target {target.name} has no Cortex-M firmware to "
                                           "link)"), None
