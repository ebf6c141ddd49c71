"""The review view at /review in a real headless Chromium: look, accept two, reject one, write, read back.

A live uvicorn serves the app on loopback over a small scanned and planned library (review_helpers:
real photos from ../shared/data when at hand); the written photos are read back with the exiftool binary.

To write the README's picture: LANDMARKS_REVIEW_SCREENSHOT=docs/review.png pytest tests/serve/test_review_page.py
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from geotag_helpers import make_photo
from PIL import Image
from pydantic import SecretStr
from review_helpers import EXIFTOOL, TOKEN, Planned, exiftool_json, located, plan_library, real_photos
from serve_helpers import FakePredictor, live_server, photo_bytes

from landmarks.catalog import Landmark
from landmarks.geotag.library_undo import undo_library
from landmarks.library.db import LibraryDB, open_library
from landmarks.library.records import add_proposal
from landmarks.library.scan import scan_library
from landmarks.serve.app import create_app
from landmarks.serve.review import ReviewLibrary
from landmarks.serve.review_apply import Applier, geotag_applier, geotag_undoer
from landmarks.serve.settings import ServeSettings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed"),
]


SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture
def planned(tmp_path: Path) -> Planned:
    """The planned library, of real photos when ../shared/data is at hand."""
    return plan_library(tmp_path / "library", tmp_path / "index.sqlite", sources=real_photos(SHARED))


class WithTrainingPhotos(FakePredictor):
    """The stand-in predictor, with one training photo at hand for the neighbour thumbnails."""

    def __init__(self, photo: Path) -> None:
        super().__init__([Landmark("eiffel", None, "Eiffel Tower", 48.8584, 2.2945)])
        self.photo = photo

    def training_photo(self, index: int) -> Path | None:
        return self.photo if index == 0 else None


@contextmanager
def review_site(planned: Planned, tmp_path: Path, applier: Applier, **settings: Any) -> Iterator[str]:
    training = tmp_path / "train.jpg"
    real = sorted((SHARED / "proxy44" / "train" / "eiffel_tower").glob("*.jpg"))
    training.write_bytes(real[0].read_bytes() if real else photo_bytes(seed=11, size=(200, 150)))
    library = ReviewLibrary(planned.root, planned.db, applier=applier, undoer=geotag_undoer)
    with live_server(create_app(WithTrainingPhotos(training), ServeSettings(**settings), library)) as url:
        yield url


@contextmanager
def opened(browser: Browser, url: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, reduced_motion="reduce")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_selector("body[data-ready='true']")
    try:
        yield page
    finally:
        context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def all_loaded(page: Page, selector: str) -> None:
    page.wait_for_function(
        "s => [...document.querySelectorAll(s)].every(i => i.complete && i.naturalWidth > 0)", arg=selector
    )


def assert_dot_at(page: Page, map_id: str, dot: str, lat: float, lon: float) -> None:
    """The dot's centre is where the equirectangular projection puts (lat, lon) on that map."""
    world = page.locator(f"#{map_id} .map-image").bounding_box()
    box = page.locator(dot).bounding_box()
    assert world and box
    assert box["x"] + box["width"] / 2 == pytest.approx(world["x"] + (lon + 180) / 360 * world["width"], abs=1.5)
    assert box["y"] + box["height"] / 2 == pytest.approx(world["y"] + (90 - lat) / 180 * world["height"], abs=1.5)


def card(page: Page, proposal_id: int) -> Any:
    return page.locator(f"#proposal-{proposal_id}")


def click_and_wait(page: Page, locator: Any, status: str) -> None:
    with page.expect_response("**/api/v1/library/proposals/decide"):
        locator.click()
    page.wait_for_function(
        "([id, s]) => document.querySelector('#proposal-' + id)?.dataset.status === s",
        arg=[int(locator.locator("xpath=ancestor::li[1]").get_attribute("data-id")), status],
    )


