"""edgecnn verify through the CLI: a clean build verifies; a corrupted engine is caught and its layer named."""
import json
import re
import shutil

import pytest

from conftest import invoke_cli as run_cli  # in this process: these tests check the command, not a fresh process
from firmware_support import corrupt_second_conv


@pytest.mark.toolchain
def test_verify_host_writes_verify_json(build_dir, tmp_path):
    out = tmp_path / "b"
    shutil.copytree(build_dir, out)
    r = run_cli("verify", out, "--device", "host", "--samples", "30")
    assert r.returncode == 0, r.stderr
    v = json.loads((out / "verify.json").read_text())
    assert v["bit_exact"] == 1.0 and v["samples"] == 30 and v["max_abs_diff_lsb"] == 0
    assert v["accuracy"]["device"] == v["accuracy"]["int8"]


@pytest.mark.toolchain
@pytest.mark.parametrize("device", ["host", "qemu:cortex-m4"])
def test_corrupted_weight_fails_naming_sample_and_layer(build_dir, tmp_path, device):
    out = tmp_path / "b"
    shutil.copytree(build_dir, out)
    corrupt_second_conv(out)
    r = run_cli("verify", out, "--device", device, "--samples", "20")
    assert r.returncode == 3, r.stderr
    assert "Traceback" not in r.stderr
    assert "first is sample" in r.stderr and "first differing layer: conv_2d_1 (CONV_2D, op 1)" in r.stderr
    v = json.loads((out / "verify.json").read_text())
    assert v["bit_exact"] < 1.0 and v["first_differing_layer"]["name"] == "conv_2d_1"


def test_verify_bad_arguments(tmp_path):
    r = run_cli("verify", tmp_path, "--device", "fpga")
    assert r.returncode != 0 and "--device 'fpga'" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("verify", tmp_path, "--device", "host")
    assert r.returncode != 0 and "golden.npz" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.toolchain
def test_verify_relative_path_on_qemu_keeps_one_result_per_device(build_dir, tmp_path, monkeypatch):
    """A relative OUT used to fail on QEMU (the plugin path stayed relative while QEMU ran elsewhere), and
    each device overwrote the one verify.json."""
    out = tmp_path / "b"
    shutil.copytree(build_dir, out)
    monkeypatch.chdir(tmp_path)
    r = run_cli("verify", "b", "--device", "qemu:cortex-m0plus", "--samples", "3")
    assert r.returncode == 0, r.stderr
    assert "instructions per inference" in r.stdout
    assert "caveat: " in r.stdout and "M3 board" in r.stdout  # the device's caveats reach the console
    # RAM is named part by part: data + bss (engine activations inside) + stack
    total, act = _ram_parts(r.stdout, "verify firmware")
    assert total == json.loads((out / "verify-qemu-cortex-m0plus.json").read_text())["ram_bytes"]
    rep = json.loads((out / "report.json").read_text())
    assert act == rep["memory"]["peak_ram_bytes"]
    r = run_cli("verify", "b", "--device", "host", "--samples", "3")
    assert r.returncode == 0, r.stderr
    m0 = json.loads((out / "verify-qemu-cortex-m0plus.json").read_text())
    host = json.loads((out / "verify-host.json").read_text())
    assert m0["device"] == "qemu:cortex-m0plus" and host["device"] == "host"
    assert json.loads((out / "verify.json").read_text()) == host  # verify.json is the latest run
    assert not list(out.glob(".*.tmp"))


RAM_LINE = (r"RAM: engine activations ([\d,]+) B \(peak_ram_bytes\); {} RAM ([\d,]+) B = \.data ([\d,]+) \+ "
            r"\.bss ([\d,]+) \(activations ([\d,]+) \+ firmware buffers ([\d,]+)\) \+ stack ([\d,]+)")


def _ram_parts(text: str, firmware: str) -> tuple[int, int]:
    """The RAM line's total and engine activations, after checking that its parts add up."""
    m = re.search(RAM_LINE.format(firmware), text)
    assert m, text
    act, total, data, bss, act_in_bss, buffers, stack = (int(g.replace(",", "")) for g in m.groups())
    assert total == data + bss + stack and bss == act_in_bss + buffers and act == act_in_bss > 0
    return total, act


@pytest.mark.toolchain
def test_build_summary_names_the_ram_parts_as_verify_does(build_dir):
    """The build said "peak RAM" (the engine's activations) and verify said "RAM" (a whole firmware) for two
    different figures without a word; both now name each part."""
    summary = (build_dir.parent / f"{build_dir.name}.stdout.txt").read_text()
    total, act = _ram_parts(summary, "serial firmware")
    mem = json.loads((build_dir / "report.json").read_text())["memory"]
    assert act == mem["peak_ram_bytes"] and total == mem["firmware_ram_bytes"]
    assert mem["firmware_ram_parts"]["engine_activations"] == act
    r = run_cli("report", build_dir)  # report.md names them too
    assert r.returncode == 0 and re.search(RAM_LINE.format("serial firmware"), r.stdout), r.stdout


def test_device_file_names():
    from deploy.verify.common import device_slug

    assert device_slug("qemu:cortex-m0plus") == "qemu-cortex-m0plus"
    assert device_slug("serial:/dev/ttyACM0") == "serial-ttyACM0"
    assert device_slug("serial:socket://127.0.0.1:4000") == "serial-127.0.0.1_4000"
    assert device_slug("host") == "host"
