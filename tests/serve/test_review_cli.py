"""`landmarks serve --library DIR [--db FILE]`: the review view from the command line."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from review_helpers import EXIFTOOL, LOCAL, Planned, apply, exiftool_json, post
from serve_helpers import FakePredictor
from typer.testing import CliRunner

from landmarks.catalog import Landmark
from landmarks.errors import LibraryError

pytestmark = pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed")


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What `uvicorn.run` would have been given; the model is a stand-in."""
    import uvicorn

    from landmarks.inference import predictor as predictor_module

    fake = FakePredictor([Landmark("eiffel", None, "Eiffel Tower")])
    fake.checkpoint_path = "model.pt"  # type: ignore[attr-defined]
    fake.backend = SimpleNamespace(path=Path("model.pt"), name="torch")  # type: ignore[attr-defined]
    fake.gallery, fake.gallery_path = [], Path("model.gallery.npz")  # type: ignore[attr-defined]
    ran: dict[str, Any] = {}
    monkeypatch.setattr(predictor_module.Predictor, "load", classmethod(lambda cls, ckpt, **kw: fake))
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: ran.update(app=app, **kw))
    return ran


def serve(*args: str) -> Any:
    from landmarks.cli import app as cli

    return CliRunner().invoke(cli, ["serve", "--checkpoint", "model.pt", *args])


def test_loopback_review_needs_no_token(started: dict[str, Any], planned: Planned) -> None:
    result = serve("--library", str(planned.root), "--db", str(planned.db), "--port", "8124")
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8124/review\n" in result.output  # no token in the URL
    with TestClient(started["app"], base_url="http://127.0.0.1:8124") as client:
        assert client.get("/api/v1/library/proposals").json()["total"] == 4


def test_off_loopback_review_gets_a_made_up_token(started: dict[str, Any], planned: Planned) -> None:
    result = serve("--library", str(planned.root), "--db", str(planned.db), "--host", "0.0.0.0")
    assert result.exit_code == 0, result.output
    assert started["host"] == "0.0.0.0"
    token = result.output.split("/review#token=")[1].split()[0]
    assert len(token) >= 32
    with TestClient(started["app"], base_url="http://192.0.2.7:8000") as client:
        assert client.get("/api/v1/library/proposals").status_code == 401
        r = client.get("/api/v1/library/proposals", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json()["total"] == 4


def test_a_library_without_an_index_fails_before_listening(started: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    result = serve("--library", str(tmp_path / "photos"), "--db", str(tmp_path / "none.sqlite"))
    assert isinstance(result.exception, LibraryError) and "library scan" in str(result.exception)
    assert started == {}


def test_without_library_there_is_no_review_view(started: dict[str, Any]) -> None:
    assert serve().exit_code == 0
    with TestClient(started["app"], base_url="http://127.0.0.1:8000") as client:
        assert client.get("/review").status_code == 404
        assert client.get("/api/v1/library/proposals").status_code == 404


def test_write_xmp_goes_to_sidecars_with_tags(started: dict[str, Any], planned: Planned) -> None:
    photo = planned.root / "paris.jpg"
    before = photo.read_bytes()
    result = serve("--library", str(planned.root), "--db", str(planned.db), "--write", "xmp")
    assert result.exit_code == 0, result.output
    with TestClient(started["app"], base_url=LOCAL) as client:
        post(client, "proposals/decide", {"ids": [planned.proposals["paris"]], "status": "accepted"})
        assert apply(client, {})["succeeded"] == [planned.proposals["paris"]]
    assert photo.read_bytes() == before  # the photo untouched
    sidecar = exiftool_json(planned.root / "paris.jpg.xmp")
    assert sidecar["XMP-exif:GPSLatitude"] == pytest.approx(48.8584, abs=1e-6)
    assert "Eiffel Tower" in sidecar["XMP-dc:Subject"]  # --tags is on for sidecars
