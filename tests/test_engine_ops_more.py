"""The element-wise, broadcasting and shape ops of deploy/engine/ops/ against TensorFlow Lite Micro: every op's own output (all tensors
compared layer by layer) and each model's output, bit for bit, on the host and on three emulated cores; the
activation tables on all 256 int8 inputs; the TFLM fallback for an op the engine refuses."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_cli
from deploy.engine.codegen import generate_engine
from deploy.engine.ops import supported_ops_doc
from deploy.engine.ops.binary import broadcast_dims
from deploy.engine.ops.shape import resize_indices
from deploy.engine.tflite_reader import read_tflite
from deploy.convert.tflm import run_tflm
from deploy.verify.host import first_differing_layer
from engine_support import engine_outputs, make_inputs, quantize

pytestmark = pytest.mark.toolchain


def _models() -> dict:
    import keras
    import tensorflow as tf
    from keras import layers

    keras.utils.set_random_seed(11)

    def model(shape, f):
        inp = keras.Input(shape)
        return keras.Model(inp, f(inp))

    def activations(x):  # each activation reads the model input itself, so each table sees all 256 values
        branches = [layers.Activation("hard_swish")(x), layers.Activation("sigmoid")(x),
                    layers.Activation("tanh")(x), layers.ReLU()(x), layers.ReLU(6.0)(x), layers.LeakyReLU(0.3)(x)]
        return layers.Add()(branches)

    def squeeze_excite(x):
        x = layers.Conv2D(8, 3, padding="same", activation="hard_swish")(x)
        s = layers.GlobalAveragePooling2D(keepdims=True)(x)
        s = layers.Conv2D(8, 1, activation="relu")(s)
        gate = layers.Lambda(lambda t: tf.nn.relu6(t + 3.0) * (1.0 / 6.0))(layers.Conv2D(8, 1)(s))  # hard sigmoid
        y = layers.Multiply()([x, gate])                                    # [1,H,W,C] * [1,1,1,C]
        y = keras.ops.add(layers.Conv2D(8, 1)(s), y)                         # [1,1,1,C] + [1,H,W,C]
        return layers.Subtract()([y, layers.Conv2D(8, 1)(x)])

    def broadcast_general(x):  # [1,3,1,5] * [1,1,4,1], then a constant
        a = layers.Lambda(lambda t: tf.reduce_mean(t, axis=2, keepdims=True))(x)
        b = layers.Lambda(lambda t: tf.reduce_mean(t, axis=[1, 3], keepdims=True))(x)
        return layers.Lambda(lambda t: t * 0.75 - 0.25)(layers.Multiply()([a, b]))

    def slicing(x):  # (6, 7, 4)
        a = layers.Lambda(lambda t: t[:, 1:5:2, ::-1, :])(x)                  # step 2, reversed columns
        b = layers.Lambda(lambda t: t[:, -1:0:-3, :, :])(x)                   # negative step from the end
        c = layers.Concatenate()([a, b])                                       # (2, 7, 8)
        halves = layers.Lambda(lambda t: tf.split(t, 2, axis=-1))(c)           # SPLIT
        c = layers.Concatenate(axis=1)(halves[::-1])                           # (4, 7, 4)
        parts = layers.Lambda(lambda t: tf.split(t, [1, 3, 3], axis=2))(c)     # SPLIT_V
        c = layers.Concatenate(axis=2)(parts[::-1])
        return layers.Lambda(lambda t: t[:, 2, 1:6:2, :])(c)                  # shrink axis 1: a 3-D output

    def resize_pad_mean(x):
        x = layers.Lambda(lambda t: tf.image.resize(t, (7, 9), method="nearest"))(x)      # half-pixel centers
        x = layers.Lambda(lambda t: tf.compat.v1.image.resize_nearest_neighbor(t, (13, 10), align_corners=True))(x)
        x = layers.Lambda(lambda t: tf.pad(t, [[0, 0], [1, 2], [0, 1], [0, 0]], constant_values=0.5))(x)
        return layers.Lambda(lambda t: tf.reduce_mean(t, axis=3, keepdims=True))(x)

    def prelu(x):  # alpha per element, one shared alpha, one per channel; negative alphas too
        alpha = keras.initializers.RandomUniform(-0.5, 0.8)
        x = layers.PReLU(alpha_initializer=alpha)(x)
        x = layers.PReLU(shared_axes=[1, 2, 3], alpha_initializer=alpha)(layers.Conv2D(6, 1)(x))
        return layers.PReLU(shared_axes=[1, 2], alpha_initializer=alpha)(layers.Conv2D(5, 1)(x))

    return {
        "activations": (model((4, 8, 8), activations), {"HARD_SWISH", "LOGISTIC", "TANH", "RELU", "RELU6",
                                                          "LEAKY_RELU"}),
        "squeeze_excite": (model((5, 6, 3), squeeze_excite), {"HARD_SWISH", "MUL", "ADD", "SUB", "MEAN"}),
        "broadcast_general": (model((3, 4, 5), broadcast_general), {"MUL", "MEAN"}),
        "slicing": (model((6, 7, 4), slicing), {"STRIDED_SLICE", "SPLIT", "SPLIT_V"}),
        "resize_pad_mean": (model((3, 4, 5), resize_pad_mean), {"RESIZE_NEAREST_NEIGHBOR", "PADV2", "MEAN"}),
        "fallback": (model((5, 5, 3), lambda x: layers.Maximum()([x, layers.Conv2D(3, 1)(x)])), {"MAXIMUM"}),
        "prelu": (model((4, 5, 3), prelu), {"PRELU"}),  # last: the seeds of the models above stay as they were
    }


@pytest.fixture(scope="module")
def models() -> dict:
    """Every test model, quantized once: name -> (int8 .tflite bytes, the ops it must contain)."""
    return {name: (quantize(m, seed=k, scale=2.0), ops) for k, (name, (m, ops)) in enumerate(_models().items())}


KERNELS = {"prelu": {"ecnn_binary"}, "activations": {"ecnn_lut"}, "squeeze_excite": {"ecnn_lut", "ecnn_binary"},
           "broadcast_general": {"ecnn_reduce_mean", "ecnn_binary"}, "slicing": {"ecnn_transpose"},
           "resize_pad_mean": {"ecnn_resize_nearest", "ecnn_pad", "ecnn_reduce_mean"}}
CHECKED = list(KERNELS)


def _every_int8_value(shape) -> np.ndarray:
    x = make_inputs(shape, n=6, seed=2)
    x[4] = np.arange(-128, 128).reshape(-1)[np.arange(x[4].size) % 256].reshape(shape)
    return x


@pytest.mark.parametrize("name", CHECKED)
def test_ops_bit_exact_with_tflm_layer_by_layer(models, name, tmp_path):
    tfl, ops = models[name]
    graph = read_tflite(tfl)
    assert ops <= set(graph.op_names()), f"the converter no longer emits {ops - set(graph.op_names())}"
    shape = tuple(graph.tensors[graph.inputs[0]].shape[1:])
    x = _every_int8_value(shape)
    y, info = engine_outputs(tfl, x, tmp_path)
    ref = run_tflm(tfl, x).reshape(len(x), -1)
    bad = np.nonzero(np.any(y != ref, axis=1))[0]
    assert bad.size == 0, f"{name}: sample {bad[0]} engine {y[bad[0]][:12]} tflm {ref[bad[0]][:12]}"
    # every intermediate tensor too, on the sample holding all 256 int8 values (each table's whole domain)
    (tmp_path / "firmware").mkdir()
    (tmp_path / "engine").rename(tmp_path / "firmware" / "engine")
    (tmp_path / "model_int8.tflite").write_bytes(tfl)
    assert first_differing_layer(tmp_path, 4, x) is None
    assert KERNELS[name] <= {o["kernel"] for o in info.ops}


def test_broadcast_shapes_merge_and_refuse():
    # squeeze-and-excite: H and W merge into one dimension, C is the contiguous run
    assert broadcast_dims([(1, 6, 5, 8), (1, 1, 1, 8)], (1, 6, 5, 8)) == [(30, [8, 0]), (8, [1, 1])]
    assert broadcast_dims([(3, 1, 5), (4, 1)], (3, 4, 5)) == [(3, [5, 0]), (4, [0, 1]), (5, [1, 0])]
    assert broadcast_dims([(2, 3), (2, 3)], (2, 3)) == [(6, [1, 1])]
    assert broadcast_dims([(3, 2), (3,)], (3, 2)) is None


def test_resize_indices_follow_tflm():
    assert resize_indices(4, 8, False, False) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert resize_indices(3, 5, True, False) == [0, 1, 1, 2, 2]          # align corners: halves round up
    assert resize_indices(2, 4, False, True) == [0, 0, 1, 1]             # half-pixel centers


def test_ops_doc_prints_each_rule():
    doc = supported_ops_doc()
    assert "- `MUL`: element-wise multiplication with numpy broadcasting" in doc
    assert "The operand shapes broadcast to the output shape" in doc
    assert "`HARD_SWISH`" in doc and "`STRIDED_SLICE`" in doc and "`PADV2`" in doc


@pytest.mark.parametrize("cpu", ["cortex-m0plus", "cortex-m4", "cortex-m55"])
def test_squeeze_excite_block_bit_exact_on_each_core(models, cpu, tmp_path_factory):
    from deploy.verify.qemu import verify_qemu
    from toolkit.targets import TARGETS

    out = tmp_path_factory.getbasetemp() / "se_qemu"
    if not (out / "golden.npz").is_file():
        tfl, _ = models["squeeze_excite"]
        out.mkdir(exist_ok=True)
        (out / "model_int8.tflite").write_bytes(tfl)
        x = _every_int8_value((5, 6, 3))
        ref = run_tflm(tfl, x).reshape(len(x), -1)
        np.savez(out / "golden.npz", inputs_int8=x, outputs_int8=ref)
        generate_engine(tfl, out / "firmware" / "engine")
    r = verify_qemu(out, TARGETS[cpu])
    assert r["samples"] == 6 and r["bit_exact"] == 1.0, r.get("first_mismatch")


def test_refused_op_falls_back_to_tflm(models, tmp_path):
    """A model with an op the engine has no kernel for still builds: firmware/tflm, the layer and reason named."""
    tfl, _ = models["fallback"]
    model = tmp_path / "maximum.tflite"
    model.write_bytes(tfl)
    out = tmp_path / "out"
    r = run_cli("build", "--from-model", model, "--target", "cortex-m", "--verify", "host", "--out", out)
    assert r.returncode == 0, r.stderr
    rep = json.loads((out / "report.json").read_text())
    refused = rep["memory"]["engine_refused"]
    assert "layer maximum_1 (MAXIMUM)" in refused and "no kernel for MAXIMUM" in refused
    assert rep["deploy_route"] == "tflm"
    assert (out / "firmware" / "tflm" / "model_data.c").is_file()
    assert not (out / "firmware" / "engine").exists() and not (out / "verify.json").exists()
    assert "TFLM fallback: not verified" in r.stdout and "layer maximum_1 (MAXIMUM)" in r.stdout
    assert "Engine: not planned" in (out / "report.md").read_text()


FLOAT_RUNNER = r"""
#include <stdio.h>
#include "edgecnn_model.h"
int main(int argc, char **argv)
{
    static ecnn_input_t in[ECNN_INPUT_SIZE];
    static ecnn_output_t out[ECNN_OUTPUT_SIZE];
    FILE *fi = fopen(argv[1], "rb"), *fo = fopen(argv[2], "wb");
    (void)argc;
    if (!fi || !fo || ecnn_init() != 0) return 1;
    while (fread(in, sizeof in[0], ECNN_INPUT_SIZE, fi) == ECNN_INPUT_SIZE) {
        if (ecnn_run(in, out) != 0 || fwrite(out, sizeof out[0], ECNN_OUTPUT_SIZE, fo) != ECNN_OUTPUT_SIZE) return 2;
    }
    fclose(fi);
    return fclose(fo) != 0;
}
"""


def _float_io_tflite() -> bytes:
    """TensorFlow's converter with its default float32 input and output around a full-integer core (no
    inference_input_type / inference_output_type int8), as many users' models come."""
    import keras
    from keras import layers

    from deploy.convert.quantize import to_int8_tflite

    keras.utils.set_random_seed(7)
    inp = keras.Input((6, 5, 2))
    x = layers.Dense(6, activation="hard_swish")(layers.Flatten()(inp))
    m = keras.Model(inp, layers.Dense(4)(x))
    return to_int8_tflite(m, np.random.RandomState(3).randn(16, 6, 5, 2).astype(np.float32) * 2, float_io=True)


