"""Fused residual blocks (deploy.engine.fusion): matched only where safe, bit exact with TFLM, less RAM, debuggable."""
from __future__ import annotations

import re

import numpy as np
import pytest

from deploy.engine.codegen import generate_engine, plan_engine
from deploy.engine.fusion import find_residual_blocks
from deploy.engine.tflite_reader import read_tflite
from deploy.convert.tflm import run_tflm
from deploy.verify.host import first_differing_layer
from engine_support import arm_compile, assert_bit_exact, make_inputs, quantize

pytestmark = pytest.mark.toolchain


def residual_model(h: int, w: int, c: int, ct: int, seed: int, x_first: bool = True, stem: bool = True,
                   extra: str = ""):
    """[stem conv ->] X -> conv 3x3 relu -> T -> conv 3x3 -> U -> ADD(X, U) -> ReLU -> Y -> flatten.

    extra: 't' or 'u' gives T or U a second reader, 'x' gives X one after the ADD."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inp = keras.Input((h, w, c if not stem else 3))
    x = layers.Conv2D(c, 3, padding="same", activation="relu")(inp) if stem else inp
    t = layers.Conv2D(ct, 3, padding="same", activation="relu")(x)
    u = layers.Conv2D(c, 3, padding="same")(t)
    y = layers.Add()([x, u] if x_first else [u, x])
    y = layers.ReLU()(y)
    if extra == "t":
        y = layers.Add()([y, layers.Conv2D(c, 1)(t)])
    elif extra == "u":
        y = layers.Add()([y, u])
    elif extra == "x":
        y = layers.Add()([y, x])
    return keras.Model(inp, layers.Flatten()(y))


def _fused(info) -> list[dict]:
    return [o for o in info.ops if o.get("fused")]


CASES = [  # h, w, c, ct, x_first, stem
    (1, 5, 2, 3, True, True),
    (2, 3, 1, 1, False, True),
    (3, 3, 4, 4, True, False),
    (5, 7, 3, 5, False, True),
    (8, 8, 16, 16, True, True),
    (9, 13, 5, 2, True, True),
    (12, 6, 7, 9, False, False),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_residual_block_is_fused_and_bit_exact(case, tmp_path):
    h, w, c, ct, x_first, stem = CASES[case]
    tfl = quantize(residual_model(h, w, c, ct, seed=case, x_first=x_first, stem=stem), seed=10 + case,
                   scale=[0.5, 1.0, 3.0][case % 3])
    assert len(find_residual_blocks(read_tflite(tfl))) == 1
    info = assert_bit_exact(tfl, tmp_path, n=10, seed=case)
    fused = _fused(info)
    assert len(fused) == 1 and fused[0]["kernel"] == "ecnn_resblock" and fused[0]["in_place"]
    assert fused[0]["scratch_bytes"] == 3 * w * ct + w * c + 2 * 9 * max(c, ct)  # + two border windows
    assert len(info.ops) == len(read_tflite(tfl).operators)  # one entry per model op, fused ones included
    unfused = plan_engine(tfl, fuse=False).info
    assert not _fused(unfused)
    if h * w * c >= 64:  # the skip tensor no longer coexists with T and U
        assert info.peak_ram_bytes < unfused.peak_ram_bytes


@pytest.mark.parametrize("extra", ["t", "u", "x"])
def test_not_fused_when_an_intermediate_has_another_reader(extra, tmp_path):
    tfl = quantize(residual_model(6, 5, 3, 4, seed=3, extra=extra), seed=4)
    assert find_residual_blocks(read_tflite(tfl)) == []
    info = assert_bit_exact(tfl, tmp_path, n=6)
    assert not _fused(info)


def test_fused_engine_is_deterministic_and_compiles_for_cortex_m4(tmp_path):
    import shutil

    tfl = quantize(residual_model(7, 6, 4, 5, seed=7), seed=7)
    a, b = plan_engine(tfl), plan_engine(tfl)
    assert a.texts == b.texts
    assert "ecnn_resblock(&" in a.texts["edgecnn_model.c"]
    if shutil.which("arm-none-eabi-gcc"):
        generate_engine(tfl, tmp_path / "engine")
        arm_compile(tmp_path / "engine", tmp_path / "arm")


def test_first_differing_layer_sees_the_fused_output(tmp_path):
    tfl = quantize(residual_model(6, 6, 4, 4, seed=5), seed=5)
    out = tmp_path / "b"
    generate_engine(tfl, out / "firmware" / "engine")
    (out / "model_int8.tflite").write_bytes(tfl)
    x8 = make_inputs((6, 6, 3), n=4)
    np.savez(out / "golden.npz", inputs_int8=x8, outputs_int8=run_tflm(tfl, x8))
    assert first_differing_layer(out, 1) is None
    graph = read_tflite(tfl)
    add = next(o for o in graph.operators if o.op == "ADD")
    # corrupt the second fused convolution's first weight: the first differing op is the ADD (T, U never exist)
    src = out / "firmware" / "engine" / "edgecnn_model.c"
    text = src.read_text()
    name = re.findall(r"static const int8_t (\w+_filter)\[", text)[2]  # stem, conv a, conv b
    m = re.search(rf"{name}\[\d+\] = {{\n\s*(-?\d+)", text)
    v = int(m.group(1))
    src.write_text(text[:m.start(1)] + str(v - 128 if v >= 0 else v + 128) + text[m.end(1):])
    res = first_differing_layer(out, 1)
    assert res is not None and res["op_index"] == add.index and res["op"] == "ADD"
