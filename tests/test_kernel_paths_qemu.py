"""Every per-core kernel path, bit-exact with TFLM on the emulated cores.

The engine picks its inner loops at compile time (firmware_templates/engine/ecnn_dot.h): Helium on the M55,
the DSP extension on the M4 (and M7, M33), Thumb-1 assembly dot products on the M0+ (ARMv6-M), portable C on
the M3 and the host. One small model reaches every fast kernel
and its edge cases (border windows, short rows, channel tails of 1-3, grouped convolution, depthwise borders
and strides, paired and odd GEMM rows, the fused residual block, a per-tensor dense layer); it is run under
QEMU on each of the three cores on random and extreme inputs and compared with TFLM byte for byte.
"""
from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

from deploy.engine.codegen import plan_engine, write_engine
from deploy.devices.toolchain import firmware_cflags as cflags
from deploy.engine.templates import TEMPLATE_DIR
from deploy.engine.tflite_reader import read_tflite
from deploy.convert.tflm import run_tflm
from deploy.verify.qemu import verify_qemu
from engine_support import make_inputs, quantize
from toolkit.targets import TARGETS

PATHS = {"cortex-m0plus": "armv6m", "cortex-m3": "portable", "cortex-m4": "dsp", "cortex-m7": "dsp",
         "cortex-m33": "dsp", "cortex-m55": "mve"}


def _paths_model():
    from tensorflow import keras
    from tensorflow.keras import layers

    keras.utils.set_random_seed(3)
    inp = keras.Input((9, 9, 3))
    x = layers.Conv2D(13, 3, padding="same", activation="relu")(inp)          # short rows (3 ch), 13 = 4*3+1
    x = layers.Add()([x, layers.DepthwiseConv2D(3, padding="same")(x)])        # plain ADD, 9*9*13 = 4*263+1
    x = layers.Conv2D(18, 3, strides=2, padding="same")(x)                     # border pairs, stride 2
    x = layers.Conv2D(18, 3, padding="same", groups=2, activation="relu6")(x)  # grouped, border windows
    x = layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)        # depthwise border, C = 4*4+2
    x = layers.DepthwiseConv2D(3, strides=2, padding="valid")(x)                # depthwise stride 2, inside
    y = layers.Conv2D(18, 3, padding="same", activation="relu")(x)             # residual block (fused)
    y = layers.Conv2D(18, 3, padding="same")(y)
    x = layers.Activation("relu")(layers.Add()([x, y]))
    x = layers.Conv2D(23, 1)(x)                                                 # 1x1: GEMM, 2x2 = 4 rows
    x = layers.Conv2D(11, 2, padding="valid")(x)                                # interior windows, run 46
    x = layers.Flatten()(x)
    x = layers.Dense(7)(x)                                                      # per-tensor GEMM, 1 row
    return keras.Model(inp, layers.Softmax()(x))


@pytest.fixture(scope="module")
def paths_build(tmp_path_factory):
    tfl = quantize(_paths_model(), seed=5)
    graph = read_tflite(tfl)
    out = tmp_path_factory.mktemp("paths")
    (out / "model_int8.tflite").write_bytes(tfl)
    x = make_inputs((9, 9, 3), n=8, seed=7)
    ref = run_tflm(tfl, x).reshape(len(x), -1)
    np.savez(out / "golden.npz", inputs_int8=x, outputs_int8=ref, labels=np.argmax(ref, axis=1))
    plan = plan_engine(graph)
    write_engine(plan, out / "firmware" / "engine")
    src = (out / "firmware" / "engine" / "edgecnn_model.c").read_text()
    for k in ("ecnn_conv2d_fast", "ecnn_depthwise_fast", "ecnn_gemm", "ecnn_resblock", "ecnn_add"):
        assert f"{k}(&" in src, f"the test model no longer reaches {k}"
    tables = re.findall(r"\.in1_table = ECNN_NOT_MVE\(\w+_in1_table\), \.in2_table = ECNN_NOT_MVE\(\w+_\w+\)", src)
    assert len(tables) == 2, "the ADDs (plain and fused) no longer look their inputs up"
    return out


@pytest.mark.parametrize("cpu", ["cortex-m0plus", "cortex-m4", "cortex-m55"])
def test_each_kernel_path_is_bit_exact_on_its_core(paths_build, cpu):
    r = verify_qemu(paths_build, TARGETS[cpu])
    assert r["samples"] == 8 and r["bit_exact"] == 1.0, r.get("first_mismatch")


def _planar_model():
    """Depthwise 3x3 stride-1 layers for the DSP cores' planar path (ecnn_depthwise_fast, ECNN_DW_PLANAR): a
    plane taller than wide (copied transposed) with an odd length, linear and ReLU layers, VALID and SAME
    padding, a plane wider than tall after a reshape, and stride 2; then an average pool (the DSP path's four
    channels a word and its channel tail, full and border windows) and GEMMs whose depth is a multiple of 4
    (three rows: the DSP three-row block, ECNN_GEMM3)."""
    from tensorflow import keras
    from tensorflow.keras import layers

    keras.utils.set_random_seed(4)
    inp = keras.Input((11, 6, 6))  # 6 channels: whole pixels are not whole words
    x = layers.DepthwiseConv2D(3, padding="same")(inp)                     # transposed plane, 11 long, SSAT
    x = layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)    # ReLU
    x = layers.DepthwiseConv2D(3, padding="valid")(x)                      # 9 x 4, no border
    x = layers.Reshape((4, 9, 6))(x)
    x = layers.DepthwiseConv2D(3, padding="same")(x)                       # wider than tall, 9 long
    x = layers.DepthwiseConv2D(3, strides=2, padding="same")(x)            # stride 2: 2 x 5
    x = layers.AveragePooling2D(2, padding="same")(x)                      # 4 + 2 channels, windows of 4 and 2
    x = layers.Conv2D(8, 1)(x)
    x = layers.Conv2D(8, 1, activation="relu")(x)                          # GEMM, depth 8, 3 rows: ECNN_GEMM3
    x = layers.Flatten()(x)
    return keras.Model(inp, layers.Dense(5)(x))


