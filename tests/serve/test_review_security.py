"""The review view's safety: the token rule, other sites kept out, paths confined to the library root,
bounded bodies; the real writers never follow a link out."""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from review_helpers import (
    EXIFTOOL,
    LOCAL,
    TOKEN,
    Planned,
    apply,
    journal_applier,
    located,
    make_client,
    outside_photo,
    post,
)
from serve_helpers import FakePredictor, live_server

from landmarks.catalog import Landmark
from landmarks.data.decode import file_digest
from landmarks.errors import LandmarksError
from landmarks.serve.app import create_app
from landmarks.serve.review import ReviewLibrary
from landmarks.serve.review_apply import geotag_applier, geotag_undoer
from landmarks.serve.settings import ServeSettings

pytestmark = pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed")


@pytest.fixture
def calls() -> list[list[int]]:
    return []


@pytest.fixture
def client(planned: Planned, calls: list[list[int]]) -> Iterator[TestClient]:
    with make_client(planned, calls) as client:
        yield client


# ------------------------------------------------------------------------------------------ the token rule


def test_off_loopback_without_a_token_is_refused_at_start(planned: Planned, calls: list[list[int]]) -> None:
    with pytest.raises(LandmarksError, match="needs a token"):
        make_client(planned, calls, host="0.0.0.0")
    make_client(planned, calls, host="::1")  # loopback in IPv6 is fine
    with pytest.raises(LandmarksError, match="at least 16 characters"):
        make_client(planned, calls, host="0.0.0.0", token=SecretStr("short"))


@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.1"])
def test_with_a_token_every_library_request_needs_it(planned: Planned, calls: list[list[int]], host: str) -> None:
    with make_client(planned, calls, host=host, token=SecretStr(TOKEN), base_url="http://192.0.2.7:8000") as client:
        decide = {"ids": [planned.proposals["paris"]], "status": "accepted"}
        for headers in ({}, {"Authorization": "Bearer wrong-token-of-some-length"}, {"Authorization": TOKEN}):
            assert client.get("/api/v1/library/proposals", headers=headers).status_code == 401
            assert client.get(f"/api/v1/library/photos/{planned.photos['paris.jpg']}.jpg",
                              headers=headers).status_code == 401  # fmt: skip
            assert post(client, "proposals/decide", decide, **headers).status_code == 401
        good = {"Authorization": f"Bearer {TOKEN}"}
        assert client.get("/api/v1/library/proposals", headers=good).status_code == 200
        assert post(client, "proposals/decide", decide, **good).status_code == 200
        assert client.get("/review").status_code == 200  # the page itself holds nothing private
        assert client.get("/api/v1/library/proposals", headers=good).json()["counts"]["accepted"] == 1


def test_loopback_without_a_token_keeps_other_sites_out(client: TestClient, planned: Planned) -> None:
    decide = {"ids": [planned.proposals["paris"]], "status": "accepted"}
    # DNS rebinding: a page on evil.example whose name now points at 127.0.0.1 sends its own Host.
    assert client.get("/api/v1/library/proposals", headers={"Host": "evil.example:8000"}).status_code == 403
    assert post(client, "proposals/decide", decide, Origin="http://evil.example").status_code == 403
    form = client.post("/api/v1/library/proposals/decide", data={"ids": "1", "status": "accepted"})
    assert form.status_code == 415  # what a cross-site <form> can send
    assert client.get("/api/v1/library/proposals").json()["counts"]["accepted"] == 0
    assert post(client, "proposals/decide", decide, Origin=LOCAL).status_code == 200  # the page itself
    assert client.get("/api/v1/library/proposals", headers={"Host": "localhost:8000"}).status_code == 200


def test_cli_makes_up_a_token_off_loopback(planned: Planned) -> None:
    from landmarks.cli.serve import _review_library

    off = ServeSettings(host="0.0.0.0")
    _review_library(planned.root, planned.db, off, geotag_applier())
    assert off.token is not None and len(off.token.get_secret_value()) >= 32
    local = ServeSettings()
    _review_library(planned.root, planned.db, local, geotag_applier())
    assert local.token is None


# ------------------------------------------------------------------------------------------- confinement


def _set_path(planned: Planned, photo: str, path: str) -> None:
    with sqlite3.connect(planned.db) as conn:
        conn.execute("UPDATE photos SET path = ? WHERE id = ?", (path, planned.photos[photo]))


@pytest.mark.parametrize("bad", ["../outside/away.jpg", "trip/../../outside/away.jpg", "/ABS/away.jpg", "./paris.jpg"])
def test_index_paths_that_leave_the_root_are_403(
    client: TestClient, planned: Planned, tmp_path: Path, bad: str
) -> None:
    away = outside_photo(tmp_path / "outside" / "away.jpg")
    _set_path(planned, "paris.jpg", bad.replace("/ABS", str(away.parent)))
    r = client.get(f"/api/v1/library/photos/{planned.photos['paris.jpg']}.jpg")
    assert r.status_code == 403 and r.json()["code"] == "outside_library"


