"""The bad-input battery through the CLI: broken files, wrong models, hostile names, a full disk.

Every case expects one clear line on stderr, a non-zero exit, no traceback and no output folder;
hostile class names must still give C that compiles and labels that read back byte for byte.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import expect_clean_failure, run_cli


@pytest.mark.parametrize("suffix, content", [
    (".tflite", b""), (".tflite", b"\x18\x00\x00\x00TFL3\x00\x00"), (".tflite", bytes(range(256)) * 8),
    (".keras", b""), (".keras", b"PK\x03\x04" + b"\x00" * 40), (".keras", os.urandom(512)),
])
def test_broken_model_files(tmp_path, build_dir, suffix, content):
    bad = tmp_path / f"model{suffix}"
    if content == b"\x18\x00\x00\x00TFL3\x00\x00":  # a real model cut in half
        content = (build_dir / "model_int8.tflite").read_bytes()[:4000]
    bad.write_bytes(content)
    out = tmp_path / "out"
    r = run_cli("build", "--target", "cortex-m", "--from-model", bad, "--out", out)
    expect_clean_failure(r, out, str(bad))


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04" + b"\x00" * 30, os.urandom(300)])
def test_broken_npz(tmp_path, content):
    bad = tmp_path / "data.npz"
    bad.write_bytes(content)
    out = tmp_path / "out"
    r = run_cli("build", "--target", "cortex-m", "--dataset", bad, "--epochs", "1", "--out", out)
    expect_clean_failure(r, out, "data.npz")


def test_float_tflite_where_int8_is_required(tmp_path, build_dir):
    out = tmp_path / "out"
    r = run_cli("build", "--target", "cortex-m", "--from-model", build_dir / "model_float.tflite", "--out", out)
    expect_clean_failure(r, out, "full-integer int8")


def _save(model, path):
    model.save(path)
    return path


def test_unsupported_op_is_named_with_its_layer(tmp_path):
    """ABS: the engine has no kernel (the build would fall back to TFLM) and edgecnn's TFLM op resolver has no
    registration for it either, so the build stops, naming the op and layer."""
    import keras
    import tensorflow as tf

    from deploy.convert.quantize import to_int8_tflite

    m = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3), keras.layers.Lambda(tf.abs),
                          keras.layers.Flatten(), keras.layers.Dense(10), keras.layers.Softmax()])
    path = tmp_path / "abs.tflite"
    path.write_bytes(to_int8_tflite(m, np.random.default_rng(0).random((20, 8, 8, 1), dtype=np.float32)))
    out = tmp_path / "out"
    r = run_cli("build", "--target", "cortex-m", "--from-model", path, "--out", out)
    expect_clean_failure(r, out, "ABS")


def test_model_with_two_inputs(tmp_path):
    import keras

    a, b = keras.Input((8, 8, 1)), keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(keras.layers.Add()([a, b]))
    m = keras.Model([a, b], keras.layers.Dense(10, activation="softmax")(x))
    out = tmp_path / "out"
    r = run_cli("build", "--target", "cortex-m", "--from-model", _save(m, tmp_path / "two.keras"), "--out", out)
    expect_clean_failure(r, out, "2 inputs")


def _npz(path, **change):
    rng = np.random.default_rng(0)
    arrays = dict(x_train=rng.integers(0, 256, (60, 8, 8), dtype=np.uint8), y_train=np.arange(60) % 3,
                  x_test=rng.integers(0, 256, (12, 8, 8), dtype=np.uint8), y_test=np.arange(12) % 3)
    arrays.update(change)
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("change, words", [
    (dict(y_train=np.arange(50) % 3), "50 labels for 60 images"),
    (dict(x_train=np.where(np.eye(8)[None] > 0, np.nan, 1.0) * np.ones((60, 8, 8))), "NaN"),
    (dict(x_test=np.full((12, 8, 8), np.inf)), "NaN or infinite"),
])
def test_bad_arrays(tmp_path, change, words):
    out = tmp_path / "out"
    r = run_cli("build", "--target", "cortex-m", "--dataset", _npz(tmp_path / "d.npz", **change), "--epochs", "1",
                "--out", out)
    expect_clean_failure(r, out, words)


def test_images_of_mixed_sizes(tmp_path):
    root = tmp_path / "imgs"
    for k, cls in enumerate(("a", "b")):
        (root / cls).mkdir(parents=True)
        for i in range(6):
            Image.new("L", (8, 8), k * 100 + i).save(root / cls / f"{i}.png")
    Image.new("RGB", (10, 8)).save(root / "b" / "big.png")
    out = tmp_path / "out"
    r = run_cli("build", "--target", "cortex-m", "--dataset", root, "--epochs", "1", "--out", out)
    expect_clean_failure(r, out, "big.png", "10x8")


HOSTILE = ["a b", 'say "hi"', "back\\slash", "new\nline", "naïve ☃", "int", "??=trigraph", "x*/y", "tab\there"]


@pytest.mark.toolchain
def test_hostile_class_names_compile_and_read_back(tmp_path):
    root = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for k, name in enumerate(HOSTILE):
        folder = root / name.replace("/", "|")
        folder.mkdir(parents=True)
        for i in range(8):
            Image.fromarray((rng.random((8, 8)) * 40 + 20 * k).astype(np.uint8), "L").save(folder / f"{i}.png")
    out = tmp_path / "out"
    r = run_cli("build", "--target", "cortex-m", "--dataset", root, "--epochs", "1", "--out", out)
    assert r.returncode == 0, r.stderr
    labels = sorted(n.replace("/", "|") for n in HOSTILE)
    engine = out / "firmware" / "engine"
    main = tmp_path / "labels_main.c"
    main.write_text('#include <stdio.h>\n#include "edgecnn_model.h"\n#include "model_data.h"\n'
                    "int main(void) { int i; for (i = 0; i < ECNN_NUM_CLASSES; i++) {\n"
                    "  fputs(ecnn_labels[i], stdout); putchar(0); fputs(edgecnn_labels[i], stdout); putchar(0); }\n"
                    "  return 0; }\n")
    exe = tmp_path / "labels"
    cc = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I", str(engine), "-I",
                         str(out / "firmware" / "tflm"), str(main), *map(str, engine.glob("*.c")),
                         str(out / "firmware" / "tflm" / "model_data.c"), "-o", str(exe)],
                        capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr
    got = subprocess.run([str(exe)], capture_output=True).stdout.split(b"\0")[:-1]
    want = [s.encode() for s in labels for _ in range(2)]
    assert got == want


def test_full_disk_is_a_clear_error_and_keeps_nothing(tmp_path):
    """RLIMIT_FSIZE makes every write past 64 KiB fail with EFBIG (Python ignores SIGXFSZ), like a full disk."""
    out = tmp_path / "out"
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536)); "
            "from toolkit.cli import main; sys.argv = ['edgecnn'] + sys.argv[1:]; main()")
    r = subprocess.run([sys.executable, "-c", code, "build", "--target", "cortex-m", "--epochs", "1", "--out",
                        str(out)], capture_output=True, text=True, timeout=600)
    expect_clean_failure(r, out, "File too large")
