"""toolkit.artifacts, deploy.engine.description and deploy.devices.toolchain: a build folder read through one loader, the
engine described as data (round trip, refusals), compiler flags taken from each target's own data."""
from __future__ import annotations

import json

import numpy as np
import pytest

from deploy.engine.description import EngineDescription, TensorInfo, read_description, write_description
from deploy.devices.toolchain import firmware_cflags, object_cflags, parse_size_output
from toolkit.artifacts import load_build
from toolkit.errors import EdgecnnError, ModelError, OutputError
from toolkit.targets import TARGETS, get_target

DESC = EngineDescription(
    input=TensorInfo((1, 8, 8, 1), 64, "int8", 0.0625, -128), output=TensorInfo((1, 3), 3, "int8", 0.00390625, -128),
    num_classes=3, labels=("a", "b", "c"), arena_bytes=512, scratch_bytes=0, peak_ram_bytes=512, weight_bytes=300,
    const_bytes=420, ops=("CONV_2D", "FULLY_CONNECTED"), kernels=("ecnn_conv2d", "ecnn_dense"),
    files=("ecnn_common.c", "edgecnn_model.c", "edgecnn_model.h"), target="cortex-m7", steps=2)


def test_engine_description_round_trips_byte_identically(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = write_description(DESC, tmp_path / "a"), write_description(DESC, tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()
    assert read_description(tmp_path / "a") == DESC
    assert json.loads(a.read_text())["input"]["shape"] == [1, 8, 8, 1]


@pytest.mark.parametrize("text", ["[1, 2]", "{\"format\": 99}", "{not json", "{\"format\": 1}"])
def test_a_bad_engine_json_is_one_clear_error(tmp_path, text):
    (tmp_path / "engine.json").write_text(text)
    with pytest.raises(ModelError, match="engine.json"):
        read_description(tmp_path)
    with pytest.raises(ModelError, match="does not exist"):
        read_description(tmp_path / "nowhere")


def test_load_build_reads_report_engine_and_golden(tmp_path):
    (tmp_path / "report.json").write_text(json.dumps({"target": "cortex-m7", "model": {"macs": 1234}}))
    (tmp_path / "firmware" / "engine").mkdir(parents=True)
    write_description(DESC, tmp_path / "firmware" / "engine")
    np.savez(tmp_path / "golden.npz", inputs_int8=np.zeros((4, 64), np.int8), outputs_int8=np.zeros((4, 3), np.int8))
    b = load_build(tmp_path)
    assert b.target is TARGETS["cortex-m7"] and b.mcu_target is TARGETS["cortex-m7"] and b.macs == 1234
    assert b.engine == DESC and len(b.golden["inputs_int8"]) == 4 and b.out.is_absolute()


def test_load_build_without_report_verifies_on_cortex_m4_and_report_needs_one(tmp_path):
    b = load_build(tmp_path)
    assert b.target.name == "cortex-m4" and b.engine is None and b.golden is None and b.report == {}
    (tmp_path / "report.json").write_text(json.dumps({"target": "host"}))
    assert load_build(tmp_path).mcu_target.name == "cortex-m4"
    with pytest.raises(OutputError, match="not a folder"):
        load_build(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EdgecnnError, match="has no report.json"):
        load_build(tmp_path / "empty", need_report=True)
    (tmp_path / "report.json").write_text("{broken")
    with pytest.raises(OutputError, match="not valid JSON"):
        load_build(tmp_path, need_report=True)


def test_compiler_flags_come_from_each_targets_data():
    for name, t in TARGETS.items():
        if t.kind == "mcu":
            assert firmware_cflags(t)[:len(t.cflags)] == list(t.cflags) and "-O2" in firmware_cflags(t)
            assert object_cflags(t)[0] == f"-mcpu={name}"
    assert object_cflags(get_target("host"))[0] == "-mcpu=cortex-m4"  # no CPU of its own: measured as the M4
    assert object_cflags(get_target("nucleo-f446re"))[:len(TARGETS["cortex-m4"].cflags)] == \
        list(TARGETS["cortex-m4"].cflags)


def test_parse_size_output():
    text = ("   text\t   data\t    bss\t    dec\t    hex\tfilename\n"
            "    120\t      4\t     16\t    140\t     8c\ta.o\n")
    assert parse_size_output(text) == [dict(text=120, data=4, bss=16, filename="a.o")]
