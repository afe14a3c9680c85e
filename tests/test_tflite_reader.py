"""The .tflite reader: agrees with the schema, reads our models, and turns every malformed file into ModelFileError."""
import random

import numpy as np
import pytest

from deploy.engine.tflite_reader import BUILTIN_OPS, read_tflite
from toolkit.errors import ModelFileError


@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    """The default model's architecture (compact_cnn on 8x8x1 digits), quantized untrained with inputs in [0, 1]
    as the digits are: the reader needs a real model's structure, not a trained one's accuracy."""
    import keras

    from deploy.convert.quantize import to_int8_tflite
    from models import build_model

    keras.utils.set_random_seed(0)
    calibration = np.random.RandomState(0).rand(32, 8, 8, 1).astype(np.float32)
    return to_int8_tflite(build_model("compact_cnn", (8, 8, 1), 10), calibration)


def test_op_table_matches_the_tflite_schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    for name, code in vars(schema.BuiltinOperator).items():
        if not name.startswith("_") and code < len(BUILTIN_OPS):
            assert BUILTIN_OPS[code] == name


def test_reads_the_built_model(model_bytes):
    g = read_tflite(model_bytes)
    assert [o.op for o in g.operators][:1] == ["CONV_2D"]
    assert g.tensors[g.inputs[0]].dtype == "int8" and g.tensors[g.outputs[0]].dtype == "int8"
    conv = g.operators[0]
    assert conv.options["padding"] == "SAME" and conv.options["stride_w"] == 1
    w = g.tensors[conv.inputs[1]]
    assert w.quant.per_channel and w.quant.scale.size == w.shape[0]
    assert w.array().dtype == np.int8 and w.array().shape == w.shape


@pytest.mark.parametrize("data", [b"", b"TFL3", b"\x00" * 7, b"\x10\x00\x00\x00TFL3" + b"\xff" * 8,
                                  bytes(range(256)) * 4])
def test_garbage_is_a_model_file_error(data):
    with pytest.raises(ModelFileError):
        read_tflite(data)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        read_tflite(tmp_path / "nope.tflite")


def test_seeded_mutations_parse_or_raise_our_error(model_bytes):
    """A short seeded fuzz: truncations and byte flips of a real model never escape as another exception."""
    data = model_bytes
    rng = random.Random(1234)
    outcomes = {"parsed": 0, "rejected": 0}
    for i in range(300):
        buf = bytearray(data)
        if i % 3 == 0:
            buf = buf[: rng.randrange(len(buf))]
        else:
            for _ in range(rng.randint(1, 8)):
                pos = rng.randrange(min(len(buf), 4096)) if i % 2 else rng.randrange(len(buf))
                buf[pos] = rng.randrange(256)
        try:
            read_tflite(bytes(buf))
            outcomes["parsed"] += 1
        except ModelFileError:
            outcomes["rejected"] += 1
    assert outcomes["rejected"] > 0 and sum(outcomes.values()) == 300


def test_hypothesis_mutations_parse_or_raise_and_plan_or_refuse(model_bytes):
    """The short seeded run of benchmarks/fuzz_reader.py: the reader and then the code generator."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from deploy.engine.codegen import plan_engine
    from toolkit.errors import EdgecnnError

    data = model_bytes

    @settings(max_examples=300, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)), min_size=1, max_size=6),
           st.integers(0, len(data)))
    def check(flips, cut):
        buf = bytearray(data[:max(cut, 8)])
        for pos, val in flips:
            if pos < len(buf):
                buf[pos] = val
        try:
            graph = read_tflite(bytes(buf))
        except ModelFileError:
            return
        try:
            plan_engine(graph)
        except EdgecnnError:
            pass

    check()


def test_regression_out_of_range_constants_are_edgecnn_errors(model_bytes):
    """Found by benchmarks/fuzz_reader.py: a corrupt zero point or bias made a folded constant leave int32
    and escape as ValueError from the C formatter; the model must plan or be refused with our own error."""
    import struct

    from deploy.engine.codegen import plan_engine
    from toolkit.errors import EdgecnnError

    data = model_bytes
    g = read_tflite(data)
    bias = g.tensors[g.operators[0].inputs[2]]
    pos = data.find(bias.data)
    patched = [data[:pos] + struct.pack("<i", v) + data[pos + 4:] for v in (2 ** 31 - 1, -(2 ** 31))]
    patched += [data.replace(struct.pack("<q", -128), struct.pack("<q", v)) for v in (-(2 ** 33), 2 ** 40)]
    refused = 0
    for model in patched:
        try:
            plan_engine(read_tflite(model))
        except EdgecnnError:
            refused += 1
    assert refused >= 2  # the huge zero points cannot be planned
