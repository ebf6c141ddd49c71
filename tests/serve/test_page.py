"""The page at `/` in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

A live uvicorn serves the app on loopback; the page gets real photos from ../shared/data/proxy44.
The checks compare what the page renders with the JSON the API answered, and the marker's pixel
position with the equirectangular projection of the guess's coordinates.

To write the README's screenshot: LANDMARKS_SCREENSHOT=docs/screenshot.png pytest tests/serve/test_page.py
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from serve_helpers import live_server

from landmarks.inference.predictor import Predictor
from landmarks.inference.types import Prediction
from landmarks.serve.app import create_app
from landmarks.serve.settings import ServeSettings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.integration]

MAX_UPLOAD = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def predictor(tiny_checkpoint: Path) -> Predictor:
    """The real Predictor with a small model trained in the test session (tests/conftest.py)."""
    return Predictor.load(tiny_checkpoint)


@pytest.fixture(scope="module")
def site(predictor: Predictor) -> Iterator[str]:
    with live_server(create_app(predictor, ServeSettings(max_upload_bytes=MAX_UPLOAD))) as url:
        yield url


@pytest.fixture(scope="module")
def photos(proxy44: Path) -> list[Path]:
    """One real photo from each of three landmarks (any would do; these show the landmark clearly)."""
    names = ("eiffel_tower", "machu_picchu", "colosseum")
    return [sorted((proxy44 / "test" / name).glob("*.jpg"))[-2] for name in names]


@contextmanager
def opened(browser: Browser, url: str) -> Iterator[Page]:
    """A fresh page at `url`, ready once its script has loaded the catalog; no JavaScript errors."""
    context = browser.new_context(viewport={"width": 1280, "height": 760}, reduced_motion="reduce")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready='true']")
    try:
        yield page
    finally:
        context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest.fixture
def page(browser: Browser, site: str) -> Iterator[Page]:
    with opened(browser, site) as page:
        yield page


# ----------------------------------------------------------------------------------------------- helpers


def upload(page: Page, photo: Path) -> dict[str, Any]:
    """Choose `photo` with the file picker; the API's JSON answer once the page has drawn it."""
    with page.expect_response("**/api/v1/predict") as answer:
        page.set_input_files("#file-input", str(photo))
    data = answer.value.json()
    page.wait_for_function("n => document.querySelectorAll('#topk li').length === n", arg=len(data["top"]))
    return data


def assert_marker_at(page: Page, lat: float, lon: float) -> None:
    """The marker's centre is where the equirectangular projection puts (lat, lon) on the drawn map."""
    world = page.locator(".map-image").bounding_box()
    marker = page.locator("#marker").bounding_box()
    assert world and marker
    assert world["width"] / world["height"] == pytest.approx(2.0, abs=0.01)  # the projection's shape
    expected_x = world["x"] + (lon + 180) / 360 * world["width"]
    expected_y = world["y"] + (90 - lat) / 180 * world["height"]
    assert marker["x"] + marker["width"] / 2 == pytest.approx(expected_x, abs=1.5)
    assert marker["y"] + marker["height"] / 2 == pytest.approx(expected_y, abs=1.5)


def percent(text: str) -> float:
    """The number in '12.3%'; '<0.1%' reads as 0.05, within 0.051 of anything under 0.1%."""
    if text.strip() == "<0.1%":
        return 0.05
    match = re.fullmatch(r"(\d+\.\d)%", text.strip())
    assert match, text
    return float(match.group(1))


def assert_topk_rendered(page: Page, data: dict[str, Any]) -> None:
    rows = page.locator("#topk li")
    assert rows.count() == len(data["top"]) == data["k"]
    for i, guess in enumerate(data["top"]):
        row = rows.nth(i)
        assert row.locator(".guess-name").inner_text().startswith(guess["name"])
        assert percent(row.locator(".guess-pct").inner_text()) == pytest.approx(guess["probability"] * 100, abs=0.051)
        bar = row.locator(".bar").bounding_box()
        fill = row.locator(".bar-fill").bounding_box()
        assert bar and fill
        assert fill["width"] / bar["width"] == pytest.approx(max(guess["probability"], 2 / bar["width"]), abs=0.01)


# ------------------------------------------------------------------------------------------------- tests


