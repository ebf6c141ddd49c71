"""Thumbnails the pages show: JPEGs re-encoded from decoded pixels, never a file's own bytes or metadata."""

from __future__ import annotations

import io

from landmarks.data.images import ImageSource, load_rgb


def thumbnail_jpeg(source: ImageSource, side: int) -> bytes:
    """A JPEG of `source` (a path or its bytes) at most `side` pixels on its long side, upright, RGB;
    none of the file's tags (GPS, camera, faces) travel with it."""
    image = load_rgb(source, min_side=side)
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=82)
    return buffer.getvalue()
