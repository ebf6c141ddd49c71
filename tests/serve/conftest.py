"""Fixtures for the service tests (helpers that tests import live in serve_helpers.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from review_helpers import Planned, plan_library

from landmarks.catalog import Landmark

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = Path("/usr/bin/chromium")
# Without the networking flags Chromium keeps trying to reach Google's hosts on this closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def planned(tmp_path: Path) -> Planned:
    """A scanned and planned library of five photos (review_helpers), its index beside it."""
    return plan_library(tmp_path / "library", tmp_path / "index.sqlite")


@pytest.fixture
def small_catalog() -> list[Landmark]:
    """Five landmarks in both folder styles, one of them without coordinates."""
    return [
        Landmark("16.Eiffel_Tower", 16, "Eiffel Tower", 48.8584, 2.2945, 1.0, "Paris", "France"),
        Landmark("09.Golden_Gate_Bridge", 9, "Golden Gate", 37.8199, -122.4783, 2.0, "San Francisco", "USA"),
        Landmark("41.Machu_Picchu", 41, "Machu Picchu", -13.1631, -72.545, 2.0, "Cusco", "Peru"),
        Landmark("sydney_opera_house", None, "Sydney Opera House", -33.8568, 151.2153, 1.0, "Sydney", "AU"),
        Landmark("mystery_tower", None, "Mystery Tower"),
    ]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI must run the browser test (apt-get install chromium; pip install playwright)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (the page tests)."""
    if not CHROMIUM.is_file():
        _unavailable(f"{CHROMIUM} is missing (Debian package chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (the dev extra has it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
