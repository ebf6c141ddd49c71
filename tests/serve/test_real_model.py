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
