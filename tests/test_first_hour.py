"""What a new user hits in the first hour: a model too large for its part, a TensorFlow crash, rank-2/3 inputs, a
TFLM fallback. Each case fails on the code before it was fixed."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import expect_clean_failure, run_cli
from engine_support import quantize


@pytest.fixture(scope="module")
def big_tflite(tmp_path_factory):
    """64x64x3 and two Conv2D(16): 67 KB of activations, far more than a micro:bit's 16 KB of RAM."""
    import keras

    x = keras.Input((64, 64, 3))
    y = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    y = keras.layers.Conv2D(16, 3, padding="same")(y)
    path = tmp_path_factory.mktemp("big") / "big.tflite"
    path.write_bytes(quantize(keras.Model(x, y), n=4))
    return path


def test_a_model_too_large_for_the_board_fails_and_says_what_would_fit(big_tflite, tmp_path):
    out = tmp_path / "o"
    r = run_cli("build", "--from-model", big_tflite, "--target", "microbit", "--out", out)
    line = expect_clean_failure(r, out, "does not fit microbit", "RAM: 71,052 B needed", "16,384 B there",
                          "54,668 B over", "--allow-oversize")
    assert "a part with more memory: --target nucleo-f401re" in line  # 96 KiB: the smallest that holds 71 KB


def test_allow_oversize_keeps_the_files_and_says_they_do_not_fit(big_tflite, tmp_path):
    out = tmp_path / "o"
    r = run_cli("build", "--from-model", big_tflite, "--target", "microbit", "--out", out, "--allow-oversize")
    assert r.returncode == 0, r.stderr
    assert "warning: the model does not fit microbit" in r.stdout
    mem = json.loads((out / "report.json").read_text())["memory"]
    assert mem["fits"] is False and "does not fit microbit" in mem["does_not_fit"]
    assert (out / "firmware" / "engine" / "edgecnn_model.c").is_file()


def test_a_board_too_small_for_the_model_fails_before_training(tmp_path):
    cfg = tmp_path / "edgecnn.toml"
    cfg.write_text('[build]\ntarget = "cortex-m4"\n[build.board]\nflash_origin = "0x08000000"\n'
                   'flash_bytes = "0x80000"\nram_origin = "0x20000000"\nram_bytes = "0x1000"\n')
    out = tmp_path / "o"
    r = run_cli("build", "--config", cfg, "--out", out, "--epochs", "1")
    expect_clean_failure(r, out, "does not fit board generic (cortex-m4)", "4,096 B there", "before training")
    assert "train " not in r.stdout  # it never started


def test_a_model_that_fits_reports_so(tmp_path, big_tflite):
    out = tmp_path / "o"
    r = run_cli("build", "--from-model", big_tflite, "--target", "cortex-m7", "--out", out)
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "report.json").read_text())["memory"]["fits"] is True


def test_fit_suggests_a_width_for_the_models_edgecnn_trains():
    from toolkit.fit import Need, fit_error, width_that_fits

    need = Need(flash=100_000, ram=40_000, weights=90_000, activations=36_000)
    lim = {"flash_bytes": 64_000, "ram_bytes": 32_000}
    assert width_that_fits(need, lim, 1.0) == 0.75  # 10 + 90 * 0.56 = 60.6 KB flash, 4 + 27 = 31 KB RAM
    err = fit_error("model m", "board b", need, lim, width=1.0)
    assert "flash: 100,000 B needed, 64,000 B there (36,000 B over)" in err.message
    assert "--width 0.75 (estimated)" in err.hint
    assert fit_error("model m", "board b", need, lim, width=None).hint.startswith("a smaller model")
    assert fit_error("model m", "b", Need(flash=10, ram=10), lim) is None
    assert np.isclose(0.75 ** 2 * 90_000 + 10_000, 60_625)


@pytest.fixture(scope="module")
def sequences(tmp_path_factory):
    """(N, 16, 8) sequences of 4 classes, as an .npz, and the same with a trailing axis."""
    d = tmp_path_factory.mktemp("seq")
    r = np.random.RandomState(0)
    arrays = dict(x_train=r.rand(120, 16, 8).astype("float32"), y_train=r.randint(0, 4, 120),
                  x_test=r.rand(24, 16, 8).astype("float32"), y_test=r.randint(0, 4, 24))
    np.savez(d / "seq3.npz", **arrays)
    np.savez(d / "seq4.npz", **{k: v[..., None] if k.startswith("x") else v for k, v in arrays.items()})
    np.savez(d / "feat.npz", **{k: v.reshape(len(v), -1)[:, :16] if k.startswith("x") else v
                                for k, v in arrays.items()})
    return d