def test_float_input_and_output_bit_exact_with_tflm(tmp_path):
    """QUANTIZE at the model's float input and DEQUANTIZE at its float output run in ecnn_run; its float32 outputs
    are TFLM's bit for bit, on inputs that land exactly halfway between two int8 steps (rounding away from zero),
    outside the int8 range, and the signed zeros."""
    import subprocess

    from deploy.verify.host import CFLAGS, SANITIZE

    tfl = _float_io_tflite()
    g = read_tflite(tfl)
    fin, fout = g.tensors[g.inputs[0]], g.tensors[g.outputs[0]]
    assert (fin.dtype, fout.dtype) == ("float32", "float32") and {"QUANTIZE", "DEQUANTIZE"} <= set(g.op_names())
    info = generate_engine(tfl, tmp_path / "engine")
    assert (info.input_type, info.output_type) == ("float32", "float32")
    assert {o["op"] for o in info.ops}.isdisjoint({"QUANTIZE", "DEQUANTIZE"})  # ecnn_run does both
    header = (tmp_path / "engine" / "edgecnn_model.h").read_text()
    assert "typedef float ecnn_input_t;" in header and "typedef float ecnn_output_t;" in header
    (tmp_path / "runner.c").write_text(FLOAT_RUNNER)
    exe = tmp_path / "run"
    sources = sorted(map(str, (tmp_path / "engine").glob("*.c")))
    r = subprocess.run(["gcc", *CFLAGS, *SANITIZE, "-I", str(tmp_path / "engine"), *sources, str(tmp_path / "runner.c"),
                        "-o", str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    q_in = next(op for op in g.operators if op.op == "QUANTIZE")
    scale = np.float32(g.tensors[q_in.outputs[0]].quant.scale[0])
    rng = np.random.RandomState(5)
    x = (rng.randn(8, *fin.shape[1:]) * 2).astype(np.float32)
    x[0] = (np.arange(x[0].size).reshape(x[0].shape) % 300 - 150 + 0.5).astype(np.float32) * scale  # halfway
    x[1] = np.where(rng.rand(*x[1].shape) < 0.5, -1e6, 1e6)                                       # far outside
    x[2] = 0.0
    x[3] = -0.0
    x.tofile(tmp_path / "in.bin")
    subprocess.run([str(exe), str(tmp_path / "in.bin"), str(tmp_path / "out.bin")], check=True)
    y = np.fromfile(tmp_path / "out.bin", dtype=np.float32).reshape(len(x), -1)
    ref = run_tflm(tfl, x).reshape(len(x), -1)
    assert ref.dtype == np.float32
    assert np.array_equal(y.view(np.uint32), ref.view(np.uint32)), f"engine {y[:2]} tflm {ref[:2]}"


def test_concatenation_of_differently_quantized_inputs_refused_as_tflm_does():
    """TFLM's int8 CONCATENATION refuses inputs whose scale differs from the output's (Prepare, it does not
    requantize); the engine refuses the same model, names the layer and says TFLM refuses it too."""
    import flatbuffers
    import keras
    from keras import layers
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    from deploy.engine.codegen import engine_supports
    from toolkit.errors import ModelError

    keras.utils.set_random_seed(2)
    inp = keras.Input((4, 4, 2))
    tfl = quantize(keras.Model(inp, layers.Concatenate()([layers.Conv2D(3, 1)(inp), layers.Conv2D(2, 1)(inp)])),
                   seed=1)
    assert engine_supports(tfl)[0]  # as converted: one quantization for all
    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(tfl, 0))
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in m.operatorCodes]
    cat = next(op for op in m.subgraphs[0].operators if codes[op.opcodeIndex] == schema.BuiltinOperator.CONCATENATION)
    q = m.subgraphs[0].tensors[cat.inputs[0]].quantization
    q.scale = [q.scale[0] * 2]  # the first branch's conv now writes at twice the scale
    b = flatbuffers.Builder(0)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    mixed = bytes(b.Output())
    ok, why = engine_supports(mixed)
    assert not ok and "(CONCATENATION)" in why and "different quantization" in why and "TFLM" in why
    with pytest.raises(ModelError, match="concatenation.cc.*failed to prepare"):
        run_tflm(mixed, np.zeros((1, 4, 4, 2), np.int8))


