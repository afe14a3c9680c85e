"""The one frozen build configuration, filled from command-line flags and an optional edgecnn.toml."""
from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.errors import ConfigError

REQUIRED = ("target",)  # options with no default: a flag or the config file must give them
CONV_KINDS = ("standard", "depthwise", "grouped")
VERIFY_MODES = ("none", "host", "qemu")
DEFAULT_DATASET = "digits"  # for builds that train or convert; a --from-model .tflite needs no data set
RANDOM_GOLDEN_SAMPLES = 100  # seeded random int8 golden inputs of a .tflite built without a data set


@dataclass(frozen=True)
class BuildConfig:
    """Every option of `edgecnn build`; unknown keys and bad values are ConfigErrors naming the option."""

    target: str = "cortex-m"
    dataset: str | None = None  # None: digits, except for a --from-model .tflite (random golden inputs)
    model: str = "compact_cnn"
    conv: str = "standard"
    groups: int = 2
    shuffle: bool = False  # ShuffleNet channel shuffle after grouped convolutions (instead of a 1x1 mix)
    width: float = 1.0
    epochs: int = 60
    batch_size: int | None = None  # None: by data set size (toolkit.training.auto_batch_size)
    learning_rate: float = 3e-3
    patience: int = 12
    time_budget: str | float | None = "2m"  # wall-clock limit on training ("90s", "3m", "1h30m"; "none": no limit)
    max_steps: int | None = None  # optimizer-step budget: like a time budget, but reproducible bit for bit
    seed: int = 0
    out: str | None = None
    from_model: str | None = None
    inputs: str | None = None  # golden inputs of a --from-model .tflite built without a data set (.npy/.npz)
    verify: str = "none"
    calibration_samples: int = 200
    golden_samples: int = 1000
    force: bool = False
    allow_oversize: bool = False  # keep the files of a model that does not fit its part (the build fails otherwise)
    board: dict = field(default_factory=dict)  # generic board: flash/ram origin and size

    def __post_init__(self):
        self._check_dataset_and_inputs()
        if self.conv not in CONV_KINDS:
            raise ConfigError(f"--conv {self.conv!r} is not one of {', '.join(CONV_KINDS)}")
        if self.verify not in VERIFY_MODES:
            raise ConfigError(f"--verify {self.verify!r} is not one of {', '.join(VERIFY_MODES)}")
        for name in ("epochs", "batch_size", "groups", "calibration_samples", "golden_samples", "max_steps"):
            value = getattr(self, name)
            if value is None and name in ("batch_size", "max_steps"):
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
        if self.shuffle and self.conv != "grouped":
            raise ConfigError(f"--shuffle shuffles the channels of grouped convolutions; it needs --conv grouped, "
                              f"not --conv {self.conv}")
        if self.patience < 0:
            raise ConfigError(f"patience must be zero or positive, got {self.patience}")
        if not self.width > 0:
            raise ConfigError(f"--width must be positive, got {self.width}")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate must be positive, got {self.learning_rate}")
        parse_duration(self.time_budget)  # raises a ConfigError naming --time-budget
        self._check_target_and_board()

    @property
    def from_tflite(self) -> bool:
        """The build starts from an int8 .tflite file: nothing is trained or quantized."""
        return self.from_model is not None and Path(str(self.from_model)).suffix == ".tflite"

    def _check_dataset_and_inputs(self) -> None:
        """A build without --dataset trains on digits, except from a .tflite: that one gets random golden inputs
        (or --inputs FILE), so a model made elsewhere needs no data set of its input shape."""
        if self.dataset is not None and not isinstance(self.dataset, str):
            raise ConfigError(f"--dataset must be a name or a path, got {self.dataset!r}")
        if self.inputs is not None and not isinstance(self.inputs, str):
            raise ConfigError(f"--inputs must be a path to a .npy or .npz file, got {self.inputs!r}")
        if self.inputs is not None:
            if not self.from_tflite:
                raise ConfigError("--inputs gives the golden inputs of a --from-model FILE.tflite build",
                                  hint="add --from-model FILE.tflite, or leave --inputs out: a build that trains "
                                       "takes its test inputs from --dataset")
            if self.dataset is not None:
                raise ConfigError(f"--inputs {self.inputs} and --dataset {self.dataset} both give the golden inputs",
                                  hint="give one: --dataset to measure accuracy on a data set, --inputs for your "
                                       "own inputs")
        if self.dataset is None and not self.from_tflite:
            object.__setattr__(self, "dataset", DEFAULT_DATASET)

    @property
    def time_budget_seconds(self) -> float | None:
        """The training time budget in seconds, or None for no limit."""
        return parse_duration(self.time_budget)

    def _check_target_and_board(self) -> None:
        """The target and a [build.board] memory map are checked here, before the first stage runs."""
        from toolkit.targets import check_build_board, get_target

        target = get_target(self.target)
        if self.board:
            if not isinstance(self.board, dict):
                raise ConfigError("[build.board] must be a table (flash_origin, flash_bytes, ram_origin, ram_bytes)")
            if target.kind != "mcu":
                raise ConfigError(f"[build.board] is a Cortex-M memory map, but --target {self.target} is not a "
                                  "Cortex-M target", hint="use a cortex-m* target, or remove [build.board]")
            check_build_board(target, self.board, self.verify)

    @property
    def model_name(self) -> str:
        """What the build is of: the --from-model file's stem, else the model from the zoo."""
        return Path(self.from_model).stem if self.from_model else self.model

    @property
    def out_dir(self) -> Path:
        return Path(self.out) if self.out else Path("build") / self.model_name

    def replace(self, **changes) -> "BuildConfig":
        return dataclasses.replace(self, **changes)

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(h|m|s)")
_NO_LIMIT = ("none", "off", "unlimited")