@pytest.mark.parametrize("cpu", ["cortex-m0plus", "cortex-m4", "cortex-m55"])
def test_planar_depthwise_is_bit_exact_in_place(cpu, tmp_path_factory):
    """The planar path writes a channel of every pixel before it reads the next channel: the plan may overlap
    its output with its input only by whole pixels. The layers run in place (that granule) and bit-exact on
    the DSP core that takes the path and on the cores that share its memory plan."""
    from deploy.engine.ops.variants import dw_planar

    out = tmp_path_factory.getbasetemp() / "planar"
    if not (out / "firmware" / "engine" / "edgecnn_model.c").exists():
        tfl = quantize(_planar_model(), seed=6)
        out.mkdir(exist_ok=True)
        (out / "model_int8.tflite").write_bytes(tfl)
        x = make_inputs((11, 6, 6), n=6, seed=8)
        ref = run_tflm(tfl, x).reshape(len(x), -1)
        np.savez(out / "golden.npz", inputs_int8=x, outputs_int8=ref, labels=np.argmax(ref, axis=1))
        graph = read_tflite(tfl)
        plan = plan_engine(graph)
        dws = [o for o in plan.info.ops if o["kernel"] == "ecnn_depthwise_fast"]
        assert len(dws) == 5, [o["kernel"] for o in plan.info.ops]
        src = plan.texts["edgecnn_model.c"]
        planar = re.findall(r"depth_mult = 1, .*?act_min = (-?\d+), .act_max = (\d+), .rq_right = 1", src)
        assert len(planar) == 5, "a test layer no longer takes the planar path (rq_right)"
        assert set(planar) == {("-128", "127")}, planar  # ReLU with output zero point -128: the whole range
        assert all(dw_planar((3, 3), (s, s), (1, 1), 1, (-128, 127)) for s in (1, 2))
        for o in dws:
            (i,) = o["inputs"]
            d = o["output_offset"] - plan.info.tensor_offsets[graph.tensors[i].name]
            assert not o["in_place"] or d % 6 == 0, (o["name"], d)  # whole pixels of 6 channels
        assert sum(o["in_place"] for o in dws) >= 2, [(o["name"], o["in_place"]) for o in dws]
        assert re.search(r"ecnn_gemm_params \w+ = \{ .rows = 3, .depth = 8, .cols = 8, .*?act_min = -128, "
                         r".act_max = 127, .rq_right = 1", src), "the test model no longer reaches ECNN_GEMM3"
        write_engine(plan, out / "firmware" / "engine")
    r = verify_qemu(out, TARGETS[cpu])
    assert r["samples"] == 6 and r["bit_exact"] == 1.0, r.get("first_mismatch")


def _golden_build(out, make_model, in_shape, n: int, seed: int):
    """make_model() quantized into `out` with n golden inputs (seed + 1) and TFLM's outputs, and the engine's plan,
    which the caller writes once its assertions hold; None when another parametrization built it already."""
    if (out / "firmware" / "engine" / "edgecnn_model.c").exists():
        return None
    tfl = quantize(make_model(), seed=seed)
    out.mkdir(exist_ok=True)
    (out / "model_int8.tflite").write_bytes(tfl)
    x = make_inputs(in_shape, n=n, seed=seed + 1)
    ref = run_tflm(tfl, x).reshape(len(x), -1)
    np.savez(out / "golden.npz", inputs_int8=x, outputs_int8=ref, labels=np.argmax(ref, axis=1))
    return plan_engine(read_tflite(tfl))


def _gemm3_model():
    """Layers for the DSP cores' three-row block specialized on the depth (ECNN_GEMM3, ecnn_gemm3.h): GEMMs with
    one pass of unrolled blocks and with several, row counts that leave one row and two rows after the triples,
    a GEMM that runs in place, a dense layer over 50 rows; 3x3 windows read in place, short kernel rows copied
    three windows at a time, and the fused residual block's rows (these take the column-pair block, ECNN_GEMM3P);
    a 5x5 kernel with padding 2, whose threes can hold three border windows: ECNN_GEMM3 where they do not, the
    two-pixel paths where they do."""
    from tensorflow import keras
    from tensorflow.keras import layers

    keras.utils.set_random_seed(5)
    inp = keras.Input((5, 5, 12))
    x = layers.Conv2D(16, 1)(inp)                                   # depth 12: 1 pass of 3 blocks, 25 rows = 8*3+1
    x = layers.Conv2D(72, 1, activation="relu")(x)                  # depth 16
    x = layers.Conv2D(136, 1)(x)                                    # depth 72: 2 passes of 9
    x = layers.Conv2D(24, 1, activation="relu")(x)                  # depth 136: 17 passes of 2
    x = layers.Reshape((5, 10, 12))(x)
    x = layers.Conv2D(12, 1)(x)                                     # 50 rows = 16*3+2
    x = layers.Conv2D(8, 3, padding="same")(x)                      # windows in place: depth 108, run 36
    x = layers.Conv2D(8, (3, 1), padding="same")(x)                 # short rows (8 values): copied, depth 24
    x = layers.Conv2D(8, 5, padding="same")(x)                      # pad 2: threes of 3 border windows: ECNN_GEMM3
    y = layers.Conv2D(8, 3, padding="same", activation="relu")(x)   # residual block (fused): rows of 10
    y = layers.Conv2D(8, 3, padding="same")(y)
    x = layers.Activation("relu")(layers.Add()([x, y]))
    x = layers.Reshape((50, 8))(x)
    x = layers.Dense(4)(x)                                          # GEMM of 50 rows, depth 8
    x = layers.Flatten()(x)
    return keras.Model(inp, layers.Dense(5)(x))