def test_a_tensorflow_crash_in_calibration_is_one_line_and_leaves_nothing(sequences, tmp_path):
    """TensorFlow's int8 calibrator segfaults on this LSTM (MinMax::Update): the build names the model and the stage."""
    import keras

    x0 = keras.Input((16, 8, 1))
    x = keras.layers.Dense(4, activation="softmax")(keras.layers.LSTM(8)(keras.layers.Reshape((16, 8))(x0)))
    keras.Model(x0, x).save(tmp_path / "lstm4.keras")
    out = tmp_path / "o"
    r = run_cli("build", "--from-model", tmp_path / "lstm4.keras", "--dataset", sequences / "seq4.npz",
                "--target", "cortex-m4", "--out", out)
    line = expect_clean_failure(r, out, "lstm4.keras")
    assert "TensorFlow" in line and ("quantiz" in line or "convert" in line), line


@pytest.mark.parametrize("data, layer", [("seq3.npz", "conv1d"), ("feat.npz", "dense")])
def test_the_models_input_rank_decides_how_the_data_is_shaped(sequences, tmp_path, data, layer):
    import keras

    if layer == "conv1d":
        x0 = keras.Input((16, 8))
        x = keras.layers.GlobalAveragePooling1D()(keras.layers.Conv1D(8, 3, activation="relu")(x0))
    else:
        x0 = keras.Input((16,))
        x = keras.layers.Dense(8, activation="relu")(x0)
    keras.Model(x0, keras.layers.Dense(4, activation="softmax")(x)).save(tmp_path / "m.keras")
    out = tmp_path / "o"
    r = run_cli("build", "--from-model", tmp_path / "m.keras", "--dataset", sequences / data, "--target",
                "cortex-m4", "--out", out, "--verify", "host")
    assert r.returncode == 0, r.stderr
    assert "verified on host: bit-exact 1.0000" in r.stdout
    assert json.loads((out / "report.json").read_text())["model"]["input_shape"] == list(x0.shape[1:])


def test_edgecnns_own_image_models_refuse_feature_vectors(sequences, tmp_path):
    out = tmp_path / "o"
    r = run_cli("build", "--dataset", sequences / "feat.npz", "--target", "cortex-m4", "--out", out, "--epochs", "1")
    expect_clean_failure(r, out, "feat.npz", "(16,)", "takes images", "--from-model")


def test_a_tflm_fallback_says_so_and_claims_no_flash(tmp_path):
    """MAXIMUM has no engine kernel: the build falls back to firmware/tflm, names the layer and op once, lists the
    engine's ops once, names the .keras file (not '<bytes>') and claims no flash figure."""
    import keras

    x0 = keras.Input((8, 8, 1))
    a, b = keras.layers.Conv2D(4, 3, padding="same")(x0), keras.layers.Conv2D(4, 3, padding="same")(x0)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Maximum()([a, b]))
    keras.Model(x0, keras.layers.Dense(10, activation="softmax")(x)).save(tmp_path / "mx.keras")
    out = tmp_path / "o"
    r = run_cli("build", "--from-model", tmp_path / "mx.keras", "--target", "cortex-m4", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "TFLM fallback: not verified: the int8 model of mx.keras cannot be compiled to C" in r.stdout
    assert "(MAXIMUM): the engine has no kernel for MAXIMUM" in r.stdout and "<bytes>" not in r.stdout
    assert r.stdout.count("CONV_2D, DEPTHWISE_CONV_2D") == 1
    assert "flash not measured" in r.stdout
    rep = json.loads((out / "report.json").read_text())
    assert rep["memory"]["flash_bytes"] is None and rep["verified"] is False and rep["deploy_route"] == "tflm"
    assert "MAXIMUM" in rep["fallback"] and "not measured" in rep["memory"]["flash_bytes_measured_with"]
    assert (out / "firmware" / "tflm").is_dir()


def test_a_failed_build_leaves_no_empty_parent_folder(tmp_path, big_tflite):
    out = tmp_path / "build" / "big"
    r = run_cli("build", "--from-model", big_tflite, "--target", "microbit", "--out", out)
    expect_clean_failure(r, out, "does not fit")
    assert not (tmp_path / "build").exists()


def test_a_float_tflite_is_refused_for_its_float_weights(tmp_path, build_dir):
    out = tmp_path / "o"
    r = run_cli("build", "--from-model", build_dir / "model_float.tflite", "--target", "cortex-m4", "--out", out)
    expect_clean_failure(r, out, "is a float model: the weights of layer", "are float32", ".keras model with --dataset")


def test_verify_on_qemu_names_the_board_qemu_does_not_emulate():
    from deploy.verify.device import parse_device
    from toolkit.errors import ConfigError

    with pytest.raises(ConfigError, match="no QEMU machine emulates board nucleo-f401re") as err:
        parse_device("qemu", default_cpu="nucleo-f401re")
    assert "qemu:cortex-m4" in err.value.hint and "serial:PORT" in err.value.hint
