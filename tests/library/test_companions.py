"""Companion cameras and inferred clock offsets (issue 12) on synthetic photo rows: who may place whose photos."""

from __future__ import annotations

import pytest

from landmarks.library.estimate import Anchor, Estimate, EstimateOptions, NoEstimate, Shot, estimate

T0 = 1_689_330_000.0  # 2023-07-14 10:20 UTC
NOW = T0 + 365 * 86400
PARIS, LOUVRE, ORSAY = (48.8584, 2.2945), (48.8606, 2.3376), (48.8600, 2.3266)
LYON, AGRA = (45.7640, 4.8357), (27.1751, 78.0421)
PHONE = ("Apple", "iPhone 13", "")
FUJI = ("FUJIFILM", "X-T30", "92K01234")
CANON = ("Canon", "EOS 80D", "0411223344")  # records no OffsetTimeOriginal


def shot(pid: int, minutes: float, camera: tuple, *, offset_h: float = 2.0, recorded: bool = True) -> Shot:
    """A photo `minutes` after T0 (UTC) by a clock set to UTC+`offset_h`, recorded in the photo or not."""
    utc = T0 + minutes * 60
    return Shot(pid, *camera, utc + offset_h * 3600, utc if recorded else None)


def canon(pid: int, minutes: float, offset_h: float = 2.0) -> Shot:
    return shot(pid, minutes, CANON, offset_h=offset_h, recorded=False)


def gps(pid: int, place: tuple) -> Anchor:
    return Anchor(pid, place[0], place[1], 0.05, "gps")


def landmark(pid: int, place: tuple, name: str = "Eiffel") -> Anchor:
    return Anchor(pid, place[0], place[1], 0.5, "landmark", name)


def run(shots: list[Shot], anchors: dict[int, Anchor], **options: object) -> dict[int, Estimate | NoEstimate]:
    return {o.photo_id: o for o in estimate(shots, anchors, NOW, EstimateOptions(**options))}  # type: ignore[arg-type]


# the phone and the Fuji seen together at the Eiffel Tower, then the Fuji's Louvre photo at 3 h
TOGETHER = [shot(1, 0, PHONE), shot(2, 5, FUJI), shot(3, 180, FUJI)]
TOGETHER_ANCHORS = {1: gps(1, PARIS), 2: landmark(2, PARIS), 3: landmark(3, LOUVRE, "Louvre")}


def test_a_companion_cameras_anchor_places_a_photo_and_says_why() -> None:
    out = run([*TOGETHER, shot(4, 190, PHONE)], TOGETHER_ANCHORS)
    e = out[4]
    assert isinstance(e, Estimate) and e.anchor_id == 3 and (e.latitude, e.longitude) == LOUVRE
    assert e.radius_km == pytest.approx(0.5 + 5.0 * 10 / 60)
    assert "photo 3 by FUJIFILM X-T30 #92K01234, a companion camera" in e.reason
    assert "seen together by 1 pair(s) of anchors (photos 1/2)" in e.reason and "by UTC" in e.reason


def test_same_camera_keeps_the_strict_behaviour_and_any_camera_needs_no_evidence() -> None:
    shots = [*TOGETHER, shot(4, 190, PHONE)]
    assert run(shots, TOGETHER_ANCHORS, cameras="same")[4].reason == "no_anchor_in_window"
    e = run(shots, TOGETHER_ANCHORS, cameras="any")[4]
    assert isinstance(e, Estimate) and e.anchor_id == 3 and "by another camera, by UTC" in e.reason
    assert "companion" not in e.reason
    # without the sighting together, only --any-camera places it
    alone = {3: TOGETHER_ANCHORS[3]}
    assert run(shots, alone)[4].reason == "no_anchor_in_window"
    assert isinstance(run(shots, alone, cameras="any")[4], Estimate)