@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m33"])
def test_three_row_dsp_block_is_bit_exact(cpu, tmp_path_factory):
    """ECNN_GEMM3 on the ARMv7E-M and ARMv8-M DSP cores: every instance the model needs, in the GEMM, the
    convolution's triples and the residual block, bit-exact with TFLM."""
    out = tmp_path_factory.getbasetemp() / "gemm3"
    plan = _golden_build(out, _gemm3_model, (5, 5, 12), n=6, seed=9)
    if plan is not None:
        src = plan.texts["edgecnn_model.c"]
        instances = set(re.findall(r"^ECNN_GEMM3\((\d+), (\d+)\)$", src, re.M))
        assert instances == {("12", "3"), ("8", "2"), ("200", "10")}, instances
        # GEMMs and convolutions of depth 16 and more whose every pixel the block can take use the column-pair
        # filter (test_gemm_column_pairs_are_bit_exact): 72, the GEMM and the residual block's windows
        assert set(re.findall(r"^ECNN_GEMM3P\((\d+), (\d+)\)$", src, re.M)) == {
            ("16", "4"), ("72", "9"), ("136", "2"), ("108", "9"), ("24", "6")}
        users = re.findall(r"static const (ecnn_\w+_params) \w+ = \{[^\n]*\.rows3 = ECNN_GEMM3_FN\((\d+)\)", src)
        assert ("ecnn_gemm_params", "8") in users and ("ecnn_conv_params", "200") in users, users
        users = re.findall(r"static const (ecnn_\w+_params) \w+ = \{[^\n]*\.rows3 = ECNN_GEMM3P_FN\((\d+)\)", src)
        assert ("ecnn_conv_params", "108") in users and ("ecnn_conv_params", "72") in users, users
        assert "ecnn_resblock(&" in src, "the residual block is no longer fused"
        assert any(o["in_place"] for o in plan.info.ops if o["kernel"] == "ecnn_gemm"), "no GEMM runs in place"
        write_engine(plan, out / "firmware" / "engine")
    r = verify_qemu(out, TARGETS[cpu])
    assert r["samples"] == 6 and r["bit_exact"] == 1.0, r.get("first_mismatch")


def _padded_windows_model():
    """Short kernel rows whose windows are not a multiple of 4 values: the DSP three-pixel block runs them on
    copies zero padded to one, with a padded copy of the filter (filter4); and a grouped convolution, whose
    three-pixel block reads its windows tap by tap, group by group."""
    from tensorflow import keras
    from tensorflow.keras import layers

    keras.utils.set_random_seed(6)
    inp = keras.Input((9, 9, 3))
    x = layers.Conv2D(8, 3, padding="same")(inp)            # RGB input layer: 27 values, padded to 28
    x = layers.Conv2D(8, 3, padding="same", groups=2)(x)    # grouped: taps of 4 channels, 36 values, 4 columns
    x = layers.Conv2D(2, 1)(x)
    x = layers.Conv2D(6, 3, strides=2, padding="same")(x)   # 2 channels: 18 values, padded to 20; 5 x 5 pixels
    x = layers.Conv2D(4, 3, padding="same")(x)              # 6 channels: 54 values, run 18: no three-pixel block
    x = layers.Flatten()(x)
    return keras.Model(inp, layers.Dense(5)(x))


@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m33"])
def test_padded_short_windows_are_bit_exact(cpu, tmp_path_factory):
    """ECNN_GEMM3 on windows zero padded to a multiple of 4 values (ecnn_conv_params.filter4) and on a grouped
    convolution's windows, bit-exact with TFLM on the DSP cores."""
    out = tmp_path_factory.getbasetemp() / "padded"
    plan = _golden_build(out, _padded_windows_model, (9, 9, 3), n=5, seed=11)
    if plan is not None:
        src = plan.texts["edgecnn_model.c"]
        padded = re.findall(r"\.rows3 = ECNN_GEMM3_FN\((\d+)\), \.filter4 = ECNN_FOR_DSP\(\w+_filter4\)", src)
        assert sorted(padded) == ["20", "28"], padded
        assert "ECNN_GEMM3_FN(54)" not in src and "ECNN_GEMM3_FN(56)" not in src
        assert re.search(r"\.k_c = 4,[^\n]*\.rows3 = ECNN_GEMM3_FN\(36\)", src), "the grouped conv lost its block"
        write_engine(plan, out / "firmware" / "engine")
    r = verify_qemu(out, TARGETS[cpu])
    assert r["samples"] == 5 and r["bit_exact"] == 1.0, r.get("first_mismatch")


def _dense_pairs_model():
    """Dense layers for the DSP cores' column-pair filter (x16_pairs4, ops.dense_pairs): depths that are not a
    multiple of 8 (37: a tail of 1; 12: one 8-value step before the 16-value loop), 8 and 16; a layer whose weights
    nearly cancel (w on x and -0.999 w on a copy of x), so its multiplier is above 1 and it takes TFLM's general
    output stage; 6 columns, which keep the plain filter; and a last layer of 4."""
    from tensorflow import keras
    from tensorflow.keras import layers

    keras.utils.set_random_seed(7)
    inp = keras.Input((37,))
    x = layers.Dense(12, activation="relu")(inp)
    x = layers.Dense(16)(x)
    x = layers.Dense(8, activation="relu6")(x)
    x = layers.Dense(20)(x)
    cancel = layers.Dense(8)
    y = cancel(layers.Concatenate()([x, x]))
    w = np.random.RandomState(3).randn(20, 8).astype(np.float32)
    cancel.set_weights([np.concatenate([w, -0.999 * w]), np.zeros(8, np.float32)])
    y = layers.Dense(6)(y)
    return keras.Model(inp, layers.Dense(4)(y))


def _gemm_pairs_model():
    """1x1 convolutions and a dense layer over rows for ECNN_GEMM3P, the three-row block on the column-pair filter:
    row counts that leave 0, 1 and 2 rows after the triples (36, 25, 50: a last triple repeating a row), depths
    16 (the least it takes), 20 (5 blocks a pass), 64, 200 (several passes) and 288 (the deepest); depth 12 keeps
    ECNN_GEMM3."""
    from tensorflow import keras
    from tensorflow.keras import layers

    keras.utils.set_random_seed(8)
    inp = keras.Input((6, 6, 16))
    x = layers.Conv2D(20, 1)(inp)                                   # 36 rows, depth 16
    x = layers.Conv2D(64, 1, activation="relu")(x)                  # depth 20
    x = layers.Conv2D(200, 1)(x)                                    # depth 64
    x = layers.Conv2D(288, 1, activation="relu")(x)                 # depth 200
    x = layers.Conv2D(18, 1)(x)                                     # depth 288
    x = layers.Reshape((3, 3, 72))(x)
    x = layers.Conv2D(20, 1)(x)                                     # 9 rows
    x = layers.Reshape((5, 5, 36))(layers.Flatten()(layers.Conv2D(100, 1)(x)))  # 900 values: 25 rows of 36
    x = layers.Conv2D(24, 1, activation="relu")(x)                  # 25 rows, depth 36
    x = layers.Reshape((50, 12))(x)
    x = layers.Dense(16)(x)                                         # 50 rows, depth 12: ECNN_GEMM3
    x = layers.Dense(8)(x)                                          # 50 rows, depth 16: two rows after the triples
    return keras.Model(inp, layers.Dense(5)(layers.Flatten()(x)))


