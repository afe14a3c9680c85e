"""End to end through the CLI: the artifacts of a build, the three conv kinds, --from-model, and bad input."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import run_cli

REPORT_KEYS = {
    "model": {"name", "conv", "params", "macs", "input_shape", "classes"},
    "memory": {"weights_bytes", "flash_bytes", "peak_ram_bytes", "tflm_arena_bytes", "tflm_arena_head_bytes",
               "tflm_arena_tail_bytes"},
    "accuracy": {"float", "int8"},
}
LAYER_KEYS = {"name", "op", "params", "macs", "weight_bytes", "output_bytes", "reuse", "fc_equivalent_params",
              "unshared_equivalent_params"}


def test_build_writes_every_artifact(build_dir):
    for name in ("model.keras", "model_float.tflite", "model_int8.tflite", "model.onnx", "report.json",
                 "report.md", "memory.png", "golden.npz", "firmware/tflm/model_data.c",
                 "firmware/tflm/model_data.h", "firmware/tflm/op_resolver.h"):
        assert (build_dir / name).is_file() and (build_dir / name).stat().st_size > 0, name
    assert (build_dir / "memory.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(build_dir.parent.glob(".*partial*")), "the staging folder was left behind"


def test_report_keys_and_numbers(build_dir):
    rep = json.loads((build_dir / "report.json").read_text())
    for section, keys in REPORT_KEYS.items():
        assert keys <= set(rep[section]), section
    assert all(LAYER_KEYS <= set(layer) for layer in rep["layers"])
    first = rep["layers"][0]  # 3x3 conv, 1 -> 16 channels on 8x8, SAME: each weight used at 64 positions
    assert first["op"] == "CONV_2D" and first["params"] == 3 * 3 * 1 * 16 + 16
    assert first["macs"] == 8 * 8 * 16 * 9 and first["reuse"] == 64
    assert first["fc_equivalent_params"] == 64 * 1024 + 1024
    assert first["unshared_equivalent_params"] == (144 + 16) * 64
    assert rep["model"]["params"] == sum(layer["params"] for layer in rep["layers"])
    mem = rep["memory"]
    assert mem["tflm_arena_bytes"] == mem["tflm_arena_head_bytes"] + mem["tflm_arena_tail_bytes"] > 0
    assert 0 <= rep["accuracy"]["int8"] <= 1 and rep["desktop_check"]["samples"] > 0
    assert "| conv_2d_0 | CONV_2D |" in (build_dir / "report.md").read_text()


def test_golden_holds_tflm_reference(build_dir):
    from deploy.convert.tflm import run_tflm

    g = np.load(build_dir / "golden.npz")
    assert g["inputs_int8"].dtype == np.int8 and g["outputs_int8"].shape == (len(g["labels"]), 10)
    again = run_tflm((build_dir / "model_int8.tflite").read_bytes(), g["inputs_int8"][:5])
    np.testing.assert_array_equal(again.reshape(5, -1), g["outputs_int8"][:5])


@pytest.mark.toolchain
@pytest.mark.parametrize("cc, flags", [("gcc", []), ("arm-none-eabi-gcc", ["-mcpu=cortex-m4", "-mthumb"])])
def test_tflm_arrays_compile(build_dir, tmp_path, cc, flags):
    src = build_dir / "firmware" / "tflm"
    r = subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", *flags, "-c",
                        str(src / "model_data.c"), "-I", str(src), "-o", str(tmp_path / "m.o")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("conv", ["depthwise", "grouped"])
def test_other_conv_kinds_build(tmp_path, conv):
    out = tmp_path / conv
    r = run_cli("build", "--target", "cortex-m", "--conv", conv, "--epochs", "1", "--out", out)
    assert r.returncode == 0, r.stderr
    rep = json.loads((out / "report.json").read_text())
    ops = {layer["op"] for layer in rep["layers"]}
    assert rep["model"]["conv"] == conv and (out / "model.onnx").is_file()
    assert ("DEPTHWISE_CONV_2D" in ops) == (conv == "depthwise")
    assert "ONNX matches Keras" in r.stdout


def test_from_model_keras_and_tflite(build_dir, tmp_path):
    r = run_cli("build", "--target", "cortex-m", "--from-model", build_dir / "model.keras", "--out", tmp_path / "k")
    assert r.returncode == 0, r.stderr
    assert "train     skipped: --from-model" in r.stdout
    assert "android   skipped: --target cortex-m" in r.stdout and "verify    skipped: --verify none" in r.stdout
    for stage in ("train", "android", "verify"):  # stages that did not run are not reported as done
        assert f"{stage:<9} done" not in r.stdout, r.stdout
    r = run_cli("build", "--target", "cortex-m", "--from-model", build_dir / "model_int8.tflite",
                "--dataset", "digits", "--out", tmp_path / "t")  # an explicit data set: accuracy measured on it
    assert r.returncode == 0, r.stderr
    assert "quantize  skipped: the --from-model .tflite is already int8" in r.stdout
    assert "edgecnn build: model_int8.tflite on digits for cortex-m" in r.stdout
    assert "None" not in r.stdout and "float: not measured, model_int8.tflite holds only the int8 model" in r.stdout
    a = json.loads((build_dir / "report.json").read_text())
    b = json.loads((tmp_path / "t" / "report.json").read_text())
    assert a["accuracy"]["int8"] == b["accuracy"]["int8"] and b["accuracy"]["float"] is None
    assert b["golden_inputs"]["source"] == "dataset" and b["golden_inputs"]["labelled"]


def test_report_command(build_dir):
    r = run_cli("report", build_dir)
    assert r.returncode == 0 and "tflm_arena_bytes" in r.stdout
    r = run_cli("report", build_dir / "model_int8.tflite")
    assert r.returncode == 0 and "CONV_2D" in r.stdout, r.stderr


def test_list_commands():
    for cmd, word in (("targets", "cortex-m33"), ("datasets", "digits"), ("models", "compact_cnn"),
                      ("ops", "DEPTHWISE_CONV_2D")):
        r = run_cli(cmd)
        assert r.returncode == 0 and word in r.stdout, r.stderr


def _bad_npz(path):
    np.savez(path, x_train=np.zeros((30, 4, 4)), y_train=np.zeros(30), x_test=np.zeros((5, 4, 4)), y_test=np.zeros(5))
    return path


@pytest.mark.parametrize("args, words", [
    (["--target", "cortex-m99"], "'cortex-m99' is not one of 'cortex-m'"),
    (["--target", "cortex-m", "--model", "vgg16"], "unknown model 'vgg16'"),
    (["--target", "cortex-m", "--dataset", "imagenet"], "unknown data set 'imagenet'"),
    (["--target", "cortex-m", "--epochs", "0"], "--epochs must be a positive integer"),
    (["--target", "cortex-m", "--conv", "wide"], "'wide' is not one of 'standard', 'depthwise', 'grouped'"),
    (["--target", "cortex-m", "--dataset", "ONECLASS"], "only one class"),
    (["--target", "cortex-m", "--from-model", "JUNK.keras"], "cannot load Keras model"),
    (["--target", "cortex-m", "--from-model", "JUNK.tflite"], "not a valid .tflite model"),
    (["--target", "cortex-m", "--from-model", "missing.keras"], "does not exist"),
])
def test_bad_input_is_one_clear_line(tmp_path, args, words):
    args = [str(_bad_npz(tmp_path / "one.npz")) if a == "ONECLASS" else a for a in args]
    for junk in ("JUNK.keras", "JUNK.tflite"):
        if junk in args:
            (tmp_path / junk).write_bytes(b"\x00garbage" * 10)
            args = [str(tmp_path / junk) if a == junk else a for a in args]
    out = tmp_path / "out"
    r = run_cli("build", *args, "--epochs" if "--epochs" not in args else "--seed", "1", "--out", out)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr and words in r.stderr, r.stderr
    assert r.stderr.strip().count("\n") == 0, r.stderr
    assert not out.exists() and not list(tmp_path.glob(".out.partial*"))


def test_existing_output_folder_is_kept(build_dir, tmp_path):
    out = tmp_path / "kept"
    shutil.copytree(build_dir, out)
    before = sorted(p.name for p in out.iterdir())
    r = run_cli("build", "--target", "cortex-m", "--epochs", "1", "--out", out)
    assert r.returncode != 0 and "already exists" in r.stderr and "--force" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == before


def test_unwritable_output_folder(tmp_path):
    """A parent that cannot hold a folder (here a plain file; chmod does not stop root) is a clear error."""
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    r = run_cli("build", "--target", "cortex-m", "--epochs", "1", "--out", blocker / "out")
    assert r.returncode != 0 and "cannot write the output folder" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and blocker.read_text() == "x"


def test_every_command_has_an_example_and_build_shows_defaults():
    from click.testing import CliRunner

    from toolkit.cli import cli

    runner = CliRunner()
    for name in cli.commands:
        r = runner.invoke(cli, [name, "--help"])
        text = " ".join(r.output.split("Options:")[0].split())
        assert r.exit_code == 0 and f"edgecnn {name}" in text, (name, r.output)
    r = runner.invoke(cli, ["build", "--help"])
    for default in ("[default: digits]", "[default: compact_cnn]", "[default: 60]", "[default: none]"):
        assert default in r.output, r.output


def test_models_lists_without_tensorflow():
    """`edgecnn models` used to import TensorFlow to count parameters (15 s); counts are now --params."""
    code = ("import sys; from click.testing import CliRunner; from toolkit.cli import cli; "
            "r = CliRunner().invoke(cli, ['models']); assert r.exit_code == 0, r.output; "
            "assert 'ds_cnn' in r.output and 'compact_cnn' in r.output; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow was imported'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    r = run_cli("models", "--params", "--input-shape", "8,8,1")
    assert r.returncode == 0 and "params for (8, 8, 1)" in r.stdout, r.stderr


def test_chance_level_accuracy_is_a_warning():
    """A model at chance (0.33 on 3 classes) used to be built and reported bit-exact without a word."""
    from types import SimpleNamespace

    from toolkit.stages import check_between_stages

    y = np.array([0, 1, 2] * 20)
    for int8_acc, warned in ((0.35, True), (0.30, True), (0.90, False)):
        ctx = SimpleNamespace(accuracy={"float": None, "int8": int8_acc}, notes=[],
                              data=SimpleNamespace(y_test=y, num_classes=3))
        check_between_stages(ctx, "export")
        assert any("of chance (0.333" in n and "has not learned" in n for n in ctx.notes) == warned, ctx.notes
    ctx = SimpleNamespace(accuracy={"float": None, "int8": 0.85}, notes=[],
                          data=SimpleNamespace(y_test=np.array([0] * 90 + [1] * 10), num_classes=2))
    check_between_stages(ctx, "export")  # 0.85 is below always-answer-0 (0.90): also chance level
    assert any("of chance (0.900" in n for n in ctx.notes), ctx.notes
