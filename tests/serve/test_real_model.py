"""The service around the real `Predictor` (a tiny model really trained on synthetic photos)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers import TINY_CLASSES, synthetic_photo
from landmarks.inference.predictor import Predictor
from landmarks.serve.app import create_app
from landmarks.serve.settings import ServeSettings


@pytest.fixture(scope="module")
def predictor(tiny_checkpoint: Path) -> Predictor:
    return Predictor.load(tiny_checkpoint)


def _jpeg(label: int, seed: int) -> bytes:
    buffer = io.BytesIO()
    synthetic_photo(label, seed, (120, 90)).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def test_answers_are_the_models_own(predictor: Predictor) -> None:
    """Top-k, probabilities, score, threshold and the unknown flag all come from the checkpoint."""
    with TestClient(create_app(predictor, ServeSettings())) as client:
        info = client.get("/api/v1/info").json()
        answers = []
        for label in range(len(TINY_CLASSES)):
            photo = _jpeg(label, seed=10_000 + label)
            r = client.post("/api/v1/predict", files={"file": ("p.jpg", photo, "image/jpeg")}, data={"k": "2"})
            assert r.status_code == 200, r.text
            answers.append((label, photo, r.json()))
    assert info["threshold"] == pytest.approx(predictor.threshold)
    assert info["classes"] == len(TINY_CLASSES)
    right = 0
    for label, photo, body in answers:
        direct = predictor.predict(photo, k=2, source="p.jpg")
        assert [g["class_index"] for g in body["top"]] == [g.class_index for g in direct.top]
        assert [g["probability"] for g in body["top"]] == pytest.approx([g.probability for g in direct.top])
        assert body["score"] == pytest.approx(direct.score)
        assert body["threshold"] == pytest.approx(predictor.threshold)
        assert body["unknown"] is (direct.score < predictor.threshold)
        right += body["top"][0]["folder"] == TINY_CLASSES[label]
    assert right >= len(TINY_CLASSES) - 1  # the synthetic classes are easy: the model is really used


def test_neighbours_come_with_answers_and_their_thumbnails_are_re_encoded(predictor: Predictor) -> None:
    with TestClient(create_app(predictor, ServeSettings())) as client:
        photo = _jpeg(2, seed=20_000)
        body = client.post("/api/v1/predict", files={"file": ("p.jpg", photo, "image/jpeg")}).json()
        assert body["neighbours"] and body["decision"] == predictor.score
        first = body["neighbours"][0]
        thumb = client.get(f"/api/v1/neighbours/{first['index']}.jpg")
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
        source = predictor.training_photo(first["index"])
        assert source is not None and thumb.content != source.read_bytes()  # decoded pixels, never the file
        from PIL import Image

        assert max(Image.open(io.BytesIO(thumb.content)).size) <= 160
        assert client.get("/api/v1/neighbours/999999.jpg").status_code == 404
        assert client.get("/api/v1/neighbours/-1.jpg").status_code == 404


def test_a_training_photo_outside_the_dataset_is_never_served(predictor: Predictor, tmp_path: Path) -> None:
    ckpt = predictor.checkpoint
    assert ckpt.index is not None
    saved = ckpt.index.ids[0]
    outside = tmp_path / "secret.jpg"
    synthetic_photo(0, 1).save(outside)
    try:
        ckpt.index.ids[0] = str(Path("..") / ".." / ".." / outside)  # a tampered index pointing out of the root
        assert predictor.training_photo(0) is None
        ckpt.index.ids[0] = str(outside)  # an absolute path
        assert predictor.training_photo(0) is None
    finally:
        ckpt.index.ids[0] = saved
    assert predictor.training_photo(0) is not None