def test_photo_gives_bars_place_and_marker(page: Page, photos: list[Path], site: str, tmp_path: Path) -> None:
    catalog = page.request.get(site + "/api/v1/landmarks").json()["landmarks"]
    located = [lm for lm in catalog if lm["latitude"] is not None]
    assert page.locator(".catalog-dot").count() == len(located) > 0
    assert page.evaluate("document.querySelector('.map-image').naturalWidth") > 0  # the offline map loaded

    data = upload(page, photos[0])
    assert page.evaluate("document.querySelector('#preview').naturalWidth") > 0  # the photo is shown
    assert_topk_rendered(page, data)

    if data["unknown"]:  # a real model may not be sure: the page says so and puts nothing on the map
        assert page.locator("#unknown-banner").is_visible()
        assert page.locator("#marker").is_hidden()
        page.locator("#topk .guess").nth(0).click()
    best = data["top"][0]
    assert page.locator("#landmark-name").inner_text() == best["name"]
    assert best["city"] in page.locator("#landmark-place").inner_text()
    coords = page.locator("#landmark-coords").inner_text()
    assert f"{abs(best['latitude']):.4f}° {'N' if best['latitude'] >= 0 else 'S'}" in coords
    assert f"{abs(best['longitude']):.4f}° {'E' if best['longitude'] >= 0 else 'W'}" in coords
    osm = page.locator("#osm-link").get_attribute("href") or ""
    assert osm.startswith("https://www.openstreetmap.org/")
    assert f"mlat={best['latitude']:.5f}" in osm and f"mlon={best['longitude']:.5f}" in osm
    assert_marker_at(page, best["latitude"], best["longitude"])
    # The closest training photos, as thumbnails the server re-encoded (the training photos are at hand here).
    neighbours = page.locator("#neighbours .neighbour")
    assert neighbours.count() == min(3, len(data["neighbours"])) > 0
    assert [int(i) for i in neighbours.evaluate_all("els => els.map(e => e.dataset.index)")] == [
        n["index"] for n in data["neighbours"][:3]
    ]
    page.wait_for_function("() => [...document.querySelectorAll('#neighbours img')].every(i => i.naturalWidth > 0)")

    second = data["top"][1]  # choosing another guess moves the marker there
    page.locator("#topk .guess").nth(1).click()
    assert page.locator("#landmark-name").inner_text() == second["name"]
    assert_marker_at(page, second["latitude"], second["longitude"])
    page.locator("#topk .guess").nth(0).click()
    assert_marker_at(page, best["latitude"], best["longitude"])

    shot = tmp_path / "page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if target := os.environ.get("LANDMARKS_SCREENSHOT"):
        shutil.copyfile(shot, target)


def test_k_control_asks_again(page: Page, photos: list[Path]) -> None:
    first = upload(page, photos[1])
    assert first["k"] == 3
    with page.expect_response("**/api/v1/predict") as answer:
        page.fill("#k-input", "2")
    data = answer.value.json()
    assert data["k"] == 2
    page.wait_for_function("() => document.querySelectorAll('#topk li').length === 2")
    assert_topk_rendered(page, data)
    assert [g["class_index"] for g in data["top"]] == [g["class_index"] for g in first["top"][:2]]


def _file_transfer(page: Page, photo: Path) -> Any:
    """A DataTransfer holding `photo`, built inside the page (as a drag or a paste would carry it)."""
    return page.evaluate_handle(
        """([b64, name]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, { type: "image/jpeg" }));
            return dt;
        }""",
        [base64.b64encode(photo.read_bytes()).decode(), photo.name],
    )


def test_drop_and_paste(page: Page, photos: list[Path]) -> None:
    with page.expect_response("**/api/v1/predict") as answer:
        page.dispatch_event("#dropzone", "drop", {"dataTransfer": _file_transfer(page, photos[1])})
    assert answer.value.json()["source"] == photos[1].name
    page.wait_for_function("() => document.querySelectorAll('#topk li').length === 3")
    assert photos[1].name in page.locator("#file-name").inner_text()

    with page.expect_response("**/api/v1/predict") as answer:
        page.evaluate(
            "dt => document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt }))",
            _file_transfer(page, photos[2]),
        )
    data = answer.value.json()
    assert data["source"] == photos[2].name
    page.wait_for_function(
        "n => document.querySelector('#topk li .guess-name').textContent.startsWith(n)",
        arg=data["top"][0]["name"],
    )


