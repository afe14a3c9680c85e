"""The search space over the compact CNN family, defined once: what Optuna samples, what the grid enumerates and
what `edgecnn search --show-space` lists.

A candidate is a plain dict of every dimension (dimensions that do not apply, such as groups for a standard
convolution, take their default), so equal dicts are the same candidate. The architecture part (everything but
the training recipe) decides RAM and flash; the recipe part only accuracy.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

MIN_RESIZE_SIDE = 16  # a data set's images are offered smaller only from this side length up


@dataclass(frozen=True)
class Dim:
    """One dimension: its choices (first = the smallest model), what it means, and when it applies."""

    name: str
    choices: tuple
    help: str
    recipe: bool = False  # a training knob (no effect on RAM or flash)
    default: Any = None  # the value when the dimension does not apply
    applies: Callable[[dict], bool] = lambda params: True


DIMS: tuple[Dim, ...] = (
    Dim("conv", ("depthwise", "grouped", "standard"), "convolution kind of every block"),
    Dim("groups", (2, 4), "groups of a grouped convolution", default=2,
        applies=lambda p: p["conv"] == "grouped"),
    Dim("shuffle", (False, True), "ShuffleNet channel shuffle after a grouped convolution instead of a 1x1 mix",
        default=False, applies=lambda p: p["conv"] == "grouped"),
    Dim("width", (0.25, 0.5, 1.0), "width multiplier of every layer's channels"),
    Dim("depth", (0, 1, 2), "stride-1 blocks at full width after the downsampling blocks (build's default: 1)"),
    Dim("resolution", (0.5, 0.75, 1.0), "input side as a fraction of the data set's (images of 16 px and up)",
        default=1.0, applies=lambda p: p["_side"] >= MIN_RESIZE_SIDE),
    Dim("learning_rate", (1e-3, 3e-3, 1e-2), "Adam's initial learning rate (cosine decay over the trial)",
        recipe=True),
)
DIM_NAMES = tuple(d.name for d in DIMS)


@dataclass(frozen=True)
class Space:
    """The dimensions a search samples, for a data set whose images have `side` pixels on their shorter side;
    `choices` narrows dimensions (a benchmark's smaller grid, a user pinning a knob)."""

    side: int
    choices: tuple[tuple[str, tuple], ...] = ()

    def dim_choices(self, dim: Dim) -> tuple:
        return dict(self.choices).get(dim.name, dim.choices)

    def restrict(self, **choices) -> "Space":
        unknown = set(choices) - set(DIM_NAMES)
        if unknown:
            raise ValueError(f"unknown search dimensions {sorted(unknown)}")
        merged = dict(self.choices)
        merged.update({k: tuple(v) for k, v in choices.items()})
        return Space(self.side, tuple(sorted(merged.items())))

    def suggest(self, trial) -> dict:
        """Sample one candidate with an Optuna trial (conditional dimensions only when they apply)."""
        params: dict = {"_side": self.side}
        for dim in DIMS:
            if dim.applies(params):
                params[dim.name] = trial.suggest_categorical(dim.name, list(self.dim_choices(dim)))
            else:
                params[dim.name] = dim.default
        params.pop("_side")
        return params

    def grid(self) -> list[dict]:
        """Every candidate of the space, once each, in a fixed order (the exhaustive grid)."""
        out: list[dict] = []

        def expand(i: int, params: dict) -> None:
            if i == len(DIMS):
                out.append({k: v for k, v in params.items() if k != "_side"})
                return
            dim = DIMS[i]
            values = self.dim_choices(dim) if dim.applies(params) else (dim.default,)
            for v in values:
                expand(i + 1, {**params, dim.name: v})

        expand(0, {"_side": self.side})
        return out

    def smallest(self) -> list[dict]:
        """The smallest candidate of each convolution variant (narrowest, shallowest, lowest resolution): one
        of them needs the least RAM and flash of the whole space."""
        best: dict[tuple, dict] = {}
        for cand in self.grid():
            key = (cand["conv"], cand["groups"], cand["shuffle"])
            size = (cand["width"], cand["depth"], cand["resolution"])
            if key not in best or size < (best[key]["width"], best[key]["depth"], best[key]["resolution"]):
                best[key] = cand
        return list(best.values())

    def describe(self) -> str:
        lines = [f"{'dimension':<14} {'choices':<26} meaning"]
        for dim in DIMS:
            choices = self.dim_choices(dim)
            if dim.name == "resolution" and self.side and self.side < MIN_RESIZE_SIDE:
                note = f" (not searched: {self.side} px images)"
            else:
                note = ""
            kind = " [training recipe]" if dim.recipe else ""
            lines.append(f"{dim.name:<14} {', '.join(map(_fmt, choices)):<26} {dim.help}{kind}{note}")
        return "\n".join(lines)


def parse_narrowing(items) -> tuple[tuple[str, tuple], ...]:
    """`--space DIM=V1,V2` options -> ((dim, (values...)), ...); each value must be one of the dimension's choices."""
    from toolkit.errors import ConfigError

    dims = {d.name: d for d in DIMS}
    out: dict[str, tuple] = {}
    for item in items or ():
        name, eq, values = str(item).partition("=")
        name = name.strip().replace("-", "_")
        if not eq or name not in dims:
            raise ConfigError(f"--space {item!r} is not DIMENSION=VALUE[,VALUE...] with a known dimension",
                              hint=f"dimensions: {', '.join(dims)} (`edgecnn search --show-space`)")
        by_text = {_fmt(c): c for c in dims[name].choices}
        picked = []
        for v in values.split(","):
            v = v.strip().lower()
            v = {"true": "yes", "false": "no"}.get(v, v)
            try:
                v = _fmt(float(v)) if name in ("width", "resolution", "learning_rate") else v
            except ValueError:
                pass
            if v not in by_text:
                raise ConfigError(f"--space {item!r}: {v!r} is not a choice of {name}",
                                  hint=f"choices: {', '.join(by_text)}")
            picked.append(by_text[v])
        out[name] = tuple(dict.fromkeys(picked))
    return tuple(sorted(out.items()))


def _fmt(v) -> str:
    return ("yes" if v else "no") if isinstance(v, bool) else f"{v:g}" if isinstance(v, float) else str(v)


def arch_key(params: dict) -> str:
    """The candidate's architecture (what RAM and flash depend on) as one stable string."""
    return ",".join(f"{d.name}={_fmt(params[d.name])}" for d in DIMS if not d.recipe)


def candidate_text(params: dict) -> str:
    """A short human name: 'grouped g4+shuffle w0.5 d1 r0.75 lr0.003'."""
    conv = params["conv"]
    if conv == "grouped":
        conv += f" g{params['groups']}" + ("+shuffle" if params["shuffle"] else "")
    res = "" if params["resolution"] == 1.0 else f" r{params['resolution']:g}"
    return f"{conv} w{params['width']:g} d{params['depth']}{res} lr{params['learning_rate']:g}"


def input_side(native: int, resolution: float) -> int:
    """The resized side: native * resolution, at least 4 pixels."""
    return max(4, int(round(native * resolution)))


def model_kwargs(params: dict) -> dict:
    """The compact_cnn builder's keyword arguments for a candidate."""
    return dict(conv=params["conv"], groups=params["groups"], shuffle=params["shuffle"], width=params["width"],
                depth=params["depth"])


__all__ = ["Dim", "DIMS", "Space", "arch_key", "candidate_text", "input_side", "model_kwargs", "parse_narrowing"]
