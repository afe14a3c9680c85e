"""Data sets: built-ins, user formats, seeded splits, and a clear DatasetError for every malformed input."""
import gzip
import struct

import numpy as np
import pytest
from PIL import Image

from toolkit.datasets import load_dataset
from toolkit.errors import DatasetError


def test_digits_split_is_seeded_and_disjoint():
    a, b = load_dataset("digits", seed=0), load_dataset("digits", seed=0)
    assert a.input_shape == (8, 8, 1) and a.num_classes == 10
    np.testing.assert_array_equal(a.x_train, b.x_train)
    total = len(a.x_train) + len(a.x_val) + len(a.x_calib) + len(a.x_test)
    assert total == 1797
    assert 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    c = load_dataset("digits", seed=1)
    assert not np.array_equal(a.y_test, c.y_test)


def test_shapes_is_rgb_three_classes():
    d = load_dataset("shapes", seed=3)
    assert d.input_shape == (32, 32, 3) and d.labels == ("circle", "square", "triangle")
    assert set(np.unique(d.y_train)) == {0, 1, 2}


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def _good(n=60, shape=(6, 6)):
    rng = np.random.default_rng(0)
    return dict(x_train=rng.integers(0, 256, (n, *shape), dtype=np.uint8), y_train=np.arange(n) % 3,
                x_test=rng.integers(0, 256, (12, *shape), dtype=np.uint8), y_test=np.arange(12) % 3)


def test_npz_loads_and_scales(tmp_path):
    d = load_dataset(_npz(tmp_path / "d.npz", **_good()))
    assert d.input_shape == (6, 6, 1) and d.pixel_scale == 255.0 and d.x_train.max() <= 1.0


@pytest.mark.parametrize("change, msg", [
    (dict(y_train=np.zeros(60)), "only one class"),
    (dict(y_train=np.linspace(0, 2, 60)), "non-integer labels"),
    (dict(y_train=np.arange(59) % 3), "59 labels for 60 images"),
    (dict(x_test=np.zeros((12, 5, 5), np.uint8)), "same size"),
    (dict(x_train=np.zeros((60,)), ), "expected \\(N, H, W\\)"),
    (dict(x_train=np.zeros((60, 6))), "same size"),  # (N, F) feature vectors, but x_test holds images
    (dict(x_train=np.full((60, 6, 6), np.nan)), "NaN"),
])
def test_npz_errors(tmp_path, change, msg):
    arrays = _good()
    arrays.update(change)
    with pytest.raises(DatasetError, match=msg):
        load_dataset(_npz(tmp_path / "bad.npz", **arrays))


def test_npz_missing_key_and_corrupt_file(tmp_path):
    arrays = _good()
    del arrays["y_test"]
    with pytest.raises(DatasetError, match="y_test"):
        load_dataset(_npz(tmp_path / "m.npz", **arrays))
    (tmp_path / "c.npz").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(DatasetError, match="not a readable .npz"):
        load_dataset(str(tmp_path / "c.npz"))


def test_unknown_name_and_empty_folder(tmp_path):
    with pytest.raises(DatasetError, match="unknown data set"):
        load_dataset("cifar-100")
    with pytest.raises(DatasetError, match="empty"):
        load_dataset(str(tmp_path))


def _image_folder(root, names, size=(8, 8), n=10, mode="L"):
    for k, name in enumerate(names):
        d = root / name
        d.mkdir(parents=True)
        for i in range(n):
            Image.new(mode, size, color=(k * 40 + i) if mode == "L" else (k * 40, i, 0)).save(d / f"{i}.png")
    return root


def test_image_folder_with_hostile_names(tmp_path):
    names = ['cat "quoted"', "back\\slash", "naïve café", "int"]
    d = load_dataset(str(_image_folder(tmp_path / "imgs", names)))
    assert sorted(names) == list(d.labels) and d.input_shape == (8, 8, 1)


def test_image_folder_mixed_sizes_and_empty_class(tmp_path):
    root = _image_folder(tmp_path / "imgs", ["a", "b"])
    Image.new("L", (9, 8)).save(root / "b" / "odd.png")
    with pytest.raises(DatasetError, match="odd.png is 9x8"):
        load_dataset(str(root))
    root2 = _image_folder(tmp_path / "imgs2", ["a", "b"])
    (root2 / "c").mkdir()
    with pytest.raises(DatasetError, match="holds no images"):
        load_dataset(str(root2))


def test_image_folder_mixed_modes_become_rgb(tmp_path):
    root = _image_folder(tmp_path / "imgs", ["a", "b"])
    Image.new("RGB", (8, 8), (1, 2, 3)).save(root / "a" / "rgb.png")
    assert load_dataset(str(root)).input_shape == (8, 8, 3)


def _idx(path, arr):
    codes = {np.uint8: 0x08}
    header = struct.pack(">BBBB", 0, 0, codes[arr.dtype.type], arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.tobytes())


def test_idx_folder(tmp_path):
    rng = np.random.default_rng(0)
    _idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (50, 7, 7), dtype=np.uint8))
    _idx(tmp_path / "train-labels-idx1-ubyte.gz", (np.arange(50) % 2).astype(np.uint8))
    _idx(tmp_path / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (10, 7, 7), dtype=np.uint8))
    _idx(tmp_path / "t10k-labels-idx1-ubyte.gz", (np.arange(10) % 2).astype(np.uint8))
    d = load_dataset(str(tmp_path))
    assert d.input_shape == (7, 7, 1) and d.num_classes == 2
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x01\x00\x00\x00\x0a\x00")  # header says 10 labels, body has 1
    with pytest.raises(DatasetError, match="holds 1 data bytes"):
        load_dataset(str(tmp_path))
