"""Code generation: bit exactness on random and reference models, determinism, escaping, strict compilers, refusals."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from deploy.engine.c_format import GENERATED_HEADER, c_float, c_identifier, c_int, c_string
from deploy.engine.codegen import generate_engine
from deploy.engine.ops import supported_ops_doc
from engine_support import arm_compile, assert_bit_exact, quantize
from toolkit.errors import ModelError, UnsupportedOpError

pytestmark = pytest.mark.toolchain


def random_model(seed: int, more_ops: bool = False):
    """A small random CNN: kernel sizes, strides, padding, dilation, groups, pools, residuals, concat, pad; with
    more_ops also squeeze-and-excite gates, broadcast adds, hard swish / sigmoid / tanh, strided slices and
    nearest-neighbour resizes (benchmarks/fuzz_engine.py; the CI seeds keep the first list, so their models
    stay the same)."""
    import keras
    import tensorflow as tf
    from keras import layers

    keras.utils.set_random_seed(seed)  # the weights, too, are a function of the seed
    rng = np.random.RandomState(seed)
    h, w = int(rng.randint(6, 14)), int(rng.randint(6, 14))
    c = int(rng.choice([1, 2, 3, 4]))
    inp = keras.Input((h, w, c))
    x = inp
    act = lambda: str(rng.choice(["linear", "relu", "relu6"]))  # noqa: E731
    for _ in range(int(rng.randint(2, 6))):
        h, w, c = (int(d) for d in x.shape[1:])
        kind = rng.choice(["conv", "grouped", "dw", "pool", "residual", "concat", "pad"] +
                          (["se", "bcast_add", "act", "slice", "resize"] if more_ops else []))
        small = min(h, w) < 4
        if kind == "conv" or (small and kind in ("pool", "dw")):
            k = int(rng.choice([1, 2, 3])) if not small else 1
            dil = int(rng.choice([1, 2])) if k > 1 and min(h, w) > 5 else 1
            stride = 1 if dil > 1 else int(rng.choice([1, 2]))
            x = layers.Conv2D(int(rng.randint(2, 9)), k, strides=stride, dilation_rate=dil,
                              padding=str(rng.choice(["same", "valid"])), activation=act())(x)
        elif kind == "grouped":
            g = int(rng.choice([2, 3]))
            x = layers.Conv2D(g * int(rng.randint(1, 3)), 1, activation="relu")(x)
            x = layers.Conv2D(g * int(rng.randint(1, 4)), int(rng.choice([1, 3])), groups=g, padding="same",
                              strides=int(rng.choice([1, 2])), activation=act())(x)
        elif kind == "dw":
            x = layers.DepthwiseConv2D(3, strides=int(rng.choice([1, 2])), depth_multiplier=int(rng.choice([1, 2])),
                                       padding=str(rng.choice(["same", "valid"])), activation=act())(x)
        elif kind == "pool":
            pool = layers.MaxPooling2D if rng.rand() < 0.5 else layers.AveragePooling2D
            x = pool(int(rng.choice([2, 3])), strides=int(rng.choice([1, 2])),
                     padding=str(rng.choice(["same", "valid"])))(x)
        elif kind == "residual":
            y = layers.Conv2D(c, 3, padding="same", activation="relu")(x)
            x = layers.Add()([x, y])
        elif kind == "se":
            gate = layers.Conv2D(c, 1, activation="sigmoid")(layers.GlobalAveragePooling2D(keepdims=True)(x))
            x = layers.Multiply()([x, gate])
        elif kind == "bcast_add":
            x = keras.ops.add(layers.Conv2D(c, 1)(layers.GlobalAveragePooling2D(keepdims=True)(x)), x)
        elif kind == "act":
            x = layers.Activation(str(rng.choice(["hard_swish", "sigmoid", "tanh"])))(x)
        elif kind == "slice":
            step = int(rng.choice([1, 2]))
            x = layers.Lambda(lambda t, s=step: t[:, ::s, ::-1, :])(x)
        elif kind == "resize":
            size = (int(rng.randint(max(h // 2, 1), h + 4)), int(rng.randint(max(w // 2, 1), w + 4)))
            x = layers.Lambda(lambda t, sz=size: tf.image.resize(t, sz, method="nearest"))(x)
        elif kind == "concat":
            x = layers.Concatenate()([layers.Conv2D(int(rng.randint(1, 5)), 1)(x),
                                      layers.Conv2D(int(rng.randint(1, 5)), 3, padding="same")(x)])
        else:
            x = layers.ZeroPadding2D(((int(rng.randint(0, 3)), int(rng.randint(0, 2))),
                                      (int(rng.randint(0, 2)), int(rng.randint(0, 3)))))(x)
    classes = int(rng.randint(2, 11))
    if rng.rand() < 0.5:
        x = layers.GlobalAveragePooling2D()(x)
    else:
        x = layers.Flatten()(x)
    x = layers.Dense(classes, activation="softmax" if rng.rand() < 0.7 else None)(x)
    return keras.Model(inp, x)


@pytest.mark.parametrize("seed", range(20))
def test_random_models_are_bit_exact(seed, tmp_path):
    tfl = quantize(random_model(seed), seed=100 + seed, scale=float(np.random.RandomState(seed).uniform(0.3, 3)))
    assert_bit_exact(tfl, tmp_path, n=8, seed=seed)


@pytest.fixture(scope="module")
def small_tflite():
    import keras
    from keras import layers

    inp = keras.Input((10, 10, 3))
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)
    y = layers.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = layers.Add()([x, layers.Conv2D(8, 1)(y)])
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(4, activation="softmax")(x)
    return quantize(keras.Model(inp, x))


def test_engine_carries_only_the_kernel_files_its_model_uses(small_tflite, tmp_path):
    """conv + depthwise + add + mean + dense + softmax: those families' files and no others (no shapes, no
    element-wise); an engine generated over an older one in the same folder leaves no old kernel file behind."""
    from deploy.engine.ops import KERNEL_SOURCES

    e = tmp_path / "e"
    e.mkdir()
    (e / "ecnn_shape.c").write_text("#error stale kernel file from an earlier engine\n")
    info = generate_engine(small_tflite, e)
    c_files = sorted(p.name for p in e.glob("*.c"))
    assert c_files == ["ecnn_add.c", "ecnn_common.c", "ecnn_conv.c", "ecnn_depthwise.c", "ecnn_pool.c",
                       "ecnn_softmax.c", "edgecnn_model.c"], c_files  # the dense layer runs as a GEMM (ecnn_conv.c)
    kernels = {op["kernel"] for op in info.ops} - {"alias"}
    needed = {f for k in kernels for f in KERNEL_SOURCES[k]}
    assert set(c_files) == {"ecnn_common.c", "edgecnn_model.c"} | {f for f in needed if f.endswith(".c")}
    assert {"ecnn_conv_dsp.h", "ecnn_conv_mve.h"} <= needed  # ecnn_conv.c's private headers travel with it
    assert all((e / f).is_file() for f in needed)
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c", "-I", str(e),
                    *map(str, sorted(e.glob("*.c")))], check=True, cwd=tmp_path)


def test_generation_is_deterministic_and_headed(small_tflite, tmp_path):
    a = generate_engine(small_tflite, tmp_path / "a")
    b = generate_engine(small_tflite, tmp_path / "b")
    assert a.files and [Path(f).name for f in a.files] == [Path(f).name for f in b.files]
    for name in (Path(f).name for f in a.files):
        ta, tb = (tmp_path / "a" / name).read_bytes(), (tmp_path / "b" / name).read_bytes()
        assert ta == tb, name
        assert ta.decode().startswith(GENERATED_HEADER), name
    assert a.arena_bytes == b.arena_bytes and a.tensor_offsets == b.tensor_offsets
    assert a.peak_ram_bytes == a.arena_bytes + a.scratch_bytes
    from deploy.engine.tflite_reader import read_tflite

    assert a.weight_bytes > 0 and len(a.ops) == len(read_tflite(small_tflite).operators)
    assert {"index", "op", "name", "kernel", "output_offset", "in_place"} <= set(a.ops[0])
    header = (tmp_path / "a" / "edgecnn_model.h").read_text()
    for macro in ("ECNN_INPUT_SIZE 300", "ECNN_OUTPUT_SIZE 4", "ECNN_NUM_CLASSES 4", "ECNN_INPUT_SCALE",
                  "ECNN_INPUT_ZERO_POINT", "ECNN_OUTPUT_SCALE 0.00390625f", "ECNN_OUTPUT_ZERO_POINT -128",
                  f"ECNN_ARENA_BYTES {a.arena_bytes}", f"ECNN_PEAK_RAM_BYTES {a.peak_ram_bytes}",
                  f"ECNN_WEIGHT_BYTES {a.weight_bytes}", "ECNN_INPUT_SHAPE { 1, 10, 10, 3 }"):
        assert f"#define {macro}" in header, macro
    assert "float" not in (tmp_path / "a" / "edgecnn_model.c").read_text().replace("ECNN_", "")


LABEL_MAIN = r"""
#include <stdio.h>
#include "edgecnn_model.h"
int main(void) {
    int i;
    for (i = 0; i < ECNN_NUM_CLASSES; ++i) { fputs(ecnn_labels[i], stdout); fputc(0, stdout); }
    return 0;
}
"""


def test_labels_are_escaped_into_valid_c_strings(small_tflite, tmp_path):
    labels = ['say "hi"', "back\\slash\n", "caf\u00e9 \u2603", "??=trigraph 7"]
    generate_engine(small_tflite, tmp_path / "e", labels=labels)
    (tmp_path / "main.c").write_text(LABEL_MAIN)
    exe = tmp_path / "labels"
    e = tmp_path / "e"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wtrigraphs", "-I", str(e),
                    *map(str, sorted(e.glob("*.c"))), str(tmp_path / "main.c"), "-o", str(exe)],
                   check=True)
    out = subprocess.run([str(exe)], capture_output=True, check=True).stdout
    assert out.split(b"\0")[:-1] == [s.encode("utf-8") for s in labels]


def test_wrong_label_count_is_refused(small_tflite, tmp_path):
    with pytest.raises(ModelError, match="labels"):
        generate_engine(small_tflite, tmp_path / "e", labels=["a", "b"])


def test_kernel_calls_name_their_operands_and_codegen_gives_the_addresses():
    """Emitters return Calls whose operands are symbols; one function renders them (no text placeholders)."""
    from deploy.engine.ops.lowered import Call, In, Out, PtrArray, Scratch

    where = {In(0): "A + 8", In(1): "A + 64", In(0, 3): "A + 8 + 3", Out(): "A + 120", Scratch(): "A + 200"}
    assert Call("ecnn_pad", ("&pad_p", In(0), Out())).render(where.__getitem__) == "ecnn_pad(&pad_p, A + 8, A + 120);"
    assert Call("ecnn_x", ("&p", In(0, 3), Scratch(), 0)).render(where.__getitem__) == "ecnn_x(&p, A + 8 + 3, A + 200, 0);"
    concat = Call("ecnn_concat", (1, 2, "c_inner", PtrArray("ins", (In(0), In(1))), Out()))
    assert concat.render(where.__getitem__) == ("{ const int8_t *const ins[2] = { A + 8, A + 64 }; "
                                               "ecnn_concat(1, 2, c_inner, ins, A + 120); }")


def test_c_format_helpers():
    assert c_identifier("conv 2d/0") == "conv_2d_0"
    assert c_identifier("int") != "int" and c_identifier("3x")[0].isalpha()
    assert c_int(-2 ** 31) == "(-2147483647 - 1)"
    assert c_float(1.0) == "1.0f" and float(c_float(0.1)[:-1]) == np.float32(0.1)
    assert c_string('a"b\\c\n') == '"a\\"b\\\\c\\012"'
    assert "CONV_2D" in supported_ops_doc()


@pytest.mark.toolchain  # install.sh installs arm-none-eabi-gcc; a missing compiler fails here, never skips
def test_compiles_for_cortex_m4_with_werror_pedantic(small_tflite, tmp_path):
    generate_engine(small_tflite, tmp_path / "e")
    arm_compile(tmp_path / "e", tmp_path / "arm")
    assert (tmp_path / "arm" / "edgecnn_model.o").is_file()


def test_unsupported_op_is_refused_before_writing(tmp_path):
    import keras
    from keras import layers

    inp = keras.Input((6, 6, 2))
    x = layers.Maximum()([inp, layers.Conv2D(2, 3, padding="same")(inp)])
    x = layers.Dense(3)(layers.Flatten()(x))
    tfl = quantize(keras.Model(inp, x))
    out = tmp_path / "never"
    with pytest.raises(UnsupportedOpError) as err:
        generate_engine(tfl, out)
    assert "MAXIMUM" in str(err.value) and "layer maximum_" in str(err.value)
    assert not out.exists()


def test_float_model_is_refused(tmp_path):
    import keras
    from keras import layers

    from deploy.convert.quantize import to_float_tflite

    inp = keras.Input((4, 4, 1))
    tfl = to_float_tflite(keras.Model(inp, layers.Dense(2)(layers.Flatten()(inp))))
    with pytest.raises(UnsupportedOpError, match="float32"):
        generate_engine(tfl, tmp_path / "e")
    assert not (tmp_path / "e").exists()


# ---- MLPerf Tiny reference architectures (random, calibrated weights) ----

MLPERF = ["ds_cnn", "resnet8", "mobilenet_v1_025", "fc_autoencoder"]
# peak RAM of the engine over TFLM's measured arena: at most half for every model. ResNet-8's first
# residual block runs fused, line by line (deploy.engine.fusion), which removes the 32 KiB floor that layer-by-
# layer execution has (the 32x32x16 skip tensor alive while the next 32x32x16 tensor is written).
MAX_RAM_RATIO = {"ds_cnn": 0.5, "resnet8": 0.5, "mobilenet_v1_025": 0.5, "fc_autoencoder": 0.5}


@pytest.mark.slow
@pytest.mark.parametrize("name", MLPERF)
def test_mlperf_tiny_models_bit_exact_and_small(name, tmp_path):
    from deploy.convert.tflm import measure_arena
    from models.mlperf_tiny import MLPERF_TINY, calibrate_batchnorm

    model = MLPERF_TINY[name]()
    cal = np.random.RandomState(0).randn(16, *model.inputs[0].shape[1:]).astype(np.float32)
    calibrate_batchnorm(model, cal)
    from deploy.convert.quantize import to_int8_tflite

    tfl = to_int8_tflite(model, cal)
    info = assert_bit_exact(tfl, tmp_path, n=6, sanitize=(name != "mobilenet_v1_025"))
    arena = measure_arena(tfl)
    ratio = info.peak_ram_bytes / arena.total
    print(f"{name}: engine peak RAM {info.peak_ram_bytes} B, TFLM arena {arena.total} B, ratio {ratio:.3f}")
    assert ratio <= MAX_RAM_RATIO[name]
    arm_compile(tmp_path / "engine", tmp_path / "arm")  # install.sh provides arm-none-eabi-gcc


PLANAR_MAIN = r"""
#include <stdio.h>
#include "ecnn_kernels.h"
int main(void)
{
    int v[11];
    while (scanf("%d %d %d %d %d %d %d %d %d %d %d", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8],
                 &v[9], &v[10]) == 11) {
        ecnn_conv_params p = {0};
        p.depth_mult = 1;
        p.k_h = v[0], p.k_w = v[1], p.stride_h = v[2], p.stride_w = v[3], p.dil_h = v[4], p.dil_w = v[5];
        p.rq_right = v[6], p.act_min = v[7], p.act_max = v[8], p.out_h = v[9], p.out_w = v[10];
        printf("%d %d\n", ECNN_DW_PLANAR(&p) ? 1 : 0, (int)ECNN_DW_PLANE_BYTES(&p));
    }
    return 0;
}
"""


def test_planar_depthwise_predicate_and_plane_size_agree_with_the_kernel(tmp_path):
    """The generator sizes the planar depthwise scratch (ops.dw_planar, ops.dw_plane_bytes); the kernel takes the
    path by ECNN_DW_PLANAR and reads ECNN_DW_PLANE_BYTES of it. Were they to disagree, the kernel would run the
    planar path without its plane (or in a plan that overlaps by part of a pixel)."""
    from itertools import product

    from deploy.engine.ops.variants import dw_plane_bytes, dw_planar
    from deploy.engine.templates import TEMPLATE_DIR

    src = tmp_path / "planar.c"
    src.write_text(PLANAR_MAIN)
    exe = tmp_path / "planar"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", str(TEMPLATE_DIR / "engine"), str(src),
                    "-o", str(exe)], check=True, capture_output=True, text=True)
    cases = list(product([(3, 3), (3, 1), (5, 5)], [(1, 1), (2, 2), (1, 2), (3, 3)], [(1, 1), (2, 2)], [0, 1],
                         [(-128, 127), (-128, 100), (0, 127)], [(25, 5), (7, 7)]))
    lines = "\n".join(" ".join(map(str, [*k, *s_, *d, rq, *act, *out])) for k, s_, d, rq, act, out in cases)
    got = subprocess.run([str(exe)], input=lines + "\n", capture_output=True, text=True, check=True).stdout.split("\n")
    assert len([g for g in got if g]) == len(cases)
    planar_seen = 0
    for (k, s_, d, rq, act, out), line in zip(cases, got):
        is_planar, plane = map(int, line.split())
        assert bool(is_planar) == dw_planar(k, s_, d, rq, act), (k, s_, d, rq, act)
        if is_planar:
            planar_seen += 1
            assert plane == dw_plane_bytes(out, s_), (out, s_)
    assert planar_seen == 2 * 2  # strides 1 and 2, two output sizes


def test_three_pixel_block_limits_match_the_kernel():
    """The generator gives a layer ECNN_GEMM3 only within what ecnn_conv.c's three-pixel block handles: its
    widened buffer holds three rows of GEMM3_MAX_DEPTH values, a grouped window's taps are at most
    ECNN_TRIPLE_MAX_KH pointers of at most ECNN_TRIPLE_MAX_RUN values. Were they to disagree, a layer would get
    an instance the kernel then skips, or overruns."""
    import re

    from deploy.engine.ops import variants
    from deploy.engine.templates import TEMPLATE_DIR

    src = (TEMPLATE_DIR / "engine" / "ecnn_conv.c").read_text()
    define = {m[0]: int(m[1]) for m in re.findall(r"^#define (ECNN_\w+) (\d+)", src, re.M)}
    assert define["ECNN_TRIPLE_MAX_RUN"] == variants.TRIPLE_MAX_RUN
    assert define["ECNN_TRIPLE_MAX_KH"] == variants.TRIPLE_MAX_TAPS
    assert 3 * variants.GEMM3_MAX_DEPTH // 2 == define["ECNN_GEMM_XS_WORDS"]
    assert variants.DENSE_PAIRS_MAX_DEPTH == 2 * define["ECNN_GEMM_XS_WORDS"]  # one row of n8 values widened


def _decode_pairs(words: np.ndarray, cols: int, n8: int) -> np.ndarray:
    """The [cols][n8] weights x16_pairs4 computes with: each halfword h = L + 256 H read back as L and H."""
    halves = words.view(np.uint32).astype(np.int64)
    halves = np.stack([halves & 0xFFFF, halves >> 16], axis=-1).reshape(cols // 4, n8 // 4, 2, 4)
    h = np.where(halves >= 32768, halves - 65536, halves)           # as int16
    lo = ((h + 128) & 0xFF) - 128                                   # L: the low byte, signed
    hi = (h - lo) // 256                                            # H: exact (h = L + 256 H)
    w = np.zeros((cols, n8), np.int64)
    k = (np.arange(n8 // 4)[:, None] * 4 + np.array([0, 2, 1, 3])).reshape(-1)  # halfword order per 4 values
    for q in range(cols // 4):
        for p in range(2):
            w[4 * q + 2 * p, k] = lo[q, :, p].reshape(-1)
            w[4 * q + 2 * p + 1, k] = hi[q, :, p].reshape(-1)
    return w


def test_dense_column_pairs_hold_the_weights_and_refuse_what_they_cannot_split():
    """ops.dense_pairs: every halfword of the DSP cores' pair filter is exactly L + 256 H (the weights come back
    from it, the padding past the depth is zero, and SXTB16's bytes are L); where that or the exact split of H's
    sum cannot hold (H = -128 with a negative L, 128 sum|H| >= 2^23), or the shape does not fit the kernel
    (columns not a multiple of 4, depth past DENSE_PAIRS_MAX_DEPTH), the layer keeps the plain filter."""
    from deploy.engine.ops.variants import DENSE_PAIRS_MAX_DEPTH, dense_pairs

    rng = np.random.RandomState(0)
    w = rng.randint(-127, 128, (12, 37)).astype(np.int8)
    w[1, 0], w[0, 0] = -127, -1                                     # H' = -128: the lowest it can go
    words = dense_pairs(w)
    assert words.dtype == np.int32 and words.size == 12 * 40 // 4  # a byte per weight
    back = _decode_pairs(words, 12, 40)
    assert np.array_equal(back[:, :37], w) and not back[:, 37:].any()
    low_bytes = words.view(np.uint8).reshape(-1, 2)[:, 0].view(np.int8)  # SXTB16 reads bytes 0 and 2: L
    assert set(np.unique(low_bytes)) <= set(np.unique(w[0::2]))
    assert dense_pairs(w[:10]) is None                              # 10 columns
    w2 = w.copy()
    w2[1, 3], w2[0, 3] = -128, -5
    assert dense_pairs(w2) is None                                  # H' would be -129
    w2[0, 3] = 5
    assert dense_pairs(w2) is not None                              # L >= 0: H' = H = -128 is fine
    big = np.full((4, 520), 127, np.int8)                           # 128 * 520 * 127 > 2^23: H.x may not split
    assert dense_pairs(big) is None and dense_pairs(big[:, :515]) is not None
    assert dense_pairs(np.ones((4, DENSE_PAIRS_MAX_DEPTH + 1), np.int8)) is None
    assert dense_pairs(np.ones((4, DENSE_PAIRS_MAX_DEPTH), np.int8)) is not None


def test_gemm_column_pairs_hold_the_weights_pair_by_pair():
    """ops.gemm_pairs (ECNN_GEMM3P's filter): pair by pair, per 4 values of depth its two words, each halfword
    L + 256 H; refused below GEMM3P_MIN_DEPTH, for an odd column count and where the split of H's sum is not
    exact."""
    from deploy.engine.ops.variants import GEMM3P_MIN_DEPTH, gemm_pairs

    rng = np.random.RandomState(1)
    w = rng.randint(-127, 128, (6, 24)).astype(np.int8)
    words = gemm_pairs(w)
    assert words.size == 6 * 24 // 4
    # as one group of four columns per pair (the dense layout with one pair per group is the same words)
    per_pair = words.reshape(3, 6, 2)
    back = np.concatenate([_decode_pairs(np.concatenate([p, p], axis=1).reshape(-1), 4, 24)[:2] for p in per_pair])
    assert np.array_equal(back, w)
    assert gemm_pairs(w[:5]) is None and gemm_pairs(w[:, :GEMM3P_MIN_DEPTH - 4]) is None
    assert gemm_pairs(np.full((2, 528), 127, np.int8)) is None  # 128 * 528 * 127 >= 2^23


def test_guarded_constants_are_counted_for_the_core_that_compiles_them(tmp_path):
    """A dense layer whose depth (37) the DSP cores' pair filter pads to 40: each kernel path's constants count
    only the arrays compiled for it (CArray.guard), the engine's figure for an unknown core is the largest, and
    a target's check (EngineDescription.const_bytes_for) takes its own core's."""
    from tensorflow import keras

    from deploy.engine.codegen import plan_engine
    from deploy.engine.ops.lowered import CArray
    from deploy.engine.tflite_reader import read_tflite
    from toolkit.targets import TARGETS

    keras.utils.set_random_seed(1)
    inp = keras.Input((37,))
    plan = plan_engine(read_tflite(quantize(keras.Model(inp, keras.layers.Dense(12, use_bias=False)(inp)), seed=2)))
    by = plan.info.const_bytes_by_path
    assert by["dsp"] - by["plain"] == 12 * (40 - 37) and by["mve"] == by["plain"]
    assert plan.info.const_bytes == by["dsp"] and plan.info.weight_bytes == 12 * 40  # the padded pairs
    d = plan.description
    assert [d.const_bytes_for(TARGETS[c]) for c in ("cortex-m0plus", "cortex-m4", "cortex-m55")] == \
        [by["plain"], by["dsp"], by["mve"]]
    a = CArray("int8_t", "a", np.zeros(3), guard="!defined(ECNN_MODEL_MVE)")
    assert [a.compiled_on(p) for p in ("plain", "dsp", "mve")] == [True, True, False]
    with pytest.raises(ValueError):
        CArray("int8_t", "b", np.zeros(3), guard="defined(FOO)").compiled_on("dsp")


def test_triples_cover_only_what_the_scratch_and_the_block_hold():
    """ops.triples_cover: a 3x3 kernel with padding 1 leaves at most two border windows in any three pixels
    (row-major or within a row) when rows have 3 pixels or more; rows of 1 or 2 pixels, padding 2 and kernel
    rows the block cannot read in place (not a multiple of 4 values, more than ECNN_TRIPLE_MAX_RUN) do not."""
    from deploy.engine.ops.variants import TRIPLE_MAX_RUN, triples_cover

    assert triples_cover((5, 10), 10, (3, 3), 1, 1, 24)
    assert triples_cover((4, 4), 8, (3, 3), 2, 1, 24)            # stride 2: the right column stays inside
    assert triples_cover((4, 3), 3, (3, 3), 1, 1, 24)            # rows of 3: both borders in one three
    assert not triples_cover((4, 2), 2, (3, 3), 1, 1, 24)        # rows of 2: three border windows in a row
    assert not triples_cover((5, 10), 10, (5, 5), 1, 2, 40)      # padding 2: columns 8, 9, 0 all cross
    assert triples_cover((5, 6), 10, (5, 5), 1, 0, 40)           # no padding: nothing crosses
    assert not triples_cover((5, 10), 10, (3, 3), 1, 1, 18)      # 18 values a kernel row
    assert not triples_cover((5, 10), 10, (3, 3), 1, 1, TRIPLE_MAX_RUN + 4)
