"""The time-based location estimator on synthetic photo rows: every case of the issue's bad input."""

from __future__ import annotations

import math
import random

import pytest

from landmarks.catalog import great_circle_km
from landmarks.library.estimate import (
    Anchor,
    Estimate,
    EstimateOptions,
    NoEstimate,
    Shot,
    estimate,
)
from landmarks.library.geo import lens_circle, toward

T0 = 1_689_330_000.0  # 2023-07-14 10:20 UTC
NOW = T0 + 365 * 86400
PARIS = (48.8584, 2.2945)
AGRA = (27.1751, 78.0421)
CAM = ("Canon", "EOS 5D", "0123456")


def shot(pid: int, minutes: float | None, *, camera: tuple = CAM, offset_h: float = 2.0, recorded: bool = True) -> Shot:
    """A photo `minutes` after T0 (UTC) by a camera clock set to UTC+`offset_h` (recorded in the photo or not)."""
    if minutes is None:
        return Shot(pid, *camera, None, None)
    utc = T0 + minutes * 60
    return Shot(pid, *camera, utc + offset_h * 3600, utc if recorded else None)


def anchor(pid: int, place: tuple = PARIS, radius: float = 0.5, landmark: str | None = "Eiffel") -> Anchor:
    return Anchor(pid, place[0], place[1], radius, "landmark" if landmark else "gps", landmark)


def by_id(outcomes: list) -> dict[int, Estimate | NoEstimate]:
    return {o.photo_id: o for o in outcomes}


def test_one_anchor_places_the_photo_with_a_radius_that_grows_with_the_gap() -> None:
    out = by_id(estimate([shot(1, 0), shot(2, 12)], {1: anchor(1)}, NOW))
    e = out[2]
    assert isinstance(e, Estimate) and e.method == "nearest" and e.anchor_id == 1 and e.anchor2_id is None
    assert (e.latitude, e.longitude) == PARIS
    assert e.radius_km == pytest.approx(0.5 + 5.0 * 12 / 60)
    assert e.gap_s == 720 and "12 min after photo 1 (Eiffel)" in e.reason
    assert 1 not in out  # anchors get no outcome


def test_between_two_anchors_the_estimate_follows_time_and_holds_both_discs() -> None:
    a, b = (48.8584, 2.2945), (48.8620, 2.2876)  # Eiffel Tower -> Trocadéro, 0.65 km
    options = EstimateOptions(speed_kmh=5.0)
    near_a = by_id(estimate([shot(1, 0), shot(2, 5), shot(3, 28)], {1: anchor(1, a), 3: anchor(3, b)}, NOW, options))
    near_b = by_id(estimate([shot(1, 0), shot(2, 23), shot(3, 28)], {1: anchor(1, a), 3: anchor(3, b)}, NOW, options))
    ea, eb = near_a[2], near_b[2]
    assert isinstance(ea, Estimate) and isinstance(eb, Estimate)
    assert ea.method == eb.method == "between" and {ea.anchor_id, ea.anchor2_id} == {1, 3}
    assert ea.anchor_id == 1 and eb.anchor_id == 3  # recorded as coming from the nearer one
    assert great_circle_km(*a, ea.latitude, ea.longitude) < great_circle_km(*a, eb.latitude, eb.longitude)
    for e, gap_a, gap_b in ((ea, 5, 23), (eb, 23, 5)):
        # never looser than the better single-anchor disc
        assert e.radius_km <= min(0.5 + 5 * gap_a / 60, 0.5 + 5 * gap_b / 60) + 1e-9


def test_lens_circle_holds_every_point_of_the_lens() -> None:
    rng = random.Random(0)
    for _ in range(300):
        d, ra, rb = rng.uniform(0, 5), rng.uniform(0.1, 4), rng.uniform(0.1, 4)
        if d > ra + rb:
            continue
        centre, radius = lens_circle(d, ra, rb)
        assert radius <= min(ra, rb) + 1e-9
        for _ in range(200):
            x, y = rng.uniform(-ra, ra), rng.uniform(-ra, ra)
            if math.hypot(x, y) <= ra and math.hypot(x - d, y) <= rb:
                assert math.hypot(x - centre, y) <= radius + 1e-6


def test_toward_walks_along_the_great_circle() -> None:
    lat, lon = toward(*PARIS, *AGRA, 1000.0)
    assert great_circle_km(*PARIS, lat, lon) == pytest.approx(1000.0, rel=1e-6)
    assert great_circle_km(lat, lon, *AGRA) == pytest.approx(great_circle_km(*PARIS, *AGRA) - 1000.0, rel=1e-6)


