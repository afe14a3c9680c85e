"""deploy.convert.tflm: TFLM runs in a child process, so a native abort is a clear error, and its arena grows as needed."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import run_cli
from deploy.convert import tflm
from toolkit.errors import ModelError


@pytest.fixture(scope="module")
def aborting_tflite(tmp_path_factory):
    """An int8 model TFLM aborts on (SIGABRT in SOFTMAX's Prepare: its input scale is so small that the
    softmax multiplier is below 1), with digits' input and classes."""
    import keras

    from deploy.convert.quantize import to_int8_tflite

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(inp)
    x = keras.layers.Dense(10, kernel_initializer=keras.initializers.RandomNormal(stddev=1e-12))(x)
    model = keras.Model(inp, keras.layers.Softmax()(x))
    calib = np.random.default_rng(0).random((16, 8, 8, 1)).astype(np.float32) * 16
    path = tmp_path_factory.mktemp("tflm") / "aborts.tflite"
    path.write_bytes(to_int8_tflite(model, calib, max_samples=16))
    return path


def test_native_abort_is_a_model_error(aborting_tflite):
    with pytest.raises(ModelError, match=r"aborted \(SIGABRT\) while loading the model .* for aborts"):
        tflm.measure_arena(aborting_tflite.read_bytes(), what="aborts")


def test_native_abort_does_not_kill_the_build(aborting_tflite, tmp_path):
    """It used to end `edgecnn build` with exit 134 and not one line of output."""
    out = tmp_path / "out"
    r = run_cli("build", "--target", "cortex-m", "--from-model", aborting_tflite, "--out", out)
    assert r.returncode not in (0, 134) and r.returncode > 0, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and r.stderr.strip().count("\n") == 0, r.stderr
    assert "TensorFlow Lite Micro aborted (SIGABRT)" in r.stderr and "nothing was written" in r.stderr
    assert not out.exists() and not list(tmp_path.glob(".out.partial*"))


def test_arena_grows_until_the_model_fits(build_dir, monkeypatch):
    model = (build_dir / "model_int8.tflite").read_bytes()
    with np.load(build_dir / "golden.npz") as g:
        x, ref = g["inputs_int8"][:5], g["outputs_int8"][:5]
    monkeypatch.setattr(tflm, "first_arena_bytes", lambda m: 64)  # far too small: the child must retry
    out = tflm.run_tflm(model, x)
    assert np.array_equal(out.reshape(ref.shape), ref)
    assert tflm.measure_arena(model).total > 64


def test_first_arena_covers_every_activation(build_dir):
    model = (build_dir / "model_int8.tflite").read_bytes()
    assert tflm.first_arena_bytes(model) >= max(1 << 20, 2 * tflm.measure_arena(model).head)
