"""A .tflite made elsewhere, built without a data set: seeded random golden inputs or --inputs FILE, any input
rank, accuracy skipped with its reason, the Android int8 files it can give, and `edgecnn report FILE.tflite`
planning the engine for a target."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import expect_clean_failure, run_cli


def _int8_tflite(model, path, seed=0):
    """An int8 .tflite of `model` with realistic batch-norm statistics (as the MLPerf Tiny benchmarks make them)."""
    from deploy.convert.quantize import to_int8_tflite
    from models.mlperf_tiny import calibrate_batchnorm

    cal = np.random.RandomState(seed).randn(32, *model.inputs[0].shape[1:]).astype(np.float32)
    calibrate_batchnorm(model, cal)
    path.write_bytes(to_int8_tflite(model, cal))
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The MLPerf Tiny FC autoencoder (flat input of 640 values) and a small keyword-spotting model of DS-CNN's
    input shape (49, 10, 1) with 12 classes, as int8 .tflite files."""
    import keras

    from models.mlperf_tiny import fc_autoencoder

    root = tmp_path_factory.mktemp("tflite")
    layers = keras.layers
    kws = keras.Sequential([keras.Input((49, 10, 1)), layers.Conv2D(8, (10, 4), strides=2, padding="same"),
                            layers.BatchNormalization(), layers.ReLU(), layers.DepthwiseConv2D(3, padding="same"),
                            layers.BatchNormalization(), layers.ReLU(), layers.GlobalAveragePooling2D(),
                            layers.Dense(12), layers.Softmax()])
    return {"fc": _int8_tflite(fc_autoencoder(), root / "fc_autoencoder.tflite"),
            "kws": _int8_tflite(kws, root / "kws.tflite")}


def _graph(path):
    from deploy.engine.tflite_reader import read_tflite

    return read_tflite(path)


