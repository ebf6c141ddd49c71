"""Turn any photo file we accept into an upright 8-bit RGB `PIL.Image`, or fail with a clear message.

Everything that reads pixels (prepare, the decoded-image cache, the predictor, the API) goes through
`load_rgb`, so every corner case (EXIF rotation, odd modes, 16-bit PNGs, bombs, truncated files) is
handled once. No torch here: the geotag and API layers can read photos without loading it.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from landmarks.errors import BadImageError, DecompressionBombError, UnsupportedFormatError

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".heic", ".heif", ".avif", ".tif", ".tiff", ".gif"}
)
"""Lower-case suffixes we read, the one list: folder scans pick these up and errors name them.

Compare with `path.suffix.lower()`."""

MAX_PIXELS = 90_000_000
"""Refuse larger images before decoding them: one 90 Mpx RGB image already needs ~270 MB."""

MIN_SIDE = 32
"""Anything smaller on a side carries no usable landmark detail (and breaks random crops)."""

ImageSource = Path | str | bytes | BinaryIO | Image.Image

_HEIF_REGISTERED = False


@dataclass(frozen=True)
class SkippedFile:
    """A file left out of a dataset, and why (one row of `skipped.csv`)."""

    path: Path
    reason: str


def is_image_file(path: Path) -> bool:
    """Whether a directory entry looks like a photo we read (hidden files such as `._x.jpg` do not)."""
    return not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS


def _register_heif() -> None:
    """Teach Pillow HEIC/HEIF (pillow-heif); AVIF is built into Pillow >= 11.2."""
    global _HEIF_REGISTERED
    if not _HEIF_REGISTERED:
        from pillow_heif import register_heif_opener

        register_heif_opener()
        _HEIF_REGISTERED = True


def describe_source(source: ImageSource) -> str:
    """A name for error messages: the path, the PIL image's file name, or a generic stand-in."""
    if isinstance(source, str | Path):
        return str(source)
    if isinstance(source, Image.Image):
        return str(getattr(source, "filename", "") or "<image>")
    if isinstance(source, bytes | bytearray):
        return "<uploaded bytes>"
    return str(getattr(source, "name", "") or "<stream>")


def _open(source: ImageSource, name: str) -> Image.Image:
    """Open lazily (header only), mapping every way a file can fail to a `BadImageError`."""
    _register_heif()
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise BadImageError(f"{name}: no such file")
        try:
            # Read whole: no file handle outlives this call (Pillow keeps multi-frame files open).
            source = path.read_bytes()
        except OSError as exc:
            raise BadImageError(f"{name}: cannot read the file ({exc.strerror or exc})") from None
    if isinstance(source, bytes | bytearray):
        if not source:
            raise BadImageError(f"{name}: the file is empty (0 bytes)")
        fp: BinaryIO = io.BytesIO(source)
    else:
        fp = source
    try:
        with warnings.catch_warnings():
            # We apply our own MAX_PIXELS limit; Pillow's warning below its hard limit is noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(fp)
    except Image.DecompressionBombError as exc:
        raise DecompressionBombError(f"{name}: {exc}") from None
    except UnidentifiedImageError:
        raise UnsupportedFormatError(
            f"{name}: not an image in a format we read ({', '.join(sorted(IMAGE_EXTENSIONS))})"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise BadImageError(f"{name}: cannot read the image ({exc})") from None


def _check_size(image: Image.Image, name: str, max_pixels: int = MAX_PIXELS, limit: str = "safety limit") -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise DecompressionBombError(
            f"{name}: {width}x{height} is {width * height / 1e6:.0f} Mpx, over the "
            f"{max_pixels / 1e6:.0f} Mpx {limit} (possible decompression bomb)"
        )
    if min(width, height) < MIN_SIDE:
        raise BadImageError(f"{name}: {width}x{height} is too small (under {MIN_SIDE} px on a side)")


def check_pixels(source: ImageSource, max_pixels: int, limit: str = "limit") -> None:
    """Refuse a photo larger than `max_pixels` from its header alone (nothing is decoded).

    For callers with a tighter budget than `MAX_PIXELS`, such as the HTTP service's uploads.
    """
    name = describe_source(source)
    image = source if isinstance(source, Image.Image) else _open(source, name)
    _check_size(image, name, max_pixels, limit)


def _use_draft(image: Image.Image, min_side: int) -> None:
    """Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the shorter side stays >= min_side (much faster)."""
    if image.format != "JPEG":
        return
    width, height = image.size
    scale = min_side / min(width, height)
    if scale < 1:
        # draft() picks the largest reduction that keeps both sides >= the requested size.
        image.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))


