"""The offline world map: its projection, and rings that cross the antimeridian or circle a pole."""

from __future__ import annotations

import importlib.util
import itertools
import re
from pathlib import Path
from types import ModuleType

import pytest

from landmarks.serve.app import STATIC_DIR

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_world_map.py"


@pytest.fixture(scope="module")
def world_map() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_world_map", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_projection_is_the_pages(world_map: ModuleType) -> None:
    """x = (lon + 180) / 360 * W, y = (90 - lat) / 180 * H, as the page places markers."""
    assert world_map.project(-180, 90) == (0, 0)
    assert world_map.project(180, -90) == (world_map.WIDTH, world_map.HEIGHT)
    assert world_map.project(2.2945, 48.8584) == (1823, 411)  # Eiffel Tower, 0.1 degree units


def test_ring_across_the_antimeridian_is_drawn_on_both_edges(world_map: ModuleType) -> None:
    ring = [(170.0, 60.0), (-170.0, 60.0), (-170.0, 65.0), (170.0, 65.0), (170.0, 60.0)]
    copies = world_map.unwrap(ring)
    assert len(copies) == 2
    for copy in copies:  # continuous: no 340-degree jump that would draw a band across the map
        assert all(abs(a[0] - b[0]) <= 180 for a, b in itertools.pairwise(copy))
    spans = sorted((min(p[0] for p in c), max(p[0] for p in c)) for c in copies)
    assert spans == [(-190.0, -170.0), (170.0, 190.0)]


def test_ring_around_a_pole_is_closed_along_the_map_edge(world_map: ModuleType) -> None:
    ring = [(-180.0, -80.0), (-60.0, -70.0), (60.0, -75.0), (180.0, -80.0)]
    (copy,) = world_map.unwrap(ring)
    assert copy[-2:] == [(180.0, -90.0), (-180.0, -90.0)]


def test_ordinary_ring_is_left_alone(world_map: ModuleType) -> None:
    ring = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 0.0)]
    assert world_map.unwrap(ring) == [ring]
    path = world_map.ring_path(ring)
    assert path.startswith("M1800 900l") and path.endswith("z")


def test_shipped_map_uses_that_projection() -> None:
    svg = (STATIC_DIR / "world.svg").read_text()
    assert 'viewBox="0 0 3600 1800"' in svg
    assert 'preserveAspectRatio="none"' in svg
    assert len(re.findall(r"<path d=", svg)) > 150  # one per country, plus the graticule
    assert len(svg.encode()) < 150_000  # small enough to ship and load at once
