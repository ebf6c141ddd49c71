"""The review view's API: listing, deciding, applying; the token rule; and confinement to the library root."""

from __future__ import annotations

import io
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import SecretStr
from review_helpers import EXIFTOOL, TOKEN, Planned, located, outside_photo, plan_library
from serve_helpers import FakePredictor, live_server

from landmarks.catalog import Landmark
from landmarks.data.decode import file_digest
from landmarks.errors import LandmarksError
from landmarks.library.db import LibraryDB
from landmarks.library.lock import LibraryLock
from landmarks.library.records import begin_write, finish_write, proposals
from landmarks.serve.app import create_app
from landmarks.serve.review import ReviewLibrary
from landmarks.serve.review_apply import geotag_applier, geotag_undoer
from landmarks.serve.settings import ServeSettings

pytestmark = pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed")

LOCAL = "http://127.0.0.1:8000"
JSON = {"Content-Type": "application/json"}


def journal_applier(calls: list[list[int]]) -> Any:
    """A writer that journals each proposal as written without touching the file (the real one is geotag's)."""

    def apply(db: LibraryDB, ids: Sequence[int], progress: Callable[[int], None]) -> dict[str, Any]:
        calls.append(list(ids))
        rows = {r.id: r for r in proposals(db, status="accepted")}
        for pid in ids:
            row = rows[pid]
            write = begin_write(db, row.photo_id, target=db.photo(row.photo_id).path, tags={}, previous={},
                                proposal_id=pid)  # fmt: skip
            finish_write(db, write, ok=True)
            progress(1)
        return {"written": len(ids)}

    return apply


@pytest.fixture
def planned(tmp_path: Path) -> Planned:
    return plan_library(tmp_path / "library", tmp_path / "index.sqlite")


@pytest.fixture
def calls() -> list[list[int]]:
    return []


def make_client(planned: Planned, calls: list[list[int]], base_url: str = LOCAL, **settings: Any) -> TestClient:
    library = ReviewLibrary(planned.root, planned.db, applier=journal_applier(calls), lock_timeout_s=0.2)
    app = create_app(FakePredictor([Landmark("eiffel", None, "Eiffel Tower")]), ServeSettings(**settings), library)
    return TestClient(app, base_url=base_url)


@pytest.fixture
def client(planned: Planned, calls: list[list[int]]) -> Iterator[TestClient]:
    with make_client(planned, calls) as client:
        yield client


def post(client: TestClient, path: str, body: dict[str, Any], **headers: str) -> Any:
    return client.post(f"/api/v1/library/{path}", json=body, headers=headers)