def test_float_io_tflite_builds_without_a_data_set(tmp_path):
    """`edgecnn build --from-model` a float32-I/O .tflite, no data set: golden inputs go to TFLM as the floats its
    QUANTIZE maps back to them, its float outputs back to the int8 core's; the engine (ecnn_run with float types)
    verifies bit-exact on the int8 core."""
    model = tmp_path / "float_io.tflite"
    model.write_bytes(_float_io_tflite())
    out = tmp_path / "out"
    r = run_cli("build", "--from-model", model, "--target", "cortex-m4", "--verify", "host", "--out", out)
    assert r.returncode == 0, r.stderr
    rep = json.loads((out / "report.json").read_text())
    assert rep.get("deploy_route", "engine") == "engine" and {"QUANTIZE", "DEQUANTIZE"} <= set(rep["model"]["ops"])
    v = json.loads((out / "verify.json").read_text())
    # desktop LiteRT ran the float file too; its reference HARD_SWISH is 1 LSB off TFLM's on a few inputs (the same
    # with int8 I/O), so it agrees to 1 LSB here, not bit for bit
    assert rep["desktop_check"]["samples"] == v["samples"] and rep["desktop_check"]["max_abs_diff_lsb"] <= 1
    assert v["bit_exact"] == 1.0 and v["samples"] > 0
    assert "typedef float ecnn_output_t;" in (out / "firmware" / "engine" / "edgecnn_model.h").read_text()


@pytest.mark.parametrize("seed", [1058, 1181])
def test_fuzzed_one_byte_tensors_plan_a_small_arena(seed, tmp_path):
    """Fuzzer seeds whose 1-byte tensors (a MEAN to 1x1x1x1, its LOGISTIC) gave the planner an unbounded in-place
    offset as a candidate: the arena came out 2^61 bytes and the host link failed; now small and bit-exact."""
    from engine_support import assert_bit_exact
    from test_codegen import random_model

    scale = float(np.random.RandomState(seed).uniform(0.3, 3))
    tfl = quantize(random_model(seed, more_ops=True), seed=100 + seed, scale=scale)
    info = assert_bit_exact(tfl, tmp_path, n=8, seed=seed)
    assert info.arena_bytes < 1024
