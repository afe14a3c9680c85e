"""deploy.verify.qemu: the engine on emulated Cortex-M CPUs is bit-exact with TFLM; instruction counts repeat.

The build folder is a copy of conftest's untrained_dir (firmware_support.untrained_build; no training, no CLI): the
default compact_cnn, untrained, on the digits test split with its labels, so the accuracies compared below are an
untrained model's (near chance) on real labels, over samples whose top-1 classes differ."""
from __future__ import annotations

import json

import numpy as np
import pytest

from deploy.devices.firmware import build_firmware
from deploy.devices.qemu import run_verify_firmware
from deploy.verify.common import VERIFY_KEYS, load_golden
from deploy.verify.qemu import verify_qemu
from firmware_support import copy_untrained
from toolkit.errors import DeviceTimeoutError, ToolchainError
from toolkit.targets import TARGETS, get_board

pytestmark = pytest.mark.toolchain


@pytest.fixture(scope="module")
def qbuild(untrained_dir, tmp_path_factory):
    return copy_untrained(untrained_dir, tmp_path_factory.mktemp("qemu") / "build")


def test_m4_is_bit_exact_on_every_golden_sample(qbuild):
    r = verify_qemu(qbuild, TARGETS["cortex-m4"])
    assert set(VERIFY_KEYS) <= set(r)
    g = load_golden(qbuild)
    assert r["device"] == "qemu:cortex-m4" and r["samples"] == len(g["labels"])
    assert r["bit_exact"] == 1.0 and r["max_abs_diff_lsb"] == 0 and r["first_mismatch"] is None
    assert r["top1_agreement_int8"] == 1.0
    desktop_int8 = float(np.mean(g["outputs_int8"].argmax(1) == g["labels"]))
    assert r["accuracy"]["device"] == r["accuracy"]["int8"] == pytest.approx(desktop_int8, abs=1e-6)
    report = json.loads((qbuild / "report.json").read_text())
    assert r["accuracy"]["int8"] == pytest.approx(report["accuracy"]["int8"], abs=0.01)
    assert 0 < r["flash_bytes"] < TARGETS["cortex-m4"].flash_bytes and 0 < r["ram_bytes"]
    # SMLAD does two multiply-accumulates per instruction: at least MACs / 2 instructions, and far fewer than
    # 50 per MAC (a count from the wrong markers would be off by orders of magnitude)
    macs = report["model"]["macs"]
    assert macs / 2 < r["instructions_per_inference"] < 50 * macs
    assert r["instructions_min"] <= r["instructions_per_inference"] <= r["instructions_max"]
    # the cycle estimate sits next to the exact count, labelled; every TRM weight is at least 1 cycle
    assert r["cycles_estimate_model"] == "Cortex-M4 TRM instruction timings, estimate"
    assert r["instructions_per_inference"] <= r["cycles_estimate_per_inference"] < 3 * r["instructions_per_inference"]


@pytest.mark.parametrize("cpu", ["cortex-m0plus", "cortex-m3", "cortex-m7", "cortex-m33", "cortex-m55"])
def test_other_cpus_boot_and_are_bit_exact(qbuild, cpu):
    r = verify_qemu(qbuild, TARGETS[cpu], samples=40)
    assert r["samples"] == 40 and r["bit_exact"] == 1.0, r["first_mismatch"]
    assert r["accuracy"]["device"] == r["accuracy"]["int8"]
    assert r["qemu_machine"] == TARGETS[cpu].qemu_machine and r["instructions_per_inference"] > 0
    if cpu == "cortex-m0plus":
        assert any("M3 board" in c for c in r["caveats"])
    # cycles are estimated with the M4 table on the M4 and M7 only
    assert (r["cycles_estimate_per_inference"] is not None) == (cpu == "cortex-m7")


def test_instruction_count_is_identical_on_two_runs(qbuild):
    a = verify_qemu(qbuild, TARGETS["cortex-m33"], samples=8)
    b = verify_qemu(qbuild, TARGETS["cortex-m33"], samples=8)
    assert a["instructions_per_inference"] == b["instructions_per_inference"]
    assert (a["instructions_min"], a["instructions_max"]) == (b["instructions_min"], b["instructions_max"])


def test_timeout_is_a_clear_error(qbuild):
    fw = build_firmware(qbuild, TARGETS["cortex-m4"], modes=("verify",))
    x = load_golden(qbuild)["inputs_int8"]
    with pytest.raises(DeviceTimeoutError, match=r"mps2-an386 .* did not finish within 0 s"):
        run_verify_firmware(fw.elves["verify"], get_board(TARGETS["cortex-m4"]), x, 10, timeout=0.01)


def test_missing_qemu_names_the_debian_package(qbuild, monkeypatch):
    import shutil

    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "qemu-system-arm" else real(name))
    with pytest.raises(ToolchainError, match=r"qemu-system-arm is not installed .*apt-get install qemu-system-arm"):
        verify_qemu(qbuild, TARGETS["cortex-m4"], samples=2)
