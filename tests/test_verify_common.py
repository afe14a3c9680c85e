"""deploy.verify.common: the verify.json numbers from device vs reference outputs, and the mismatch error."""
from __future__ import annotations

import json

import numpy as np
import pytest

from deploy.verify.common import VERIFY_KEYS, check_verification, compare_outputs, load_golden, write_verify_json
from toolkit.errors import OutputError, VerificationError


def golden(n=6, classes=4):
    rng = np.random.RandomState(0)
    ref = rng.randint(-128, 128, (n, classes)).astype(np.int8)
    labels = ref.argmax(axis=1).copy()
    labels[0] = (labels[0] + 1) % classes  # int8 wrong on sample 0
    flt = ref.astype(np.float32) / 128
    flt[1] = np.roll(flt[1], 1)  # float disagrees on sample 1
    return dict(inputs_int8=np.zeros((n, 2, 2, 1), np.int8), outputs_int8=ref, outputs_float=flt, labels=labels)


def test_identical_outputs_are_bit_exact():
    g = golden()
    r = compare_outputs(g, g["outputs_int8"].copy(), "qemu:cortex-m4")
    assert set(VERIFY_KEYS) - {"flash_bytes", "ram_bytes", "instructions_per_inference"} <= set(r)
    assert r["bit_exact"] == 1.0 and r["max_abs_diff_lsb"] == 0 and r["first_mismatch"] is None
    assert r["top1_agreement_int8"] == 1.0 and r["top1_agreement_float"] == pytest.approx(5 / 6, abs=1e-6)
    assert r["accuracy"]["device"] == r["accuracy"]["int8"] == pytest.approx(5 / 6, abs=1e-6)
    check_verification(r)  # no error


def test_first_mismatch_names_sample_outputs_and_positions():
    g = golden()
    dev = g["outputs_int8"].copy()
    dev[3, 2] = np.int8(int(dev[3, 2]) - 3 if dev[3, 2] > -120 else int(dev[3, 2]) + 3)
    dev[5, 0] = np.int8(int(dev[5, 0]) ^ 1)
    r = compare_outputs(g, dev, "serial:/dev/ttyACM0")
    assert r["bit_exact"] == pytest.approx(4 / 6, abs=1e-6) and r["max_abs_diff_lsb"] == 3
    assert r["mismatched_samples"] == 2
    first = r["first_mismatch"]
    assert first["sample"] == 3 and first["positions"] == [2] and first["label"] == int(g["labels"][3])
    assert first["output"] == dev[3].tolist() and first["expected"] == g["outputs_int8"][3].tolist()
    with pytest.raises(VerificationError, match=r"2 of 6 samples differ .* first is sample 3") as exc:
        check_verification(r)
    assert exc.value.exit_code == 3


def test_golden_loading_and_verify_json(tmp_path):
    with pytest.raises(OutputError, match="golden.npz"):
        load_golden(tmp_path)
    g = golden(n=10)
    np.savez(tmp_path / "golden.npz", **g, class_labels=np.array(list("abcd")))
    assert len(load_golden(tmp_path, 4)["labels"]) == 4 and len(load_golden(tmp_path)["labels"]) == 10
    r = compare_outputs(load_golden(tmp_path), g["outputs_int8"], "qemu:cortex-m3")
    path = write_verify_json(tmp_path, r)
    assert json.loads(path.read_text())["device"] == "qemu:cortex-m3"


def test_host_style_mismatch_is_also_an_error():
    r = dict(device="host", samples=4, bit_exact=0.75, max_abs_diff_lsb=1,
             first_mismatch=dict(sample=2, output=[1, 2], expected=[1, 3]))
    with pytest.raises(VerificationError, match=r"host: 25.0% of the samples differ .* first is sample 2"):
        check_verification(r)
