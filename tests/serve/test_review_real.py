"""The review view over a library planned by `geotag`'s real plan with the real Predictor (a tiny model
really trained in the test session): the evidence it shows is what the plan recorded."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from review_helpers import EXIFTOOL, LOCAL, apply, located, post

from helpers import TINY_CLASSES, synthetic_photo
from landmarks.geotag.plan import PlanOptions
from landmarks.geotag.plan import plan_library as plan
from landmarks.inference.predictor import Predictor
from landmarks.library.db import open_library
from landmarks.serve.app import create_app
from landmarks.serve.review import ReviewLibrary
from landmarks.serve.review_apply import geotag_applier, geotag_undoer
from landmarks.serve.settings import ServeSettings

pytestmark = [pytest.mark.integration, pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed")]


def test_a_real_plan_is_reviewed_with_its_evidence_and_written(tiny_checkpoint: Path, tmp_path: Path) -> None:
    predictor = Predictor.load(tiny_checkpoint)
    root, index = tmp_path / "library", tmp_path / "index.sqlite"
    root.mkdir()
    for label in range(len(TINY_CLASSES)):
        synthetic_photo(label, 30_000 + label, (120, 90)).save(root / f"photo{label}.jpg", quality=92)
    with open_library(root, index) as db:
        summary = plan(db, predictor, model_id="tiny", options=PlanOptions(min_confidence=0.0))
    assert summary.proposed

    library = ReviewLibrary(root, index, applier=geotag_applier(), undoer=geotag_undoer)
    with TestClient(create_app(predictor, ServeSettings(), library), base_url=LOCAL) as client:
        body = client.get("/api/v1/library/proposals").json()
        assert body["total"] == len(summary.proposed)
        for p in body["proposals"]:
            assert p["kind"] == "landmark" and p["top"] and p["top"][0]["name"] == p["landmark"]
            assert p["confidence"] is not None and p["neighbours"]  # the plan recorded the nearest photos
            thumb = client.get(f"/api/v1/neighbours/{p['neighbours'][0]['index']}.jpg")
            assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
            assert client.get(f"/api/v1/library/photos/{p['photo']['photo_id']}.jpg").status_code == 200
        first = body["proposals"][0]
        post(client, "proposals/decide", {"ids": [first["id"]], "status": "accepted"})
        assert apply(client, {})["succeeded"] == [first["id"]]
        assert client.get("/api/v1/library/located").json()["total"] == 1
    assert located(root / first["photo"]["path"]) == pytest.approx((first["latitude"], first["longitude"]), abs=1e-6)
