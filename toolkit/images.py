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
