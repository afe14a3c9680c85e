"""The C kernels against TensorFlow Lite Micro, op by op, and the fixed-point helpers against their definition."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from deploy.engine import quant_params as qp
from deploy.engine.templates import TEMPLATE_DIR
from engine_support import assert_bit_exact, quantize

pytestmark = pytest.mark.toolchain


def _model(kind: str):
    import keras
    from keras import layers

    inp = keras.Input((9, 9, 4))
    if kind == "conv_same_s1":
        x = layers.Conv2D(6, 3, padding="same")(inp)
    elif kind == "conv_valid_s2_relu6":
        x = layers.Conv2D(5, 3, strides=2, padding="valid", activation="relu6")(inp)
    elif kind == "conv_same_s2_even_kernel":
        x = layers.Conv2D(5, (4, 2), strides=2, padding="same", activation="relu")(inp)
    elif kind == "conv_dilated":
        x = layers.Conv2D(4, 3, dilation_rate=2, padding="same")(inp)
    elif kind == "conv_grouped":
        x = layers.Conv2D(8, 3, groups=2, padding="same", activation="relu")(inp)
    elif kind == "conv_grouped4_valid_s2":
        x = layers.Conv2D(8, 1, groups=4, strides=2)(layers.Conv2D(8, 1)(inp))
    elif kind == "depthwise_same":
        x = layers.DepthwiseConv2D(3, padding="same", activation="relu6")(inp)
    elif kind == "depthwise_mult2_s2":
        x = layers.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="same")(inp)
    elif kind == "depthwise_valid_dilated":
        x = layers.DepthwiseConv2D(3, dilation_rate=2, padding="valid")(inp)
    elif kind == "separable_block":
        x = layers.Conv2D(8, 1, activation="relu")(layers.DepthwiseConv2D(3, padding="same", activation="relu")(inp))
    elif kind == "max_pool":
        x = layers.MaxPooling2D(2)(layers.Conv2D(4, 1)(inp))
    elif kind == "max_pool_same_s2":
        x = layers.MaxPooling2D(3, strides=2, padding="same")(layers.Conv2D(4, 1)(inp))
    elif kind == "avg_pool_same":
        x = layers.AveragePooling2D(3, strides=2, padding="same")(layers.Conv2D(4, 1)(inp))
    elif kind == "global_avg":
        x = layers.GlobalAveragePooling2D()(layers.Conv2D(6, 1)(inp))
    elif kind == "global_avg_keepdims":
        x = layers.GlobalAveragePooling2D(keepdims=True)(inp)
    elif kind == "flatten_dense":
        x = layers.Dense(7, activation="relu")(layers.Flatten()(inp))
    elif kind == "residual_add":
        y = layers.Conv2D(4, 3, padding="same")(inp)
        x = layers.ReLU()(layers.Add()([inp, y]))
    elif kind == "concatenate":
        x = layers.Concatenate()([layers.Conv2D(3, 1)(inp), layers.Conv2D(5, 3, padding="same")(inp)])
    elif kind == "zero_padding":
        x = layers.Conv2D(4, 3)(layers.ZeroPadding2D(((1, 2), (2, 0)))(inp))
    elif kind == "softmax":
        x = layers.Dense(10, activation="softmax")(layers.Flatten()(inp))
    else:
        raise ValueError(kind)
    return keras.Model(inp, x)


KINDS = ["conv_same_s1", "conv_valid_s2_relu6", "conv_same_s2_even_kernel", "conv_dilated", "conv_grouped",
         "conv_grouped4_valid_s2", "depthwise_same", "depthwise_mult2_s2", "depthwise_valid_dilated",
         "separable_block", "max_pool", "max_pool_same_s2", "avg_pool_same", "global_avg", "global_avg_keepdims",
         "flatten_dense", "residual_add", "concatenate", "zero_padding", "softmax"]


@pytest.mark.parametrize("kind", KINDS)
def test_op_bit_exact_with_tflm(kind, tmp_path):
    tfl = quantize(_model(kind), seed=KINDS.index(kind))
    assert_bit_exact(tfl, tmp_path, n=10)


FIXED_POINT_MAIN = r"""
#include <stdio.h>
#include <stdint.h>
#include "ecnn_kernels.h"
int main(void) {
    long a, b, s;
    while (scanf("%ld %ld %ld", &a, &b, &s) == 3) {
        printf("%ld %ld %ld\n", (long)ecnn_srdhm((int32_t)a, (int32_t)b),
               (long)ecnn_rdpot((int32_t)a, (int)(s < 0 ? -s : s)),
               (long)ecnn_mbqm((int32_t)a, (int32_t)b, (int)s));
    }
    return 0;
}
"""


def test_fixed_point_helpers_match_their_definition(tmp_path):
    """SaturatingRoundingDoublingHighMul, RoundingDivideByPOT and MultiplyByQuantizedMultiplier in C
    agree with an independent NumPy model on random and edge values (INT32_MIN, ties, signs). ecnn_mbqm takes the
    branch-free form for multipliers >= 0 (constant nudge, floor shift): 20,000 cases check it against gemmlowp's."""
    (tmp_path / "t.c").write_text(FIXED_POINT_MAIN)
    src = TEMPLATE_DIR / "engine"
    exe = tmp_path / "t"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O1",
                    "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-I", str(src),
                    str(src / "ecnn_common.c"), str(tmp_path / "t.c"), "-o", str(exe)], check=True)
    rng = np.random.RandomState(0)
    n = 20000
    a = rng.randint(-2 ** 31, 2 ** 31, n, dtype=np.int64)
    a[:20] = [-2 ** 31, 2 ** 31 - 1, 0, 1, -1, 2, -2, 3, -3, 1 << 30, -(1 << 30), 5, -5, 6, -6, 7, -7, 8, -8, 12]
    b = rng.randint(0, 2 ** 31, n, dtype=np.int64)
    b[:2] = [-2 ** 31, 2 ** 31 - 1]
    s = rng.randint(-31, 8, n)
    s[s > 0] = 0  # left shifts of random values would overflow int32; tested separately below
    a[-200:] = rng.randint(-3000, 3000, 200)
    s[-200:] = rng.randint(0, 8, 200)
    text = "\n".join(f"{x} {y} {z}" for x, y, z in zip(a, b, s))
    out = subprocess.run([str(exe)], input=text, capture_output=True, text=True, check=True).stdout.split()
    got = np.array(out, dtype=np.int64).reshape(n, 3)
    np.testing.assert_array_equal(got[:, 0], qp.srdhm(a, b))
    np.testing.assert_array_equal(got[:, 1], [int(qp.rdpot(x, abs(int(z)))) for x, z in zip(a, s)])
    np.testing.assert_array_equal(got[:, 2], [int(qp.mbqm(x, int(y), int(z))) for x, y, z in zip(a, b, s)])