def test_window_other_cameras_and_serials() -> None:
    other_body = ("Canon", "EOS 5D", "999")
    phone = ("Apple", "iPhone 12", "")
    shots = [shot(1, 0), shot(2, 31), shot(3, 10, camera=other_body), shot(4, 10, camera=phone)]
    out = by_id(estimate(shots, {1: anchor(1)}, NOW))
    assert all(isinstance(out[i], NoEstimate) and out[i].reason == "no_anchor_in_window" for i in (2, 3, 4))


def test_cameras_without_serials_share_a_clock_by_make_and_model() -> None:
    no_serial = ("Apple", "iPhone 12", None)
    out = by_id(estimate([shot(1, 0, camera=no_serial), shot(2, 10, camera=no_serial)], {1: anchor(1)}, NOW))
    assert isinstance(out[2], Estimate)


def test_photos_that_cannot_be_timed_are_never_estimated() -> None:
    shots = [
        shot(1, 0),
        shot(2, None),  # no capture time
        shot(3, 10 + 400 * 24 * 60),  # a year after now: the clock was wrong
        Shot(4, *CAM, 86400.0, None),  # 1970: the clock was never set
        shot(5, 10, camera=(None, None, None)),  # no camera: no clock to match
    ]
    out = by_id(estimate(shots, {1: anchor(1)}, NOW))
    assert {i: out[i].reason for i in (2, 3, 4, 5)} == {
        2: "no_capture_time", 3: "clock_in_future", 4: "clock_unset", 5: "no_camera"
    }  # fmt: skip


def test_an_anchor_with_a_wrong_clock_places_nothing() -> None:
    future = NOW + 3 * 86400
    shots = [Shot(1, *CAM, future, future), Shot(2, *CAM, future + 60, future + 60)]
    out = by_id(estimate(shots, {1: anchor(1)}, NOW))
    assert out[2].reason == "clock_in_future"
    out = by_id(estimate([Shot(1, *CAM, future, future), shot(2, 0)], {1: anchor(1)}, NOW))
    assert out[2].reason == "no_anchor_in_window"


def test_utc_offsets_are_used_when_both_photos_have_them() -> None:
    # the camera's time zone was changed between the shots: local clock 2 h apart, the instants 10 min
    out = by_id(estimate([shot(1, 0, offset_h=0.0), shot(2, 10, offset_h=2.0)], {1: anchor(1)}, NOW))
    assert isinstance(out[2], Estimate) and out[2].gap_s == pytest.approx(600)
    # without an offset on one side only the camera's own clock compares them (here 2 h 10 min apart)
    out = by_id(estimate([shot(1, 0, offset_h=0.0), shot(2, 10, recorded=False)], {1: anchor(1)}, NOW))
    assert out[2].reason == "no_anchor_in_window"
    # the same clock setting with and without a recorded offset: 10 min apart on the clock
    out = by_id(estimate([shot(1, 0), shot(2, 10, recorded=False)], {1: anchor(1)}, NOW))
    assert isinstance(out[2], Estimate) and out[2].gap_s == pytest.approx(600)
    out = by_id(estimate([shot(1, 0, recorded=False), shot(2, -10, recorded=False)], {1: anchor(1)}, NOW))
    assert isinstance(out[2], Estimate) and out[2].gap_s == pytest.approx(600) and "before photo 1" in out[2].reason


def test_photos_out_of_order_give_the_same_answer() -> None:
    shots = [shot(i, m) for i, m in enumerate([0, 3, 7, 12, 20, 25, 33, 50])]
    anchors = {0: anchor(0), 5: anchor(5, (48.8606, 2.3376), landmark="Louvre")}
    expected = by_id(estimate(shots, anchors, NOW))
    for seed in range(5):
        shuffled = shots[:]
        random.Random(seed).shuffle(shuffled)
        assert by_id(estimate(shuffled, anchors, NOW)) == expected


def test_duplicate_timestamps() -> None:
    # a burst: the photo shares the anchor's second, so it is placed by the anchor's own radius
    out = by_id(estimate([shot(1, 0), shot(2, 0)], {1: anchor(1)}, NOW))
    assert isinstance(out[2], Estimate) and out[2].radius_km == pytest.approx(0.5)
    # two anchors of one second, thousands of km apart: nothing is placed by either
    shots = [shot(1, 0), shot(2, 0), shot(3, 5)]
    out = by_id(estimate(shots, {1: anchor(1), 2: anchor(2, AGRA, landmark="Taj Mahal")}, NOW))
    assert out[3].reason == "anchor_disputed" and "Taj Mahal" in out[3].detail


def test_contradicting_anchors_place_nothing_between_them_and_say_why() -> None:
    shots = [shot(1, 0), shot(2, 5), shot(3, 10), shot(4, -5)]
    out = by_id(estimate(shots, {1: anchor(1), 3: anchor(3, AGRA, landmark="Taj Mahal")}, NOW))
    assert out[2].reason == "contradicting_anchors"
    assert "6" in out[2].detail and "km apart" in out[2].detail and "Taj Mahal" in out[2].detail
    assert out[4].reason == "anchor_disputed"  # its only anchor is contested: which one is right is unknown


