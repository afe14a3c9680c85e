"""Tests for toolkit/runtime.py and its `edgecnn-run` command: .npy and PNG inputs, bad inputs, no TensorFlow."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from toolkit import runtime
from toolkit.runtime import Classifier, classify, main

REPO = Path(__file__).resolve().parent.parent
MODELS = ("model_float.tflite", "model_int8_float_io.tflite", "model_int8.tflite", "model.onnx",
          "model_int8.onnx", "model.ort", "model_int8.ort")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A bundle from a briefly trained digits model, and test inputs on which Keras is confident."""
    from deploy.mobile.android import write_android_bundle
    from models import build_model
    from toolkit.config import BuildConfig
    from toolkit.datasets import load_dataset
    from toolkit.training import seed_everything, train

    data = load_dataset("digits", seed=0)
    seed_everything(0)
    model = build_model("compact_cnn", data.input_shape, data.num_classes)
    train(model, data, BuildConfig(epochs=3), progress=False)
    root = tmp_path_factory.mktemp("runtime")
    bundle = root / "android"
    write_android_bundle(model, data, bundle, "digits_cnn")
    probs = model.predict(data.x_test, verbose=0)
    # for three different classes, the test image Keras is most sure of
    confident = [max((i for i in range(len(probs)) if data.y_test[i] == c == probs[i].argmax()),
                     key=lambda i: probs[i, c]) for c in (0, 3, 7)]
    inputs = root / "inputs"
    inputs.mkdir()
    for k, i in enumerate(confident):
        np.save(inputs / f"d{k}.npy", data.x_test[i])
        pixels = np.round(data.x_test[i][..., 0] * data.pixel_scale).astype(np.uint8)  # raw 0..16 pixels
        Image.fromarray(pixels, mode="L").save(inputs / f"d{k}.png")
    return {"bundle": bundle, "inputs": inputs, "data": data, "idx": confident,
            "expected": [str(int(probs[i].argmax())) for i in confident], "probs": probs[confident]}


def _run_cli(args, capsys):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def _bad(args, capsys, *needles):
    rc, out, err = _run_cli(args, capsys)
    assert rc == 2, (rc, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgecnn-run: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# ---------------------------------------------------------------- classifying

@pytest.mark.parametrize("model_file", MODELS)
def test_npy_and_png_give_the_keras_class_in_every_model_file(env, model_file, capsys):
    model = env["bundle"] / model_file
    files = [env["inputs"] / f"d{k}.{ext}" for k in range(3) for ext in ("npy", "png")]
    rc, out, err = _run_cli([model, *files, "--json", "--top", "2"], capsys)
    assert rc == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["input"] for r in rows] == [str(f) for f in files]
    for r, expected in zip(rows, [e for e in env["expected"] for _ in range(2)]):
        assert r["top"][0]["label"] == expected and len(r["top"]) == 2
        assert r["latency_ms"] > 0
    for a, b in zip(rows[::2], rows[1::2]):  # the PNG holds the same raw pixels as the .npy's model input
        assert a["top"] == b["top"]


def test_text_output_and_float_scores_match_keras(env, capsys):
    rc, out, _ = _run_cli([env["bundle"] / "model_float.tflite", env["inputs"] / "d0.npy"], capsys)
    assert rc == 0
    source, ranked, latency = out.strip().split("\t")
    assert source.endswith("d0.npy") and latency.endswith(" ms")
    label, score = ranked.split("  ")[0].split(" ")
    assert label == env["expected"][0]
    assert float(score) == pytest.approx(float(env["probs"][0].max()), abs=1e-4)


def test_int8_io_model_is_quantized_with_its_own_parameters(env):
    q = runtime.Model(env["bundle"] / "model_int8.tflite")
    f = runtime.Model(env["bundle"] / "model_int8_float_io.tflite")
    assert q.input_dtype == np.int8 and q.input_quant is not None and f.input_quant is None
    xs = env["data"].x_test[:50]
    np.testing.assert_allclose(q.predict(xs), f.predict(xs), atol=q.output_quant[0] * 1.01)


