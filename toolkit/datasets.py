"""Data sets: the built-in `digits` and `shapes`, and user data from .npz, image folders or IDX files."""
from __future__ import annotations

import dataclasses
import gzip
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from toolkit.errors import DatasetError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".ppm", ".tif", ".tiff", ".webp"}


@dataclass(frozen=True)
class Dataset:
    """Float images in [0, 1] (N, H, W, C), integer labels, split train/validation/calibration/test."""

    name: str
    labels: tuple[str, ...]
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_calib: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    pixel_scale: float = 1.0  # raw pixel value = model input * pixel_scale (255 for 8-bit images)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def with_input_shape(self, shape: tuple[int, ...]) -> "Dataset | None":
        """The same samples shaped as a model's input `shape`, where they differ only by axes of size 1 (the channel
        axis an (N, H, W) array gets, which a model of rank-2 inputs does not take); None where they differ more."""
        shape = tuple(int(d) for d in shape)
        if [d for d in shape if d != 1] != [d for d in self.input_shape if d != 1]:
            return None
        return dataclasses.replace(self, **{k: getattr(self, k).reshape((-1, *shape))
                                            for k in ("x_train", "x_val", "x_calib", "x_test")})


def _split_indices(y: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Stratified, seeded split of indices into len(fractions)+1 parts (the last takes the rest).

    Each class is shuffled and its members spread evenly over [0, 1); taking consecutive runs of that
    order gives every part the class mix of the whole, with part sizes rounded over the whole set (so a
    small part still gets samples when no single class is large enough to give it one)."""
    rng = np.random.default_rng(seed)
    keys = np.empty(len(y), dtype=np.float64)
    for cls in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == cls))
        keys[idx] = (np.arange(len(idx)) + rng.uniform(0, 1)) / len(idx)
    order = np.argsort(keys, kind="stable")
    parts, start = [], 0
    for f in fractions:
        n = int(round(len(y) * f))
        parts.append(np.sort(order[start:start + n]))
        start += n
    parts.append(np.sort(order[start:]))
    return [p.astype(np.int64) for p in parts]


def _finish(name: str, labels, x_tr, y_tr, x_te, y_te, seed: int, pixel_scale: float = 1.0) -> Dataset:
    """Check the arrays and split training data into train / validation / calibration."""
    x_tr, x_te = _as_images(x_tr, f"{name}: x_train"), _as_images(x_te, f"{name}: x_test")
    y_tr, y_te = _as_labels(y_tr, len(x_tr), f"{name}: y_train"), _as_labels(y_te, len(x_te), f"{name}: y_test")
    if x_tr.shape[1:] != x_te.shape[1:]:
        raise DatasetError(f"{name}: x_train images are {x_tr.shape[1:]} but x_test images are {x_te.shape[1:]}",
                           hint="train and test images must have the same size and channels")
    classes = np.unique(y_tr)
    if len(classes) < 2:
        raise DatasetError(f"{name}: the training labels hold only one class ({classes.tolist()})",
                           hint="a classifier needs at least two classes")
    n_classes = int(max(y_tr.max(), y_te.max() if len(y_te) else 0)) + 1
    if labels is None:
        labels = tuple(str(i) for i in range(n_classes))
    if len(labels) < n_classes:
        raise DatasetError(f"{name}: labels go up to {n_classes - 1} but only {len(labels)} class names are given")
    if len(x_te) == 0:
        raise DatasetError(f"{name}: the test split is empty", hint="give at least one test image")
    val, calib, train = _split_indices(y_tr, (0.1, 0.05), seed)
    if len(train) == 0 or len(val) == 0 or len(calib) == 0:
        raise DatasetError(f"{name}: {len(x_tr)} training images are too few to split into train, validation "
                           "and calibration sets", hint="give at least 20 training images")
    return Dataset(name=name, labels=tuple(labels), x_train=x_tr[train], y_train=y_tr[train],
                   x_val=x_tr[val], y_val=y_tr[val], x_calib=x_tr[calib], x_test=x_te, y_test=y_te,
                   pixel_scale=pixel_scale)


def _as_images(x, what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise DatasetError(f"{what} has dtype {x.dtype}, expected numbers")
    if x.ndim == 3:  # images: a gray (N, H, W) array gets its channel axis (a model of rank-2 inputs drops it again)
        x = x[..., None]
    if x.ndim not in (2, 4) or min(x.shape[1:]) < 1:
        raise DatasetError(f"{what} has shape {x.shape}, expected (N, H, W) or (N, H, W, C) images, or (N, F) "
                           "feature vectors")
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise DatasetError(f"{what} holds NaN or infinite values", hint="clean or drop those images")
    return x


def _as_labels(y, n: int, what: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DatasetError(f"{what} has shape {y.shape}, expected one integer label per image")
    if len(y) != n:
        raise DatasetError(f"{what} has {len(y)} labels for {n} images", hint="give one label per image")
    if not (np.issubdtype(y.dtype, np.integer) or (np.issubdtype(y.dtype, np.floating)
                                                   and np.all(np.isfinite(y)) and np.all(y == np.round(y)))):
        raise DatasetError(f"{what} holds non-integer labels (dtype {y.dtype})",
                           hint="labels must be class indices 0..K-1")
    y = y.astype(np.int64)
    if len(y) and y.min() < 0:
        raise DatasetError(f"{what} holds negative labels", hint="labels must be class indices 0..K-1")
    return y


def _scale_pixels(x_tr: np.ndarray, x_te: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Bring pixels to [0, 1]: 8-bit data is divided by 255, data already in [0, 1] is kept."""
    hi = float(max(np.max(x_tr, initial=0), np.max(x_te, initial=0)))
    lo = float(min(np.min(x_tr, initial=0), np.min(x_te, initial=0)))
    if lo >= 0 and hi <= 1.0:
        return x_tr, x_te, 1.0
    if lo >= 0 and hi <= 255:
        return x_tr / 255.0, x_te / 255.0, 255.0
    return (x_tr - lo) / (hi - lo), (x_te - lo) / (hi - lo), 1.0


# ---------------------------------------------------------------- built-in data sets

def load_digits(seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes), shipped with the package."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = (d.images / 16.0).astype(np.float32)[..., None]
    test, rest = _split_indices(d.target, (0.2,), seed)
    return _finish("digits", None, x[rest], d.target[rest], x[test], d.target[test], seed, pixel_scale=16.0)


def make_shapes(seed: int = 0, n: int = 1200, size: int = 32) -> Dataset:
    """Synthetic 32x32 RGB circles, squares and triangles on noisy backgrounds, generated from a seed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    xs = np.empty((n, size, size, 3), np.float32)
    ys = np.arange(n) % 3
    for i in range(n):
        r = rng.uniform(size * 0.15, size * 0.3)
        cx, cy = rng.uniform(r, size - r, 2)
        if ys[i] == 0:
            mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
        elif ys[i] == 1:
            mask = (np.abs(xx - cx) <= r * 0.85) & (np.abs(yy - cy) <= r * 0.85)
        else:
            mask = (yy >= cy - r) & (yy <= cy + r) & (np.abs(xx - cx) <= (yy - (cy - r)) / 2)
        bg, fg = rng.uniform(0, 0.4, 3), rng.uniform(0.6, 1.0, 3)
        img = np.where(mask[..., None], fg, bg) + rng.normal(0, 0.05, (size, size, 3))
        xs[i] = np.clip(img, 0, 1)
    test, rest = _split_indices(ys, (0.2,), seed + 1)
    return _finish("shapes", ("circle", "square", "triangle"), xs[rest], ys[rest], xs[test], ys[test], seed,
                   pixel_scale=255.0)  # as 8-bit RGB images scaled to [0, 1]


# ---------------------------------------------------------------- user data

def load_npz(path: Path, seed: int = 0) -> Dataset:
    """An .npz with x_train, y_train, x_test, y_test (the Keras mnist.npz layout); optional `labels`."""
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in f.files]
            if missing:
                raise DatasetError(f"{path} lacks the arrays {', '.join(missing)}",
                                   hint="an .npz data set needs x_train, y_train, x_test and y_test")
            arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
            labels = tuple(str(s) for s in f["labels"].tolist()) if "labels" in f.files else None
    except DatasetError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DatasetError(f"{path} is not a readable .npz file: {exc}") from None
    x_tr, x_te = _as_images(arrays["x_train"], f"{path}: x_train"), _as_images(arrays["x_test"], f"{path}: x_test")
    x_tr, x_te, scale = _scale_pixels(x_tr, x_te)
    return _finish(path.name, labels, x_tr, arrays["y_train"], x_te, arrays["y_test"], seed, scale)


def load_image_folder(path: Path, seed: int = 0) -> Dataset:
    """A folder with one sub-folder of images per class; sizes must agree, modes become L or RGB."""
    from toolkit.images import read_image

    classes = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DatasetError(f"{path} has {len(classes)} class folder(s)",
                           hint="put the images of each class in a sub-folder of its own, at least two classes")
    images, ys, size, first = [], [], None, None
    for k, cdir in enumerate(classes):
        files = sorted(p for p in cdir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DatasetError(f"class folder {cdir} holds no images",
                               hint=f"add images ({', '.join(sorted(IMAGE_SUFFIXES))}) or remove the folder")
        for f in files:
            img = read_image(f, DatasetError, hint="remove or replace the file")
            if size is None:
                size, first = img.size, f
            elif img.size != size:
                raise DatasetError(f"image {f} is {img.size[0]}x{img.size[1]} but {first} is {size[0]}x{size[1]}",
                                   hint="resize all images to one size")
            images.append(img)
            ys.append(k)
    gray = all(im.mode in ("1", "L", "LA", "I", "I;16", "F") for im in images)
    mode = "L" if gray else "RGB"
    x = np.stack([np.asarray(im.convert(mode), dtype=np.float32) for im in images])
    if x.ndim == 3:
        x = x[..., None]
    x, _, scale = _scale_pixels(x, x[:0])
    y = np.asarray(ys)
    if np.bincount(y).min() < 2:
        raise DatasetError(f"{path}: every class needs at least 2 images to split off a test set")
    test, rest = _split_indices(y, (0.2,), seed)
    return _finish(path.name, tuple(c.name for c in classes), x[rest], y[rest], x[test], y[test], seed, scale)


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise DatasetError(f"cannot read IDX file {path}: {exc}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DatasetError(f"{path} is not an IDX file (bad magic number)")
    types = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if data[2] not in types:
        raise DatasetError(f"{path} has unknown IDX data type 0x{data[2]:02x}")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise DatasetError(f"{path} is truncated (header)")
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    dtype = np.dtype(types[data[2]])
    need = int(np.prod(dims)) * dtype.itemsize
    body = data[4 + 4 * ndim:]
    if len(body) != need:
        raise DatasetError(f"{path} holds {len(body)} data bytes but its header {dims} needs {need}")
    return np.frombuffer(body, dtype=dtype).reshape(dims)


def load_idx_folder(path: Path, seed: int = 0) -> Dataset:
    """A folder of MNIST-format IDX files: train/t10k images and labels, optionally gzipped."""
    def find(*words):
        for p in sorted(path.iterdir()):
            n = p.name.lower()
            if "idx" in n and all(w in n for w in words):
                return p
        raise DatasetError(f"{path} has no IDX file whose name contains {' and '.join(words)}",
                           hint="expected train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
                                "t10k-labels-idx1-ubyte (optionally .gz)")
    test_word = "t10k" if any("t10k" in p.name.lower() for p in path.iterdir()) else "test"
    x_tr, y_tr = _read_idx(find("train", "images")), _read_idx(find("train", "labels"))
    x_te, y_te = _read_idx(find(test_word, "images")), _read_idx(find(test_word, "labels"))
    x_tr, x_te = _as_images(x_tr, f"{path}: train images"), _as_images(x_te, f"{path}: test images")
    x_tr, x_te, scale = _scale_pixels(x_tr, x_te)
    return _finish(path.name, None, x_tr, y_tr, x_te, y_te, seed, scale)


BUILTIN: dict[str, tuple[Callable[[int], Dataset], str]] = {
    "digits": (load_digits, "8x8 grayscale handwritten digits, 10 classes (ships with scikit-learn)"),
    "shapes": (make_shapes, "32x32 RGB circles/squares/triangles, 3 classes (synthetic, seeded)"),
}


def load_dataset(name_or_path: str, seed: int = 0) -> Dataset:
    """A built-in data set by name, or user data by path (.npz, image folder, IDX folder)."""
    if name_or_path in BUILTIN:
        return BUILTIN[name_or_path][0](seed)
    path = Path(name_or_path)
    if not path.exists():
        raise DatasetError(f"unknown data set {name_or_path!r}: not a built-in name and no such file or folder",
                           hint=f"use one of {', '.join(BUILTIN)} or a path to an .npz file or a folder")
    if path.is_file():
        if path.suffix.lower() != ".npz":
            raise DatasetError(f"{path} is not an .npz file", hint="a data set file must be an .npz with "
                               "x_train, y_train, x_test, y_test")
        return load_npz(path, seed)
    entries = list(path.iterdir())
    if not entries:
        raise DatasetError(f"data set folder {path} is empty",
                           hint="put one sub-folder of images per class in it, or MNIST IDX files")
    if any("idx" in p.name.lower() and p.is_file() for p in entries):
        return load_idx_folder(path, seed)
    return load_image_folder(path, seed)