def test_an_anchor_contradicting_both_neighbours_is_dropped_as_misrecognised() -> None:
    shots = [shot(1, 0), shot(2, 5), shot(3, 10), shot(4, 7)]
    anchors = {1: anchor(1), 2: anchor(2, AGRA, landmark="Taj Mahal"), 3: anchor(3, (48.8606, 2.3376), 0.05, None)}
    out = by_id(estimate(shots, anchors, NOW))
    assert out[2].reason == "outlier" and "Taj Mahal" in out[2].detail
    e = out[4]
    assert isinstance(e, Estimate) and {e.anchor_id, e.anchor2_id} == {1, 3}
    assert great_circle_km(*PARIS, e.latitude, e.longitude) < 5


def test_radius_limit_and_fast_travel() -> None:
    park = anchor(1, (20.7204, -156.1552), radius=30.0, landmark="Haleakala")
    out = by_id(estimate([shot(1, 0), shot(2, 1)], {1: park}, NOW))
    assert out[2].reason == "radius_too_large" and "30.1 km" in out[2].detail
    # 20 km in 20 minutes (a taxi): the camera moved at least 60 km/h, so the lens between is wide
    shots = [shot(1, 0), shot(2, 10), shot(3, 20)]
    far = (PARIS[0], PARIS[1] + 20 / 73.2)
    anchors = {1: anchor(1, radius=0.05), 3: anchor(3, far, radius=0.05)}
    e = by_id(estimate(shots, anchors, NOW))[2]
    assert isinstance(e, Estimate) and e.method == "between" and "64.7 km/h" in e.reason
    assert 9 < great_circle_km(*PARIS, e.latitude, e.longitude) < 11 and 3 < e.radius_km < 5
    tight = EstimateOptions(max_radius_km=3)
    assert by_id(estimate(shots, anchors, NOW, tight))[2].reason == "radius_too_large"


def test_options_must_be_positive() -> None:
    with pytest.raises(ValueError, match="cameras"):
        EstimateOptions(cameras="all")
    with pytest.raises(ValueError, match="speed_kmh"):
        EstimateOptions(speed_kmh=0)
    with pytest.raises(ValueError, match="window_s"):
        EstimateOptions(window_s=math.nan)


def test_anchors_hours_apart_never_dispute_each_other() -> None:
    # Paris in the morning, Agra after a nine-hour flight: each places the photos around it
    shots = [shot(1, 0), shot(2, 10), shot(3, 540), shot(4, 545)]
    out = by_id(estimate(shots, {1: anchor(1), 3: anchor(3, AGRA, landmark="Taj Mahal")}, NOW))
    assert isinstance(out[2], Estimate) and out[2].anchor_id == 1
    assert isinstance(out[4], Estimate) and out[4].anchor_id == 3


def test_a_landmark_contradicting_gps_is_dropped_and_two_gps_fixes_dispute() -> None:
    gps_paris = Anchor(1, *PARIS, 0.05, "gps")
    shots = [shot(1, 0), shot(2, 5), shot(3, 10)]
    out = by_id(estimate(shots, {1: gps_paris, 3: anchor(3, AGRA, landmark="Taj Mahal")}, NOW))
    assert out[3].reason == "outlier" and "contradicts the GPS of photo 1" in out[3].detail
    assert isinstance(out[2], Estimate) and out[2].anchor_id == 1
    out = by_id(estimate(shots, {1: gps_paris, 3: Anchor(3, *AGRA, 0.05, "gps")}, NOW))
    assert out[2].reason == "contradicting_anchors" and "photo 1 (gps) and photo 3 (gps)" in out[2].detail


def test_other_cameras_anchor_only_when_asked_and_only_by_utc() -> None:
    phone = ("Apple", "iPhone 12", None)
    shots = [shot(1, 0, camera=phone), shot(2, 10), shot(3, 12, recorded=False), shot(4, 14, camera=phone)]
    anchors = {1: Anchor(1, *PARIS, 0.05, "gps")}
    for cameras in ("same", "companions"):  # no evidence that the two cameras were together
        out = by_id(estimate(shots, anchors, NOW, EstimateOptions(cameras=cameras)))
        assert out[2].reason == out[3].reason == "no_anchor_in_window"
        assert isinstance(out[4], Estimate)  # its own camera
    out = by_id(estimate(shots, anchors, NOW, EstimateOptions(cameras="any")))
    e = out[2]
    assert isinstance(e, Estimate) and e.anchor_id == 1 and "by another camera, by UTC" in e.reason
    assert out[3].reason == "no_anchor_in_window"  # no offset recorded: its clock compares with nothing else
    assert "another camera" not in out[4].reason
