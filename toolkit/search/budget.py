"""A device budget (RAM, flash, latency) and each candidate's plan against it, made before any training.

RAM is the engine's static memory plan (deploy.engine.codegen.plan_engine: the arena every activation and scratch
buffer lives in, all the RAM the generated engine needs), so the planned RAM is the generated engine's RAM
exactly: the plan is made on the candidate quantized with its untrained weights, whose graph (ops, shapes,
tensor sizes) is the trained model's. Flash is the engine's constants plus the code of the kernels it uses,
the serial firmware linked for the target as a build does (deploy.report.memory.plan_engine_memory) when there is a
flash budget, else estimated from the code of the same kernels linked once (later candidates cost
milliseconds). Latency, when a
budget asks for it, is the untrained candidate's instructions per inference on the emulated core (QEMU counts
instructions, not cycles: at one instruction per cycle this is a lower bound of the time).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from toolkit.errors import ConfigError

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmg]?)(i?b?)", re.I)
_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
_HZ = re.compile(r"(\d+(?:\.\d+)?)\s*([kmg]?)(hz)?", re.I)


def parse_size(text: str | int | None, option: str) -> int | None:
    """Bytes from "64K", "64KiB", "64KB", "1M", "2048" (K, M, G are powers of 1024, as on a part's data sheet)."""
    if text is None:
        return None
    m = _SIZE.fullmatch(str(text).strip())
    if not m or (m.group(3) and m.group(3).lower() == "i"):
        raise ConfigError(f"{option} {text!r} is not a size",
                          hint="give bytes or a size with K, M or G (powers of 1024): 2048, 64K, 64KiB, 1M")
    value = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if value <= 0:
        raise ConfigError(f"{option} {text!r} must be more than 0 bytes")
    return value


def parse_hz(text: str | None, option: str = "--clock") -> int | None:
    """Hertz from "80M", "80MHz", "168000000", "32k"."""
    if text is None:
        return None
    m = _HZ.fullmatch(str(text).strip())
    if not m or float(m.group(1)) <= 0:
        raise ConfigError(f"{option} {text!r} is not a clock frequency", hint="give hertz such as 80M, 80MHz or 16000000")
    return int(float(m.group(1)) * {"": 1, "k": 1000, "m": 1000 ** 2, "g": 1000 ** 3}[m.group(2).lower()])


@dataclass(frozen=True)
class Budget:
    """What the device leaves over for the model; None: no limit."""

    ram_bytes: int | None = None
    flash_bytes: int | None = None
    latency_ms: float | None = None
    clock_hz: int | None = None

    @property
    def max_instructions(self) -> int | None:
        """Instructions per inference that fit the latency at the clock (one instruction per cycle)."""
        if self.latency_ms is None:
            return None
        return int(self.latency_ms / 1000 * self.clock_hz)

    def violations(self, plan: dict) -> list[str]:
        """What a planned candidate exceeds, one phrase each (empty: it fits)."""
        out = []
        if self.ram_bytes is not None and plan["ram_bytes"] > self.ram_bytes:
            out.append(f"RAM {plan['ram_bytes']:,} B > {self.ram_bytes:,} B")
        if self.flash_bytes is not None and plan["flash_bytes"] > self.flash_bytes:
            out.append(f"flash {plan['flash_bytes']:,} B > {self.flash_bytes:,} B")
        limit = self.max_instructions
        if limit is not None and plan.get("instructions") is not None and plan["instructions"] > limit:
            out.append(f"{plan['instructions']:,} instructions > {limit:,} ({self.latency_ms:g} ms at "
                       f"{self.clock_hz / 1e6:g} MHz)")
        return out

    def text(self) -> str:
        parts = [f"RAM {self.ram_bytes:,} B" if self.ram_bytes else "",
                 f"flash {self.flash_bytes:,} B" if self.flash_bytes else "",
                 f"{self.latency_ms:g} ms at {self.clock_hz / 1e6:g} MHz" if self.latency_ms else ""]
        return ", ".join(p for p in parts if p) or "no budget"

    def to_dict(self) -> dict:
        return asdict(self)


def make_budget(ram: str | None, flash: str | None, latency_ms: float | None, clock: str | None,
                target=None) -> Budget:
    """The budget from the command line; a latency needs a clock (--clock, or the board target's own)."""
    clock_hz = parse_hz(clock)
    if latency_ms is not None:
        if not latency_ms > 0:
            raise ConfigError(f"--latency-ms must be positive, got {latency_ms}")
        if clock_hz is None:
            board_clock = None
            if target is not None and target.board:
                from toolkit.targets import BOARDS

                board_clock = getattr(BOARDS.get(target.board), "clock_hz", None)
            if board_clock is None:
                raise ConfigError("--latency-ms needs --clock HZ (the core clock, e.g. 80M)",
                                  hint="latency = instructions per inference / clock")
            clock_hz = board_clock
        if target is not None and not target.qemu_machine:
            raise ConfigError(f"--latency-ms is measured on the emulated core, and --target {target.name} has none",
                              hint="use a cortex-m target, or leave --latency-ms out")
    elif clock_hz is not None:
        raise ConfigError("--clock is only used with --latency-ms", hint="add --latency-ms MS or leave --clock out")
    return Budget(parse_size(ram, "--ram"), parse_size(flash, "--flash"), latency_ms, clock_hz)


def plan_candidate(model, data, target, code_bytes: dict, exact_flash: bool = False,
                   probe_latency: bool = False) -> dict:
    """The candidate's engine planned for `target` from its (untrained) Keras model: ram_bytes, flash_bytes,
    macs, kernels, and instructions when probe_latency.

    exact_flash (a flash budget): the serial firmware is linked for this candidate, as a build does. Otherwise
    flash is the engine's constants plus the code of the same kernels as linked for an earlier candidate
    (`code_bytes`, per target and kernels, filled here when a set of kernels is new): within a few hundred
    bytes, since the model's own code grows with its layer count (flash_linked says which)."""
    from deploy.engine.codegen import plan_engine
    from deploy.convert.quantize import to_int8_tflite
    from deploy.engine.tflite_reader import read_tflite

    int8 = to_int8_tflite(model, data.x_calib, max_samples=8)  # ranges do not change the graph
    graph = read_tflite(int8)
    labels = list(data.labels)
    plan = plan_engine(graph, labels)
    kernels = ",".join(sorted({op["kernel"] for op in plan.info.ops if op.get("kernel")}))
    key = f"{target.name}|{kernels}"
    linked = None
    if exact_flash or key not in code_bytes:
        from deploy.report.memory import plan_engine_memory

        _, fields, _ = plan_engine_memory(graph, labels, target)
        if not fields["flash_bytes_measured_with"].startswith("engine constants only"):
            linked = fields["flash_bytes"]
            code_bytes.setdefault(key, linked - plan.info.const_bytes_for(target))
    const = plan.info.const_bytes_for(target)
    flash = linked if linked is not None else const + code_bytes.get(key, 0)
    out = {"ram_bytes": plan.info.peak_ram_bytes, "flash_bytes": flash, "const_bytes": const,
           "macs": graph_macs(graph), "kernels": key, "flash_linked": linked is not None,
           "params": int(model.count_params())}
    if probe_latency:
        from toolkit.search.measure import instructions_on_core, int8_outputs

        x = data.x_val[:1]
        x_int8, ref = int8_outputs(int8, x)
        out["instructions"] = instructions_on_core(plan, target, x_int8, ref, data.y_val[:1])["instructions"]
    return out


def graph_macs(graph) -> int:
    """Multiply-accumulates per inference of an int8 graph (the report's count)."""
    from deploy.report.layer_stats import layer_stats

    return int(sum(layer_stats(graph, op).macs for op in graph.operators))


__all__ = ["Budget", "make_budget", "parse_size", "parse_hz", "plan_candidate"]