def test_quantize_multiplier_is_tflite_exact():
    assert qp.quantize_multiplier(0.0) == (0, 0)
    assert qp.quantize_multiplier(0.5) == (1 << 30, 0)
    assert qp.quantize_multiplier(1.0) == (1 << 30, 1)
    assert qp.quantize_multiplier(0.75) == (3 << 29, 0)
    # a multiplier that rounds up to 2^31 is halved and the shift grows
    m, s = qp.quantize_multiplier(1.0 - 2.0 ** -40)
    assert (m, s) == (1 << 30, 1)
    m, s = qp.quantize_multiplier(1e-9)
    assert s < 0 and (1 << 30) <= m < (1 << 31)
    assert qp.quantize_multiplier(2.0 ** -40) == (0, 0)  # below 2^-31: TFLite flushes to zero


def test_activation_ranges_use_float32_rounding():
    assert qp.activation_range("NONE", 0.1, 3) == (-128, 127)
    assert qp.activation_range("RELU", 0.1, -5) == (-5, 127)
    lo, hi = qp.activation_range("RELU6", 6 / 200, -100)
    assert (lo, hi) == (-100, 100)
    assert qp.activation_range("RELU6", 0.001, -128) == (-128, 127)  # 6.0 lies beyond int8


def test_softmax_rejects_an_underflowing_input_scale():
    from toolkit.errors import ModelError

    with pytest.raises(ModelError, match="softmax"):
        qp.softmax_params(1.0, 1e-9, "layer softmax_3")


# ---- TRANSPOSE (ShuffleNet channel shuffle and random permutations) ----

def test_channel_shuffle_compact_cnn_is_bit_exact(tmp_path):
    from deploy.engine.tflite_reader import read_tflite
    from models.compact import build

    tfl = quantize(build((8, 8, 1), 10, conv="grouped", groups=2, shuffle=True), seed=3)
    assert "TRANSPOSE" in read_tflite(tfl).op_names()
    info = assert_bit_exact(tfl, tmp_path, n=10)
    assert any(o["kernel"] == "ecnn_transpose" for o in info.ops)


