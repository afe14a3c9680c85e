"""Static memory planner for the generated engine: one arena, tensor lifetimes, provably safe in-place overlap.

Every activation buffer lives from the op that writes it to the last op that reads it (the model
input from before the first op, the model output until after the last). Buffers whose lifetimes meet
never share bytes, with one exception: an op's output may overlap an input that dies at that op when
the kernel's access order guarantees that no input byte is overwritten before it was read for the
last time. That guarantee is a number, `d_max`: with the output placed at `offset(input) + d` for any
d <= d_max, every byte the kernel writes lies below every input byte it still has to read. The
kernels' documented loop order gives, per step, the lowest input byte still to be read and the end of
what has been written; `overlap_bound` turns those into d_max. A depthwise 3x3 convolution thus runs
with its output one input row below its input (row buffering, with no buffer), a 1x1 convolution
with input and output almost on top of each other. A kernel may also need d to be a multiple of a
granule (the planar depthwise path writes a channel of every pixel at once: safe only by whole pixels).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

INF = np.iinfo(np.int64).max // 4


@dataclass
class Buffer:
    """One storage unit: a tensor, or several tensors aliased to it (RESHAPE)."""

    name: str
    size: int
    first: int  # index of the op that writes it; -1 for the model input
    last: int  # index of the last op that reads it; n_ops for the model output


@dataclass(frozen=True)
class Overlap:
    """At op `step`, buffer `dst` (the output) may start at offset(src) + d for any d <= d_max that is a
    multiple of `granule`."""

    step: int
    src: str
    dst: str
    d_max: int
    granule: int = 1


@dataclass
class MemoryPlan:
    offsets: dict[str, int]
    arena_bytes: int
    overlaps_used: list[Overlap] = field(default_factory=list)


def overlap_bound(min_read: np.ndarray, write_end: np.ndarray, read_before_write: bool = False) -> int:
    """d_max for one input of a kernel, from its access order.

    min_read[s]: the lowest input byte read at step s (INF when none); write_end[s]: one past the
    highest output byte written up to and including step s. Writes of step s must stay below every
    byte read at steps >= s (> s when the step reads everything it needs before it writes).
    """
    min_read = np.asarray(min_read, dtype=np.int64)
    write_end = np.asarray(write_end, dtype=np.int64)
    if min_read.size == 0:
        return 0
    suffix = np.minimum.accumulate(min_read[::-1])[::-1]
    if read_before_write:
        suffix = np.concatenate([suffix[1:], [INF]])
    d = suffix - write_end
    return int(min(d.min(), INF))


def _conflict_free(offset: int, size: int, buf: Buffer, placed: dict, buffers: dict, allowed: dict) -> bool:
    for other_name, other_off in placed.items():
        other = buffers[other_name]
        if other.last < buf.first or buf.last < other.first:
            continue  # lifetimes never meet
        if offset + size <= other_off or other_off + other.size <= offset:
            continue  # bytes never meet
        if _allowed_at(allowed.get((other_name, buf.name)), offset - other_off):
            continue  # a proven in-place overlap
        if _allowed_at(allowed.get((buf.name, other_name)), other_off - offset):
            continue
        return False
    return True


def _allowed_at(rule, d: int) -> bool:
    """Whether an output at offset(input) + d is safe under rule (d_max, granule); None: no overlap allowed."""
    return rule is not None and d <= rule[0] and d % rule[1] == 0


def _allowed(overlaps, by_name) -> dict:
    """(src, dst) -> (d_max, granule) for the overlaps whose input dies at the step that writes the output."""
    allowed: dict[tuple[str, str], tuple[int, int]] = {}
    for ov in overlaps:
        src, dst = by_name[ov.src], by_name[ov.dst]
        if src.last == ov.step and dst.first == ov.step:  # only an input that dies here may be overwritten
            d, g = allowed.get((ov.src, ov.dst), (INF, 1))
            allowed[(ov.src, ov.dst)] = (min(d, ov.d_max), math.lcm(g, max(1, ov.granule)))
    return allowed


def plan_memory(buffers: list[Buffer], overlaps: list[Overlap] = (), alignment: int = 4) -> MemoryPlan:
    """The smaller of two greedy plans: with and without keeping room below buffers for in-place ops."""
    plans = [_greedy(buffers, overlaps, alignment, reserve) for reserve in (False, True)]
    return min(plans, key=lambda p: p.arena_bytes)


def _greedy(buffers: list[Buffer], overlaps, alignment: int, reserve_gaps: bool) -> MemoryPlan:
    """Place every buffer at an offset in one arena; returns the offsets and the arena size.

    Greedy in order of creation: each buffer takes the feasible offset that keeps the arena smallest
    (ties to the lowest offset), candidates being 0, the edges of already placed buffers, and the
    in-place positions its overlaps allow. Offsets may go negative while planning; the plan is shifted
    to start at 0 at the end. Deterministic for a given input.
    """
    by_name = {b.name: b for b in buffers}
    allowed = _allowed(overlaps, by_name)
    # room a buffer should leave below itself so that the op consuming it can write its output there
    slack = {b.name: 0 for b in buffers}
    for (src, _), (d, _g) in allowed.items():
        slack[src] = max(slack[src], -d)
    placed: dict[str, int] = {}
    lo, hi = 0, 0
    order = sorted(buffers, key=lambda b: (b.first, -b.size, b.name))
    for buf in order:
        gap = -(-slack[buf.name] // alignment) * alignment if reserve_gaps else 0
        cands = {0, gap}
        for name, off in placed.items():
            cands.add(off + by_name[name].size)
            cands.add(off + by_name[name].size + gap)
            cands.add(off - buf.size)
        for (src, dst), (d, g) in allowed.items():
            # an unbounded d (a one-element kernel: any overlap is safe) is no position, and as one it put the
            # buffer 2^61 bytes up when no other aligned candidate was free (a fuzzed model with 1-byte tensors)
            if dst == buf.name and src in placed and d < INF // 2:
                cands.add(placed[src] + (d // g) * g)
                unit = math.lcm(g, alignment)
                cands.add(placed[src] + (d // unit) * unit)
        best = None
        for c in sorted(cands):
            if c % alignment:
                continue
            if not _conflict_free(c, buf.size, buf, placed, by_name, allowed):
                continue
            # prefer offsets that also keep the gap below free (so the next op can work in place);
            # the gap counts towards the arena when judging the candidate
            keeps_gap = gap == 0 or _conflict_free(c - gap, gap, buf, placed, by_name, allowed)
            bottom = c - gap if keeps_gap else c
            span = max(hi, c + buf.size) - min(lo, bottom) if placed else buf.size + (c - bottom)
            key = (not keeps_gap, span, abs(c), c)
            if best is None or key < best[0]:
                best = (key, c)
        if best is None:  # 'end of everything' is always free
            c = ((hi + alignment - 1) // alignment) * alignment
        else:
            c = best[1]
        placed[buf.name] = c
        lo, hi = (min(lo, c), max(hi, c + buf.size)) if len(placed) > 1 else (c, c + buf.size)
    shift = -lo
    offsets = {name: off + shift for name, off in placed.items()}
    arena = hi - lo if placed else 0
    arena = ((arena + alignment - 1) // alignment) * alignment
    used = [ov for ov in overlaps
            if (ov.src, ov.dst) in allowed and _overlapping(offsets, by_name, ov.src, ov.dst)]
    return MemoryPlan(offsets=offsets, arena_bytes=arena, overlaps_used=used)


def _overlapping(offsets, by_name, a, b) -> bool:
    oa, ob = offsets[a], offsets[b]
    return oa < ob + by_name[b].size and ob < oa + by_name[a].size


def check_plan(plan: MemoryPlan, buffers: list[Buffer], overlaps: list[Overlap] = ()) -> list[str]:
    """Every violated rule of a plan, as sentences (empty when the plan is sound)."""
    by_name = {b.name: b for b in buffers}
    allowed = _allowed(overlaps, by_name)
    problems = []
    names = sorted(by_name)
    for i, a in enumerate(names):
        A = by_name[a]
        if plan.offsets[a] < 0 or plan.offsets[a] + A.size > plan.arena_bytes:
            problems.append(f"{a} lies outside the arena")
        for b in names[i + 1:]:
            B = by_name[b]
            if A.last < B.first or B.last < A.first:
                continue
            if not _overlapping(plan.offsets, by_name, a, b):
                continue
            if _allowed_at(allowed.get((a, b)), plan.offsets[b] - plan.offsets[a]):
                continue
            if _allowed_at(allowed.get((b, a)), plan.offsets[a] - plan.offsets[b]):
                continue
            problems.append(f"{a} and {b} are alive together and share bytes")
    return problems