def test_review_accept_two_reject_one_write_and_read_back(browser: Browser, planned: Planned, tmp_path: Path) -> None:
    ids = planned.proposals
    with review_site(planned, tmp_path, geotag_applier()) as url, opened(browser, url + "/review") as page:
        cards = page.locator("#proposals .proposal")
        assert cards.count() == 4
        all_loaded(page, "#proposals img.thumb")  # thumbnails the server drew from the photos' pixels
        paris = card(page, ids["paris"])
        assert paris.locator(".landmark").inner_text() == "Eiffel Tower"
        assert paris.locator(".confidence").inner_text() == "97.0%"
        assert "Colosseum" in paris.locator(".guesses").inner_text()
        assert paris.locator(".neighbour").count() == 1
        all_loaded(page, "#proposals .neighbour img")

        # The estimate: its own colour, its anchor photo as a thumbnail and a link to it.
        cafe = card(page, ids["cafe"])
        assert "kind-estimate" in (cafe.get_attribute("class") or "")
        assert cafe.locator(".landmark").inner_text() == "Near Eiffel Tower"
        assert "no serial" in cafe.locator(".caution").inner_text()
        colours = page.evaluate(
            "ids => ids.map(i => getComputedStyle(document.querySelector('#proposal-' + i)).borderTopColor)",
            [ids["paris"], ids["cafe"]],
        )
        assert colours[0] != colours[1]
        all_loaded(page, f"#proposal-{ids['cafe']} .anchor img")
        cafe.locator(".anchor-link").click()
        page.locator("#viewer").wait_for(state="visible")
        assert page.locator("#viewer-caption").inner_text() == "paris.jpg"
        all_loaded(page, "#viewer-image")
        with Image.open(planned.root / "paris.jpg") as original:
            expected = min(original.width, round(original.width * 1024 / max(original.size)))
        assert page.evaluate("document.querySelector('#viewer-image').naturalWidth") == expected
        page.locator("#viewer button").click()

        # Both maps: the planned places, and what is located so far (one photo with its own GPS).
        assert page.locator("#proposal-dots .dot").count() == 4
        assert_dot_at(page, "proposal-map", f"#proposal-dots .dot[data-id='{ids['rome']}']", 41.8902, 12.4922)
        assert page.locator("#proposal-dots .dot.kind-estimate").count() == 1
        assert page.locator("#located-dots .dot").count() == 1
        assert_dot_at(page, "located-map", "#located-dots .dot.by-gps", 40.6892, -74.0445)
        # Zoomed to its dots (Paris to Petra), the map is larger and the dots still where they belong.
        rome = f"#proposal-dots .dot[data-id='{ids['rome']}']"
        world = page.locator("#proposal-map .map-image").bounding_box()
        dot = page.locator(rome).bounding_box()
        page.locator("#proposal-map .zoom").click()
        page.wait_for_timeout(100)
        zoomed = page.locator("#proposal-map .map-image").bounding_box()
        assert world and dot and zoomed and zoomed["width"] > 5 * world["width"]
        assert_dot_at(page, "proposal-map", rome, 41.8902, 12.4922)
        assert page.locator(rome).bounding_box()["width"] == pytest.approx(dot["width"], abs=0.5)
        for i in ids.values():  # every planned place stays in view
            box, frame = (
                page.locator(f"#proposal-dots .dot[data-id='{i}']").bounding_box(),
                page.locator("#proposal-map").bounding_box(),
            )
            assert frame["x"] <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"]
        page.locator("#proposal-map .zoom").click()

        click_and_wait(page, paris.locator(".accept"), "accepted")
        click_and_wait(page, card(page, ids["rome"]).locator(".accept"), "accepted")
        click_and_wait(page, card(page, ids["dim"]).locator(".reject"), "rejected")
        assert "2 accepted" in page.locator("#counts").inner_text()
        assert page.locator("#apply").inner_text() == "Write 2 accepted"
        if target := os.environ.get("LANDMARKS_REVIEW_SCREENSHOT"):
            all_loaded(page, "#proposals img")
            page.screenshot(path=target, full_page=True)

        with page.expect_response(lambda r: r.url.endswith("/api/v1/library/apply") and r.status == 202):
            page.locator("#apply").click()
        page.locator("#apply-result").wait_for(state="visible")
        job = page.request.get(url + "/api/v1/library/job").json()
        assert sorted(job["succeeded"]) == sorted([ids["paris"], ids["rome"]]) and job["refused"] == {}
        assert "Wrote 2 photos." in page.locator("#apply-result").inner_text()
        page.wait_for_function("() => document.querySelectorAll('#located-dots .dot').length === 3")
        assert page.locator("#located-dots .dot.by-landmark").count() == 2
        # Written ones leave the "not yet written" list; the rejected one and the undecided estimate stay.
        page.wait_for_function("() => document.querySelectorAll('#proposals .proposal').length === 2")
        assert card(page, ids["dim"]).get_attribute("data-status") == "rejected"

        assert located(planned.root / "paris.jpg") == pytest.approx((48.8584, 2.2945), abs=1e-6)
        assert located(planned.root / "trip" / "rome.jpg") == pytest.approx((41.8902, 12.4922), abs=1e-6)
        assert located(planned.root / "trip" / "dim.jpg") is None  # rejected
        assert located(planned.root / "cafe.jpg") is None  # never decided
        shown = exiftool_json(planned.root / "paris.jpg")["XMP-iptcExt:LocationShown"]
        assert shown[0]["LocationName"] == "Eiffel Tower" and shown[0]["City"] == "Paris"

        # A written one can be taken back from its card.
        page.select_option("#status-filter", "applied")
        page.wait_for_function("() => document.querySelectorAll('.proposal[data-status=applied]').length === 2")
        card(page, ids["rome"]).locator(".undo").click()
        page.wait_for_function("() => document.querySelector('#apply-result').dataset.action === 'undo'")
        assert "Took back 1 photo." in page.locator("#apply-result").inner_text()
        page.wait_for_function("() => document.querySelectorAll('#located-dots .dot').length === 2")
        assert located(planned.root / "trip" / "rome.jpg") is None
        assert located(planned.root / "paris.jpg") is not None

    # The rest is in the index's journal too: `landmarks geotag undo DIR` takes it back.
    with open_library(planned.root, planned.db) as db:
        assert undo_library(db).ok
    assert located(planned.root / "paris.jpg") is None