@pytest.mark.parametrize("seed", range(4))
def test_random_transpose_4d_and_5d_is_bit_exact(seed, tmp_path):
    import keras
    from keras import layers

    from deploy.engine.tflite_reader import read_tflite

    rng = np.random.RandomState(seed)
    h, w, c1, c2 = (int(v) for v in rng.randint(2, 6, 4))  # no size-1 axes: the converter drops such transposes
    inp = keras.Input((h, w, c1 * c2))
    x = layers.Conv2D(c1 * c2, 1)(inp)
    if seed % 2:  # 5-D: [1, h, w, c1, c2] permuted
        x = layers.Reshape((h, w, c1, c2))(x)
        perm = tuple(int(v) + 1 for v in rng.permutation(4))
    else:  # 4-D
        perm = tuple(int(v) + 1 for v in rng.permutation(3))
    if perm == tuple(range(1, len(perm) + 1)):
        perm = perm[::-1]
    x = layers.Permute(perm)(x)
    x = layers.Conv2D(3, 1)(layers.Reshape((h * w, -1, 1))(x)) if rng.rand() < 0.5 else layers.Flatten()(x)
    tfl = quantize(keras.Model(inp, layers.Flatten()(x)), seed=seed)
    assert "TRANSPOSE" in read_tflite(tfl).op_names()
    assert_bit_exact(tfl, tmp_path, n=8, seed=seed)


def test_transpose_with_different_quantization_or_too_many_dims_is_refused():
    from deploy.engine.ops import OpContext, check_op
    from deploy.engine.tflite_reader import Graph, Operator, Quantization, Tensor

    def q(scale, zp):
        return Quantization(np.array([scale], np.float32), np.array([zp], np.int64))

    def graph(in_shape, out_shape, perm, out_q):
        tensors = (Tensor(0, "x", in_shape, "int8", q(0.5, 1)),
                   Tensor(1, "perm", (len(perm),), "int32", None, np.asarray(perm, np.int32).tobytes()),
                   Tensor(2, "y", out_shape, "int8", out_q))
        op = Operator(0, "TRANSPOSE", (0, 1), (2,), {})
        return OpContext(Graph(tensors, (op,), (0,), (2,)), op, "transpose_0")

    assert check_op(graph((1, 2, 3, 4), (1, 4, 2, 3), (0, 3, 1, 2), q(0.5, 1))) == []
    assert "different quantization" in check_op(graph((1, 2, 3, 4), (1, 4, 2, 3), (0, 3, 1, 2), q(0.25, 1)))[0]
    assert "at most 5-D" in check_op(graph((1, 1, 2, 3, 4, 1), (1, 1, 4, 2, 3, 1), (0, 1, 4, 2, 3, 5),
                                           q(0.5, 1)))[0]
    assert "not a permutation" in check_op(graph((1, 2, 3, 4), (1, 4, 2, 3), (0, 3, 3, 2), q(0.5, 1)))[0]


GROUPED_FAST = [  # (input hwc, filters, kernel, stride, padding, groups, bias)
    ((7, 9, 8), 8, 3, 1, "same", 2, True),
    ((9, 7, 16), 12, 3, 2, "same", 4, False),
    ((8, 8, 16), 32, 3, 2, "valid", 2, True),
    ((5, 6, 12), 8, (2, 3), 1, "valid", 4, True),
    ((6, 5, 32), 6, 3, 1, "same", 2, False),  # odd channels per group: unpaired output channel
    ((4, 4, 32), 64, 3, 1, "same", 2, False),
]


@pytest.mark.parametrize("case", range(len(GROUPED_FAST)))
def test_grouped_conv_fast_path_is_bit_exact(case, tmp_path):
    from tensorflow import keras
    from tensorflow.keras import layers

    from deploy.engine.codegen import plan_engine
    from deploy.engine.tflite_reader import read_tflite

    shape, filters, k, s, pad, groups, bias = GROUPED_FAST[case]
    inp = keras.Input(shape=shape)
    x = layers.Conv2D(filters, k, strides=s, padding=pad, groups=groups, use_bias=bias, activation="relu")(inp)
    model = keras.Model(inp, x)
    rng = np.random.RandomState(case)
    for w in model.weights:
        w.assign(rng.randn(*w.shape).astype(np.float32) * 0.3)
    tfl = quantize(model, seed=100 + case)
    src = "".join(plan_engine(read_tflite(tfl)).texts.values())
    assert "ecnn_conv2d_fast(&" in src and "ecnn_conv2d(&" not in src
    assert_bit_exact(tfl, tmp_path, n=10)