def parse_duration(value, option: str = "--time-budget") -> float | None:
    """Seconds from "90s", "3m", "1h30m", "2.5m" or a bare number of seconds; None for "none" (no limit).

    A ConfigError names `option` and shows the accepted forms."""
    how = "give a duration such as 90s, 3m or 1h30m, a number of seconds, or none for no limit"
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConfigError(f"{option} {value!r} is not a duration", hint=how)
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if text in _NO_LIMIT:
            return None
        try:
            seconds = float(text)
        except ValueError:
            parts = _DURATION_PART.findall(text)
            if not parts or _DURATION_PART.sub("", text).strip():
                raise ConfigError(f"{option} {value!r} is not a duration", hint=how) from None
            units = [u for _, u in parts]
            if len(set(units)) != len(units) or units != sorted(units, key="hms".index):
                raise ConfigError(f"{option} {value!r} is not a duration (each of h, m, s at most once, in "
                                  "that order)", hint=how)
            seconds = sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)
    else:
        raise ConfigError(f"{option} {value!r} is not a duration", hint=how)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"{option} {value!r} must be a positive duration", hint=how)
    return seconds


def load_config(config_file: str | Path | None = None, **flags) -> BuildConfig:
    """Config from defaults < edgecnn.toml (its [build] table, or top level) < flags that were given."""
    values: dict = {}
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist", hint="check --config")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        data = data.get("build", data)
        known = set(BuildConfig.keys())
        for key in data:
            if key.replace("-", "_") not in known:
                raise ConfigError(f"unknown key {key!r} in {path}", hint=f"known keys: {', '.join(sorted(known))}")
        values.update({k.replace("-", "_"): v for k, v in data.items()})
    values.update({k: v for k, v in flags.items() if v is not None})
    for key in REQUIRED:
        if key not in values:
            where = f" or `{key} = ...` in {config_file}" if config_file is not None else " (or in an edgecnn.toml " \
                    "given with --config)"
            raise ConfigError(f"--{key} is missing: give --{key}{where}", hint="`edgecnn targets` lists the targets")
    try:
        return BuildConfig(**values)
    except TypeError as exc:
        raise ConfigError(f"bad configuration: {exc}") from None