def test_classify_api_batches_arrays_and_integer_pixels(env, tmp_path):
    data = env["data"]
    batch = data.x_test[:4]
    np.save(tmp_path / "batch.npy", batch)
    np.save(tmp_path / "raw.npy", np.round(batch[0] * 16).astype(np.uint8))  # raw pixels, divided by 16
    results = classify(env["bundle"] / "model_int8.tflite", [tmp_path / "batch.npy", tmp_path / "raw.npy", batch[1]],
                       top=3)
    assert [r.source for r in results] == [f"{tmp_path / 'batch.npy'}[{i}]" for i in range(4)] + [
        str(tmp_path / "raw.npy"), "array"]
    assert results[4].top == results[0].top and results[5].top == results[1].top
    assert all(len(r.top) == 3 and r.top[0].score >= r.top[1].score for r in results)


def test_labels_from_file_and_defaults_without_metadata(env, tmp_path, capsys):
    lone = tmp_path / "lone.tflite"
    shutil.copy(env["bundle"] / "model_float.tflite", lone)
    assert Classifier(lone).labels == [str(i) for i in range(10)]
    names = tmp_path / "names.txt"
    names.write_text("".join(f"digit {i}\n" for i in range(10)))
    rc, out, err = _run_cli([lone, env["inputs"] / "d0.npy", "--labels", names], capsys)
    assert rc == 0 and out.split("\t")[1].startswith(f"digit {env['expected'][0]} ")
    # a PNG without metadata: 8-bit pixels are assumed, and the user is told so
    rc, out, err = _run_cli([lone, env["inputs"] / "d0.png"], capsys)
    assert rc == 0 and "assuming 8-bit pixels" in err
    # --meta points at the right normalisation
    rc, out, err = _run_cli([lone, env["inputs"] / "d0.png", "--meta", env["bundle"] / "model_meta.json"], capsys)
    assert rc == 0 and err == "" and out.split("\t")[1].startswith(env["expected"][0] + " ")


def test_images_of_another_size_are_resized_by_area_average_and_noted_once(env, tmp_path, capsys):
    model = env["bundle"] / "model_int8.tflite"
    small = [env["inputs"] / f"d{k}.png" for k in range(3)]
    big = []
    for k, path in enumerate(small):  # every pixel becomes an 8x8 block: area averaging gives the 8x8 image back
        pixels = np.asarray(Image.open(path))
        big.append(tmp_path / f"big{k}.png")
        Image.fromarray(np.kron(pixels, np.ones((8, 8), np.uint8)), mode="L").save(big[-1])
    rc, out, err = _run_cli([model, *small, *big, "--json"], capsys)
    assert rc == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["input"] for r in rows] == [str(f) for f in small + big]
    for a, b in zip(rows[:3], rows[3:]):
        assert a["top"] == b["top"]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgecnn-run: note: "), err
    assert "big0.png" in lines[0] and "64x64 -> 8x8" in lines[0] and "area average" in lines[0]
    # shrinking one side and enlarging the other works too, and is noted once per run
    Image.fromarray(np.full((5, 12), 9, np.uint8), mode="L").save(tmp_path / "odd.png")
    rc, out, err = _run_cli([model, tmp_path / "odd.png", tmp_path / "odd.png"], capsys)
    assert rc == 0 and len(out.splitlines()) == 2, err
    assert len(err.strip().splitlines()) == 1 and "12x5 -> 8x8" in err and "bilinear" in err, err


def test_resize_pixels_averages_in_float_and_names_its_method():
    from toolkit.images import resize_pixels

    checker = (np.indices((16, 16)).sum(axis=0) % 2).astype(np.uint8)  # 0/1: the 2x2 means are 0.5 exactly
    x, method = resize_pixels(Image.fromarray(checker, mode="L"), (8, 8))
    assert x.dtype == np.float32 and x.shape == (8, 8, 1) and method == "area average"
    np.testing.assert_array_equal(x, np.full((8, 8, 1), 0.5, np.float32))  # not rounded to 8 bits
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 10, 20, np.arange(6)[None, :] * 10
    x, method = resize_pixels(Image.fromarray(rgb, mode="RGB"), (3, 2))
    assert x.shape == (2, 3, 3) and method == "area average"
    np.testing.assert_allclose(x[..., 0], 10)
    np.testing.assert_allclose(x[..., 1], 20)
    np.testing.assert_allclose(x[0, :, 2], [5, 25, 45], rtol=1e-6)
    x, method = resize_pixels(Image.fromarray(np.array([[0, 100], [100, 200]], np.uint8), mode="L"), (4, 4))
    assert method == "bilinear" and x.shape == (4, 4, 1)
    assert x[0, 0, 0] == 0 and x[-1, -1, 0] == 200 and 0 < x[1, 1, 0] < 100  # interpolated between corners


