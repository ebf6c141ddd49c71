"""The admin endpoint that adds a gallery landmark over HTTP, and the catalog listing gallery landmarks."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers import TINY_CLASSES, synthetic_photo
from landmarks.inference.predictor import Predictor
from landmarks.serve.app import create_app
from landmarks.serve.settings import ServeSettings

TOKEN = "s3cret-token"
NEW_LABEL = 6
URL = "/api/v1/admin/landmarks"


def jpeg(label: int, seed: int) -> bytes:
    buf = io.BytesIO()
    synthetic_photo(label, seed, (80, 64)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture
def predictor(tiny_checkpoint: Path, tmp_path: Path) -> Predictor:
    return Predictor.load(shutil.copy(tiny_checkpoint, tmp_path / "best.pt"))


@pytest.fixture
def client(predictor: Predictor) -> Iterator[TestClient]:
    settings = ServeSettings(admin_token=TOKEN, gallery_max_photos=6, max_upload_bytes=200_000)
    with TestClient(create_app(predictor, settings)) as c:
        yield c


def fields(name: str = "Old Chapel", lat: str = "52.4", lon: str = "0.26", **more: str) -> dict[str, str]:
    return {"name": name, "latitude": lat, "longitude": lon, **more}


def photos(n: int, label: int = NEW_LABEL, seed: int = 0) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("photos", (f"p{i}.jpg", jpeg(label, seed + i), "image/jpeg")) for i in range(n)]


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_without_a_token_the_endpoint_does_not_exist(predictor: Predictor) -> None:
    with TestClient(create_app(predictor, ServeSettings())) as c:
        assert c.post(URL, data=fields(), files=photos(2), headers=auth()).status_code == 404
        assert URL not in c.get("/openapi.json").json()["paths"]


def test_a_wrong_or_missing_token_is_401_and_stores_nothing(client: TestClient, predictor: Predictor) -> None:
    for headers in (auth("wrong"), {}, {"Authorization": TOKEN}):
        r = client.post(URL, data=fields(), files=photos(3), headers=headers)
        assert r.status_code == 401 and r.json()["code"] == "unauthorised"
        assert r.headers["www-authenticate"] == "Bearer"
    assert not predictor.gallery_path.exists()
    assert len(client.get("/api/v1/landmarks").json()["landmarks"]) == len(TINY_CLASSES)


def test_add_then_the_page_catalog_and_predict_know_it(client: TestClient, predictor: Predictor) -> None:
    bad = [("photos", ("broken.jpg", b"\xff\xd8\xff not a jpeg", "image/jpeg"))]
    r = client.post(URL, data=fields(radius_km="0.4", country="UK"), files=photos(5) + bad, headers=auth())
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["photos"] == 5 and body["gallery_landmarks"] == 1 and "broken.jpg" in body["skipped"][0]
    assert body["landmark"]["source"] == "gallery" and body["landmark"]["class_index"] == len(TINY_CLASSES)
    catalog = client.get("/api/v1/landmarks").json()["landmarks"]
    assert [lm["source"] for lm in catalog] == ["model"] * len(TINY_CLASSES) + ["gallery"]
    assert catalog[-1]["name"] == "Old Chapel" and catalog[-1]["radius_km"] == 0.4
    answer = client.post("/api/v1/predict", files={"file": ("q.jpg", jpeg(NEW_LABEL, 999), "image/jpeg")}).json()
    assert answer["top"][0]["name"] == "Old Chapel" and answer["top"][0]["latitude"] == 52.4
    assert predictor.gallery_path.is_file()


@pytest.mark.parametrize(
    ("data", "files", "status", "code"),
    [
        (fields(lat="95"), 3, 422, "bad_landmark"),
        (fields(lon="east"), 3, 422, "bad_field"),
        ({"latitude": "1", "longitude": "2"}, 3, 422, "missing_field"),
        (fields(name="Eiffel Tower"), 3, 422, "bad_landmark"),
        (fields(), 7, 422, "too_many_files"),
        (fields(), 0, 422, "missing_file"),
    ],
)
def test_bad_requests_store_nothing(
    client: TestClient, predictor: Predictor, data: dict, files: int, status: int, code: str
) -> None:
    r = client.post(URL, data=data, files=photos(files) or {"other": ("x.txt", b"x")}, headers=auth())
    assert r.status_code == status and r.json()["code"] == code, r.text
    assert not predictor.gallery_path.exists()


def test_upload_limits_apply(client: TestClient, predictor: Predictor) -> None:
    big = [("photos", ("big.png", b"\x89PNG" + b"0" * 300_000, "image/png"))]
    r = client.post(URL, data=fields(), files=big, headers=auth())
    assert r.status_code == 413
    unreadable = [("photos", (f"b{i}.jpg", b"GIF89a nope", "image/gif")) for i in range(2)]
    r = client.post(URL, data=fields(), files=unreadable, headers=auth())
    assert r.status_code == 422 and "no readable photo" in r.json()["detail"]
    assert not predictor.gallery_path.exists()
    assert client.post(URL, data=fields(), files=photos(2), headers=auth()).status_code == 201
    before = predictor.gallery_path.read_bytes()
    again = client.post(URL, data=fields(name="Other"), files=photos(1), headers=auth())  # the same photo
    assert again.status_code == 422 and "already in the gallery" in again.json()["detail"]
    assert predictor.gallery_path.read_bytes() == before
