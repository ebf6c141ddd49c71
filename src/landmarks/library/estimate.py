"""Where a photo was taken, estimated from the camera's photos taken just before and after (issue 12).

Anchors are photos whose place is known: a recognised landmark (catalog point + radius) or GPS.
A photo with neither gets an estimate from the anchors of its own camera (make, model, serial) within
a time window: the camera cannot have moved further than `speed_kmh` times the time gap, so the true
place lies within `anchor radius + speed * gap` of each anchor. With one anchor that disc is the
estimate; with anchors on both sides the place lies in the intersection of the two discs, and the
estimate is the smallest circle holding that lens (its centre moves from one anchor to the other as
the photo's time does: a time interpolation with an honest radius). Pure: no database, no files.

Clocks: two photos are compared by their UTC instants when both carry an offset
(OffsetTimeOriginal), else by the camera clock's wall time, which is only meaningful within one
camera.

Other cameras (`cameras`): `same` uses the photo's own camera alone. `companions` (the default) also
uses an anchor of another camera, by UTC, where the photo's own camera has none in the window and the
two cameras were seen together around then (`companions.py`: the evidence, how far it reaches, what
cancels it, and the clock offset inferred for cameras that record none, whose uncertainty widens the
radius). `any` uses every other camera's anchor by UTC, evidence or not (a library of one traveller).

A clock set in the future, or never set (before 1995), is not trusted at all. Two anchors the camera
cannot have travelled between (faster than `max_travel_kmh`, an airliner) contradict each other:
nothing is estimated between them. An anchor that contradicts both its neighbours while they agree,
or a landmark that contradicts a neighbour's GPS, is dropped as misrecognised.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from landmarks.catalog import great_circle_km
from landmarks.library.companions import Companions
from landmarks.library.geo import lens_circle, toward

EARLIEST_S = 788918400.0
"""1995-01-01: earlier capture times come from a camera clock that was never set (or a scan)."""
FUTURE_SLACK_S = 86400.0
"""A capture time more than a day after now is a wrong clock, not a time zone mix-up."""

REASONS = (
    "no_capture_time",
    "clock_in_future",
    "clock_unset",
    "no_camera",
    "no_anchor_in_window",
    "anchor_disputed",
    "contradicting_anchors",
    "radius_too_large",
)
"""Why a photo got no estimate (the report's `reason` column); anchors dropped as outliers get `outlier`."""


@dataclass(frozen=True)
class Shot:
    """A photo as the estimator sees it: which clock, and what that clock said."""

    photo_id: int
    make: str | None
    model: str | None
    serial: str | None
    local_s: float | None
    """Camera wall time as seconds (read as if UTC): comparable within one camera."""
    utc_s: float | None
    """The UTC instant, only when the photo records its offset."""

    @property
    def camera(self) -> tuple[str, str, str]:
        return (self.make or "", self.model or "", self.serial or "")


@dataclass(frozen=True)
class Anchor:
    """A photo whose place is known, and how well."""

    photo_id: int
    latitude: float
    longitude: float
    radius_km: float
    source: str
    """`gps` or `landmark`."""
    landmark: str | None = None
    confidence: float | None = None
    """The model's confidence in a landmark anchor (an estimate from it is no surer than that)."""


CAMERA_MODES = ("same", "companions", "any")


@dataclass(frozen=True)
class EstimateOptions:
    window_s: float = 1800.0
    """Only anchors this close in time (30 min) place a photo."""
    speed_kmh: float = 5.0
    """How fast the camera is assumed to move: walking pace, the way one tours a landmark."""
    max_radius_km: float = 5.0
    """No estimate looser than this is proposed."""
    max_travel_kmh: float = 1000.0
    """Faster than an airliner: two anchors that would need it contradict each other."""
    cameras: str = "companions"
    """Whose anchors place a photo: `same` (its own camera), `companions` (also cameras seen with it,
    around then, by UTC) or `any` (every camera whose photos record their UTC offset)."""
    together_s: float = 6 * 3600.0
    """How long seeing two cameras together counts, before and after (`companions.py` says why 6 h)."""

    def __post_init__(self) -> None:
        if self.cameras not in CAMERA_MODES:
            raise ValueError(f"cameras must be one of {', '.join(CAMERA_MODES)}, not {self.cameras!r}")
        for name in ("window_s", "speed_kmh", "max_radius_km", "max_travel_kmh", "together_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, not {value}")


@dataclass(frozen=True)
class Estimate:
    photo_id: int
    latitude: float
    longitude: float
    radius_km: float
    anchor_id: int
    """The anchor nearest in time (the one the estimate is recorded as coming from)."""
    anchor2_id: int | None
    """The anchor on the other side in time, when the estimate lies between two."""
    gap_s: float
    """Time to the nearest anchor."""
    method: str
    """`nearest` (one anchor) or `between` (both sides)."""
    reason: str
    """One line for people: which anchors, how far in time, what speed."""


@dataclass(frozen=True)
class NoEstimate:
    photo_id: int
    reason: str
    """One of `REASONS`, or `outlier` for an anchor that was dropped."""
    detail: str


Outcome = Estimate | NoEstimate


def clock_problem(shot: Shot, now_s: float) -> str | None:
    """Why this photo's capture time cannot be used, or None."""
    if shot.local_s is None:
        return "no_capture_time"
    latest = shot.utc_s if shot.utc_s is not None else shot.local_s - 14 * 3600  # the widest offset
    if latest > now_s + FUTURE_SLACK_S:
        return "clock_in_future"
    if shot.local_s < EARLIEST_S:
        return "clock_unset"
    return None


def gap_s(a: Shot, b: Shot) -> float:
    """b's time minus a's, by UTC when both know it, else by their (shared) camera clock."""
    if a.utc_s is not None and b.utc_s is not None:
        return b.utc_s - a.utc_s
    assert a.local_s is not None and b.local_s is not None
    return b.local_s - a.local_s


def needed_kmh(a: Anchor, b: Anchor, seconds: float) -> float:
    """The least speed that takes the camera from anchor a's disc to b's in `seconds`."""
    d = great_circle_km(a.latitude, a.longitude, b.latitude, b.longitude) - a.radius_km - b.radius_km
    if d <= 0:
        return 0.0
    return math.inf if seconds <= 0 else d / (seconds / 3600.0)


class _Near(NamedTuple):
    """An anchor that may place a photo: the gap from it to the photo, and how sure that gap is."""

    gap_s: float
    shot: Shot
    anchor: Anchor
    slack_s: float = 0.0
    """How far the true gap may be from `gap_s` (an inferred clock offset)."""
    via: str | None = None
    """Why another camera's anchor counts (the companion evidence), for the reason line."""


class _Camera:
    """One camera's anchors, sorted for time look-ups by its clock and, where known, by UTC."""

    def __init__(self, entries: list[tuple[Shot, Anchor]]) -> None:
        self.by_local = sorted(entries, key=lambda e: (e[0].local_s, e[1].photo_id))
        self.local_keys = [e[0].local_s for e in self.by_local]
        self.by_utc = sorted((e for e in entries if e[0].utc_s is not None), key=lambda e: (e[0].utc_s, e[1].photo_id))
        self.utc_keys = [e[0].utc_s for e in self.by_utc]

    def near(self, shot: Shot, window_s: float) -> list[_Near]:
        """(gap from the anchor to the shot, anchor shot, anchor) for anchors within the window."""
        found: list[tuple[Shot, Anchor]] = []
        if shot.utc_s is not None:
            lo, hi = (
                bisect.bisect_left(self.utc_keys, shot.utc_s - window_s),
                bisect.bisect_right(self.utc_keys, shot.utc_s + window_s),
            )
            found += self.by_utc[lo:hi]
        assert shot.local_s is not None
        lo = bisect.bisect_left(self.local_keys, shot.local_s - window_s)
        hi = bisect.bisect_right(self.local_keys, shot.local_s + window_s)
        found += [e for e in self.by_local[lo:hi] if shot.utc_s is None or e[0].utc_s is None]
        return [_Near(g, s, a) for s, a in found if abs(g := gap_s(s, shot)) <= window_s]

    def near_utc(self, shot: Shot, window_s: float) -> list[_Near]:
        """Anchors of other cameras within the window, by UTC instants only (both must know theirs)."""
        if shot.utc_s is None:
            return []
        lo = bisect.bisect_left(self.utc_keys, shot.utc_s - window_s)
        hi = bisect.bisect_right(self.utc_keys, shot.utc_s + window_s)
        return [_Near(gap_s(s, shot), s, a) for s, a in self.by_utc[lo:hi] if s.camera != shot.camera]


def _screen_anchors(
    entries: list[tuple[Shot, Anchor]], options: EstimateOptions
) -> tuple[list[tuple[Shot, Anchor]], dict[int, str], list[NoEstimate]]:
    """Drop anchors that contradict both neighbours in time while those agree, and landmarks that
    contradict a neighbour's GPS (a misrecognised landmark, most likely); return the rest, the
    disputes left among neighbours, and the dropped."""

    def clash(x: tuple[Shot, Anchor], y: tuple[Shot, Anchor]) -> bool:
        # anchors further apart than two windows never place one photo together: a flight between is no clash
        seconds = abs(gap_s(x[0], y[0]))
        return seconds <= 2 * options.window_s and needed_kmh(x[1], y[1], seconds) > options.max_travel_kmh

    ordered = sorted(entries, key=lambda e: (e[0].local_s, e[1].photo_id))
    dropped: list[NoEstimate] = []
    kept = []
    for i, entry in enumerate(ordered):
        neighbours = [ordered[j] for j in (i - 1, i + 1) if 0 <= j < len(ordered)]
        gps = [n for n in neighbours if n[1].source == "gps" and clash(n, entry)]
        if entry[1].source == "landmark" and gps:  # a measured place outweighs a recognised one
            dropped.append(NoEstimate(entry[1].photo_id, "outlier", _outlier_text(entry[1], gps[0][1])))
            continue
        if len(neighbours) == 2:
            before, after = neighbours
            if clash(before, entry) and clash(entry, after) and not clash(before, after):
                dropped.append(NoEstimate(entry[1].photo_id, "outlier", _outlier_text(entry[1], before[1], after[1])))
                continue
        kept.append(entry)
    disputes: dict[int, str] = {}
    for x, y in itertools.pairwise(kept):
        if clash(x, y):
            text = _clash_text(x[1], y[1], abs(gap_s(x[0], y[0])))
            disputes.setdefault(x[1].photo_id, text)
            disputes.setdefault(y[1].photo_id, text)
    return kept, disputes, dropped


def _name(anchor: Anchor) -> str:
    return f"photo {anchor.photo_id} ({anchor.landmark or anchor.source})"


def _clash_text(a: Anchor, b: Anchor, seconds: float) -> str:
    km = great_circle_km(a.latitude, a.longitude, b.latitude, b.longitude)
    return (
        f"anchors {_name(a)} and {_name(b)} are {km:.0f} km apart but {seconds / 60:.0f} min apart in time: "
        "one of them is wrong (a misrecognised landmark or a wrong clock)"
    )


def _outlier_text(anchor: Anchor, before: Anchor, after: Anchor | None = None) -> str:
    if after is None:
        return f"anchor {_name(anchor)} contradicts the GPS of {_name(before)}: not used"
    return f"anchor {_name(anchor)} contradicts both {_name(before)} and {_name(after)}, which agree: not used"


def estimate(
    shots: Iterable[Shot],
    anchors: Mapping[int, Anchor],
    now_s: float,
    options: EstimateOptions | None = None,
) -> list[Outcome]:
    """An outcome for every shot that is not an anchor (and for anchors dropped as outliers).

    `anchors` maps photo id -> Anchor; anchors without a usable time or camera place nothing.
    """
    options = options or EstimateOptions()
    shots = list(shots)
    outcomes: list[Outcome] = []
    per_camera: dict[tuple[str, str, str], list[tuple[Shot, Anchor]]] = defaultdict(list)
    targets: list[Shot] = []
    for shot in shots:
        anchor = anchors.get(shot.photo_id)
        problem = clock_problem(shot, now_s) or (None if shot.make or shot.model else "no_camera")
        if anchor is not None:
            if problem is None:
                per_camera[shot.camera].append((shot, anchor))
        elif problem is not None:
            outcomes.append(NoEstimate(shot.photo_id, problem, _PROBLEM_TEXT[problem]))
        else:
            targets.append(shot)
    cameras: dict[tuple[str, str, str], _Camera] = {}
    disputes: dict[int, str] = {}
    everyone: list[tuple[Shot, Anchor]] = []
    for key, entries in per_camera.items():
        kept, found, dropped = _screen_anchors(entries, options)
        outcomes += dropped
        disputes |= found
        everyone += kept
        cameras[key] = _Camera(kept)
    others = _Camera(everyone) if options.cameras == "any" else None
    companions = (
        Companions(targets, everyone, disputes, options.window_s, options.speed_kmh, options.together_s, _camera_name)
        if options.cameras == "companions"
        else None
    )
    for shot in targets:
        camera = cameras.get(shot.camera)
        near = camera.near(shot, options.window_s) if camera is not None else []
        if others is not None:
            near += others.near_utc(shot, options.window_s)
        if companions is not None and not near:  # another camera's anchor only where its own has none
            near = [_Near(*found) for found in companions.near(shot)]
        outcomes.append(_place(shot, near, disputes, options))
    return outcomes


def _camera_name(shot: Shot) -> str:
    return " ".join(p for p in (shot.make, shot.model) if p) + (f" #{shot.serial}" if shot.serial else "")


_PROBLEM_TEXT = {
    "no_capture_time": "the photo records no capture time",
    "clock_in_future": "the capture time is in the future: the camera's clock was wrong",
    "clock_unset": "the capture time is before 1995: the camera's clock was never set",
    "no_camera": "the photo names no camera (make/model): its clock cannot be matched with others",
}


def _place(shot: Shot, near: list[_Near], disputes: dict[int, str], options: EstimateOptions) -> Outcome:
    if not near:
        window = options.window_s / 60
        whose = "this camera" + (" or a companion camera" if options.cameras == "companions" else "")
        return NoEstimate(shot.photo_id, "no_anchor_in_window", f"no anchor of {whose} within {window:.0f} min")
    key = lambda e: (abs(e.gap_s) + e.slack_s, e.anchor.radius_km, e.anchor.photo_id)  # noqa: E731
    before = min((e for e in near if e.gap_s >= 0), key=key, default=None)
    after = min((e for e in near if e.gap_s < 0), key=key, default=None)
    used = [e for e in (before, after) if e is not None]
    if before is not None and after is not None:
        span = before.gap_s - after.gap_s
        if needed_kmh(before.anchor, after.anchor, span) > options.max_travel_kmh:
            return NoEstimate(shot.photo_id, "contradicting_anchors", _clash_text(before.anchor, after.anchor, span))
    for e in used:
        if e.anchor.photo_id in disputes:
            return NoEstimate(shot.photo_id, "anchor_disputed", disputes[e.anchor.photo_id])
    speed = options.speed_kmh
    if before is not None and after is not None:
        (ga, _, a, sa, _), (gb, _, b, sb, _) = before, after
        gb = -gb
        speed += needed_kmh(a, b, ga + gb)  # it moved at least that fast between them, and may have moved faster
        ra, rb = a.radius_km + speed * (ga + sa) / 3600, b.radius_km + speed * (gb + sb) / 3600
        d = great_circle_km(a.latitude, a.longitude, b.latitude, b.longitude)
        along, radius = lens_circle(d, ra, rb)
        lat, lon = toward(a.latitude, a.longitude, b.latitude, b.longitude, along)
        first, second, gap = (a, b, ga) if ga <= gb else (b, a, gb)
        method = "between"
        why = (
            f"between {_name(a)} ({ga / 60:.0f} min earlier) and {_name(b)} ({gb / 60:.0f} min later), "
            f"at {speed:.1f} km/h"
        )
    else:
        gap, _, first, slack, _ = used[0]
        gap, second = abs(gap), None
        lat, lon, radius = first.latitude, first.longitude, first.radius_km + speed * (gap + slack) / 3600
        method = "nearest"
        side = "after" if before is not None else "before"
        why = f"{gap / 60:.0f} min {side} {_name(first)}, at {speed:.1f} km/h"
    strangers = [e for e in used if e.shot.camera != shot.camera]
    if strangers and options.cameras == "any":
        why += " (" + ", ".join(f"photo {e.anchor.photo_id}" for e in strangers) + " by another camera, by UTC)"
    for e in strangers:
        if e.via is not None:
            slack = f", ±{e.slack_s / 60:.0f} min of clock uncertainty counted" if e.slack_s else ""
            why += f" (photo {e.anchor.photo_id} {e.via}, by UTC{slack})"
    if radius > options.max_radius_km:
        return NoEstimate(
            shot.photo_id, "radius_too_large", f"{why}: radius {radius:.1f} km > {options.max_radius_km:g} km"
        )
    return Estimate(
        shot.photo_id, lat, lon, radius, first.photo_id, None if second is None else second.photo_id, gap, method, why
    )
