"""deploy.verify.inputs and `edgecnn verify --inputs`: the user's own inputs, checked, run on a device, compared
with TFLM on the same inputs, and recorded with their source in the per-device result."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import run_cli
from deploy.verify.inputs import load_user_inputs
from toolkit.errors import InputError


@pytest.fixture(scope="module")
def golden(build_dir):
    with np.load(build_dir / "golden.npz") as g:
        return {k: g[k] for k in g.files}


@pytest.mark.toolchain
def test_float_inputs_with_labels_verify_on_qemu_from_a_relative_folder(build_dir, golden, tmp_path):
    out = tmp_path / "b"
    shutil.copytree(build_dir, out)
    pick = slice(20, 24)  # not the first golden samples: the result must come from these inputs
    np.savez(tmp_path / "mine.npz", x=golden["inputs_float"][pick], y=golden["labels"][pick])
    r = run_cli("verify", "b", "--device", "qemu:cortex-m4", "--inputs", "mine.npz", "--samples", "3", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"inputs {tmp_path / 'mine.npz'}: 3 of 4, float32 quantized" in r.stdout
    v = json.loads((out / "verify-qemu-cortex-m4.json").read_text())
    assert v == json.loads((out / "verify.json").read_text())
    assert v["inputs"]["given_by"] == "--inputs" and v["inputs"]["source"] == str(tmp_path / "mine.npz")
    assert v["inputs"]["samples"] == 3 and v["inputs"]["labels"] is True and v["samples"] == 3
    assert v["bit_exact"] == 1.0 and v["instructions_per_inference"] > 0
    ref_top1 = golden["outputs_int8"][20:23].argmax(axis=1)  # TFLM on the same quantized inputs
    assert v["accuracy"]["int8"] == v["accuracy"]["device"] == pytest.approx(
        float(np.mean(ref_top1 == golden["labels"][20:23])), abs=1e-6)
    flt_top1 = golden["outputs_float"][20:23].argmax(axis=1)
    assert v["top1_agreement_float"] == pytest.approx(float(np.mean(ref_top1 == flt_top1)), abs=1e-6)
    assert "caveat: QEMU counts instructions exactly" in r.stdout


@pytest.mark.toolchain
def test_int8_npy_without_labels_on_the_host(build_dir, golden, tmp_path):
    out = tmp_path / "b"
    shutil.copytree(build_dir, out)
    x = golden["inputs_int8"][5:7].copy()
    x[1] = np.int8(-128)  # a blank input the test split does not hold, sent as given
    np.save(tmp_path / "mine.npy", x)
    r = run_cli("verify", out, "--device", "host", "--inputs", tmp_path / "mine.npy")
    assert r.returncode == 0, r.stderr
    assert "no accuracy: the inputs have no labels (y)" in r.stdout
    v = json.loads((out / "verify-host.json").read_text())
    assert v["inputs"]["format"] == "int8 (sent as given)" and v["samples"] == 2 and v["bit_exact"] == 1.0
    assert v["accuracy"] == {"float": None, "int8": None, "device": None}
    assert v["top1_agreement_float"] is not None  # the float model ran on the dequantized inputs


def test_inputs_become_tflm_reference_records(build_dir, golden, tmp_path):
    x = golden["inputs_float"][:3]
    np.save(tmp_path / "one.npy", x[0])  # a single sample of the input shape is one input
    rec = load_user_inputs(tmp_path / "one.npy", build_dir)
    assert rec["inputs_int8"].shape == (1, 8, 8, 1) and rec["labels"] is None
    assert np.array_equal(rec["inputs_int8"][0], golden["inputs_int8"][0])
    assert np.array_equal(rec["outputs_int8"][0], golden["outputs_int8"][0])
    np.save(tmp_path / "bright.npy", x * 255)  # pixels in 0..255 for a model trained on 0..1
    rec = load_user_inputs(tmp_path / "bright.npy", build_dir)
    assert rec["inputs"]["clipped_values"] > 0 and "were clipped" in rec["caveats"][0]


BAD = [  # file name, how it is written, words the one-line error must hold
    ("flat.npy", lambda p, g: np.save(p, g["inputs_float"][:3, :, :, 0]), ["flat.npy", "(3, 8, 8)", "(N, 8, 8, 1)"]),
    ("u8.npy", lambda p, g: np.save(p, g["inputs_int8"][:3].astype(np.uint8)), ["u8.npy", "dtype uint8",
                                                                                  "(N, 8, 8, 1)"]),
    ("nox.npz", lambda p, g: np.savez(p, x_test=g["inputs_float"][:3]), ["nox.npz", "no array 'x'", "x_test"]),
    ("extra.npz", lambda p, g: np.savez(p, x=g["inputs_float"][:3], labels=g["labels"][:3]), ["extra.npz",
                                                                                             "'labels'"]),
    ("y.npz", lambda p, g: np.savez(p, x=g["inputs_float"][:3], y=g["labels"][:2]), ["y.npz", "'y'", "(3,)"]),
    ("label.npz", lambda p, g: np.savez(p, x=g["inputs_float"][:2], y=np.array([1, 10])), ["label 10", "10 classes"]),
    ("nan.npy", lambda p, g: np.save(p, np.full((2, 8, 8, 1), np.nan, np.float32)), ["nan.npy", "NaN"]),
    ("empty.npy", lambda p, g: np.save(p, np.zeros((0, 8, 8, 1), np.float32)), ["empty.npy", "no inputs"]),
    ("text.npy", lambda p, g: p.write_text("1,2,3"), ["text.npy", "is not a .npy file"]),
    ("inputs.csv", lambda p, g: p.write_text("1,2,3"), ["inputs.csv", ".npy or .npz"]),
    ("missing.npz", lambda p, g: None, ["missing.npz", "does not exist"]),
]


@pytest.mark.parametrize("name,write,words", BAD, ids=[b[0] for b in BAD])
def test_bad_inputs_are_one_clear_error(build_dir, golden, tmp_path, name, write, words):
    write(tmp_path / name, golden)
    with pytest.raises(InputError) as exc:
        load_user_inputs(tmp_path / name, build_dir)
    for word in words:
        assert word in str(exc.value)


def test_bad_inputs_through_the_cli_write_nothing(build_dir, golden, tmp_path):
    out = tmp_path / "b"
    shutil.copytree(build_dir, out)
    before = sorted(p.name for p in out.iterdir())
    np.save(tmp_path / "flat.npy", golden["inputs_float"][:3, :, :, 0])
    r = run_cli("verify", out, "--device", "qemu:cortex-m4", "--inputs", tmp_path / "flat.npy")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and "flat.npy has shape (3, 8, 8); the model takes (N, 8, 8, 1)" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == before


@pytest.mark.toolchain
def test_a_mismatch_on_the_users_inputs_names_the_file_sample_and_layer(build_dir, golden, tmp_path):
    from firmware_support import corrupt_second_conv

    out = tmp_path / "b"
    shutil.copytree(build_dir, out)
    corrupt_second_conv(out)
    np.savez(tmp_path / "mine.npz", x=golden["inputs_float"][30:40])
    r = run_cli("verify", out, "--device", "host", "--inputs", tmp_path / "mine.npz")
    assert r.returncode == 3 and "Traceback" not in r.stderr, r.stderr
    assert f"host on --inputs {tmp_path / 'mine.npz'}:" in r.stderr and "first is sample" in r.stderr
    assert "first differing layer: conv_2d_1 (CONV_2D, op 1)" in r.stderr
    v = json.loads((out / "verify-host.json").read_text())
    assert v["bit_exact"] < 1.0 and v["inputs"]["source"] == str(tmp_path / "mine.npz")
    assert v["first_differing_layer"]["name"] == "conv_2d_1"