def _to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB from any mode: transparency over white, 16/32-bit and float scaled rather than clipped."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return _gray_to_8bit(image).convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Pasted through its own alpha onto white: one new RGB image, no RGBA copies of the whole photo.
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba)
        return background
    return image.convert("RGB")


_STRIP_PIXELS = 1 << 18
"""Pixels converted per step by `_gray_to_8bit`: its working memory, whatever the image's size."""


def _gray_to_8bit(image: Image.Image) -> Image.Image:
    """16/32-bit or float grey to 8-bit, scaled (0..65535 -> 0..255 when above 255), strip by strip.

    One float copy of a whole 90 Mpx image would be 720 MB; strips keep the extra memory to a few MB.
    """
    peak = 65535.0 if float(image.getextrema()[1]) > 255 else 255.0
    width, height = image.size
    rows = max(1, _STRIP_PIXELS // max(width, 1))
    out = Image.new("L", image.size)
    for top in range(0, height, rows):
        strip = np.asarray(image.crop((0, top, width, min(top + rows, height))), dtype=np.float32)
        strip *= np.float32(255.0 / peak)
        gray = np.clip(np.rint(strip, out=strip), 0, 255, out=strip).astype(np.uint8)
        out.paste(Image.fromarray(gray, "L"), (0, top))
    return out


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a damaged EXIF block costs the rotation, never the photo."""
    try:
        return ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, TypeError, KeyError, struct.error):
        return image


def load_rgb(source: ImageSource, *, min_side: int | None = None) -> Image.Image:
    """Decode `source` into an upright RGB image.

    `min_side` allows JPEG draft decoding: the result may be reduced, but its shorter side stays
    >= min_side (or the original's). Raises BadImageError, UnsupportedFormatError or
    DecompressionBombError, each naming the file.
    """
    name = describe_source(source)
    image = source if isinstance(source, Image.Image) else _open(source, name)
    _check_size(image, name)
    if min_side is not None and not isinstance(source, Image.Image):
        _use_draft(image, min_side)
    try:
        image.load()
        return _to_rgb(_upright(image))
    except Image.DecompressionBombError as exc:
        raise DecompressionBombError(f"{name}: {exc}") from None
    except (OSError, SyntaxError, ValueError, TypeError, EOFError) as exc:
        # Truncated JPEG/PNG data ends here ("image file is truncated", "broken data stream").
        raise BadImageError(f"{name}: corrupt or truncated image ({exc})") from None


def resize_shorter_side(image: Image.Image, size: int) -> Image.Image:
    """Shrink so the shorter side is `size` (never enlarge: upsampling only wastes cache space)."""
    width, height = image.size
    shorter = min(width, height)
    if shorter <= size:
        return image
    scale = size / shorter
    new_size = (max(size, round(width * scale)), max(size, round(height * scale)))
    return image.resize(new_size, Image.Resampling.BICUBIC, reducing_gap=3.0)


def decode_resized(source: ImageSource, size: int) -> np.ndarray:
    """The cached form of a photo: uint8 CHW array, shorter side `size` (or the original's if smaller)."""
    image = resize_shorter_side(load_rgb(source, min_side=size), size)
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8).transpose(2, 0, 1))
