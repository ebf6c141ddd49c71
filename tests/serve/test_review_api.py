"""The review view's API: listing the proposals and their evidence, deciding, applying."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from review_helpers import (
    EXIFTOOL,
    JSON,
    LOCAL,
    Planned,
    apply,
    journal_applier,
    make_client,
    post,
)
from serve_helpers import FakePredictor

from landmarks.catalog import Landmark
from landmarks.library.db import LibraryDB
from landmarks.library.lock import LibraryLock
from landmarks.serve.app import create_app
from landmarks.serve.review import ReviewLibrary
from landmarks.serve.settings import ServeSettings

pytestmark = pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed")


@pytest.fixture
def calls() -> list[list[int]]:
    return []


@pytest.fixture
def client(planned: Planned, calls: list[list[int]]) -> Iterator[TestClient]:
    with make_client(planned, calls) as client:
        yield client


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
    assert "12 minutes" in cafe["reason"] and cafe["anchor_landmark"] == "Eiffel Tower"
    assert "no serial" in cafe["caution"] and paris["caution"] is None
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
    r = post(client, "proposals/accept-above", {"min_confidence": 0.93})
    assert sorted(r.json()["changed"]) == sorted([ids["paris"], ids["rome"]])  # 0.93 itself counts
    post(client, "proposals/decide", {"ids": [ids["rome"]], "status": "proposed"})
    post(client, "proposals/decide", {"ids": [ids["dim"]], "status": "rejected"})
    r = post(client, "proposals/accept-above", {"min_confidence": 0.0})
    # paris is accepted already, dim rejected; the estimate has no confidence of its own: decided on its own
    assert r.json()["changed"] == [ids["rome"]]
    r = post(client, "proposals/accept-above", {"min_confidence": 0.0, "kind": "estimate"})
    assert r.json()["changed"] == []
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


def test_page_is_served_with_the_strict_headers(client: TestClient) -> None:
    r = client.get("/review")
    assert r.status_code == 200 and "review.js" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    for asset in ("/static/review.js", "/static/review.css", "/static/geo.js"):
        assert client.get(asset).status_code == 200


def test_order_by_confidence_puts_the_least_sure_first(client: TestClient, planned: Planned) -> None:
    ids = planned.proposals

    def order(by: str) -> list[int]:
        return [p["id"] for p in client.get("/api/v1/library/proposals", params={"order": by}).json()["proposals"]]

    assert order("confidence") == [ids["dim"], ids["rome"], ids["paris"], ids["cafe"]]  # no confidence: last
    assert order("-confidence") == [ids["paris"], ids["rome"], ids["dim"], ids["cafe"]]
    assert client.get("/api/v1/library/proposals", params={"order": "random"}).status_code == 422