def test_the_own_camera_comes_first() -> None:
    # the phone's own anchor 20 min before is used, not the Fuji's 2 min before
    shots = [*TOGETHER, shot(5, 170, PHONE), shot(4, 190, PHONE)]
    e = run(shots, {**TOGETHER_ANCHORS, 5: gps(5, ORSAY)})[4]
    assert isinstance(e, Estimate) and e.anchor_id == 5 and "companion" not in e.reason


def test_evidence_reaches_a_bounded_span() -> None:
    # the sighting is at 0:02; 6 h later the Fuji's anchor no longer places the phone's photos
    shots = [*TOGETHER, shot(6, 380, FUJI), shot(7, 385, PHONE)]
    out = run(shots, {**TOGETHER_ANCHORS, 6: landmark(6, ORSAY, "Orsay")})
    assert out[7].reason == "no_anchor_in_window"
    wider = run(shots, {**TOGETHER_ANCHORS, 6: landmark(6, ORSAY, "Orsay")}, together_s=8 * 3600)
    assert isinstance(wider[7], Estimate) and wider[7].anchor_id == 6
    # seen together again at 12 h: the time between is bridged
    again = [shot(8, 720, PHONE), shot(9, 722, FUJI)]
    out = run([*shots, *again], {**TOGETHER_ANCHORS, 6: landmark(6, ORSAY, "Orsay"), 8: gps(8, LYON),
                                 9: landmark(9, LYON, "Fourvière")})  # fmt: skip
    assert isinstance(out[7], Estimate) and "2 pair(s)" in out[7].reason


def test_strangers_never_place_each_others_photos() -> None:
    # the two cameras were far apart at the same time: no companions, whatever else
    shots = [shot(1, 0, PHONE), shot(2, 0, FUJI), shot(3, 60, FUJI), shot(4, 75, PHONE)]
    out = run(shots, {1: gps(1, PARIS), 2: landmark(2, AGRA, "Taj Mahal"), 3: landmark(3, AGRA, "Taj Mahal")})
    assert out[4].reason == "no_anchor_in_window" and "or a companion camera" in out[4].detail


def test_a_contradiction_cancels_the_companionship_around_it() -> None:
    # together at 0, but at 2 h the phone is in Lyon while the Fuji is at the Louvre
    apart = [shot(5, 120, PHONE), shot(6, 125, FUJI)]
    anchors = {**TOGETHER_ANCHORS, 5: gps(5, LYON), 6: landmark(6, LOUVRE, "Louvre")}
    out = run([*TOGETHER, *apart, shot(4, 190, PHONE)], anchors)
    assert out[4].reason == "no_anchor_in_window"


# the Canon (no offset; its clock shows UTC+2) and the phone seen together at the Eiffel Tower and the Louvre
CLOCK = [canon(1, 0), shot(2, 5, PHONE), canon(3, 240), shot(4, 235, PHONE), shot(5, 300, PHONE)]
CLOCK_ANCHORS = {1: landmark(1, PARIS), 2: gps(2, PARIS), 3: landmark(3, LOUVRE, "Louvre"), 4: gps(4, LOUVRE),
                 5: gps(5, ORSAY)}  # fmt: skip


def test_a_clock_offset_is_inferred_from_two_sightings_and_widens_the_radius() -> None:
    e = run([*CLOCK, canon(6, 310)], CLOCK_ANCHORS)[6]
    assert isinstance(e, Estimate) and e.anchor_id == 5
    # pairs 5 min apart each way: the offset lies within [1:35, 2:25], so 2:00 give or take 25 min
    assert "clock offset inferred as +02:00 (±25 min) from 2 matching anchors (photo 1, photo 3)" in e.reason
    assert e.radius_km == pytest.approx(0.05 + 5.0 * (10 + 25) / 60)
    assert "±25 min of clock uncertainty counted" in e.reason
    # and the other way round: the Canon's anchor places the phone's photo (one sighting left, in the phone's
    # time zone: the offset lies within [1:25, 2:25])
    f = run([*CLOCK, shot(7, 250, PHONE)], {k: v for k, v in CLOCK_ANCHORS.items() if k != 4})[7]
    assert isinstance(f, Estimate) and f.anchor_id == 3 and "clock offset inferred as +01:55 (±30 min)" in f.reason
    assert f.radius_km == pytest.approx(0.5 + 5.0 * (5 + 30) / 60)  # 5 min by the inferred clock (truly 10)
    assert run([*CLOCK, canon(6, 310)], CLOCK_ANCHORS, cameras="same")[6].reason == "no_anchor_in_window"