def test_symlinks_leading_out_are_403_and_never_written(
    client: TestClient, planned: Planned, tmp_path: Path, calls: list[list[int]]
) -> None:
    away = outside_photo(tmp_path / "outside" / "away.jpg")
    before = file_digest(away)
    (planned.root / "paris.jpg").unlink()  # the photo swapped for a link out after the scan
    (planned.root / "paris.jpg").symlink_to(away)
    trip = planned.root / "trip"
    trip.rename(tmp_path / "outside" / "trip")  # a folder swapped for a link out
    trip.symlink_to(tmp_path / "outside" / "trip", target_is_directory=True)
    for photo in ("paris.jpg", "trip/rome.jpg"):
        r = client.get(f"/api/v1/library/photos/{planned.photos[photo]}.jpg")
        assert r.status_code == 403 and "symlink" in r.json()["detail"]
    ids = planned.proposals
    post(client, "proposals/decide", {"ids": [ids["paris"], ids["rome"], ids["cafe"]], "status": "accepted"})
    body = apply(client, {})
    assert set(body["refused"]) == {str(ids["paris"]), str(ids["rome"])} and body["succeeded"] == [ids["cafe"]]
    assert calls == [[ids["cafe"]]]  # the writer never saw the photos behind the links
    assert file_digest(away) == before


def test_urls_cannot_name_paths(client: TestClient, planned: Planned) -> None:
    for url in (
        "/api/v1/library/photos/..%2F..%2Fetc%2Fpasswd.jpg",
        "/api/v1/library/photos/%2Fetc%2Fpasswd.jpg",
        "/api/v1/library/photos/paris.jpg",
        "/api/v1/library/photos/-1.jpg",
        "/api/v1/library/photos/99999.jpg",
        "/static/..%2F..%2Fserve%2Fapp.py",
        "/static/../app.py",
    ):
        assert client.get(url).status_code == 404, url


def test_missing_and_non_regular_files_are_404(client: TestClient, planned: Planned) -> None:
    (planned.root / "paris.jpg").unlink()
    assert client.get(f"/api/v1/library/photos/{planned.photos['paris.jpg']}.jpg").status_code == 404
    os.mkfifo(planned.root / "trip" / "rome.jpg.fifo")
    _set_path(planned, "trip/rome.jpg", "trip/rome.jpg.fifo")
    assert client.get(f"/api/v1/library/photos/{planned.photos['trip/rome.jpg']}.jpg").status_code == 404


def test_oversized_files_are_413(planned: Planned, calls: list[list[int]]) -> None:
    with make_client(planned, calls, review_max_photo_bytes=1000) as client:
        assert client.get(f"/api/v1/library/photos/{planned.photos['paris.jpg']}.jpg").status_code == 413


def test_a_stalled_body_gets_a_408(planned: Planned, calls: list[list[int]]) -> None:
    library = ReviewLibrary(planned.root, planned.db, applier=journal_applier(calls))
    settings = ServeSettings(body_idle_timeout_s=0.3)
    with live_server(create_app(FakePredictor([Landmark("e", None, "E")]), settings, library)) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(
                b"POST /api/v1/library/proposals/decide HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"ids": ['
            )
            answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408")
    assert calls == []


def test_real_writers_apply_and_undo_but_never_through_a_link_out(planned: Planned, tmp_path: Path) -> None:
    library = ReviewLibrary(planned.root, planned.db, applier=geotag_applier(), undoer=geotag_undoer)
    app = create_app(FakePredictor([Landmark("e", None, "E")]), ServeSettings(), library)
    ids = planned.proposals
    with TestClient(app, base_url=LOCAL) as client:
        post(client, "proposals/decide", {"ids": [ids["paris"], ids["rome"]], "status": "accepted"})
        assert sorted(apply(client, {})["succeeded"]) == sorted([ids["paris"], ids["rome"]])
        assert client.get("/api/v1/library/job").json()["action"] == "apply"
        assert located(planned.root / "paris.jpg") == pytest.approx((48.8584, 2.2945), abs=1e-6)
        # rome.jpg, written, is swapped for a link to a copy outside: undo must not follow it.
        away = tmp_path / "outside" / "rome.jpg"
        away.parent.mkdir()
        (planned.root / "trip" / "rome.jpg").rename(away)
        (planned.root / "trip" / "rome.jpg").symlink_to(away)
        r = post(client, "undo", {})
        assert r.status_code == 202 and r.json()["action"] == "undo"
        state = library.job.wait(30)
        assert state.succeeded == [ids["paris"]] and "symlink" in state.refused[str(ids["rome"])]
        assert state.counts["undone"] == 1 and state.counts["applied"] == 1
    assert located(planned.root / "paris.jpg") is None
    assert located(away) == pytest.approx((41.8902, 12.4922), abs=1e-6)  # untouched
