"""Benchmark tool: a hash of every file the engine generator writes, for the zoo and an op-coverage model.

A refactor of the generator (deploy/engine/) must leave the generated C byte-identical. This makes the int8
models once (the four MLPerf Tiny architectures, the compact CNN with each convolution kind, and one model of odd
layer shapes and many ops: depthwise multiplier 2, dilation, 5x5 and 1x3 kernels, grouped convolution, pools,
padding, concatenation, resize, slicing, transposes, table activations, broadcasting MUL / SUB, PReLU, MEAN,
softmax), keeps them in --models-dir, generates each model's engine and prints one line per file:
`model/file sha256`. Run it at two commits and diff the outputs.

Usage: PYTHONPATH=. python benchmarks/engine_snapshot.py --models-dir /tmp/snap_models > after.txt
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def odd_shapes_model():
    """Layer shapes and ops nobody tuned for, in one small functional model."""
    import keras
    from keras import layers as L

    x0 = keras.Input((24, 24, 3))
    x = L.Conv2D(10, (1, 3), padding="same", activation="relu")(x0)
    x = L.Conv2D(10, (3, 1), padding="same", activation="relu6")(x)
    x = L.DepthwiseConv2D(5, strides=2, padding="same", depth_multiplier=2)(x)
    x = L.Activation("hard_swish")(x)
    x = L.Conv2D(20, 3, dilation_rate=2, padding="same")(x)
    x = L.LeakyReLU(0.2)(x)
    g = L.Conv2D(20, 3, padding="same", groups=4, activation="relu")(x)
    se = L.GlobalAveragePooling2D(keepdims=True)(g)
    se = L.Conv2D(20, 1, activation="sigmoid")(se)
    x = L.Multiply()([g, se])
    y = L.DepthwiseConv2D(7, padding="same")(x)
    y = L.Activation("tanh")(y)
    x = L.Subtract()([x, y])
    x = L.PReLU(shared_axes=[1, 2])(x)
    p = L.MaxPooling2D(2)(x)
    q = L.AveragePooling2D(2)(x)
    x = L.Concatenate()([p, q])
    x = L.ZeroPadding2D(((1, 0), (0, 1)))(x)
    x = L.Resizing(2 * x.shape[1], 2 * x.shape[2], interpolation="nearest")(x)  # UpSampling2D is TILE
    x = L.Cropping2D(((1, 1), (2, 0)))(x)
    x = L.Permute((2, 1, 3))(x)
    x = L.Conv2D(16, 1)(x)
    x = L.Add()([x, L.Conv2D(16, 3, padding="same")(x)])
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dense(12)(x)
    return keras.Model(x0, L.Softmax()(x))


def make_models(where: Path) -> list[Path]:
    from deploy.convert.quantize import to_int8_tflite
    from models.compact import build
    from models.mlperf_tiny import MLPERF_TINY, calibrate_batchnorm

    made = []
    zoo = {name: MLPERF_TINY[name] for name in sorted(MLPERF_TINY)}
    for conv in ("standard", "depthwise", "grouped"):
        zoo[f"compact_{conv}"] = lambda conv=conv: build((8, 8, 1), 10, conv=conv)
    zoo["odd_shapes"] = odd_shapes_model
    for name, make in zoo.items():
        path = where / f"{name}.tflite"
        if not path.is_file():
            model = make()
            rng = np.random.RandomState(0)
            cal = rng.randn(32, *model.inputs[0].shape[1:]).astype(np.float32)
            calibrate_batchnorm(model, cal)
            path.write_bytes(to_int8_tflite(model, cal))
        made.append(path)
    return made


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models-dir", type=Path, required=True, help="where the int8 models are kept (made if absent)")
    args = ap.parse_args(argv)
    args.models_dir.mkdir(parents=True, exist_ok=True)
    from deploy.engine.codegen import generate_engine

    for tflite in make_models(args.models_dir):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "engine"
            generate_engine(tflite.read_bytes(), out)
            for f in sorted(p for p in out.rglob("*") if p.is_file()):
                print(f"{tflite.stem}/{f.relative_to(out)} {hashlib.sha256(f.read_bytes()).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
