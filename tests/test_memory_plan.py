"""The static memory planner: lifetimes never collide, in-place overlap only where the access order allows it."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from deploy.engine.ops.common import window_overlap
from deploy.engine.memory_plan import INF, Buffer, Overlap, check_plan, overlap_bound, plan_memory
from deploy.engine.templates import TEMPLATE_DIR


def test_overlap_bound_elementwise_and_streaming():
    steps = np.arange(10)
    assert overlap_bound(steps, steps + 1, read_before_write=True) == 0  # exact alias is safe
    assert overlap_bound(steps, steps + 1) == -1  # conservative when a step may write before reading
    # a reduction that reads everything first (like FC) cannot overlap at all
    assert overlap_bound(np.zeros(4), np.arange(1, 5)) == -4
    assert overlap_bound(np.array([INF, 5]), np.array([3, 6])) == -1


def test_window_overlap_of_common_layers():
    # 3x3 depthwise, SAME, 8x8x4: the output may start one row and two pixels below the input
    assert window_overlap((8, 8, 4), (8, 8, 4), (3, 3), (1, 1), (1, 1), (1, 1)) == -(8 + 2) * 4
    # 1x1 shrinking conv: output right below the input, one output pixel of room
    assert window_overlap((8, 8, 16), (8, 8, 8), (1, 1), (1, 1), (1, 1), (0, 0)) == -8
    # 2x2/2 pooling: one output pixel of room
    assert window_overlap((8, 8, 4), (4, 4, 4), (2, 2), (2, 2), (1, 1), (0, 0)) == -4


def test_plan_respects_lifetimes_and_uses_overlap():
    bufs = [Buffer("in", 100, -1, 0), Buffer("a", 100, 0, 2), Buffer("b", 100, 1, 2), Buffer("c", 50, 2, 3)]
    ovs = [Overlap(0, "in", "a", -10), Overlap(2, "b", "c", 0), Overlap(2, "a", "c", 0)]
    plan = plan_memory(bufs, ovs)
    assert check_plan(plan, bufs, ovs) == []
    assert plan.arena_bytes <= 212  # 'in' and 'a' overlap, 'c' reuses 'a' or 'b'
    plan0 = plan_memory(bufs, [])
    assert check_plan(plan0, bufs, []) == []
    assert plan0.arena_bytes >= 200


def test_overlap_is_only_used_when_the_input_dies_there():
    bufs = [Buffer("x", 64, -1, 3), Buffer("y", 64, 0, 3)]
    plan = plan_memory(bufs, [Overlap(0, "x", "y", 0)])  # x is still read later: no overlap allowed
    assert check_plan(plan, bufs, []) == []
    assert plan.arena_bytes == 128


@pytest.mark.parametrize("seed", range(30))
def test_random_plans_are_sound(seed):
    rng = np.random.RandomState(seed)
    n = int(rng.randint(2, 25))
    bufs, ovs = [], []
    for i in range(n):
        first = i - 1
        last = min(n, first + 1 + int(rng.randint(0, 4)))
        bufs.append(Buffer(f"b{i}", int(rng.randint(1, 200)), first, last))
    for i in range(1, n):
        src = bufs[int(rng.randint(0, i))]
        if src.last == i - 1:
            ovs.append(Overlap(i - 1, src.name, bufs[i].name, int(rng.randint(-60, 5))))
    plan = plan_memory(bufs, ovs)
    assert check_plan(plan, bufs, ovs) == []
    assert plan.arena_bytes <= sum(-(-b.size // 4) * 4 for b in bufs)  # never worse than no reuse
    assert plan.arena_bytes % 4 == 0


INPLACE_MAIN = r"""
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include "ecnn_kernels.h"
/* the kernel once with separate buffers and once with the output at input + D, D = the planner's bound */
static int8_t filt[9 * 64];
static int32_t mult[64], shift[64];
static int8_t sep_in[4096], sep_out[4096];
static int8_t arena[16384];
int main(void) {
    ecnn_conv_params p = { IH, IW, IC, OH, OW, OC, KH, KW, KC, SH, SW, 1, 1, PH, PW, DM, 3, -2, -128, 127, 1,
                           filt, 0, mult, shift };
    int i, n_in = IH * IW * IC, n_out = OH * OW * OC, base = 8192;
    for (i = 0; i < 9 * 64; ++i) filt[i] = (int8_t)((i * 37) % 255 - 127);
    for (i = 0; i < 64; ++i) { mult[i] = 1200000000 + i * 1000; shift[i] = -7; }
    for (i = 0; i < n_in; ++i) sep_in[i] = (int8_t)((i * 91 + 7) % 256 - 128);
    memcpy(arena + base, sep_in, (size_t)n_in);
    if (DM) { ecnn_depthwise_conv2d(&p, sep_in, sep_out); ecnn_depthwise_conv2d(&p, arena + base, arena + base + D); }
    else { ecnn_conv2d(&p, sep_in, sep_out); ecnn_conv2d(&p, arena + base, arena + base + D); }
    return memcmp(sep_out, arena + base + D, (size_t)n_out) != 0;
}
"""

CASES = [  # (in_hwc, out_hwc, k, stride, pad, depth_mult)
    ((8, 8, 4), (8, 8, 4), (3, 3), (1, 1), (1, 1), 1),
    ((9, 9, 4), (5, 5, 8), (3, 3), (2, 2), (1, 1), 2),
    ((8, 8, 8), (8, 8, 16), (1, 1), (1, 1), (0, 0), 0),
    ((8, 8, 16), (8, 8, 8), (1, 1), (1, 1), (0, 0), 0),
    ((10, 10, 3), (5, 5, 8), (3, 3), (2, 2), (0, 0), 0),
]


@pytest.mark.toolchain
@pytest.mark.parametrize("case", CASES)
def test_kernels_run_in_place_at_the_planned_overlap(case, tmp_path):
    """The bound is not only plausible: the C kernel, run with its output overlapping its input by exactly
    the planned amount, writes the same bytes as with separate buffers."""
    (ih, iw, ic), (oh, ow, oc), (kh, kw), (sh, sw), (ph, pw), dm = case
    d = window_overlap((ih, iw, ic), (oh, ow, oc), (kh, kw), (sh, sw), (1, 1), (ph, pw))
    kc = 1 if dm else ic
    defs = dict(IH=ih, IW=iw, IC=ic, OH=oh, OW=ow, OC=oc, KH=kh, KW=kw, KC=kc, SH=sh, SW=sw, PH=ph, PW=pw, DM=dm, D=d)
    (tmp_path / "t.c").write_text(INPLACE_MAIN)
    src = TEMPLATE_DIR / "engine"
    exe = tmp_path / "t"
    subprocess.run(["gcc", "-std=c99", "-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                    *[f"-D{k}={v}" for k, v in defs.items()], "-I", str(src), *map(str, sorted(src.glob("ecnn_*.c"))),
                    str(tmp_path / "t.c"), "-o", str(exe)], check=True)
    assert subprocess.run([str(exe)]).returncode == 0
