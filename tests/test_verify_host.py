"""verify_host: compile the build's engine with gcc, run golden.npz, report bit exactness and agreement."""
from __future__ import annotations

import numpy as np
import pytest

from deploy.engine.codegen import generate_engine
from deploy.convert.tflm import run_tflm
from deploy.verify.host import first_differing_layer, verify_host
from engine_support import quantize, make_inputs
from toolkit.errors import ToolchainError, VerificationError

pytestmark = pytest.mark.toolchain

KEYS = {"device", "samples", "bit_exact", "max_abs_diff_lsb", "top1_agreement_int8", "top1_agreement_float",
        "accuracy", "flash_bytes", "ram_bytes", "instructions_per_inference"}


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """A build folder as the pipeline leaves it: firmware/engine and golden.npz."""
    import keras
    from keras import layers

    inp = keras.Input((8, 8, 1))
    x = layers.Conv2D(6, 3, padding="same", activation="relu")(inp)
    x = layers.MaxPooling2D(2)(x)
    x = layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, layers.Dense(3, activation="softmax")(x))
    tfl = quantize(model)
    out = tmp_path_factory.mktemp("build")
    info = generate_engine(tfl, out / "firmware" / "engine", labels=["a", "b", "c"])
    (out / "model_int8.tflite").write_bytes(tfl)
    x8 = make_inputs((8, 8, 1), n=10)
    ref = run_tflm(tfl, x8)
    xf = x8.astype(np.float32) * 0.02
    np.savez(out / "golden.npz", inputs_int8=x8, labels=np.arange(10) % 3, outputs_int8=ref,
             outputs_float=np.asarray(model.predict(xf, verbose=0)))
    return out, info


def test_verify_host_is_bit_exact(build):
    out, info = build
    res = verify_host(out)
    assert KEYS <= set(res)
    assert res["device"] == "host" and res["samples"] == 10
    assert res["bit_exact"] == 1.0 and res["max_abs_diff_lsb"] == 0 and "first_mismatch" not in res
    assert res["top1_agreement_int8"] == 1.0
    assert res["ram_bytes"] == info.peak_ram_bytes
    assert res["instructions_per_inference"] is None
    assert set(res["accuracy"]) == {"float", "int8", "device"}
    assert res["accuracy"]["device"] == res["accuracy"]["int8"]
    assert res["flash_bytes"] is None or res["flash_bytes"] > info.weight_bytes
    assert not list(out.glob("**/*.o")) and not (out / "firmware" / "engine" / "ecnn_host").exists()


def test_verify_host_under_sanitizers_and_sample_limit(build):
    res = verify_host(build[0], samples=3, sanitize=True)
    assert res["samples"] == 3 and res["bit_exact"] == 1.0


def test_mismatch_is_reported(build, tmp_path):
    import shutil

    out = tmp_path / "b"
    shutil.copytree(build[0], out)
    with np.load(out / "golden.npz") as z:
        data = {k: z[k] for k in z.files}
    data["outputs_int8"] = data["outputs_int8"].copy()
    data["outputs_int8"][4, 1] += 3
    np.savez(out / "golden.npz", **data)
    res = verify_host(out)
    assert res["bit_exact"] == 0.9 and res["max_abs_diff_lsb"] == 3
    assert res["first_mismatch"]["sample"] == 4
    assert len(res["first_mismatch"]["output"]) == 3


def test_missing_compiler_names_what_to_install(build, monkeypatch):
    import deploy.verify.host as vh

    monkeypatch.setattr(vh.shutil, "which", lambda name: None)
    with pytest.raises(ToolchainError, match="gcc"):
        verify_host(build[0])


def test_missing_golden_is_a_verification_error(tmp_path):
    with pytest.raises(VerificationError, match="golden.npz"):
        verify_host(tmp_path)


def test_first_differing_layer_names_a_corrupted_layer(build, tmp_path):
    import re
    import shutil

    out, info = build
    assert first_differing_layer(out, 4) is None
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    src = bad / "firmware" / "engine" / "edgecnn_model.c"
    text = src.read_text()
    dw = next(o for o in info.ops if o["op"] == "DEPTHWISE_CONV_2D")
    name = re.findall(r"static const int8_t (\w+_filter)\[", text)[1]  # conv, depthwise, dense: the second
    m = re.search(rf"{name}\[\d+\] = {{([^}}]*)}}", text)
    # flip the sign bit of every weight: one weight alone may meet only a dead (all zero-point) input channel
    flipped = re.sub(r"-?\d+", lambda v: str(int(v.group()) - 128 if int(v.group()) >= 0 else int(v.group()) + 128),
                     m.group(1))
    text = text[:m.start(1)] + flipped + text[m.end(1):]
    src.write_text(text)
    res = first_differing_layer(bad, 4)
    assert res is not None and res["op_index"] == info.ops.index(dw)
    assert res["op"] == "DEPTHWISE_CONV_2D" and res["name"] == dw["name"] and res["max_abs_diff"] > 0


def test_debug_hook_is_empty_by_default(build):
    text = (build[0] / "firmware" / "engine" / "edgecnn_model.c").read_text()
    assert "#define ECNN_DEBUG_AFTER_OP(step, name, ptr, nbytes) ((void)0)" in text
    assert text.count("ECNN_DEBUG_AFTER_OP(") == len(build[1].ops) + 1  # the default definition + one per op