def apply(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    """Start an apply job and wait for it: its final state."""
    r = post(client, "apply", body)
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 30
    while (state := client.get("/api/v1/library/job").json())["running"]:
        assert time.monotonic() < deadline, "the apply job did not finish"
        time.sleep(0.02)
    return state


# --------------------------------------------------------------------------------------------- the view


def test_proposals_carry_their_evidence_and_estimates_their_anchor(client: TestClient, planned: Planned) -> None:
    r = client.get("/api/v1/library/proposals")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 4 and body["counts"]["proposed"] == 4
    by_path = {p["photo"]["path"]: p for p in body["proposals"]}
    assert list(by_path) == sorted(by_path)  # photo-path order
    paris = by_path["paris.jpg"]
    assert paris["kind"] == "landmark" and paris["landmark"] == "Eiffel Tower" and paris["confidence"] == 0.97
    assert [g["name"] for g in paris["top"]] == ["Eiffel Tower", "Colosseum"]
    assert paris["neighbours"] == [{"index": 0, "name": "Eiffel Tower", "similarity": 0.91}]
    assert paris["photo"]["photo_id"] == planned.photos["paris.jpg"] and paris["changed"] is False
    cafe = by_path["cafe.jpg"]
    assert cafe["kind"] == "estimate" and cafe["radius_km"] == 1.5
    assert cafe["anchor"] == {"photo_id": planned.photos["paris.jpg"], "path": "paris.jpg"}
    assert "12 minutes" in cafe["reason"]
    only = client.get("/api/v1/library/proposals", params={"kind": "estimate"}).json()
    assert [p["id"] for p in only["proposals"]] == [planned.proposals["cafe"]]
    page = client.get("/api/v1/library/proposals", params={"limit": 2, "offset": 2}).json()
    assert page["total"] == 4 and [p["photo"]["path"] for p in page["proposals"]] == list(by_path)[2:]


def test_located_map_lists_photos_with_their_own_gps(client: TestClient, planned: Planned) -> None:
    body = client.get("/api/v1/library/located").json()
    assert body["total"] == 1 and body["unlocated"] == 4
    (gps,) = body["photos"]
    assert gps["photo_id"] == planned.photos["gps.jpg"] and gps["located_by"] == "gps"
    assert (gps["latitude"], gps["longitude"]) == pytest.approx((40.6892, -74.0445))


def test_thumbnail_is_reencoded_pixels_without_the_files_metadata(client: TestClient, planned: Planned) -> None:
    r = client.get(f"/api/v1/library/photos/{planned.photos['gps.jpg']}.jpg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.content != (planned.root / "gps.jpg").read_bytes()
    image = Image.open(io.BytesIO(r.content))
    assert image.size == (240, 180)
    assert not image.getexif()  # the photo's GPS did not travel into the thumbnail
    assert client.get(f"/api/v1/library/photos/{planned.photos['gps.jpg']}.jpg?side=1024").status_code == 200
    assert client.get(f"/api/v1/library/photos/{planned.photos['gps.jpg']}.jpg?side=5000").status_code == 422


def test_decide_accept_reject_and_take_back(client: TestClient, planned: Planned) -> None:
    ids = planned.proposals
    r = post(client, "proposals/decide", {"ids": [ids["paris"], ids["rome"]], "status": "accepted"})
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["accepted"] == 2
    assert post(client, "proposals/decide", {"ids": [ids["dim"]], "status": "rejected"}).json()["counts"] == {
        "proposed": 1, "accepted": 2, "rejected": 1, "applied": 0, "undone": 0,
    }  # fmt: skip
    assert post(client, "proposals/decide", {"ids": [ids["rome"]], "status": "proposed"}).status_code == 200
    statuses = {p["id"]: p["status"] for p in client.get("/api/v1/library/proposals").json()["proposals"]}
    assert statuses == {ids["paris"]: "accepted", ids["rome"]: "proposed", ids["dim"]: "rejected",
                        ids["cafe"]: "proposed"}  # fmt: skip
    missing = post(client, "proposals/decide", {"ids": [ids["paris"], 999], "status": "rejected"})
    assert missing.status_code == 409 and "999" in missing.json()["detail"]
    assert statuses[ids["paris"]] == "accepted"  # all or none
    assert post(client, "proposals/decide", {"ids": [], "status": "accepted"}).status_code == 422
    assert post(client, "proposals/decide", {"ids": [1], "status": "applied"}).status_code == 422


def test_accept_above_takes_only_undecided_ones_at_or_above(client: TestClient, planned: Planned) -> None:
    ids = planned.proposals
    post(client, "proposals/decide", {"ids": [ids["rome"]], "status": "rejected"})
    r = post(client, "proposals/accept-above", {"min_confidence": 0.8})
    assert sorted(r.json()["changed"]) == sorted([ids["paris"], ids["cafe"]])  # rome was rejected, dim is 0.41
    r = post(client, "proposals/accept-above", {"min_confidence": 0.3, "kind": "landmark"})
    assert r.json()["changed"] == [ids["dim"]]
    assert post(client, "proposals/accept-above", {"min_confidence": 1.5}).status_code == 422


def test_apply_writes_accepted_ones_and_refuses_the_rest(
    client: TestClient, planned: Planned, calls: list[list[int]]
) -> None:
    ids = planned.proposals
    post(client, "proposals/decide", {"ids": [ids["paris"], ids["rome"]], "status": "accepted"})
    assert client.get("/api/v1/library/job").json()["started"] is None
    body = apply(client, {"ids": [ids["paris"], ids["dim"]]})
    assert body["total"] == body["done"] == 1 and body["error"] is None
    assert body["succeeded"] == [ids["paris"]] and body["refused"] == {str(ids["dim"]): "not an accepted proposal"}
    assert calls == [[ids["paris"]]]
    body = apply(client, {})  # all accepted ones: rome is left
    assert body["succeeded"] == [ids["rome"]] and body["counts"]["applied"] == 2


def test_apply_is_one_job_at_a_time_with_progress(planned: Planned) -> None:
    gate, seen = threading.Event(), []

    def slow(db: LibraryDB, ids: Sequence[int], progress: Callable[[int], None]) -> dict[str, Any]:
        seen.extend(ids)
        progress(1)
        assert gate.wait(10)
        return journal_applier([])(db, ids[1:], progress) | {"reasons": {str(ids[0]): "skipped: has GPS"}}

    library = ReviewLibrary(planned.root, planned.db, applier=slow, lock_timeout_s=0.2)
    app = create_app(FakePredictor([Landmark("e", None, "E")]), ServeSettings(), library)
    with TestClient(app, base_url=LOCAL) as client:
        ids = list(planned.proposals.values())
        post(client, "proposals/decide", {"ids": ids, "status": "accepted"})
        assert post(client, "apply", {}).status_code == 202
        assert post(client, "apply", {}).status_code == 409  # one job at a time
        decided = post(client, "proposals/decide", {"ids": ids[:1], "status": "rejected"})
        assert decided.status_code == 409  # the job holds the library
        running = client.get("/api/v1/library/job").json()
        assert running["running"] and running["total"] == 4 and running["done"] == 1
        gate.set()
        final = library.job.wait(10)
    assert not final.running and final.done == 4 and final.succeeded == seen[1:]
    assert final.refused == {str(seen[0]): "skipped: has GPS"} and final.counts["accepted"] == 1


def test_a_failing_writer_ends_the_job_with_its_error(planned: Planned) -> None:
    def broken(db: LibraryDB, ids: Sequence[int], progress: Callable[[int], None]) -> dict[str, Any]:
        raise OSError("disk full")

    library = ReviewLibrary(planned.root, planned.db, applier=broken, lock_timeout_s=0.2)
    app = create_app(FakePredictor([Landmark("e", None, "E")]), ServeSettings(), library)
    with TestClient(app, base_url=LOCAL) as client:
        post(client, "proposals/decide", {"ids": [planned.proposals["paris"]], "status": "accepted"})
        state = apply(client, {})
        assert state["error"] == "OSError: disk full" and state["succeeded"] == []
        assert state["counts"]["accepted"] == 1
        # The lock was let go: the next change goes through.
        assert (
            post(client, "proposals/decide", {"ids": [planned.proposals["paris"]], "status": "rejected"}).status_code
            == 200
        )


def test_a_run_holding_the_library_gets_a_clear_409(client: TestClient, planned: Planned) -> None:
    lock = LibraryLock(planned.db).acquire(1.0)
    try:
        r = post(client, "proposals/decide", {"ids": [planned.proposals["paris"]], "status": "accepted"})
        assert r.status_code == 409 and "in use by another landmarks run" in r.json()["detail"]
        assert client.get("/api/v1/library/proposals").status_code == 200  # reads never wait for a run
    finally:
        lock.release()


def test_bodies_are_bounded(planned: Planned, calls: list[list[int]]) -> None:
    with make_client(planned, calls, review_max_body_bytes=2048, review_max_ids=3) as client:
        big = {"ids": list(range(1, 600)), "status": "accepted"}
        assert post(client, "proposals/decide", big).status_code == 413
        many = {"ids": [1, 2, 3, 4], "status": "accepted"}
        assert post(client, "proposals/decide", many).status_code == 413
        assert client.post("/api/v1/library/apply", content=b"{not json", headers=JSON).status_code == 422


# ------------------------------------------------------------------------------------------ the token rule


def test_off_loopback_without_a_token_is_refused_at_start(planned: Planned, calls: list[list[int]]) -> None:
    with pytest.raises(LandmarksError, match="needs a token"):
        make_client(planned, calls, host="0.0.0.0")
    make_client(planned, calls, host="::1")  # loopback in IPv6 is fine


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
    _review_library(planned.root, planned.db, off)
    assert off.token is not None and len(off.token.get_secret_value()) >= 32
    local = ServeSettings()
    _review_library(planned.root, planned.db, local)
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


def test_page_is_served_with_the_strict_headers(client: TestClient) -> None:
    r = client.get("/review")
    assert r.status_code == 200 and "review.js" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    for asset in ("/static/review.js", "/static/review.css", "/static/geo.js"):
        assert client.get(asset).status_code == 200


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
