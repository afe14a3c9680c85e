"""The command line: flags -> config -> pipeline.run, and the report/verify/list commands."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from toolkit.capture import import_tensorflow_quietly, quiet_libraries
from toolkit.config import CONV_KINDS, VERIFY_MODES, BuildConfig
from toolkit.errors import EdgecnnError
from toolkit.targets import target_names


def _fail(exc: EdgecnnError) -> None:
    click.echo(f"edgecnn: error: {exc}", err=True)
    sys.exit(exc.exit_code)


class _Group(click.Group):
    """Turns every EdgecnnError and Ctrl-C into one line on stderr and a non-zero exit, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except EdgecnnError as exc:
            _fail(exc)
        except click.UsageError as exc:  # a bad flag or choice: one line too, with the command's --help
            where = f"edgecnn {exc.ctx.info_name}" if exc.ctx is not None and exc.ctx.parent is not None else "edgecnn"
            click.echo(f"edgecnn: error: {exc.format_message()} (see `{where} --help`)", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("edgecnn: interrupted; nothing was written", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(package_name="edgecnn")
def cli():
    """edgecnn: train, quantize, report and deploy compact int8 CNNs to Cortex-M and mobile.

    \b
    Start with:
      edgecnn build --target cortex-m          # digits -> int8 model, report and firmware in build/compact_cnn
      edgecnn verify build/compact_cnn --device qemu:cortex-m4
    """


@cli.command()
@click.option("--target", type=click.Choice(target_names()), metavar="TARGET", default=None,
              help="cortex-m (= cortex-m4), a CPU (cortex-m0 ... cortex-m55), a board (nucleo-f446re, pico, microbit, "
                   "...), arduino, android or host (`edgecnn targets`); required here or as `target` in --config")
@click.option("--dataset", default=None, help="digits, shapes, or a path: .npz, image folder, IDX folder; a "
              "--from-model .tflite needs none (random int8 golden inputs, or --inputs)"
              " [default: digits]")
@click.option("--model", default=None, help="see `edgecnn models`"
              f" [default: {BuildConfig.model}]")
@click.option("--conv", type=click.Choice(CONV_KINDS), default=None, help="the convolution kind"
              f" [default: {BuildConfig.conv}]")
@click.option("--groups", type=int, default=None, help="groups for --conv grouped"
              f" [default: {BuildConfig.groups}]")
@click.option("--shuffle", is_flag=True, default=None, help="channel shuffle after grouped convolutions")
@click.option("--width", type=float, default=None, help="width multiplier"
              f" [default: {BuildConfig.width}]")
@click.option("--epochs", type=int, default=None, help="maximum training epochs (early stopping may end sooner)"
              f" [default: {BuildConfig.epochs}]")
@click.option("--time-budget", default=None, help="wall-clock limit on training, e.g. 90s, 3m, 1h30m, or none: "
              "larger data sets get a schedule planned to fit it (early stopping still applies)"
              f" [default: {BuildConfig.time_budget}]")
@click.option("--max-steps", type=int, default=None, help="a budget in optimizer steps instead: the same "
              "planned schedule, reproducible bit for bit from --seed")
@click.option("--seed", type=int, default=None, help="seed for data splits, weights and training"
              f" [default: {BuildConfig.seed}]")
@click.option("--out", default=None, help="output folder [default: build/<model>, or build/<file name> with "
              "--from-model]")
@click.option("--from-model", default=None, help="skip training: a .keras or int8 .tflite model")
@click.option("--inputs", default=None, metavar="FILE",
              help="with --from-model FILE.tflite and no --dataset: your own golden inputs (a .npy, or a .npz with x "
                   "and optionally y labels), N samples of the model's input shape, float in the model's input "
                   "scale or int8 [default: seeded random int8 inputs]")
@click.option("--verify", type=click.Choice(VERIFY_MODES), default=None, help="verify the C"
              f" [default: {BuildConfig.verify}]")
@click.option("--config", "config_file", default=None,
              help="an edgecnn.toml: a [build] table with the same options (flags win), and [build.board] for "
                   "a custom memory map")
@click.option("--force", is_flag=True, default=None, help="replace an existing output folder")
@click.option("--allow-oversize", is_flag=True, default=None,
              help="keep the files of a model that does not fit the part's flash or RAM (the build fails otherwise)")
def build(config_file, **flags):
    """Train, quantize, export, report and generate firmware for TARGET.

    \b
    Examples:
      edgecnn build --target cortex-m
      edgecnn build --target cortex-m7 --conv depthwise --dataset my_images/ --verify qemu
      edgecnn build --target cortex-m --from-model my_model.tflite --out build/mine
      edgecnn build --target cortex-m4 --from-model kws.tflite --inputs my_inputs.npy --verify host
      edgecnn build --config edgecnn.toml
    """
    from toolkit.config import load_config
    from toolkit.pipeline import run

    cfg = load_config(config_file, **flags)
    from toolkit.targets import get_target

    if not cfg.from_tflite or get_target(cfg.target).kind == "android":  # training, converting: TensorFlow
        import_tensorflow_quietly()
    click.echo(f"edgecnn build: {_build_banner(cfg)} for {cfg.target} -> {cfg.out_dir}")
    result = run(cfg, log=lambda line: click.echo("  " + line))
    rep = result.report
    mem = rep["memory"]
    click.echo(f"  {rep['model']['params']:,} params, {rep['model']['macs']:,} MACs; {_accuracy_text(rep['accuracy'])}")
    if rep.get("fallback"):
        click.echo(f"  {rep['fallback']}")
    flash = f"flash {mem['flash_bytes']:,} B" if mem["flash_bytes"] is not None else "flash not measured"
    click.echo(f"  {flash}, TFLM arena {mem['tflm_arena_bytes']:,} B")
    if mem.get("peak_ram_bytes"):
        from deploy.devices.toolchain import ram_text

        parts = mem.get("firmware_ram_parts") or {"engine_activations": mem["peak_ram_bytes"]}
        click.echo(f"  RAM: {ram_text(parts, mem.get('firmware_ram_bytes'), 'serial firmware')}"
                   + ("" if "firmware_ram_parts" in mem else "; a firmware adds its own buffers and stack"))
    for note in result.notes:
        click.echo(f"  note: {note}")
    click.echo(f"done in {result.seconds:.1f} s: {result.out_dir}")


def _build_banner(cfg: BuildConfig) -> str:
    """What is built from what: the model (or --from-model file) and the data set (or the golden inputs)."""
    what = Path(cfg.from_model).name if cfg.from_model else f"{cfg.model} ({cfg.conv})"
    if cfg.dataset is not None:
        on = cfg.dataset
    elif cfg.inputs:
        on = f"--inputs {cfg.inputs}"
    else:
        from toolkit.stages import random_golden_samples

        on = f"{random_golden_samples(cfg)} random int8 inputs (seed {cfg.seed}, no data set)"
    return f"{what} on {on}"


def _accuracy_text(acc: dict) -> str:
    """The summary's accuracy: the figures measured, and why any is missing (never a bare None)."""
    if acc.get("int8") is None:
        return f"accuracy {acc.get('reason') or 'not measured'}"
    text = f"accuracy int8 {acc['int8']:.4f}"
    if acc.get("float") is not None:
        text = f"accuracy float {acc['float']:.4f}, int8 {acc['int8']:.4f}"
    if acc.get("measured_on"):
        text += f" on {acc['measured_on']}"
    return text + (f"; {acc['reason']}" if acc.get("float") is None and acc.get("reason") else "")


@cli.command()
@click.argument("source")
@click.option("--target", type=click.Choice(target_names()), metavar="TARGET", default=None,
              help="for a .tflite: the target whose engine RAM and flash are "
              "reported (`edgecnn targets`) [default: cortex-m4]")
def report(source, target):
    """Print the memory report of a build folder or an int8 .tflite file (for a .tflite, the engine is planned and
    its RAM and flash measured for --target, as a build does).

    \b
    Examples:
      edgecnn report build/compact_cnn
      edgecnn report model_int8.tflite --target cortex-m7
    """
    from deploy.report.report import render_markdown

    path = Path(source)
    if path.is_dir():
        if target is not None:
            from toolkit.errors import ConfigError

            raise ConfigError(f"--target {target} is for a .tflite file; {path} is a build folder, reported for the "
                              "target it was built for", hint="leave --target out, or rebuild for that target")
        from toolkit.artifacts import load_build

        rep = load_build(path, need_report=True).report
    else:
        from deploy.report.memory import tflite_report

        rep = tflite_report(path, target or "cortex-m4")
    click.echo(render_markdown(rep))


@cli.command()
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--device", required=True, help="host, qemu[:CPU] (e.g. qemu:cortex-m7) or serial:PORT")
@click.option("--samples", type=int, default=None, help="verify only the first N samples (of golden.npz or --inputs)")
@click.option("--timeout", type=float, default=None, help="seconds before the device counts as hung")
@click.option("--inputs", "inputs", default=None, metavar="FILE.npy|FILE.npz",
              help="your own inputs instead of the build's golden.npz: a .npy array, or a .npz with x (and y "
                   "labels for accuracy); N samples of the model's input shape, float in the model's input scale "
                   "(quantized as the build does) or int8 (sent as given); compared with TFLM on the same inputs")
def verify(out_dir, device, samples, timeout, inputs):
    """Run the golden inputs of a build (or --inputs FILE) on a device and compare with the TFLM reference;
    writes verify-<device>.json and verify.json.

    \b
    Examples:
      edgecnn verify build/compact_cnn --device host
      edgecnn verify build/compact_cnn --device qemu:cortex-m7 --samples 50
      edgecnn verify build/compact_cnn --device qemu:cortex-m4 --inputs my_inputs.npz
      edgecnn verify build/compact_cnn --device serial:/dev/ttyACM0
    """
    from deploy.verify.device import verify_device
    from toolkit.errors import ConfigError

    if samples is not None and samples <= 0:
        raise ConfigError(f"--samples must be a positive integer, got {samples}")
    from deploy.verify.common import device_slug

    from toolkit.artifacts import load_build

    result = verify_device(load_build(out_dir), device, samples=samples, timeout=timeout, check=True, inputs=inputs)
    _print_verify(result)
    written = Path(out_dir) / f"verify-{device_slug(result['device'])}.json"
    click.echo(f"  wrote {written} (and verify.json)")


def _print_verify(result: dict) -> None:
    acc = result.get("accuracy", {})
    ipi = result.get("instructions_per_inference")
    given = result.get("inputs") or {}
    click.echo(f"{result['device']}: {result['samples']} samples, bit-exact {result['bit_exact']:.4f}, "
               f"max diff {result['max_abs_diff_lsb']} LSB, top-1 vs int8 {result['top1_agreement_int8']:.4f}")
    if given.get("given_by") == "--inputs":
        click.echo(f"  inputs {given['source']}: {given['samples']} of {given['given']}, {given['format']}")
    unlabelled = ("no accuracy: the inputs have no labels (y)" if given.get("given_by") == "--inputs" else
                  "no accuracy: the build's golden inputs have no labels (built without --dataset)")
    def pct(v) -> str:
        return "-" if v is None else f"{v:.4f}"

    accuracy = (f"accuracy device {pct(acc.get('device'))}, int8 {pct(acc.get('int8'))}, "
                f"float {pct(acc.get('float'))}" if acc.get("device") is not None else unlabelled)
    click.echo(f"  {accuracy}" + (f"; {ipi:,.0f} instructions per inference" if ipi else ""))
    if result.get("flash_bytes"):
        from deploy.devices.toolchain import ram_text

        kind = result["device"].partition(":")[0]
        where = {"qemu": "verify firmware", "serial": "serial firmware"}.get(kind, "firmware")
        ram = ram_text(result.get("ram_parts"), result.get("ram_bytes"), where) or f"{result['ram_bytes']:,} B"
        what = where if kind != "host" else "the engine's objects for Cortex-M4"
        click.echo(f"  flash {result['flash_bytes']:,} B ({what}); RAM: {ram}"
                   + ("; no firmware on the host (RAM is the engine's alone)" if kind == "host" else ""))
    for caveat in result.get("caveats") or ():
        click.echo(f"  caveat: {caveat}")


@cli.command()
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.argument("address", required=False, metavar="[HOST:PORT]")
@click.option("--board", required=True, help="a vendor board (`edgecnn targets`), e.g. nucleo-f446re, pico, microbit")
@click.option("--via", default=None, help="pyocd, openocd, gdb HOST:PORT (a running GDB server) or uf2 (copy to "
              "the board's USB drive) [default: uf2 for pico and microbit, pyocd otherwise]")
@click.option("--drive", default=None, metavar="PATH", help="with --via uf2: the drive's mount point [default: found "
              "by its label, RPI-RP2 or MICROBIT]")
def flash(out_dir, address, board, via, drive):
    """Program a board with the serial firmware of a build (built first if missing); then check it with
    `edgecnn verify OUT_DIR --device serial:PORT`.

    \b
    Examples:
      edgecnn flash build/compact_cnn --board nucleo-f446re
      edgecnn flash build/compact_cnn --board pico --via uf2
      edgecnn flash build/compact_cnn --board microbit --via gdb localhost:3333
    """
    from deploy.devices.flash import flash as flash_board

    if via and via.startswith("gdb:"):  # --via gdb:HOST:PORT, one token
        via, address = "gdb", via[4:]
    result = flash_board(Path(out_dir), board, via=via, address=address, drive=drive)
    click.echo(f"flashed {result['image']} to {board}: {result['how']}")


@cli.command()
def targets():
    """List the deployment targets (example: edgecnn targets)."""
    from toolkit.targets import ALIASES, BOARD_TARGETS, TARGETS

    for name, t in TARGETS.items():
        alias = [a for a, v in ALIASES.items() if v == name]
        mem = f"flash {t.flash_bytes // 1024} KiB, RAM {t.ram_bytes // 1024} KiB" if t.flash_bytes else ""
        qemu = f"QEMU {t.qemu_machine}" if t.qemu_machine else ""
        click.echo(f"{name:<14} {t.description}" + (f" (alias: {', '.join(alias)})" if alias else "")
                   + "".join(f"; {s}" for s in (mem, qemu) if s))
    click.echo("\nBoards (a board is a target: its CPU's flags with the board's memory map, clock and UART; "
               "`edgecnn flash OUT --board NAME`):")
    for name, t in BOARD_TARGETS.items():
        mem = f"flash {t.flash_bytes // 1024} KiB, RAM {t.ram_bytes // 1024} KiB" if t.flash_bytes else ""
        qemu = f"QEMU {t.qemu_machine}" if t.qemu_machine else ""
        click.echo(f"{name:<14} {t.description}" + "".join(f"; {s}" for s in (mem, qemu) if s))


@cli.command()
@click.option("--params", is_flag=True, help="also build each model to count its parameters (loads TensorFlow: "
              "about 15 s)")
@click.option("--input-shape", default="8,8,1", help="H,W,C for --params (digits' shape)")
@click.option("--classes", type=int, default=10, help="classes for --params")
def models(params, input_shape, classes):
    """List the models (example: edgecnn models --params --input-shape 28,28,1)."""
    from models import REGISTRY, build_model
    from toolkit.errors import ConfigError

    if not params:  # names and descriptions only: no TensorFlow, instant
        for name, spec in REGISTRY.items():
            click.echo(f"{name:<18} {spec.description}")
        return
    import_tensorflow_quietly()
    try:
        shape = tuple(int(s) for s in input_shape.split(","))
    except ValueError:
        raise ConfigError(f"--input-shape {input_shape!r} must be comma-separated integers like 8,8,1") from None
    for name, spec in REGISTRY.items():
        if spec.takes_conv:
            counts = ", ".join(f"{c} {build_model(name, shape, classes, conv=c).count_params():,}"
                               for c in ("standard", "depthwise", "grouped"))
            click.echo(f"{name:<18} {spec.description}: params for {shape}: {counts}")
        else:
            m = build_model(name, spec.input_shape, spec.classes)
            click.echo(f"{name:<18} {spec.description}: {m.count_params():,} params for {spec.input_shape}")


@cli.command()
def ops():
    """List the ops the generated C engine runs, with the rules each must meet (example: edgecnn ops)."""
    from deploy.engine.ops import supported_ops_doc

    click.echo(supported_ops_doc())


@cli.command()
def datasets():
    """List the built-in data sets and the accepted user formats (example: edgecnn datasets)."""
    from toolkit.datasets import BUILTIN

    for name, (_, desc) in BUILTIN.items():
        click.echo(f"{name:<8} {desc}")
    click.echo("PATH     .npz (x_train, y_train, x_test, y_test), a folder of class sub-folders of images, "
               "or a folder of MNIST IDX files")


from toolkit.search.cli import search  # noqa: E402  (its own module: the search's flags and summary)

cli.add_command(search)


def main() -> None:
    quiet_libraries()
    cli(prog_name="edgecnn")


if __name__ == "__main__":
    main()