@pytest.mark.parametrize("cpu", ["cortex-m0plus", "cortex-m4", "cortex-m33", "cortex-m55"])
def test_gemm_column_pairs_are_bit_exact(cpu, tmp_path_factory):
    """ECNN_GEMM3P on the DSP cores, every row count left after the triples, bit-exact with TFLM; the M0+ and the
    M55 run the same layers from the plain filter."""
    out = tmp_path_factory.getbasetemp() / "gemm_pairs"
    plan = _golden_build(out, _gemm_pairs_model, (6, 6, 16), n=6, seed=13)
    if plan is not None:
        src = plan.texts["edgecnn_model.c"]
        users = re.findall(r"ecnn_gemm_params \w+ = \{ \.rows = (\d+), \.depth = (\d+),[^\n]*\.rows3 = "
                           r"ECNN_GEMM3P_FN\((\d+)\)[^\n]*\.pairs = ECNN_FOR_DSP", src)
        got = {(int(r), int(d)) for r, d, _ in users}
        assert {(36, 16), (36, 20), (36, 64), (36, 200), (36, 288), (9, 72), (25, 36), (50, 16)} <= got, got
        assert {r % 3 for r, _ in got} == {0, 1, 2}
        assert re.search(r"\.rows = 50, \.depth = 12,[^\n]*\.rows3 = ECNN_GEMM3_FN\(12\)", src)
        write_engine(plan, out / "firmware" / "engine")
    r = verify_qemu(out, TARGETS[cpu])
    assert r["samples"] == 6 and r["bit_exact"] == 1.0, r.get("first_mismatch")


def _conv_pairs_model():
    """Convolutions for ECNN_GEMM3P, every pixel through the three-pixel block: 56 pixels (two left after the
    threes) of short kernel rows (12 values: every window copied), stride 2 with 16 pixels (one left), and fused
    residual blocks on rows of 4 and of 8 pixels (one and two left in each row)."""
    from tensorflow import keras
    from tensorflow.keras import layers

    keras.utils.set_random_seed(9)
    inp = keras.Input((7, 8, 4))
    x = layers.Conv2D(8, 3, padding="same")(inp)                          # 7 x 8, run 12, depth 36
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)  # 4 x 4, depth 72
    y = layers.Conv2D(16, 3, padding="same", activation="relu")(x)        # residual block, rows of 4, depth 144
    x = layers.Activation("relu")(layers.Add()([x, layers.Conv2D(16, 3, padding="same")(y)]))
    x = layers.Reshape((2, 8, 16))(x)
    y = layers.Conv2D(16, 3, padding="same", activation="relu")(x)        # residual block, rows of 8
    x = layers.Activation("relu")(layers.Add()([x, layers.Conv2D(16, 3, padding="same")(y)]))
    return keras.Model(inp, layers.Dense(5)(layers.Flatten()(x)))


@pytest.mark.parametrize("cpu", ["cortex-m0plus", "cortex-m4", "cortex-m33", "cortex-m55"])
def test_conv_column_pairs_are_bit_exact(cpu, tmp_path_factory):
    """ECNN_GEMM3P in ecnn_conv2d_fast and in the fused residual block's rows (ecnn_conv_row3), the last one or
    two pixels of the layer or of the row repeated in the triple, bit-exact with TFLM on the DSP cores; the M0+
    and the M55 run the plain filter."""
    out = tmp_path_factory.getbasetemp() / "conv_pairs"
    plan = _golden_build(out, _conv_pairs_model, (7, 8, 4), n=6, seed=15)
    if plan is not None:
        src = plan.texts["edgecnn_model.c"]
        pairs = re.findall(r"ecnn_conv_params \w+ = \{ \.in_h = \d+, \.in_w = \d+, \.in_c = \d+, \.out_h = (\d+), "
                           r"\.out_w = (\d+),[^\n]*\.rows3 = ECNN_GEMM3P_FN\((\d+)\)[^\n]*\.pairs = ECNN_FOR_DSP", src)
        assert sorted(pairs) == sorted([("7", "8", "36"), ("4", "4", "72"), ("4", "4", "144"), ("4", "4", "144"),
                                        ("2", "8", "144"), ("2", "8", "144")]), pairs
        assert src.count("ecnn_resblock(&") == 2, "the residual blocks are no longer fused"
        write_engine(plan, out / "firmware" / "engine")
    r = verify_qemu(out, TARGETS[cpu])
    assert r["samples"] == 6 and r["bit_exact"] == 1.0, r.get("first_mismatch")


