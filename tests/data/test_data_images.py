"""load_rgb: every format and mode we accept becomes upright RGB; every bad file a clear error."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from data_factories import BAD_FILES, jpeg_bytes, png_with_header_size, synthetic_photo, write_bad_file
from PIL import Image

from landmarks.data.images import (
    IMAGE_EXTENSIONS,
    MAX_PIXELS,
    MIN_SIDE,
    check_pixels,
    decode_resized,
    is_image_file,
    load_rgb,
    resize_shorter_side,
)
from landmarks.errors import BadImageError, DecompressionBombError, UnsupportedFormatError

FORMATS = [
    ("photo.jpg", "JPEG"),
    ("photo.JPG", "JPEG"),
    ("photo.Jpeg", "JPEG"),
    ("photo.png", "PNG"),
    ("photo.PNG", "PNG"),
    ("photo.webp", "WEBP"),
    ("photo.HEIC", "HEIF"),
    ("photo.avif", "AVIF"),
]


@pytest.mark.parametrize(("name", "fmt"), FORMATS)
def test_reads_every_supported_format_in_any_letter_case(tmp_path: Path, name: str, fmt: str) -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()  # to *write* HEIC here; load_rgb registers it for reading
    original = synthetic_photo(3, 7, (96, 72))
    path = tmp_path / name
    original.save(path, fmt, quality=95)
    assert is_image_file(path)

    image = load_rgb(path)

    assert image.mode == "RGB"
    assert image.size == (96, 72)
    difference = np.abs(np.asarray(image, np.int16) - np.asarray(original, np.int16)).mean()
    assert difference < 12, f"{fmt} decoded pixels differ from the original by {difference:.1f} on average"


def test_extensions_are_lower_case_and_hidden_files_are_not_photos(tmp_path: Path) -> None:
    assert all(ext == ext.lower() and ext.startswith(".") for ext in IMAGE_EXTENSIONS)
    assert not is_image_file(tmp_path / "._photo.jpg")  # macOS resource fork beside a real photo
    assert is_image_file(tmp_path / "photo.gif")  # one list: what we read is what folder scans pick up
    assert not is_image_file(tmp_path / "notes.txt")


def _solid(mode: str, size: tuple[int, int], colour: object) -> Image.Image:
    return Image.new(mode, size, colour)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("image", "fmt", "expected"),
    [
        (_solid("L", (40, 40), 100), "PNG", (100, 100, 100)),
        (_solid("LA", (40, 40), (100, 255)), "PNG", (100, 100, 100)),
        (_solid("RGBA", (40, 40), (200, 10, 10, 255)), "PNG", (200, 10, 10)),
        (_solid("RGBA", (40, 40), (200, 10, 10, 0)), "PNG", (255, 255, 255)),  # transparent: white
        (_solid("RGB", (40, 40), (30, 140, 220)).quantize(16), "PNG", (30, 140, 220)),  # P mode
        (_solid("CMYK", (40, 40), (0, 255, 255, 0)), "JPEG", (255, 0, 0)),
    ],
    ids=["L", "LA", "RGBA-opaque", "RGBA-transparent", "P", "CMYK"],
)
def test_converts_every_mode_to_rgb(tmp_path: Path, image: Image.Image, fmt: str, expected: tuple) -> None:
    path = tmp_path / f"mode.{fmt.lower()}"
    image.save(path, fmt)
    result = load_rgb(path)
    assert result.mode == "RGB"
    assert np.abs(np.asarray(result, np.int16)[20, 20] - np.array(expected)).max() <= 3


def test_palette_transparency_is_composited_on_white(tmp_path: Path) -> None:
    image = Image.new("P", (40, 40), 0)
    image.putpalette([0, 0, 0, 250, 0, 0] + [0] * 762)
    image.paste(1, (0, 0, 20, 40))
    image.info["transparency"] = 0
    path = tmp_path / "palette.png"
    image.save(path, transparency=0)
    pixels = np.asarray(load_rgb(path))
    assert tuple(pixels[10, 5]) == (250, 0, 0)
    assert tuple(pixels[10, 30]) == (255, 255, 255)


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path: Path) -> None:
    levels = np.zeros((40, 40), np.uint16)
    levels[:, :20] = 65535
    levels[:, 20:] = 257 * 100
    path = tmp_path / "sixteen.png"
    Image.fromarray(levels).save(path)
    assert Image.open(path).mode.startswith("I")
    pixels = np.asarray(load_rgb(path))
    assert tuple(pixels[0, 0]) == (255, 255, 255)
    assert tuple(pixels[0, 30]) == (100, 100, 100)


def test_sixteen_bit_images_are_converted_without_a_float_copy(tmp_path: Path) -> None:
    """numpy reports its allocations to tracemalloc: a whole-image float64 copy is 8 bytes a pixel."""
    import tracemalloc

    width, height = 2000, 1500
    levels = (np.arange(width * height, dtype=np.uint32).reshape(height, width) % 65536).astype(np.uint16)
    image = Image.fromarray(levels)
    assert image.mode.startswith("I;16")
    tracemalloc.start()
    try:
        result = load_rgb(image)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.mode == "RGB" and result.size == (width, height)
    assert peak < width * height  # under one byte a pixel: strips, never the whole image at once
    expected = np.rint(levels[-1, -5:] * (255 / 65535)).astype(np.uint8)
    assert list(np.asarray(result)[-1, -5:, 0]) == list(expected)


def test_check_pixels_applies_a_tighter_limit_from_the_header(tmp_path: Path) -> None:
    data = jpeg_bytes(Image.new("RGB", (400, 300)))
    check_pixels(data, 400 * 300)
    with pytest.raises(DecompressionBombError, match="over the 0 Mpx upload limit"):
        check_pixels(data, 400 * 300 - 1, "upload limit")


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    stored = Image.new("RGB", (80, 40), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 40, 40))  # left half red as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = tmp_path / "rotated.jpg"
    stored.save(path, exif=exif, quality=95)

    image = load_rgb(path)

    assert image.size == (40, 80)
    top, bottom = np.asarray(image)[10, 20], np.asarray(image)[70, 20]
    assert top[0] > 200 and top[2] < 60  # the stored left half is now on top
    assert bottom[2] > 200 and bottom[0] < 60


def test_jpeg_draft_mode_keeps_the_shorter_side_above_min_side(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    synthetic_photo(1, 1, (800, 600)).save(path, quality=90)
    assert load_rgb(path).size == (800, 600)
    reduced = load_rgb(path, min_side=256)
    assert min(reduced.size) >= 256
    assert reduced.size == (400, 300)  # libjpeg's 1/2 scale: 1/4 would give 150 < 256


def test_decode_resized_gives_chw_uint8_with_the_shorter_side_at_size(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    synthetic_photo(1, 1, (800, 600)).save(path)
    array = decode_resized(path, 256)
    assert array.dtype == np.uint8
    assert array.shape == (3, 256, 341)
    small = tmp_path / "small.png"
    synthetic_photo(1, 1, (96, 72)).save(small)
    assert decode_resized(small, 256).shape == (3, 72, 96)  # never enlarged


def test_resize_keeps_portrait_orientation() -> None:
    assert resize_shorter_side(Image.new("RGB", (300, 900)), 100).size == (100, 300)


def test_accepts_bytes_streams_and_pil_images() -> None:
    data = jpeg_bytes(synthetic_photo(2, 3, (64, 48)))
    assert load_rgb(data).size == (64, 48)
    assert load_rgb(io.BytesIO(data)).size == (64, 48)
    assert load_rgb(Image.open(io.BytesIO(data)).convert("L")).mode == "RGB"


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("corrupt", BadImageError),
        ("truncated", BadImageError),
        ("zero-byte", BadImageError),
        ("not-an-image", UnsupportedFormatError),
        ("decompression-bomb", DecompressionBombError),
        ("too-small", BadImageError),
    ],
)
def test_bad_files_raise_a_clear_error_naming_the_file(tmp_path: Path, case: str, error: type) -> None:
    path = write_bad_file(tmp_path, case)
    with pytest.raises(error) as caught:
        load_rgb(path)
    message = str(caught.value)
    assert str(path) in message
    assert BAD_FILES[case][2] in message
    assert "\n" not in message


def test_bomb_is_refused_before_decoding_even_below_pillows_own_limit(tmp_path: Path) -> None:
    # 100 Mpx: over our 90 Mpx limit, under the 179 Mpx where Pillow itself would refuse.
    assert MAX_PIXELS < 100_000_000 < 2 * Image.MAX_IMAGE_PIXELS
    with pytest.raises(DecompressionBombError, match="100 Mpx"):
        load_rgb(png_with_header_size(10_000, 10_000))
    with pytest.raises(DecompressionBombError):
        load_rgb(png_with_header_size(30_000, 30_000))  # over Pillow's limit too


def test_minimum_side_is_inclusive() -> None:
    assert load_rgb(Image.new("RGB", (MIN_SIDE, 100))).size == (MIN_SIDE, 100)
    with pytest.raises(BadImageError, match="too small"):
        load_rgb(Image.new("RGB", (MIN_SIDE - 1, 100)))


def test_missing_file_is_a_bad_image_error(tmp_path: Path) -> None:
    with pytest.raises(BadImageError, match="no such file"):
        load_rgb(tmp_path / "gone.jpg")


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_a_damaged_exif_block_keeps_the_photo(tmp_path: Path) -> None:
    path = tmp_path / "odd_exif.jpg"
    synthetic_photo(1, 1, (64, 48)).save(path, exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x05\x01\x12")
    assert load_rgb(path).size == (64, 48)
