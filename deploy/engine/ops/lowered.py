"""What an op lowers to: constant arrays and parameter structs as C text, and kernel calls with symbolic operands.

An emitter returns a `Lowered`: the constant arrays and structs it needs (values formatted by
deploy.engine.c_format), the kernel calls as `Call`s whose operands are symbols (`In(pos)`, `Out()`, `Scratch()`)
for the arena addresses the planner chooses (deploy.engine.codegen gives each its address), and, per input, the
in-place overlap bound of the kernel's access order (deploy.engine.memory_plan).
"""
from __future__ import annotations

from dataclasses import dataclass, field
import re
from typing import Callable

import numpy as np

from deploy.engine.c_format import c_int_array_body

KERNEL_PATHS = ("plain", "dsp", "mve")  # toolkit.targets.Target.kernel_path: the engine's per-core constant sets


@dataclass
class CArray:
    ctype: str  # int8_t / int32_t
    name: str
    values: np.ndarray
    is_weight: bool = False  # filter or bias (the model's weights), as opposed to derived tables
    guard: str = ""  # read by one kernel path only: compiled under this #if (ECNN_MODEL_* of ecnn_kernels.h)

    @property
    def nbytes(self) -> int:
        return int(self.values.size) * (1 if self.ctype == "int8_t" else 4)

    def compiled_on(self, path: str) -> bool:
        """Whether the array is compiled on the kernel path `path` (toolkit.targets.Target.kernel_path)."""
        if not self.guard:
            return True
        m = re.fullmatch(r"(!?)defined\(ECNN_MODEL_(DSP|MVE)\)", self.guard)
        if m is None:
            raise ValueError(f"unknown guard {self.guard!r}")
        return (m.group(2).lower() == path) != (m.group(1) == "!")

    @property
    def body(self) -> str:
        return c_int_array_body(self.values)

    @property
    def length(self) -> int:
        return max(int(self.values.size), 1)


@dataclass
class CStruct:
    ctype: str
    name: str
    fields: list[tuple[str, str]]  # (field, C initialiser text) in declaration order

    @property
    def body(self) -> str:
        return ", ".join(f".{k} = {v}" for k, v in self.fields)


@dataclass(frozen=True)
class In:
    """The arena address of the op's input at position `pos` (plus `offset` bytes)."""

    pos: int
    offset: int = 0


@dataclass(frozen=True)
class Out:
    """The arena address of the op's output number `k` (several only for SPLIT)."""

    k: int = 0


@dataclass(frozen=True)
class Scratch:
    """The arena address of the step's scratch buffer (`Lowered.scratch` bytes, living for that step only)."""


@dataclass(frozen=True)
class PtrArray:
    """A local `const int8_t *const name[]` holding operand addresses, passed to the kernel by name."""

    name: str
    items: tuple


Operand = In | Out | Scratch


@dataclass(frozen=True)
class Call:
    """One kernel call: C text (names, numbers) and operands, which the code generator gives their addresses."""

    kernel: str
    args: tuple  # str | int | Operand | PtrArray

    def render(self, address: Callable[[Operand], str]) -> str:
        """The C statement, each operand replaced by `address(operand)`."""
        def arg(a) -> str:
            if isinstance(a, PtrArray):
                return a.name
            return address(a) if isinstance(a, (In, Out, Scratch)) else str(a)

        text = f"{self.kernel}({', '.join(arg(a) for a in self.args)});"
        arrays = [a for a in self.args if isinstance(a, PtrArray)]
        if not arrays:
            return text
        decls = "".join(f"const int8_t *const {a.name}[{len(a.items)}] = {{ {', '.join(arg(i) for i in a.items)} }}; "
                        for a in arrays)
        return f"{{ {decls}{text} }}"


def params_call(kernel: str, struct: CStruct, *operands) -> Call:
    """The usual call: `kernel(&params, operands...)`."""
    return Call(kernel, (f"&{struct.name}", *operands))


@dataclass
class Lowered:
    calls: list[Call]  # the step's C: kernel calls in order (none for an alias)
    arrays: list[CArray] = field(default_factory=list)
    structs: list[CStruct] = field(default_factory=list)
    overlap: dict[int, int] = field(default_factory=dict)  # input position -> d_max
    alias: bool = False  # RESHAPE: the output is the input's storage, no code
    inplace: int | None = None  # fused ops: the output takes this input position's storage (code runs)
    scratch: int = 0  # bytes of arena scratch the kernel needs during its step (Scratch() in a call)
    granule: int = 1  # where the output overlaps an input, out - in must be a multiple of this
    instances: list[str] = field(default_factory=list)  # file-scope C lines instantiating specialized kernels

    @property
    def kernel(self) -> str:
        """The C kernel the step runs ('' for an alias)."""
        return self.calls[0].kernel if self.calls else ""
