"""Bad photos for batch tests: each must become an error row while the run goes on."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def huge_png_header(path: Path, side: int = 12_000) -> Path:
    """A PNG that claims side x side pixels (far over the safety limit) but holds almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)))
    return path


def bad_photos(folder: Path, good: Path) -> dict[str, Path]:
    """Truncated, not an image, huge, empty and unreadable (a dangling link) photos in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    data = good.read_bytes()
    bad = {
        "truncated": folder / "truncated.jpg",
        "not_an_image": folder / "notes.jpg",
        "huge": folder / "huge.png",
        "empty": folder / "empty.jpg",
        "unreadable": folder / "gone.jpg",
    }
    bad["truncated"].write_bytes(data[: len(data) // 3])
    bad["not_an_image"].write_text("not a photo\n")
    huge_png_header(bad["huge"])
    bad["empty"].write_bytes(b"")
    bad["unreadable"].symlink_to(folder / "nowhere.jpg")
    return bad