def test_accept_all_above_a_confidence(browser: Browser, planned: Planned, tmp_path: Path) -> None:
    ids = planned.proposals
    with review_site(planned, tmp_path, geotag_applier()) as url, opened(browser, url + "/review") as page:
        page.fill("#min-confidence", "90")
        with page.expect_response("**/api/v1/library/proposals/accept-above") as answer:
            page.locator("#accept-above").click()
        assert sorted(answer.value.json()["changed"]) == sorted([ids["paris"], ids["rome"]])
        page.wait_for_function("() => document.querySelectorAll('.proposal[data-status=accepted]').length === 2")
        page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('Accepted 2 ')")
        assert card(page, ids["cafe"]).get_attribute("data-status") == "proposed"  # an estimate: no confidence
        assert card(page, ids["paris"]).locator(".accept").get_attribute("aria-pressed") == "true"


def test_token_comes_in_the_fragment_or_the_form(browser: Browser, planned: Planned, tmp_path: Path) -> None:
    with review_site(planned, tmp_path, geotag_applier(), token=SecretStr(TOKEN)) as url:
        seen: list[str] = []
        with opened(browser, f"{url}/review#token={TOKEN}") as page:
            page.on("request", lambda r: seen.append(r.url))
            assert page.locator("#proposals .proposal").count() == 4
            assert TOKEN not in page.url  # taken out of the address bar (and never sent: it is a fragment)
            all_loaded(page, "#proposals img.thumb")
        assert not [u for u in seen if TOKEN in u]
        with opened(browser, f"{url}/review") as page:
            page.locator("#token-form").wait_for(state="visible")
            assert page.locator("#proposals .proposal").count() == 0
            page.fill("#token-input", TOKEN)
            page.locator("#token-form button").click()
            page.wait_for_function("() => document.querySelectorAll('#proposals .proposal').length === 4")


def test_a_large_plan_loads_in_pages_and_thumbnails_near_the_screen(browser: Browser, tmp_path: Path) -> None:
    root, index = tmp_path / "big", tmp_path / "big.sqlite"
    for i in range(230):
        make_photo(root / f"p{i:03d}.jpg", size=(64, 48), seed=i)
    with open_library(root, index) as db:
        scan_library(root, db, progress=False)
        for i, photo in enumerate(db.photos()):
            add_proposal(db, photo.id, kind="landmark", landmark="Eiffel Tower", latitude=48.8584 - i / 100,
                         longitude=2.2945, confidence=0.5 + i / 1000)  # fmt: skip
    planned = Planned(root, index, {}, {})
    with review_site(planned, tmp_path, geotag_applier()) as url, opened(browser, url + "/review") as page:
        assert page.locator("#proposals .proposal").count() == 200
        assert "showing 200 of 230" in page.locator("#counts").inner_text()
        all_loaded(page, "#proposals .proposal:first-child img.thumb")
        drawn = page.evaluate("document.querySelectorAll('#proposals img.thumb[src]').length")
        assert 0 < drawn < 80  # only the cards near the screen asked for their photo
        page.locator("#more").click()
        page.wait_for_function("() => document.querySelectorAll('#proposals .proposal').length === 230")
        assert page.locator("#more").is_hidden()
        assert page.locator("#proposal-dots .dot").count() == 230
        page.locator("#proposals .proposal").last.scroll_into_view_if_needed()
        all_loaded(page, "#proposals .proposal:last-child img.thumb")


def test_a_page_opened_during_a_write_follows_it(browser: Browser, planned: Planned, tmp_path: Path) -> None:
    gate, real = threading.Event(), geotag_applier()

    def held(db: LibraryDB, ids: Sequence[int], progress: Callable[[int], None]) -> dict[str, Any]:
        assert gate.wait(20)
        return real(db, ids, progress)

    ids = planned.proposals
    with review_site(planned, tmp_path, held) as url:
        with httpx.Client(base_url=url) as client:
            client.post("/api/v1/library/proposals/decide", json={"ids": [ids["paris"]], "status": "accepted"})
            assert client.post("/api/v1/library/apply", json={}).status_code == 202
        with opened(browser, url + "/review") as page:
            page.wait_for_function("() => document.querySelector('#status').textContent.includes('0 of 1')")
            gate.set()
            page.locator("#apply-result").wait_for(state="visible")
            assert "Wrote 1 photo." in page.locator("#apply-result").inner_text()
    assert located(planned.root / "paris.jpg") == pytest.approx((48.8584, 2.2945), abs=1e-6)
