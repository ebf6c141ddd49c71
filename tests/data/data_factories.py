"""Factories for the bad files the data layer must survive, written as real files.

A plain module rather than a conftest.py (the module name `conftest` belongs to whichever test
folder's conftest pytest loaded last); the shared photo factories live in tests/helpers.py.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from PIL import Image

from helpers import make_dataset, synthetic_photo

__all__ = ["make_dataset", "synthetic_photo"]


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_bytes(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def png_with_header_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height: a decompression bomb that costs nothing to write."""
    data = bytearray(png_bytes(Image.new("L", (1, 1))))
    ihdr_start = 8 + 4  # signature, then the IHDR chunk's length field
    data[ihdr_start + 4 : ihdr_start + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr_start : ihdr_start + 4 + 13]))
    data[ihdr_start + 4 + 13 : ihdr_start + 4 + 13 + 4] = struct.pack(">I", crc)
    return bytes(data)


def corrupt_png_bytes() -> bytes:
    """A PNG whose compressed pixel data is garbage (header intact, so it opens but cannot decode)."""
    data = bytearray(png_bytes(synthetic_photo(1, 1)))
    idat = data.index(b"IDAT")
    for offset in range(idat + 10, min(idat + 200, len(data) - 20)):
        data[offset] ^= 0x5A
    return bytes(data)


def truncated_jpeg_bytes() -> bytes:
    """The first half of a JPEG, as an interrupted copy leaves it."""
    data = jpeg_bytes(synthetic_photo(2, 2, (200, 150)))
    return data[: len(data) // 2]


BAD_FILES: dict[str, tuple[str, bytes | None, str]] = {
    # case: (file name, content, words the skip reason must contain)
    "corrupt": ("corrupt.png", None, "corrupt"),
    "truncated": ("truncated.jpg", None, "truncated"),
    "zero-byte": ("empty.jpg", b"", "empty"),
    "not-an-image": ("notes.jpg", b"these are my holiday notes, not a photo\n" * 20, "not an image"),
    "decompression-bomb": ("bomb.png", None, "Mpx"),
    "too-small": ("tiny.png", None, "too small"),
    "stray-ds-store": (".DS_Store", b"\x00\x00\x00\x01Bud1" + b"\x00" * 100, "hidden or system file"),
    "stray-text": ("readme.txt", b"credits\n", "not a photo file"),
}


def bad_file_content(case: str) -> bytes:
    _name, content, _reason = BAD_FILES[case]
    if content is not None:
        return content
    return {
        "corrupt": corrupt_png_bytes,
        "truncated": truncated_jpeg_bytes,
        "decompression-bomb": lambda: png_with_header_size(10_000, 10_000),
        "too-small": lambda: png_bytes(synthetic_photo(0, 0, (20, 40))),
    }[case]()


def write_bad_file(folder: Path, case: str) -> Path:
    """Write the bad file of `case` into `folder`; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / BAD_FILES[case][0]
    path.write_bytes(bad_file_content(case))
    return path