class AlwaysUnsure:
    """A predictor's answers with a threshold no photo reaches: the page's "unknown" state."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.classes = inner.classes
        self.landmarks = inner.landmarks
        self.threshold = 1.0

    def predict(self, image: Any, k: int = 3, source: str | None = None) -> Prediction:
        prediction = self.inner.predict(image, k=k, source=source)
        return prediction.model_copy(update={"unknown": True, "threshold": self.threshold})


def test_unknown_state(browser: Browser, predictor: Predictor, photos: list[Path]) -> None:
    """When the model is not sure, the page says so, lists the closest guesses and marks no place."""
    with live_server(create_app(AlwaysUnsure(predictor))) as url, opened(browser, url) as page:
        data = upload(page, photos[0])
        assert data["unknown"] is True
        assert page.locator("#unknown-banner").is_visible()
        assert "below the 100.0% needed" in page.locator("#unknown-text").inner_text()
        assert page.locator("#landmark-name").inner_text() == "Not recognised"
        assert page.locator("#marker").is_hidden()
        assert page.locator("#osm-link").is_hidden()
        assert_topk_rendered(page, data)
        page.locator("#topk .guess").nth(0).click()  # a guess can still be looked at on the map
        assert_marker_at(page, data["top"][0]["latitude"], data["top"][0]["longitude"])


def test_gallery_landmarks_are_listed_drawn_and_answered(
    browser: Browser, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    """A landmark added with `landmarks gallery add` is listed beside the built-in ones, drawn as a blue dot
    at its coordinates, and a photo of it is answered with its name and place."""
    from typer.testing import CliRunner

    from helpers import synthetic_photo
    from landmarks.cli import app

    checkpoint = Path(shutil.copy(tiny_checkpoint, tmp_path / "best.pt"))  # its gallery is this test's own
    shots = tmp_path / "chapel"
    shots.mkdir()
    for i in range(5):
        synthetic_photo(6, i, (80, 64)).save(shots / f"shot_{i}.jpg")  # a 'landmark' the tiny model never saw
    added = CliRunner().invoke(app, ["gallery", "add", str(shots), "--checkpoint", str(checkpoint), "--name",
                                     "Old Chapel", "--lat", "52.4", "--lon", "-30.5", "--country", "UK"])  # fmt: skip
    assert added.exit_code == 0, added.output
    query = tmp_path / "query.jpg"
    synthetic_photo(6, 999, (80, 64)).save(query)
    with live_server(create_app(Predictor.load(checkpoint))) as url, opened(browser, url) as page:
        assert page.locator("#gallery-panel").is_visible()
        assert page.locator("#gallery-list li").all_inner_texts() == ["Old Chapel · UK"]
        assert page.locator("#gallery-count").inner_text().endswith(", 1 added")
        dot = page.locator(".gallery-dot")
        assert dot.count() == 1 and dot.get_attribute("title") == "Old Chapel (added)"
        world, box = page.locator(".map-image").bounding_box(), dot.bounding_box()
        assert world and box
        assert box["x"] + box["width"] / 2 == pytest.approx(world["x"] + (-30.5 + 180) / 360 * world["width"], abs=1.5)
        assert box["y"] + box["height"] / 2 == pytest.approx(world["y"] + (90 - 52.4) / 180 * world["height"], abs=1.5)
        data = upload(page, query)
        assert data["top"][0]["name"] == "Old Chapel"
        assert page.locator("#topk .guess-name").first.inner_text().startswith("Old Chapel")


def test_bad_files_get_clear_errors(page: Page) -> None:
    with page.expect_response("**/api/v1/predict") as answer:
        page.set_input_files(
            "#file-input",
            files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a photo\n" * 50}],
        )
    assert answer.value.status == 415
    detail = answer.value.json()["detail"]
    error = page.locator("#error")
    error.wait_for(state="visible")
    assert "not an image we can read" in error.inner_text()
    assert detail.rstrip(".") in error.inner_text()
    assert page.locator("#result").is_hidden()
    assert page.locator("#drop-hint").is_visible()  # asks for another photo

    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.evaluate(
        """size => {
            const dt = new DataTransfer();
            dt.items.add(new File([new Uint8Array(size)], "huge.jpg", { type: "image/jpeg" }));
            const drop = new DragEvent("drop", { dataTransfer: dt, bubbles: true });
            document.querySelector("#dropzone").dispatchEvent(drop);
        }""",
        MAX_UPLOAD + 1,
    )
    assert "up to 2 MB" in error.inner_text()
    assert "huge.jpg" in error.inner_text()
    assert not [url for url in requests if "/api/" in url]  # refused before uploading


def test_docs_render_offline(page: Page, site: str) -> None:
    pytest.importorskip("fastapi_offline", reason="fastapi-offline ships Swagger UI's assets")
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(site) else outside.append(r.url))
    page.goto(site + "/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Landmarks" in page.locator(".swagger-ui .info .title").inner_text()
    assert page.get_by_text("/api/v1/predict", exact=True).count() >= 1
    assert outside == []
