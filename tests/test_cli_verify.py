"""edgecnn verify through the CLI: a clean build verifies; a corrupted engine is caught and its layer named."""
import json
import re
import shutil

import pytest

from conftest import run_cli


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
    src = out / "firmware" / "engine" / "edgecnn_model.c"
    text = src.read_text()
    m = re.search(r"static const int8_t (conv_2d_1_filter)\[\d+\] = \{\n    (-?\d+),", text)
    assert m, "the second convolution's filter array was not found"
    value = int(m.group(2))
    text = text[:m.start(2)] + str(127 if value < 0 else -128) + text[m.end(2):]
    src.write_text(text)
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
