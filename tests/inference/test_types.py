"""A guess is the catalog's Landmark record plus its rank: one record type, and the same JSON as before."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from landmarks.catalog import Landmark
from landmarks.inference.types import Guess, Prediction

EIFFEL = Landmark("16.Eiffel_Tower", 16, "Eiffel Tower", 48.8584, 2.2945, 1.0, "Paris", "France")
JSON_FIELDS = {
    "rank",
    "class_index",
    "class_id",
    "folder",
    "name",
    "probability",
    "latitude",
    "longitude",
    "radius_km",
    "city",
    "country",
}


def test_a_guess_carries_the_landmark_record_and_keeps_the_json_fields() -> None:
    guess = Guess.of(EIFFEL, rank=1, class_index=3, probability=0.9)
    assert isinstance(guess, Landmark) and guess.landmark == EIFFEL and guess.has_location
    prediction = Prediction(source="a.jpg", top=[guess], unknown=False, score=0.9, threshold=0.5)
    dumped = prediction.model_dump(mode="json")
    assert set(dumped["top"][0]) == JSON_FIELDS
    assert dumped["top"][0]["latitude"] == 48.8584 and dumped["top"][0]["class_index"] == 3
    assert Prediction.model_validate_json(prediction.model_dump_json()) == prediction


def test_a_guess_is_checked_like_a_landmark() -> None:
    with pytest.raises(ValidationError, match="together"):
        Guess(folder="x", class_id=None, name="X", latitude=1.0, rank=1, class_index=0, probability=0.5)
    with pytest.raises(ValidationError):
        Guess.of(EIFFEL, rank=1, class_index=0, probability=1.5)


def test_the_api_catalog_entry_is_the_landmark_record_plus_its_index() -> None:
    from landmarks.serve.schemas import CatalogResponse, LandmarkOut

    entry = LandmarkOut(**EIFFEL.to_dict(), class_index=3)
    body = CatalogResponse(count=1, landmarks=[entry]).model_dump(mode="json")
    assert set(body["landmarks"][0]) == (JSON_FIELDS - {"rank", "probability"}) | {"source"}
    assert body["landmarks"][0]["source"] == "model"  # gallery landmarks say "gallery"
