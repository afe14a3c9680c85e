"""Whether a model fits its part: a lower bound from the Keras model before training, the measured need after
planning, and the message that says what does not fit, by how much, and what would.

A build for a Cortex-M part fails when the model does not fit (`--allow-oversize` keeps the files anyway). The
check before training uses bounds that can only be exceeded by the real model: the int8 weights alone for flash,
and the largest single activation tensor plus the firmware's stack for RAM. The exact check follows once the engine
is planned and the firmware linked (deploy.devices.firmware.check_fits)."""
from __future__ import annotations

from dataclasses import dataclass

from toolkit.errors import ModelError
from toolkit.targets import BOARD_TARGETS, TARGETS, Board, Target, get_board

WIDTHS = (0.75, 0.5, 0.35, 0.25, 0.125)  # --width values a suggestion may name


class ModelTooLargeError(ModelError):
    """The model (weights, RAM plan) and firmware code do not fit the part's flash or RAM; `need` and `limits` hold
    the numbers, so a caller can say what would fit."""

    def __init__(self, message: str, *, hint: str | None = None, need: "Need | None" = None,
                 limits: dict | None = None, part: str = ""):
        super().__init__(message, hint=hint)
        self.need, self.limits, self.part = need, limits, part


@dataclass(frozen=True)
class Need:
    """Bytes a model needs on a part; `activations` is the part of `ram` that scales with the model's width."""

    flash: int
    ram: int
    weights: int = 0
    activations: int = 0
    exact: bool = True  # False: a lower bound (before training)
    flash_parts: str = ""  # what the flash figure is made of, for the message
    ram_parts: str = ""


def part_name(target: Target, board: Board | None) -> str:
    """The name a user knows the part by: the board (with its CPU) when there is one, else the CPU target."""
    if board is not None and board.name not in (target.name, target.board, target.qemu_machine):
        return f"board {board.name} ({target.cpu or target.name})"
    return target.name


def limits(target: Target, board: Board | None) -> dict[str, int] | None:
    """The flash and RAM the firmware may use on the part; None for a target with no memory to check."""
    if target.kind != "mcu":
        return None
    brd = board if board is not None else get_board(target)
    flash = brd.flash_bytes if target.flash_bytes is None else min(brd.flash_bytes, target.flash_bytes)
    ram = brd.ram_bytes if target.ram_bytes is None else min(brd.ram_bytes, target.ram_bytes)
    return {"flash_bytes": flash, "ram_bytes": ram}


def keras_lower_bound(model, target: Target) -> Need:
    """What the int8 model of `model` needs at least: its weights (one byte each; biases and tables come on top) and
    its largest activation tensor (one byte a value) with the firmware's stack."""
    import numpy as np

    weights = 0
    for layer in model.layers:
        for w in layer.weights:
            name = w.path if hasattr(w, "path") else w.name
            if name.rsplit("/", 1)[-1].split(":")[0] in ("kernel", "depthwise_kernel", "pointwise_kernel"):
                weights += int(np.prod(w.shape))
    largest = 0
    for t in [*model.inputs, *(layer.output for layer in model.layers if hasattr(layer, "output"))]:
        for one in (t if isinstance(t, (list, tuple)) else [t]):
            shape = [d for d in one.shape[1:] if d is not None]
            largest = max(largest, int(np.prod(shape, dtype=np.int64)) if shape else 0)
    return Need(flash=weights, ram=largest + target.stack_bytes, weights=weights, activations=largest, exact=False,
                flash_parts=" (the int8 weights alone)",
                ram_parts=f" (the largest activation {largest:,} B, stack {target.stack_bytes:,} B)")


def problems(need: Need, lim: dict[str, int]) -> list[str]:
    """What does not fit, by how much (empty when the model fits)."""
    out = []
    at_least = "" if need.exact else "at least "
    if need.flash > lim["flash_bytes"]:
        out.append(f"flash: {at_least}{need.flash:,} B needed{need.flash_parts}, {lim['flash_bytes']:,} B there "
                   f"({need.flash - lim['flash_bytes']:,} B over)")
    if need.ram > lim["ram_bytes"]:
        out.append(f"RAM: {at_least}{need.ram:,} B needed{need.ram_parts}, {lim['ram_bytes']:,} B there "
                   f"({need.ram - lim['ram_bytes']:,} B over)")
    return out


def roomier_parts(need: Need, kind: str = "mcu", count: int = 4) -> list[str]:
    """The smallest CPUs and boards whose flash and RAM hold `need`, smallest RAM first."""
    fits = []
    for t in [*TARGETS.values(), *BOARD_TARGETS.values()]:
        if t.kind != kind or t.flash_bytes is None or t.ram_bytes is None:
            continue
        if t.flash_bytes >= need.flash and t.ram_bytes >= need.ram:
            fits.append((t.ram_bytes, t.flash_bytes, t.name))
    return [f"{name} ({ram // 1024:,} KiB RAM, {flash // 1024:,} KiB flash)" for ram, flash, name in sorted(fits)[:count]]


def width_that_fits(need: Need, lim: dict[str, int], width: float) -> float | None:
    """The largest --width below `width` at which the model should fit, estimating weights to scale with the width
    squared and activations with the width (the rest stays); None when none of WIDTHS would."""
    fixed_flash, fixed_ram = need.flash - need.weights, need.ram - need.activations
    for w in WIDTHS:
        if w >= width:
            continue
        r = w / width
        if (fixed_flash + need.weights * r * r <= lim["flash_bytes"]
                and fixed_ram + need.activations * r <= lim["ram_bytes"]):
            return w
    return None


def fit_hint(need: Need, lim: dict[str, int], width: float | None = None) -> str:
    """What would fit: a smaller --width when edgecnn trains the model (estimated), the parts with enough memory,
    or --allow-oversize."""
    hints = []
    if width is not None:
        w = width_that_fits(need, lim, width)
        hints.append(f"--width {w} (estimated)" if w is not None else "a smaller model (--conv depthwise, a smaller "
                     "--width or input)")
    else:
        hints.append("a smaller model")
    roomy = roomier_parts(Need(need.flash, need.ram))
    if roomy:
        hints.append("a part with more memory: --target " + ", ".join(roomy))
    hints.append("--allow-oversize to keep the files anyway")
    return "; or ".join(hints)


def fit_error(what: str, part: str, need: Need, lim: dict[str, int], width: float | None = None
              ) -> ModelTooLargeError | None:
    """The error for a model that does not fit (None when it fits): what does not fit and by how much, and what
    would fit (fit_hint)."""
    found = problems(need, lim)
    if not found:
        return None
    return ModelTooLargeError(f"{what} does not fit {part}: " + "; ".join(found), hint=fit_hint(need, lim, width),
                              need=need, limits=lim, part=part)