@pytest.mark.toolchain
def test_flat_input_model_builds_and_verifies_without_a_data_set(models, tmp_path):
    """The FC autoencoder used to be refused: x_train (200, 640) was not an image, and digits did not fit it."""
    from deploy.convert.export import random_int8_inputs

    out = tmp_path / "fc"
    r = run_cli("build", "--target", "cortex-m4", "--from-model", models["fc"], "--verify", "host", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "edgecnn build: fc_autoencoder.tflite on 100 random int8 inputs (seed 0, no data set)" in r.stdout
    assert "compact_cnn" not in r.stdout and "digits" not in r.stdout and "None" not in r.stdout, r.stdout
    assert "dataset   skipped: no --dataset" in r.stdout and "accuracy not measured: built without --dataset" \
        in r.stdout
    with np.load(out / "golden.npz") as g:
        assert sorted(g.files) == ["inputs_float", "inputs_int8", "outputs_int8"]  # no labels, no class names
        np.testing.assert_array_equal(g["inputs_int8"], random_int8_inputs(_graph(models["fc"]), 100, 0))
        assert g["outputs_int8"].shape == (100, 640) and g["outputs_int8"].dtype == np.int8
    rep = json.loads((out / "report.json").read_text())
    assert rep["model"]["name"] == "fc_autoencoder" and rep["model"]["input_shape"] == [640]
    assert rep["accuracy"]["float"] is None and rep["accuracy"]["int8"] is None
    assert "without --dataset" in rep["accuracy"]["reason"] and "--inputs FILE.npz" in rep["accuracy"]["reason"]
    assert rep["golden_inputs"] == {"source": "random", "seed": 0, "samples": 100, "labelled": False,
                                    "format": "int8, uniform in [-128, 127]"}
    assert rep["memory"]["peak_ram_bytes"] > 0 and rep["memory"]["flash_bytes"] > rep["memory"]["weights_bytes"]
    assert "Accuracy not measured: built without --dataset" in (out / "report.md").read_text()
    assert not (out / "labels.txt").exists()
    v = json.loads((out / "verify.json").read_text())
    assert v["bit_exact"] == 1.0 and v["samples"] == 100 and v["accuracy"]["int8"] is None
    assert (out / "firmware" / "cortex-m4" / "inputs.bin").stat().st_size == 100 * 640


@pytest.mark.toolchain
def test_kws_model_without_a_data_set_is_seeded_and_verifies_on_qemu(models, tmp_path):
    """The (49, 10, 1) model used to need a data set of that shape; --seed now picks the random golden inputs."""
    from deploy.convert.export import random_int8_inputs

    out = tmp_path / "kws"
    r = run_cli("build", "--target", "cortex-m4", "--from-model", models["kws"], "--seed", "7", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "on 100 random int8 inputs (seed 7, no data set)" in r.stdout
    with np.load(out / "golden.npz") as g:
        x = random_int8_inputs(_graph(models["kws"]), 100, 7)
        np.testing.assert_array_equal(g["inputs_int8"], x)
        assert not np.array_equal(x, random_int8_inputs(_graph(models["kws"]), 100, 0))
        from deploy.convert.tflm import run_tflm

        np.testing.assert_array_equal(g["outputs_int8"][:4], run_tflm(models["kws"].read_bytes(), x[:4]).reshape(4, -1))
    r = run_cli("verify", out, "--device", "qemu:cortex-m4", "--samples", "3")
    assert r.returncode == 0, r.stderr
    assert "bit-exact 1.0000" in r.stdout and "no accuracy: the build's golden inputs have no labels" in r.stdout
    v = json.loads((out / "verify.json").read_text())
    assert v["bit_exact"] == 1.0 and v["inputs"]["labels"] is False


@pytest.mark.toolchain
def test_inputs_npy_and_npz_become_the_golden_inputs(models, tmp_path):
    from deploy.convert.export import quantize_input

    graph = _graph(models["kws"])
    rng = np.random.default_rng(1)
    x_float = rng.normal(0, 1, (7, 49, 10, 1)).astype(np.float32)
    np.save(tmp_path / "mine.npy", x_float)
    out = tmp_path / "npy"
    r = run_cli("build", "--target", "host", "--from-model", models["kws"], "--inputs", tmp_path / "mine.npy",
                "--verify", "host", "--out", out)
    assert r.returncode == 0, r.stderr
    assert f"on --inputs {tmp_path / 'mine.npy'} for host" in r.stdout and "None" not in r.stdout
    with np.load(out / "golden.npz") as g:
        np.testing.assert_array_equal(g["inputs_int8"], quantize_input(x_float, graph))
        np.testing.assert_array_equal(g["inputs_float"], x_float)
    rep = json.loads((out / "report.json").read_text())
    assert rep["golden_inputs"]["source"] == "--inputs" and rep["golden_inputs"]["samples"] == 7
    assert rep["golden_inputs"]["file"] == str(tmp_path / "mine.npy") and rep["accuracy"]["int8"] is None
    assert json.loads((out / "verify.json").read_text())["bit_exact"] == 1.0

    x_int8 = rng.integers(-128, 128, (9, 49, 10, 1), dtype=np.int8)
    y = np.arange(9) % 12
    np.savez(tmp_path / "mine.npz", x=x_int8, y=y)
    out = tmp_path / "npz"
    r = run_cli("build", "--target", "host", "--from-model", models["kws"], "--inputs", tmp_path / "mine.npz",
                "--verify", "host", "--out", out)
    assert r.returncode == 0, r.stderr
    with np.load(out / "golden.npz") as g:
        np.testing.assert_array_equal(g["inputs_int8"], x_int8)
        np.testing.assert_array_equal(g["labels"], y)
        want = float(np.mean(g["outputs_int8"].argmax(axis=1) == y))
    rep = json.loads((out / "report.json").read_text())
    assert rep["accuracy"]["int8"] == pytest.approx(want) and rep["accuracy"]["float"] is None
    assert rep["accuracy"]["measured_on"].startswith("--inputs") and rep["golden_inputs"]["labelled"] is True
    assert f"accuracy int8 {want:.4f} on --inputs" in r.stdout
    assert json.loads((out / "verify.json").read_text())["accuracy"]["device"] == pytest.approx(want)


@pytest.mark.parametrize("make, extra, words", [
    (lambda d: np.save(d / "bad.npy", np.zeros((3, 49, 10), np.float32)), [],
     ["--inputs", "bad.npy has shape (3, 49, 10); the model takes (N, 49, 10, 1)"]),
    (lambda d: np.save(d / "bad.npy", np.zeros((3, 49, 10, 1), np.uint8)), [], ["has dtype uint8"]),
    (lambda d: np.savez(d / "bad.npz", x=np.zeros((3, 49, 10, 1), np.int8), y=np.array([0, 1, 12])), [],
     ["holds label 12; the model has 12 classes"]),
    (lambda d: np.save(d / "bad.npy", np.zeros((3, 49, 10, 1), np.int8)), ["--dataset", "digits"],
     ["both give the golden inputs"]),
])
def test_bad_inputs_are_one_line_and_leave_nothing(models, tmp_path, make, extra, words):
    make(tmp_path)
    bad = next(tmp_path.glob("bad.*"))
    out = tmp_path / "out"
    r = run_cli("build", "--target", "cortex-m4", "--from-model", models["kws"], "--inputs", bad, *extra,
                "--out", out)
    expect_clean_failure(r, out, *words)


def test_inputs_need_a_tflite_and_a_mismatched_data_set_says_how_to_go_without(models, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 8, 8, 1), np.float32))
    out = tmp_path / "out"
    r = run_cli("build", "--target", "cortex-m4", "--inputs", tmp_path / "x.npy", "--out", out)
    expect_clean_failure(r, out, "--inputs gives the golden inputs of a --from-model FILE.tflite build")
    r = run_cli("build", "--target", "cortex-m4", "--from-model", models["kws"], "--dataset", "digits", "--out", out)
    expect_clean_failure(r, out, "takes inputs of shape (49, 10, 1) but data set digits has (8, 8, 1)",
                          "leave --dataset out")


