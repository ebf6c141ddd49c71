"""GeometricVerifier: inlier counts that tell a transformed copy from an unrelated texture, on synthetic images."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from landmarks.errors import BadImageError, LandmarksError

pytest.importorskip("cv2", reason="the 'verify' extra (opencv-python-headless) is not installed")

from landmarks.inference.verify import GeometricVerifier


def texture(seed: int, size: tuple[int, int] = (400, 300)) -> Image.Image:
    """Random rectangles, ellipses and lines: plenty of corners and blobs for a local-feature detector."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 255, 3)))
    draw = ImageDraw.Draw(image)
    w, h = size
    for _ in range(160):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(4, 50)), y0 + int(rng.integers(4, 50))
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        shape = rng.integers(0, 3)
        if shape == 0:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        elif shape == 1:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.line((x0, y0, x1, y1), fill=colour, width=3)
    return image.filter(ImageFilter.GaussianBlur(0.7))


def transformed(image: Image.Image) -> Image.Image:
    """Rotated by 15 degrees, scaled to 80 % and cropped: the same scene from another camera."""
    rotated = image.rotate(15, resample=Image.BICUBIC, expand=True, fillcolor=(128, 128, 128))
    scaled = rotated.resize((round(rotated.width * 0.8), round(rotated.height * 0.8)), Image.LANCZOS)
    return scaled.crop((20, 15, scaled.width - 30, scaled.height - 25))


@pytest.fixture
def refs(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "same": tmp_path / "same.jpg",
        "other": tmp_path / "other.jpg",
        "blank": tmp_path / "blank.png",
    }
    transformed(texture(1)).save(paths["same"], quality=92)
    texture(2).save(paths["other"], quality=92)
    Image.new("RGB", (300, 200), (90, 90, 90)).save(paths["blank"])
    return paths


@pytest.mark.parametrize("detector", ["sift", "orb"])
def test_transformed_copy_has_many_inliers_an_unrelated_texture_few(refs: dict[str, Path], detector: str) -> None:
    verifier = GeometricVerifier(detector=detector)  # type: ignore[arg-type]
    query = texture(1)
    same, other = verifier.inliers(query, refs["same"]), verifier.inliers(query, refs["other"])
    assert same >= 40
    assert other <= 10
    assert same >= 5 * max(other, 1)


def test_fundamental_geometry_also_separates(refs: dict[str, Path]) -> None:
    verifier = GeometricVerifier(geometry="fundamental")
    query = texture(1)
    assert verifier.inliers(query, refs["same"]) >= 40
    assert verifier.inliers(query, refs["other"]) <= 15


def test_blank_images_give_zero_without_crashing(refs: dict[str, Path]) -> None:
    verifier = GeometricVerifier()
    blank = Image.new("RGB", (320, 240), (200, 200, 200))
    assert verifier.verify(blank, [(0, refs["same"]), (1, refs["blank"])]) == [0, 0]
    assert verifier.inliers(texture(1), refs["blank"]) == 0
    tiny = Image.new("RGB", (4, 4), (0, 0, 0))
    assert verifier.inliers(tiny, refs["same"]) == 0


def test_verify_counts_each_candidate_in_order_and_is_deterministic(refs: dict[str, Path]) -> None:
    query = texture(1)
    candidates = [(3, refs["other"]), (7, refs["same"]), (3, refs["blank"])]
    first = GeometricVerifier().verify(query, candidates)
    again = GeometricVerifier().verify(query, candidates)
    assert first == again
    assert first[1] == max(first) and first[1] >= 40 and first[2] == 0
    verifier = GeometricVerifier()
    assert [verifier.inliers(query, p) for _, p in candidates] == first


def test_large_photos_are_bounded_before_detection() -> None:
    verifier = GeometricVerifier(max_side=200)
    found = verifier.features(texture(1, (800, 600)))
    assert len(found) > 0
    assert found.points[:, 0].max() < 200 and found.points[:, 1].max() < 150


def test_reference_cache_is_lru_bounded_and_sees_changed_files(refs: dict[str, Path]) -> None:
    verifier = GeometricVerifier(cache_size=1)
    query = texture(1)
    verifier.inliers(query, refs["same"])
    verifier.inliers(query, refs["same"])
    assert (verifier.cache_hits, verifier.cache_misses) == (1, 1)
    verifier.inliers(query, refs["other"])
    assert len(verifier._cache) == 1
    verifier.inliers(query, refs["same"])  # evicted by "other": computed again
    assert verifier.cache_misses == 3

    before = verifier.inliers(query, refs["same"])
    texture(5).save(refs["same"], quality=92)  # same path, other photo
    stat = refs["same"].stat()
    os.utime(refs["same"], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert before >= 40 and verifier.inliers(query, refs["same"]) <= 10


def test_unreadable_reference_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(BadImageError, match=r"broken\.jpg"):
        GeometricVerifier().inliers(texture(1), broken)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="detector"):
        GeometricVerifier(detector="surf")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="geometry"):
        GeometricVerifier(geometry="affine")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ratio"):
        GeometricVerifier(ratio=1.5)


def test_missing_opencv_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cv2", None)  # makes `import cv2` raise ImportError
    with pytest.raises(LandmarksError, match=r"pip install 'landmarks\[verify\]'"):
        GeometricVerifier()