def _per_tensor_dense_int8(model) -> bytes:
    """The int8 model with one scale per dense layer (the converter's per-tensor option, as older converters and
    other tools write them), so the pair kernel's one-multiplier form runs too."""
    import tensorflow as tf

    from deploy.convert.quantize import _converter

    cal = np.random.RandomState(5).randn(16, *model.inputs[0].shape[1:]).astype(np.float32)
    conv = _converter(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([c[None]] for c in cal)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    conv._experimental_disable_per_channel_quantization_for_dense_layers = True
    return bytes(conv.convert())


@pytest.mark.parametrize("quant", ["channel", "tensor"])
@pytest.mark.parametrize("cpu", ["cortex-m0plus", "cortex-m4", "cortex-m33", "cortex-m55"])
def test_dense_column_pairs_are_bit_exact(cpu, quant, tmp_path_factory):
    """The dense layers' column-pair filter on the DSP cores, per-channel and per-tensor multipliers, the short
    and the general output stage, bit-exact with TFLM; the M0+ and the M55 compile and run the plain filter."""
    out = tmp_path_factory.getbasetemp() / f"dense_pairs_{quant}"
    if not (out / "firmware" / "engine" / "edgecnn_model.c").exists():
        model = _dense_pairs_model()
        tfl = _per_tensor_dense_int8(model) if quant == "tensor" else quantize(model, seed=5)
        out.mkdir(exist_ok=True)
        (out / "model_int8.tflite").write_bytes(tfl)
        x = make_inputs((37,), n=8, seed=12)
        ref = run_tflm(tfl, x).reshape(len(x), -1)
        np.savez(out / "golden.npz", inputs_int8=x, outputs_int8=ref, labels=np.argmax(ref, axis=1))
        plan = plan_engine(read_tflite(tfl))
        src = plan.texts["edgecnn_model.c"]
        gemms = re.findall(r"ecnn_gemm_params \w+ = \{ \.rows = 1, \.depth = (\d+), \.cols = (\d+), "
                           r"\.mult_stride = (\d), .*?\.rq_right = (\d), \.filter = (ECNN_NOT_DSP|\w+_filter)", src)
        assert len(gemms) == 7, gemms
        stride = "0" if quant == "tensor" else "1"
        for depth, cols, ms, rqr, filt in gemms:
            assert ms == stride and filt == ("ECNN_NOT_DSP" if int(cols) % 4 == 0 else "fully_connected_6_filter")
        assert {g[0] for g in gemms if g[4] == "ECNN_NOT_DSP"} == {"37", "12", "16", "8", "40", "6"}
        assert [g[:2] for g in gemms if g[3] == "0"] == [("40", "8")], "no layer takes the general output stage"
        assert len(re.findall(r"\.pairs = ECNN_FOR_DSP\(\w+_pairs\)", src)) == 6
        write_engine(plan, out / "firmware" / "engine")
    r = verify_qemu(out, TARGETS[cpu])
    assert r["samples"] == 8 and r["bit_exact"] == 1.0, r.get("first_mismatch")


@pytest.mark.parametrize("cpu", sorted(PATHS))
def test_each_core_compiles_its_own_path(cpu):
    """The compiler's feature macros select the path meant for the core (a flag change cannot silently
    drop the M55 back to scalar code)."""
    r = subprocess.run(["arm-none-eabi-gcc", *cflags(TARGETS[cpu]), "-E", "-dM", "-I",
                        str(TEMPLATE_DIR / "engine"), "-include", "ecnn_dot.h", "-x", "c", "/dev/null"],
                       capture_output=True, text=True, check=True)
    m = re.search(r'^#define ECNN_DOT_PATH "(\w+)"', r.stdout, re.M)
    assert m and m.group(1) == PATHS[cpu]
    # the generator's view of the same core (which guarded constants it counts for the target's flash)
    r = subprocess.run(["arm-none-eabi-gcc", *cflags(TARGETS[cpu]), "-E", "-dM", "-I",
                        str(TEMPLATE_DIR / "engine"), "-include", "ecnn_kernels.h", "-x", "c", "/dev/null"],
                       capture_output=True, text=True, check=True)
    model = set(re.findall(r"^#define ECNN_MODEL_(DSP|MVE) 1$", r.stdout, re.M))
    assert model == ({TARGETS[cpu].kernel_path.upper()} - {"PLAIN"}), (model, TARGETS[cpu].kernel_path)


REQUANT_MAIN = r"""
/* Reads rows of acc[4], mult[4], shift[4] (int32) from inputs.bin; writes ecnn_requant_mve's four lanes and
 * ecnn_mbqm's four scalars for the same values to outputs.bin. */
#include <stdint.h>
#include "board.h"
#include "semihost.h"
#include "ecnn_kernels.h"
#include "ecnn_dot.h"

void ecnn_mark_end(void);
__attribute__((noinline)) void ecnn_mark_end(void) { __asm__ volatile("" ::: "memory"); }

int main(void)
{
    int32_t row[12];
    int32_t res[8];
    int i;
    int in = ecnn_sh_open("inputs.bin", ECNN_SH_MODE_RB);
    int out = ecnn_sh_open("outputs.bin", ECNN_SH_MODE_WB);
    if (in < 0 || out < 0) {
        return 1;
    }
    while (ecnn_sh_read(in, row, sizeof row) == sizeof row) {
        const int32x4_t v = ecnn_requant_mve(vldrwq_s32(row), vldrwq_s32(row + 4), vldrwq_s32(row + 8));
        vstrwq_s32(res, v);
        for (i = 0; i < 4; ++i) {
            res[4 + i] = ecnn_mbqm(row[i], row[4 + i], (int)row[8 + i]);
        }
        if (ecnn_sh_write(out, res, sizeof res) != 0) {
            return 1;
        }
    }
    (void)ecnn_sh_close(in);
    return ecnn_sh_close(out) == 0 ? 0 : 1;
}
"""


def test_helium_requantization_equals_tflm_on_edge_values(paths_build, tmp_path):
    """ecnn_requant_mve (VQRDMULH, a sign fix-up and VRSHL) against ecnn_mbqm and gemmlowp's definition, on the
    M55 itself: random values, INT32 extremes, exact rounding ties of both signs, left and right shifts."""
    import deploy.engine.quant_params as qp
    from deploy.devices.firmware import build_firmware
    from deploy.devices.toolchain import LDFLAGS
    from deploy.devices.qemu import run_verify_firmware
    from toolkit.targets import get_board

    fw = build_firmware(paths_build, TARGETS["cortex-m55"], modes=("verify",))
    rng = np.random.RandomState(11)
    n = 4000
    acc = rng.randint(-2 ** 31, 2 ** 31, n, dtype=np.int64)
    mult = rng.randint(1 << 30, 2 ** 31, n, dtype=np.int64)
    shift = rng.randint(-31, 1, n)
    # ties: acc * mult lands exactly on k + 1/2 after the right shift, both signs
    k = rng.randint(-5000, 5000, 800)
    e = rng.randint(1, 12, 800)
    acc[:800], mult[:800], shift[:800] = (2 * k + 1) << (e - 1), 1 << 30, -e + 1
    acc[800:816] = [-2 ** 31, 2 ** 31 - 1, 0, 1, -1, 2, -2, 3, -3, 1 << 30, -(1 << 30), 5, -5, 6, -6, 7]
    small = slice(n - 400, n)  # left shifts of values that do not overflow
    acc[small], shift[small] = rng.randint(-3000, 3000, 400), rng.randint(0, 8, 400)
    rows = np.stack([acc.reshape(-1, 4), mult.reshape(-1, 4), shift.reshape(-1, 4)], axis=1).astype(np.int32)
    src = tmp_path / "requant_main.c"
    src.write_text(REQUANT_MAIN)
    target = TARGETS["cortex-m55"]
    elf = tmp_path / "requant.elf"
    objs = [fw.dir / "build" / f"{s}.o" for s in ("startup", "board_uart", "semihost")]
    objs += list((paths_build / "firmware" / ".objects").glob("cortex-m55-*/ecnn_common.o"))  # the engine's, per CPU
    assert len(objs) == 4, objs
    subprocess.run(["arm-none-eabi-gcc", *cflags(target), "-I", str(fw.dir), "-I", str(paths_build / "firmware" /
                    "engine"), str(src), *map(str, objs), "-T", str(fw.dir / "linker.ld"), *LDFLAGS, "-o", str(elf)],
                   check=True, capture_output=True, text=True)
    run = run_verify_firmware(elf, get_board(target), rows.view(np.int8).reshape(len(rows), -1), 32, timeout=120)
    got = run.outputs.view(np.int32).reshape(len(rows), 8)
    want = np.array([int(qp.mbqm(int(a), int(m), int(s))) for a, m, s in zip(acc, mult, shift)]).reshape(-1, 4)
    np.testing.assert_array_equal(got[:, 4:], want)   # the scalar form, compiled for the M55
    np.testing.assert_array_equal(got[:, :4], want)   # the Helium form


REQUANT_DSP_MAIN = r"""
/* Reads rows of acc, mult, shift, out_offset, lo, hi (int32) from inputs.bin; writes requant_fast's (or, for
 * rows whose range is the whole int8 range, requant_fast_sat's, as the kernels pick them), TFLM's general
 * requant's and the one-SMLAL form's (rq_smlal, clamped) int8 results (as int32) for the same values to
 * outputs.bin. */
#include <stdint.h>
#include "board.h"
#include "semihost.h"
#include "ecnn_internal.h"

void ecnn_mark_end(void);
__attribute__((noinline)) void ecnn_mark_end(void) { __asm__ volatile("" ::: "memory"); }

int main(void)
{
    int32_t r[6];
    int32_t res[3];
    int in = ecnn_sh_open("inputs.bin", ECNN_SH_MODE_RB);
    int out = ecnn_sh_open("outputs.bin", ECNN_SH_MODE_WB);
    if (in < 0 || out < 0) {
        return 1;
    }
    while (ecnn_sh_read(in, r, sizeof r) == sizeof r) {
        res[0] = (r[4] == -128 && r[5] == 127) ? requant_fast_sat(r[0], r[1], r[2], r[3])
                                               : requant_fast(r[0], r[1], r[2], r[3], r[4], r[5]);
        res[1] = requant(r[0], r[1], r[2], r[3], r[4], r[5]);
        res[2] = clamp(rq_smlal(r[0], r[1], rq_hi(r[2], r[3]), -r[2]), r[4], r[5]);
        if (ecnn_sh_write(out, res, sizeof res) != 0) {
            return 1;
        }
    }
    (void)ecnn_sh_close(in);
    return ecnn_sh_close(out) == 0 ? 0 : 1;
}
"""


def test_dsp_short_requantization_equals_tflm_where_the_generator_allows_it(paths_build, tmp_path):
    """requant_fast (SMMULR on 2 acc, then a QADD/shift rounding divide; with the whole int8 range as activation
    range, requant_fast_sat and its SSAT clamp) and rq_smlal (both roundings in one SMLAL) against the general
    form and gemmlowp's definition, on the M4 itself, over their whole precondition (rq_right): shifts -1..-23,
    |acc| < 2^30, any multiplier, output zero point and activation range; ties of both signs and the extremes
    (acc = -1 with the multiplier 2^30, where rq_smlal's sign test differs from requant_fast's)."""
    import deploy.engine.quant_params as qp
    from deploy.devices.firmware import build_firmware
    from deploy.devices.toolchain import LDFLAGS
    from deploy.devices.qemu import run_verify_firmware
    from toolkit.targets import get_board

    fw = build_firmware(paths_build, TARGETS["cortex-m4"], modes=("verify",))
    rng = np.random.RandomState(12)
    n = 4000
    acc = rng.randint(-(2 ** 30) + 1, 2 ** 30, n, dtype=np.int64)
    mult = rng.randint(1 << 30, 2 ** 31, n, dtype=np.int64)
    shift = rng.randint(-23, 0, n)
    k = rng.randint(-5000, 5000, 800)  # ties: acc * mult is exactly (2k + 1) 2^(e-1) after srdhm
    e = rng.randint(1, 24, 800)
    acc[:800], mult[:800], shift[:800] = ((2 * k + 1) << (e - 1)) % (2 ** 29), 1 << 30, -e
    acc[800:812] = [2 ** 30 - 1, -(2 ** 30) + 1, 0, 1, -1, 2, -2, 3, -3, 1 << 29, -(1 << 29), 7]
    shift[800:812] = [-1, -1, -1, -1, -1, -23, -23, -2, -2, -1, -1, -3]
    acc[812:836], mult[812:836], shift[812:836] = -1, 1 << 30, -np.arange(1, 25).clip(max=23)
    oo = rng.randint(-128, 128, n)
    lo = np.where(rng.rand(n) < 0.5, -128, np.minimum(oo, 127))
    hi = np.where(rng.rand(n) < 0.5, 127, np.maximum(lo, rng.randint(-128, 128, n)))
    assert ((lo == -128) & (hi == 127)).sum() > n // 5  # requant_fast_sat's rows
    rows = np.stack([acc, mult, shift, oo, lo, hi], axis=1).astype(np.int32)
    src = tmp_path / "requant_dsp.c"
    src.write_text(REQUANT_DSP_MAIN)
    target = TARGETS["cortex-m4"]
    elf = tmp_path / "requant_dsp.elf"
    objs = [fw.dir / "build" / f"{s}.o" for s in ("startup", "board_uart", "semihost")]
    subprocess.run(["arm-none-eabi-gcc", *cflags(target), "-I", str(fw.dir), "-I", str(paths_build / "firmware" /
                    "engine"), str(src), *map(str, objs), "-T", str(fw.dir / "linker.ld"), *LDFLAGS, "-o", str(elf)],
                   check=True, capture_output=True, text=True)
    run = run_verify_firmware(elf, get_board(target), rows.view(np.int8).reshape(n, -1), 12, timeout=120)
    got = run.outputs.view(np.int32).reshape(n, 3)
    want = np.array([min(max(int(qp.mbqm(int(a), int(m), int(s))) + int(z), int(l)), int(h))
                     for a, m, s, z, l, h in rows])
    np.testing.assert_array_equal(got[:, 1], want)  # the general form
    np.testing.assert_array_equal(got[:, 0], want)  # the short form
    np.testing.assert_array_equal(got[:, 2], want)  # the one-SMLAL form


# What the firmware's own frames may take besides the kernels: main, the semihosting or UART I/O, ecnn_invoke
# and an exception entry with its FPU context. Measured with -fstack-usage on the M4: main 24 B (serial 8),
# ecnn_invoke 32 B, the serial link's deepest handler 48 B; the exception frame is at most 104 B.
FIRMWARE_FRAMES = 512


@pytest.mark.parametrize("cpu", sorted(PATHS))
def test_the_deepest_kernel_call_chain_fits_the_reserved_stack(cpu, tmp_path):
    """The kernels keep their work buffers on the stack where that is cheapest (the DSP GEMM's widened rows,
    the Helium depthwise tap pointers): gcc's own per-function stack use (-fcallgraph-info=su) along the
    deepest call chain of every kernel file compiled for the core, plus the firmware's frames, must fit the
    stack the firmware reserves and the RAM check counts (Target.stack_bytes)."""
    target = TARGETS[cpu]
    engine = TEMPLATE_DIR / "engine"
    sources = sorted(p for p in engine.glob("ecnn_*.c"))
    frames: dict[str, int] = {}
    calls: dict[str, set[str]] = {}
    for src in sources:
        subprocess.run(["arm-none-eabi-gcc", *cflags(target), "-fcallgraph-info=su", "-I", str(engine), "-c",
                        str(src), "-o", str(tmp_path / f"{src.stem}.o")], check=True, capture_output=True,
                       cwd=tmp_path)
        text = (tmp_path / f"{src.stem}.ci").read_text()
        for title, size in re.findall(r'node: \{ title: "([^"]+)" label: "[^"]*\\n(\d+) bytes', text):
            frames[title] = int(size)
        for a, b in re.findall(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"', text):
            calls.setdefault(a, set()).add(b)
    assert frames.get("ecnn_gemm") and frames.get("ecnn_depthwise_fast"), sorted(frames)[:20]

    def deepest(fn: str, seen: tuple[str, ...] = ()) -> int:
        assert fn not in seen, f"recursion through {fn}"
        below = [deepest(g, seen + (fn,)) for g in calls.get(fn, ()) if g in frames]
        return frames[fn] + max(below, default=0)

    worst = max((deepest(f), f) for f in frames if ":" not in f)  # the exported kernels (static ones are file:name)
    # the generated model's ECNN_GEMM3 functions, called through a pointer (no edge in the graph): the deepest
    # depth's instance is added to the deepest chain (it is 0 on the cores without the DSP extension)
    (tmp_path / "gemm3.c").write_text('#include "ecnn_gemm3.h"\nECNN_GEMM3(288, 8)\n'
                                      "void (*ecnn_rows3)(const ecnn_gemm_params *, const uint32_t *, int8_t *) = "
                                      "ECNN_GEMM3_FN(288);\n")
    subprocess.run(["arm-none-eabi-gcc", *cflags(target), "-fcallgraph-info=su", "-I", str(engine), "-c", "gemm3.c"],
                   check=True, capture_output=True, cwd=tmp_path)
    rows3 = [int(n) for n in re.findall(r'title: "[^"]*ecnn_gemm3_288" label: "[^"]*\\n(\d+) bytes',
                                        (tmp_path / "gemm3.ci").read_text())]
    assert len(rows3) == (PATHS[cpu] == "dsp"), rows3
    assert worst[0] + sum(rows3) + FIRMWARE_FRAMES <= target.stack_bytes, (cpu, worst, rows3)


GUARD_MAIN = r"""
/* Runs one layer of the generated model (CALL: ecnn_gemm or ecnn_conv2d_fast on LAYER, its params) on
 * inputs.bin's rows, its output between two 64-byte runs of 0x5A; writes the whole buffer to outputs.bin. */
#include <string.h>
#include "board.h"
#include "semihost.h"
#include "edgecnn_model.c"

void ecnn_mark_end(void);
__attribute__((noinline)) void ecnn_mark_end(void) { __asm__ volatile("" ::: "memory"); }

static int8_t in_buf[IN_BYTES];
static int8_t out_buf[64 + OUT_BYTES + 64];
static int8_t scratch[4096];

int main(void)
{
    int in = ecnn_sh_open("inputs.bin", ECNN_SH_MODE_RB);
    int out = ecnn_sh_open("outputs.bin", ECNN_SH_MODE_WB);
    if (in < 0 || out < 0) {
        return 1;
    }
    while (ecnn_sh_read(in, in_buf, sizeof in_buf) == sizeof in_buf) {
        memset(out_buf, 0x5A, sizeof out_buf);
        (void)scratch;
        CALL;
        if (ecnn_sh_write(out, out_buf, sizeof out_buf) != 0) {
            return 1;
        }
    }
    (void)ecnn_sh_close(in);
    return ecnn_sh_close(out) == 0 ? 0 : 1;
}
"""


@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m33"])
def test_column_pair_layers_write_only_their_output(cpu, tmp_path_factory, tmp_path):
    """The column-pair GEMMs and convolutions (ECNN_GEMM3P's last triple, which repeats a row or pixel and stores
    it twice, and the dense x16_pairs4) store every output byte and nothing past either end: each layer runs
    alone on the core between two guard runs of 0x5A. The model tests cannot see a stray store that lands in a
    dead part of the arena."""
    from deploy.devices.firmware import build_firmware
    from deploy.devices.qemu import run_verify_firmware
    from deploy.devices.toolchain import LDFLAGS
    from toolkit.targets import get_board

    test_gemm_column_pairs_are_bit_exact(cpu, tmp_path_factory)  # builds (or reuses) the model, checks it
    test_dense_column_pairs_are_bit_exact(cpu, "channel", tmp_path_factory)
    base = tmp_path_factory.getbasetemp()
    target = TARGETS[cpu]
    test_conv_column_pairs_are_bit_exact(cpu, tmp_path_factory)
    for build, rows_depth in ((base / "gemm_pairs", [(25, 36), (50, 16), (36, 288)]),
                              (base / "dense_pairs_channel", [(1, 37), (1, 8)]),
                              (base / "conv_pairs", [((7, 8, 4), 8), ((7, 8, 8), 16)])):
        fw = build_firmware(build, target, modes=("verify",))
        edir = build / "firmware" / "engine"
        src = (edir / "edgecnn_model.c").read_text()
        objs = [fw.dir / "build" / f"{s}.o" for s in ("startup", "board_uart", "semihost")]
        objs += [o for o in (build / "firmware" / ".objects").glob(f"{cpu}-*/ecnn_*.o")]
        for rows, depth in rows_depth:
            if isinstance(rows, tuple):  # a convolution: input (h, w, c), output channels
                m = re.search(rf"ecnn_conv_params (\w+) = \{{ \.in_h = {rows[0]}, \.in_w = {rows[1]}, "
                              rf"\.in_c = {rows[2]}, \.out_h = (\d+), \.out_w = (\d+), \.out_c = {depth},"
                              r"[^\n]*\.pairs = ECNN_FOR_DSP", src)
                assert m, (build.name, rows, depth)
                call = f"ecnn_conv2d_fast(&{m.group(1)}, in_buf, out_buf + 64, scratch)"
                in_bytes, out_bytes = int(np.prod(rows)), int(m.group(2)) * int(m.group(3)) * depth
            else:
                m = re.search(rf"ecnn_gemm_params (\w+) = \{{ \.rows = {rows}, \.depth = {depth}, "
                              r"\.cols = (\d+),[^\n]*\.pairs = ECNN_FOR_DSP", src)
                assert m, (build.name, rows, depth)
                call = f"ecnn_gemm(&{m.group(1)}, in_buf, out_buf + 64)"
                in_bytes, out_bytes = rows * depth, rows * int(m.group(2))
            main = tmp_path / f"guard_{m.group(1)}.c"
            main.write_text(GUARD_MAIN)
            elf = tmp_path / f"guard_{m.group(1)}.elf"
            subprocess.run(["arm-none-eabi-gcc", *cflags(target), f"-DCALL={call}", f"-DIN_BYTES={in_bytes}",
                            f"-DOUT_BYTES={out_bytes}", "-I", str(fw.dir), "-I", str(edir), str(main),
                            *map(str, objs), "-T", str(fw.dir / "linker.ld"), *LDFLAGS, "-o", str(elf)],
                           check=True, capture_output=True, text=True)
            x = make_inputs((in_bytes,), n=3, seed=in_bytes % 1000)
            got = run_verify_firmware(elf, get_board(target), x, 128 + out_bytes, timeout=120).outputs.reshape(3, -1)
            assert (got[:, :64] == 0x5A).all() and (got[:, 64 + out_bytes:] == 0x5A).all(), m.group(1)
            body = got[:, 64:64 + out_bytes]
            assert (body != 0x5A).mean() > 0.9, m.group(1)  # written (a few outputs may equal 0x5A = 90)


def _depth_mult_model():
    """Depthwise layers off the old fast path: depth multipliers 2, 3 and 4, dilation, 5x5 and 7x7 kernels, borders
    and strides, channel counts that leave tails of 1-3 on the DSP (4) and 1-7 on Helium (8) blocks."""
    from tensorflow import keras
    from tensorflow.keras import layers

    keras.utils.set_random_seed(12)
    inp = keras.Input((12, 12, 3))
    x = layers.DepthwiseConv2D(5, padding="same", depth_multiplier=2)(inp)                # 6: M = 2, tail 2
    x = layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=3)(x)       # 18: M = 3, stride 2
    x = layers.DepthwiseConv2D(3, padding="same", dilation_rate=2, activation="relu")(x)  # M = 1, dilated
    x = layers.DepthwiseConv2D(3, padding="valid", depth_multiplier=2, dilation_rate=2)(x)  # 36: inside, dilated
    x = layers.Conv2D(5, 1)(x)
    x = layers.DepthwiseConv2D(7, padding="same", depth_multiplier=4, activation="relu6")(x)  # 20: M = 4, 7x7
    x = layers.Flatten()(x)
    return keras.Model(inp, layers.Softmax()(layers.Dense(6)(x)))


@pytest.mark.parametrize("cpu", ["cortex-m0plus", "cortex-m4", "cortex-m33", "cortex-m55"])
def test_depth_multipliers_and_dilations_take_the_fast_depthwise_bit_exact(cpu, tmp_path_factory):
    """ecnn_depthwise_fast for every depth multiplier (M = 2 by halfword multiplies on the DSP cores, gathering loads
    on Helium, a channel map elsewhere) and every dilation (the tap pointers), bit-exact with TFLM on each path."""
    out = tmp_path_factory.getbasetemp() / "depth_mult"
    plan = _golden_build(out, _depth_mult_model, (12, 12, 3), n=6, seed=13)
    if plan is not None:
        kernels = [o["kernel"] for o in plan.info.ops if "depthwise" in o["kernel"]]
        assert kernels == ["ecnn_depthwise_fast"] * 5, kernels
        src = plan.texts["edgecnn_model.c"]
        assert sorted(set(re.findall(r"\.depth_mult = (\d+)", src))) == ["1", "2", "3", "4"]
        assert ".dil_h = 2" in src
        write_engine(plan, out / "firmware" / "engine")
    r = verify_qemu(out, TARGETS[cpu])
    assert r["samples"] == 6 and r["bit_exact"] == 1.0, r.get("first_mismatch")


def test_depth_multipliers_and_dilations_are_bit_exact_on_the_host(tmp_path):
    from engine_support import assert_bit_exact

    assert_bit_exact(quantize(_depth_mult_model(), seed=13), tmp_path, n=6)


@pytest.mark.parametrize("cpu, level", [("cortex-m0plus", "-Os"), ("cortex-m0plus", "-O0"), ("cortex-m4", "-Os")])
def test_the_engine_builds_and_is_bit_exact_at_the_levels_firmware_uses(paths_build, cpu, level, monkeypatch):
    """Arduino's cores build with -Os and debug builds with -O0: the engine compiles there too (-Wall -Wextra
    -Werror) and gives TFLM's answers. The ARMv6-M asm blocks need -O1 or more (gcc cannot allocate their high
    registers at -O0 and -Os); there the M0+ takes the portable C path."""
    from deploy.devices import toolchain

    flags = tuple(level if f == "-O2" else f for f in toolchain.FIRMWARE_CFLAGS)
    assert level in flags
    monkeypatch.setattr(toolchain, "FIRMWARE_CFLAGS", flags)
    r = verify_qemu(paths_build, TARGETS[cpu])
    assert r["samples"] == 8 and r["bit_exact"] == 1.0, r.get("first_mismatch")