def test_android_target_writes_the_int8_files_and_names_the_rest(models, tmp_path):
    """--target android used to refuse a .tflite; it now writes what an int8 model can give, checked against TFLM."""
    out = tmp_path / "and"
    r = run_cli("build", "--target", "android", "--from-model", models["fc"], "--out", out)
    assert r.returncode == 0, r.stderr
    assert "Android bundle (int8 only): model_int8.tflite, model_int8.onnx, model_int8.ort" in r.stdout
    assert "model_float.tflite, model_int8_float_io.tflite, model.onnx, model.ort" in r.stdout
    assert "--from-model FILE.keras" in r.stdout and "None" not in r.stdout
    bundle = out / "android"
    assert (bundle / "model_int8.tflite").read_bytes() == models["fc"].read_bytes()
    parity = json.loads((bundle / "parity.json").read_text())
    assert parity["reference"] == "tflm" and parity["samples"] == 100 and parity["ok"]
    assert set(parity["files"]) == {"model_int8.tflite", "model_int8.onnx", "model_int8.ort"}
    for name, f in parity["files"].items():
        assert (bundle / name).stat().st_size == f["bytes"] and f["io"] == "int8", name
        assert f["max_abs_diff_lsb"] <= parity["goals"]["int8_max_abs_diff_lsb"] and f["bit_exact"] > 0, name
    assert {"model_float.tflite", "model_int8_float_io.tflite", "model.onnx", "model.ort", "EdgecnnClassifier.kt",
            "build.gradle.snippet", "labels.txt", "model_meta.json"} == set(parity["not_written"])
    assert not any((bundle / name).exists() for name in parity["not_written"])
    readme = (bundle / "README.md").read_text()
    assert "`model_float.tflite`: the float model" in readme and "ByteBuffer.allocateDirect(640)" in readme
    rep = json.loads((out / "report.json").read_text())
    assert rep["android"] == parity and rep["memory"]["peak_ram_bytes"] is None
    assert "int8 outputs against TFLM" in (out / "report.md").read_text()
    assert not (out / "firmware").exists()


@pytest.mark.toolchain
def test_report_of_a_tflite_plans_the_engine_for_the_target(models, tmp_path):
    from deploy.engine.codegen import plan_engine

    plan = plan_engine(_graph(models["kws"]))
    r = run_cli("report", models["kws"], "--target", "cortex-m4")
    assert r.returncode == 0, r.stderr
    assert f"| peak_ram_bytes | {plan.info.peak_ram_bytes:,} |" in r.stdout
    assert f"| engine_constant_bytes | {plan.info.const_bytes:,} |" in r.stdout
    assert "| firmware_ram_bytes |" in r.stdout and "serial firmware linked for cortex-m4" in r.stdout
    flash = int(next(ln for ln in r.stdout.splitlines() if ln.startswith("| flash_bytes |")).split("|")[2]
                .replace(",", ""))
    assert flash > plan.info.const_bytes
    assert "Accuracy not measured: a .tflite file alone has no test data" in r.stdout
    r = run_cli("report", models["fc"], "--target", "cortex-m0plus")  # 284 KB of weights: too big for 256 KB
    assert r.returncode == 0, r.stderr
    assert "| peak_ram_bytes | 768 |" in r.stdout and "does not fit cortex-m0plus" in r.stdout


def test_report_of_a_tflite_without_an_engine(models, build_dir, tmp_path):
    import keras

    from deploy.convert.quantize import to_int8_tflite

    r = run_cli("report", models["fc"], "--target", "android")  # no engine on Android: TFLM's arena only
    assert r.returncode == 0, r.stderr
    assert "| peak_ram_bytes | - |" in r.stdout and "| tflm_arena_bytes |" in r.stdout
    inp = keras.Input((8, 8, 1))
    a, b = keras.layers.Conv2D(4, 3)(inp), keras.layers.Conv2D(4, 3)(inp)
    m = keras.Model(inp, keras.layers.Dense(10)(keras.layers.Flatten()(keras.layers.Maximum()([a, b]))))
    maximum = tmp_path / "maximum.tflite"
    maximum.write_bytes(to_int8_tflite(m, np.random.default_rng(0).random((20, 8, 8, 1), dtype=np.float32)))
    r = run_cli("report", maximum)  # the engine refuses MAXIMUM: still a report, saying why there is no engine
    assert r.returncode == 0, r.stderr
    assert "Engine: not planned" in r.stdout and "MAXIMUM" in r.stdout and "| tflm_arena_bytes |" in r.stdout
    r = run_cli("report", build_dir, "--target", "cortex-m7")
    assert r.returncode != 0 and "--target cortex-m7 is for a .tflite file" in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
