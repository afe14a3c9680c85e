"""Reads one image file fully into memory with Pillow, turning every decoding failure into one error type."""
from __future__ import annotations


def read_image(path, error_type, hint: str):
    """The decoded PIL image at `path` (file closed); unreadable files raise `error_type` with `hint`."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            return im.copy()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise error_type(f"cannot read image {path}: {first}", hint=hint) from None


def resize_pixels(img, size: tuple[int, int]):
    """The pixels of PIL image `img` resized to `size` (width, height), as float32 (height, width, bands), and the
    method's name.

    Each band is resized in 32-bit float, so averages are not rounded back to the image's 8 bits. Shrinking (no side
    grows) averages the source area each output pixel covers, the way the `digits` images were made (8x8 counts of
    4x4 blocks of 32x32 bitmaps); anything else is bilinear. The aspect ratio is not kept: nothing is cropped.
    """
    import numpy as np
    from PIL import Image

    width, height = (int(v) for v in size)
    if width <= img.size[0] and height <= img.size[1]:
        resample, method = Image.Resampling.BOX, "area average"
    else:
        resample, method = Image.Resampling.BILINEAR, "bilinear"
    bands = [np.asarray(band.convert("F").resize((width, height), resample), dtype=np.float32)
             for band in img.split()]
    return np.stack(bands, axis=-1), method