# ---------------------------------------------------------------- a Cortex-M build folder (the session build)

def _golden_pngs(build_dir, folder, n=3):
    """8-bit PNGs of the build's first golden inputs (a Cortex-M build has no model_meta.json: pixel / 255)."""
    with np.load(build_dir / "golden.npz") as g:
        xs = g["inputs_float"][:n]
    paths = []
    for i, x in enumerate(xs):
        paths.append(folder / f"g{i}.png")
        Image.fromarray(np.round(x[..., 0] * 255).astype(np.uint8), mode="L").save(paths[-1])
    return paths


def test_build_writes_labels_txt_and_the_runtime_uses_it(build_dir):
    with np.load(build_dir / "golden.npz") as g:
        names = [str(s) for s in g["class_labels"]]
    assert (build_dir / "labels.txt").read_text(encoding="utf-8") == "".join(f"{s}\n" for s in names)
    clf = Classifier(build_dir / "model_int8.tflite")
    assert clf.labels == names and clf.labels_source == str(build_dir / "labels.txt")


def test_labels_from_the_parent_build_folder_or_golden_npz(build_dir, tmp_path, capsys):
    names = [f"digit {i}" for i in range(10)]
    with np.load(build_dir / "golden.npz") as g:
        np.save(tmp_path / "x.npy", g["inputs_float"][0])
    # a model in a sub-folder of a build folder gets the build's labels.txt; --labels still overrides it
    build = tmp_path / "build"
    (build / "copies").mkdir(parents=True)
    shutil.copy(build_dir / "report.json", build / "report.json")
    (build / "labels.txt").write_text("".join(f"{s}\n" for s in names), encoding="utf-8")
    shutil.copy(build_dir / "model_int8.tflite", build / "copies" / "model_int8.tflite")
    rc, out, err = _run_cli([build / "copies" / "model_int8.tflite", tmp_path / "x.npy"], capsys)
    assert rc == 0 and out.split("\t")[1].startswith("digit "), (out, err)
    (tmp_path / "other.txt").write_text("".join(f"class {i}\n" for i in range(10)))
    rc, out, err = _run_cli([build / "copies" / "model_int8.tflite", tmp_path / "x.npy", "--labels",
                             tmp_path / "other.txt"], capsys)
    assert rc == 0 and out.split("\t")[1].startswith("class "), (out, err)
    # the parent is used only when it is a build folder
    plain = tmp_path / "plain"
    (plain / "m").mkdir(parents=True)
    (plain / "labels.txt").write_text("".join(f"{s}\n" for s in names), encoding="utf-8")
    shutil.copy(build_dir / "model_int8.tflite", plain / "m" / "model_int8.tflite")
    assert Classifier(plain / "m" / "model_int8.tflite").labels == [str(i) for i in range(10)]
    # a build folder written before labels.txt existed: golden.npz holds the class names
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(build_dir / "model_int8.tflite", old / "model_int8.tflite")
    np.savez(old / "golden.npz", class_labels=np.array(names))
    clf = Classifier(old / "model_int8.tflite")
    assert clf.labels == names and clf.labels_source == f"{old / 'golden.npz'} (class_labels)"


def test_assumed_pixel_scale_is_noted_once_per_run(build_dir, tmp_path, capsys):
    pngs = _golden_pngs(build_dir, tmp_path)
    np.save(tmp_path / "raw.npy", np.zeros((8, 8), np.uint8))
    rc, out, err = _run_cli([build_dir / "model_int8.tflite", *pngs, tmp_path / "raw.npy"], capsys)
    assert rc == 0 and len(out.splitlines()) == 4, err
    assert err.count("assuming 8-bit pixels") == 1 and len(err.strip().splitlines()) == 1, err
    # a bad image leaves its error line alone, without the note
    Image.fromarray(np.zeros((8, 8, 3), np.uint8), mode="RGB").save(tmp_path / "rgb.png")
    _bad([build_dir / "model_int8.tflite", tmp_path / "rgb.png"], capsys, "rgb.png", "3 channel")


# ---------------------------------------------------------------- bad inputs: one line on stderr, exit code 2

def test_missing_model(env, tmp_path, capsys):
    _bad([tmp_path / "nope.tflite", env["inputs"] / "d0.npy"], capsys, "nope.tflite", "does not exist")


