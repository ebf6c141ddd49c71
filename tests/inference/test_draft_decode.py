"""JPEG draft decoding (DCT scaling) in predict and geotag: the photo is decoded reduced, never below what
the eval transform resizes to, and the answer stays what the full decode gives (within rounding)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import synthetic_photo
from landmarks.data.images import load_rgb
from landmarks.export.onnx_export import export_onnx
from landmarks.inference.predictor import Predictor


@pytest.fixture(scope="module")
def predictors(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Predictor]:
    run = tmp_path_factory.mktemp("draft")
    checkpoint = Path(shutil.copy2(tiny_checkpoint, run / "best.pt"))
    export_onnx(checkpoint)
    return {name: Predictor.load(checkpoint, backend=name) for name in ("onnx", "torch")}


def _probs(predictor: Predictor, image: Image.Image) -> np.ndarray:
    return predictor.probabilities([predictor.backend.prepare(image)])[0]


def _large_jpeg(path: Path, image: Image.Image, factor: int) -> Path:
    image.resize((image.width * factor, image.height * factor), Image.Resampling.BICUBIC).save(path, quality=92)
    return path


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_large_jpegs_decode_reduced_with_the_same_answer(
    predictors: dict[str, Predictor], tmp_path: Path, backend: str
) -> None:
    predictor = predictors[backend]
    resize = round(predictor.image_size / predictor.checkpoint.model.crop_pct)
    assert predictor.decode_min_side == resize
    photo = _large_jpeg(tmp_path / "big.jpg", synthetic_photo(1, 4242, (160, 120)), 15)  # 2400 x 1800
    draft = load_rgb(photo, min_side=predictor.decode_min_side)
    assert min(draft.size) >= resize and draft.width <= 2400 // 8 + 1  # the smallest DCT scale that suffices
    full, reduced = _probs(predictor, load_rgb(photo)), _probs(predictor, draft)
    assert full.argmax() == reduced.argmax() and np.abs(full - reduced).max() < 0.03
    answer = predictor.predict(photo, k=1)  # predict itself takes the draft path
    assert answer.best.probability == pytest.approx(float(reduced.max()), abs=1e-4)


@pytest.mark.integration
def test_real_photos_answer_the_same_from_a_draft_decode(
    predictors: dict[str, Predictor], proxy44: Path, tmp_path: Path
) -> None:
    predictor = predictors["onnx"]
    photos = sorted((proxy44 / "test").glob("*/*.jpg"))[::97][:12]
    worst = 0.0
    for i, source in enumerate(photos):
        photo = _large_jpeg(tmp_path / f"{i}.jpg", load_rgb(source), 4)
        draft = load_rgb(photo, min_side=predictor.decode_min_side)
        assert min(draft.size) >= predictor.decode_min_side and draft.width < Image.open(photo).width
        worst = max(worst, float(np.abs(_probs(predictor, load_rgb(photo)) - _probs(predictor, draft)).max()))
    assert worst < 0.05
