"""Fixtures for the service tests (helpers that tests import live in serve_helpers.py)."""

from __future__ import annotations

import pytest

from landmarks.catalog import Landmark


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