@pytest.mark.parametrize("name,content", [("garbage.tflite", b"not a model" * 20), ("garbage.onnx", b"\x08\x07junk"),
                                          ("garbage.ort", b"junk" * 10), ("empty.tflite", b"")])
def test_corrupt_model(env, tmp_path, capsys, name, content):
    (tmp_path / name).write_bytes(content)
    _bad([tmp_path / name, env["inputs"] / "d0.npy"], capsys, name, "not a valid")


def test_truncated_model(env, tmp_path, capsys):
    data = (env["bundle"] / "model_int8.tflite").read_bytes()
    (tmp_path / "cut.tflite").write_bytes(data[: len(data) // 3])
    _bad([tmp_path / "cut.tflite", env["inputs"] / "d0.npy"], capsys, "cut.tflite")


def test_unknown_model_type(env, tmp_path, capsys):
    (tmp_path / "model.bin").write_bytes(b"x")
    _bad([tmp_path / "model.bin", env["inputs"] / "d0.npy"], capsys, "unknown type", ".tflite")


def test_wrong_image_channels(env, tmp_path, capsys):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8), mode="RGB").save(tmp_path / "rgb.png")
    _bad([env["bundle"] / "model_int8.tflite", tmp_path / "rgb.png"], capsys, "rgb.png", "3 channel", "grayscale")


def test_corrupt_image_and_missing_input(env, tmp_path, capsys):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    _bad([env["bundle"] / "model_int8.tflite", tmp_path / "broken.png"], capsys, "broken.png")
    _bad([env["bundle"] / "model_int8.tflite", tmp_path / "absent.png"], capsys, "absent.png", "does not exist")


def test_wrong_npy_shape(env, tmp_path, capsys):
    np.save(tmp_path / "flat.npy", np.zeros(64, np.float32))
    _bad([env["bundle"] / "model.onnx", tmp_path / "flat.npy"], capsys, "flat.npy", "(64,)", "8x8x1")


def test_label_count_mismatch(env, tmp_path, capsys):
    (tmp_path / "labels.txt").write_text("a\nb\nc\n")
    _bad([env["bundle"] / "model_int8.tflite", env["inputs"] / "d0.npy", "--labels", tmp_path / "labels.txt"],
         capsys, "labels.txt", "3 labels", "10 outputs")


def test_labels_txt_next_to_model_is_checked_too(env, tmp_path, capsys):
    shutil.copy(env["bundle"] / "model.ort", tmp_path / "model.ort")
    (tmp_path / "labels.txt").write_text("only\none\n")
    _bad([tmp_path / "model.ort", env["inputs"] / "d0.npy"], capsys, "2 labels", "10 outputs")


def test_bad_meta_and_options(env, tmp_path, capsys):
    (tmp_path / "meta.json").write_text('{"input_shape": [8, 8], "pixel_scale": 16}')
    _bad([env["bundle"] / "model.onnx", env["inputs"] / "d0.npy", "--meta", tmp_path / "meta.json"], capsys,
         "input_shape")
    _bad([env["bundle"] / "model.onnx", env["inputs"] / "d0.npy", "--top", "0"], capsys, "--top")


# ---------------------------------------------------------------- a real process: exit code, and no TensorFlow

def _subprocess(code_or_args, *, module=False):
    cmd = [sys.executable, "-m", "toolkit.runtime", *map(str, code_or_args)] if module else \
        [sys.executable, "-c", code_or_args]
    envvars = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=envvars, timeout=120)


def test_cli_process_reports_bad_input_with_exit_code_2(env, tmp_path):
    Image.fromarray(np.zeros((9, 9, 3), np.uint8), mode="RGB").save(tmp_path / "odd.png")
    proc = _subprocess([env["bundle"] / "model_int8.tflite", tmp_path / "odd.png"], module=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr and "3 channel" in proc.stderr


def test_runtime_never_imports_tensorflow(env):
    code = f"""
import json, sys
from toolkit.runtime import main
bundle = {str(env["bundle"])!r}
rcs = [main([bundle + "/" + m, {str(env["inputs"] / "d0.png")!r}, {str(env["inputs"] / "d1.npy")!r}])
       for m in ("model_int8.tflite", "model_int8_float_io.tflite", "model.onnx", "model_int8.ort")]
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras", "tf2onnx", "jax"))
print(json.dumps({{"rcs": rcs, "heavy": heavy}}))
"""
    proc = _subprocess(code)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"rcs": [0, 0, 0, 0], "heavy": []}