def test_one_sighting_is_no_clock_offset_unless_it_is_the_companions_time_zone() -> None:
    # the phone on UTC (+00:00), the Canon on UTC+2: one coincidence decides nothing
    shots = [canon(1, 0), shot(2, 5, PHONE, offset_h=0), shot(5, 60, PHONE, offset_h=0), canon(6, 70)]
    anchors = {1: landmark(1, PARIS), 2: gps(2, PARIS), 5: gps(5, ORSAY)}
    assert run(shots, anchors)[6].reason == "no_anchor_in_window"
    # the phone shows the same local time as the Canon: two facts agree
    shots = [canon(1, 0), shot(2, 5, PHONE), shot(5, 60, PHONE), canon(6, 70)]
    e = run(shots, anchors)[6]
    assert (
        isinstance(e, Estimate)
        and e.anchor_id == 5
        and "from 1 matching anchor (photo 1), the time zone (+02:00)" in e.reason
    )
    # two sightings need no time zone to agree with
    shots = [*(s if s.camera == CANON else shot(s.photo_id, (s.utc_s - T0) / 60, PHONE, offset_h=0) for s in CLOCK)]
    assert isinstance(run([*shots, canon(6, 310)], CLOCK_ANCHORS)[6], Estimate)


def test_no_clock_offset_from_contradicting_or_ambiguous_evidence() -> None:
    # under +02:00 the Canon would be in Lyon while the phone is in Paris
    late = [canon(7, 480), shot(8, 485, PHONE)]
    out = run([*CLOCK, *late, canon(6, 310)], {**CLOCK_ANCHORS, 7: landmark(7, LYON, "Fourvière"), 8: gps(8, PARIS)})
    assert out[6].reason == "no_anchor_in_window"
    # +02:00 and +05:00 explain the sightings equally well (the phone on UTC, so no time zone decides)
    shots = [canon(1, 480), canon(3, 720), *(shot(i, m, PHONE, offset_h=0) for i, m in ((2, 480), (4, 300),
             (5, 720), (9, 540))), canon(6, 610)]  # fmt: skip
    anchors = {1: landmark(1, PARIS), 3: landmark(3, LOUVRE, "Louvre"), 2: gps(2, PARIS), 4: gps(4, PARIS),
               5: gps(5, LOUVRE), 9: gps(9, LOUVRE), 10: gps(10, ORSAY)}  # fmt: skip
    shots.append(shot(10, 600, PHONE, offset_h=0))
    assert run(shots, anchors)[6].reason == "no_anchor_in_window"
    assert run(shots, {k: v for k, v in anchors.items() if k not in (4, 9)})[6].anchor_id == 10  # type: ignore[union-attr]


def test_a_clock_reset_between_trips_gets_an_offset_per_session() -> None:
    later = 3 * 24 * 60  # three days later, in Japan's time zone
    trip2 = [canon(11, later, 9), shot(12, later + 5, PHONE, offset_h=9), canon(13, later + 240, 9),
             shot(14, later + 235, PHONE, offset_h=9), shot(15, later + 300, PHONE, offset_h=9),
             canon(16, later + 310, 9)]  # fmt: skip
    anchors = {**CLOCK_ANCHORS, 11: landmark(11, PARIS), 12: gps(12, PARIS), 13: landmark(13, LOUVRE, "Louvre"),
               14: gps(14, LOUVRE), 15: gps(15, ORSAY)}  # fmt: skip
    out = run([*CLOCK, canon(6, 310), *trip2], anchors)
    assert "inferred as +02:00" in out[6].reason and "inferred as +09:00" in out[16].reason  # type: ignore[union-attr]
