"""The QEMU plugin's cycle estimate (firmware_templates/qemu_plugin/insn_count.c, cycles=m4) on a tiny known
Thumb sequence: every executed instruction gets the Cortex-M4 TRM weight of its class (Table 3-1 and 3.3.2),
with P = 2 for a taken branch. The expected figure below is worked out by hand from that table."""
from __future__ import annotations

import re
import subprocess

import pytest

from deploy.devices.toolchain import require_tool
from deploy.devices.qemu import build_plugin, parse_cycles, plugin_args, qemu_base_command
from toolkit.targets import BOARDS

pytestmark = pytest.mark.toolchain

SOURCE = r"""
    .syntax unified
    .cpu cortex-m4
    .thumb
    .section .vectors, "a"
    .word 0x20001000
    .word reset + 1
    .text
    .thumb_func
reset:
    ldr r1, =buf
    bl measured
    bl mark_end
    movs r0, #0x18          @ semihosting SYS_EXIT, ADP_Stopped_ApplicationExit
    ldr r1, =0x20026
    bkpt 0xab
1:  b 1b

    .thumb_func
measured:                   @ counted from here to the entry of mark_end
    push {r4, r5, r6, lr}   @ 1+N, N=4                               5
    movs r0, #4             @                                        1
    movs r5, #0             @                                        1
loop:                       @ 4 passes
    ldr r2, [r1]            @ load after an ALU op                   2
    ldr r3, [r1, #4]        @ pipelined behind the load of r2        1
    ldr r4, [r1, r3]        @ address uses r3, just loaded: no      2
    smlad r5, r2, r3, r5    @ DSP MAC                                1
    mla r6, r2, r3, r5      @ MAC                                    1
    str r5, [r1, #8]        @ store                                  1
    subs r0, #1             @                                        1
    bne loop                @ 1, +P=2 when taken (3 of 4 passes)     1 (+2)
    cbz r0, 2f              @ taken                                  1+2
    nop                     @ skipped
2:  cmp r0, #1              @                                        1
    it eq                   @                                        1
    bxeq lr                 @ in an IT block, not taken              1
    movs r2, #0             @                                        1
    cmp r2, #0              @                                        1
    it eq                   @                                        1
    beq 3f                  @ in an IT block, taken                  1+2
    nop                     @ skipped
3:  pop {r4, r5, r6, pc}    @ 1+N+P, N=4                             7
                            @ then "bl mark_end" in reset: 1+P       3

    .thumb_func
mark_end:
    bx lr

    .data
    .balign 4
buf: .word 1, 0, 0, 0
"""
LINKER = """MEMORY { FLASH (rx) : ORIGIN = 0, LENGTH = 64K  RAM (rwx) : ORIGIN = 0x20000000, LENGTH = 64K }
SECTIONS { .text : { KEEP(*(.vectors)) *(.text*) *(.rodata*) } > FLASH  .data : { *(.data*) } > RAM }
"""
INSNS = 3 + 4 * 8 + 1 + 3 + 4 + 1 + 1                     # 45
CYCLES = 5 + 2 + 4 * 10 + 3 * 2 + 3 + 3 + 6 + 7 + 3        # 75


def run(tmp_path, extra: str = "", cycles: bool = True):
    gcc = require_tool("arm-none-eabi-gcc")
    (tmp_path / "seq.S").write_text(SOURCE)
    (tmp_path / "link.ld").write_text(LINKER)
    elf = tmp_path / "seq.elf"
    subprocess.run([gcc, "-mcpu=cortex-m4", "-mthumb", "-nostdlib", "-T", str(tmp_path / "link.ld"),
                    str(tmp_path / "seq.S"), "-o", str(elf)], check=True)
    syms = {p[2]: int(p[0], 16) for p in (line.split() for line in subprocess.run(
        [require_tool("arm-none-eabi-nm"), str(elf)], capture_output=True, text=True, check=True).stdout.splitlines())
        if len(p) == 3}
    plugin = build_plugin(tmp_path / "plugin")
    log = tmp_path / "plugin.log"
    cmd = qemu_base_command(BOARDS["mps2-an386"], elf) + [
        "-serial", "null", "-semihosting-config", "enable=on,target=native",
        "-plugin", f"{plugin},{plugin_args(syms['measured'], syms['mark_end'], cycles)}{extra}",
        "-d", "plugin", "-D", str(log)]
    subprocess.run(cmd, check=True, timeout=60, capture_output=True, stdin=subprocess.DEVNULL)
    return log.read_text()


def test_cycle_estimate_of_a_known_sequence_follows_the_m4_table(tmp_path):
    text = run(tmp_path)
    assert re.findall(r"^edgecnn-insns (\d+)$", text, re.M) == [str(INSNS)]
    assert parse_cycles(text) == [CYCLES]


def test_each_instruction_gets_its_class_weight(tmp_path):
    text = run(tmp_path, ",trace=1")
    weights = {}
    for pc, w, dis in re.findall(r"^edgecnn-trace 0x([0-9a-f]+) (\S+) (.*)$", text, re.M):
        weights.setdefault(dis.strip(), w)
    assert weights["push {r4, r5, r6, lr}"] == "5"
    assert weights["ldr r2, [r1]"] == "2"
    assert weights["ldr r3, [r1, #4]"] == "1"
    assert weights["ldr r4, [r1, r3]"] == "2"
    assert weights["smlad r5, r2, r3, r5"] == "1" and weights["mla r6, r2, r3, r5"] == "1"
    assert weights["str r5, [r1, #8]"] == "1"
    assert weights["bne #0x20"] == "1+P?" and weights["cbz r0, #0x38"] == "1+P?"
    assert weights["it eq"] == "1" and weights["b #0x48"] == "1+P?"  # "beq" in an IT block: printed "b"
    # "bx lr": in the IT block, conditional; in mark_end, 1+P
    assert [w for _, w, d in re.findall(r"^edgecnn-trace 0x([0-9a-f]+) (\S+) (.*)$", text, re.M)
            if d.strip() == "bx lr"] == ["1+P?", "3"]
    assert weights["pop {r4, r5, r6, pc}"] == "7"


def test_without_cycles_the_plugin_prints_counts_only(tmp_path):
    text = run(tmp_path, cycles=False)
    assert re.findall(r"^edgecnn-insns (\d+)$", text, re.M) == [str(INSNS)]
    assert "edgecnn-cycles" not in text
