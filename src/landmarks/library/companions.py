"""Evidence that two cameras were carried together, and the UTC offset of clocks that record none (issue 12).

Two cameras are *companions* around a time when an anchor of one and an anchor of the other lie within
the window of each other (by UTC) and agree in place (distance <= rA + rB + speed x gap): they were seen
together. That is evidence about that moment only; how far it reaches is the risk of this module (two
people who toured a landmark together may split up an hour later), so it reaches:

- `reach_s` (6 h by default, `EstimateOptions.together_s`) before and after a sighting: half a waking
  day, the rest of that morning's or afternoon's outing. A trip's sights are hours apart, so a shorter
  reach would rarely get from the sight where both cameras have an anchor to the next one; a whole day
  would also cover the afternoon two people spent apart after touring a sight together in the morning;
- across the time between two sightings of the same pair at most `BRIDGE_S` (24 h) apart when nothing
  seen between them contradicts it (seen together in the evening and the next morning: together between).

Two anchors of the pair within the window that do not agree in place (seen apart at the same time)
cancel the companionship `reach_s` either side of them, whatever the other evidence says: one of the
photos may be misrecognised, or the people had split up; either way their photos must not place each other.

A camera that records no offset (OffsetTimeOriginal) has an unknown, constant offset between its wall
clock and UTC, per *session* (its photos with no gap over `SESSION_GAP_S`: a clock is reset to a new
time zone on a journey, and a journey leaves a gap). For every candidate offset (15-min steps in
-14 h..+14 h) the session's anchors are paired with the anchors of cameras that record their UTC. A pair
within the window *matches* when both photos were taken at the same spot (their discs overlap: a sight
within walking distance may have been photographed an hour later, and would pull the offset by that
hour), and *contradicts* when the camera could not have walked from one to the other in the gap. The
offset is accepted only when
(1) the most anchors of this camera match under it, and that evidence has standing: two separate
    sightings (further apart than two windows in time, or than their discs in place: one coincidence
    never decides it), or one sighting whose offset is the time zone the other camera records then
    (its clock shows local time like its companion's: two independent facts agree);
(2) the candidates with that count form one run of neighbouring steps, and no offset away from that
    run has standing of its own (the evidence points one way: not a clock reset within the session);
(3) no pair contradicts it.
The offset is then refined to the interval every matched pair allows (each pair's true gap is within the
window), and its half-width is the uncertainty that estimates using it add to their time gap. Pure: no
database, no files.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from landmarks.catalog import great_circle_km

Camera = tuple[str, str, str]

BRIDGE_S = 24 * 3600.0
"""Two sightings together at most this far apart, with no contradiction between, hold the time between."""
SESSION_GAP_S = 12 * 3600.0
"""A gap longer than this in a camera's photos may hide a journey to another time zone (a reset clock)."""
OFFSET_STEP_S = 15 * 60.0
MAX_OFFSET_S = 14 * 3600.0
MIN_SIGHTINGS = 2


@dataclass(frozen=True)
class Sighting:
    """An anchor as this module sees it: where a camera was, and when (UTC or the camera's wall clock)."""

    camera: Camera
    photo_id: int
    time_s: float
    latitude: float
    longitude: float
    radius_km: float
    slack_s: float = 0.0
    """How far `time_s` may be from the true instant (an inferred clock offset's uncertainty)."""
    zone_s: float | None = None
    """The UTC offset the photo records (its wall clock minus UTC), if any."""


@dataclass(frozen=True)
class ClockFix:
    """A camera session's inferred offset: UTC = wall clock - offset_s, give or take uncertainty_s."""

    camera: Camera
    first_local_s: float
    last_local_s: float
    offset_s: float
    uncertainty_s: float
    photo_ids: tuple[int, ...]
    """This camera's anchors that matched (the evidence)."""
    zone_s: float | None = None
    """The time zone the other camera recorded, when one sighting and that zone decided it."""

    @property
    def text(self) -> str:
        n = len(self.photo_ids)
        zone = "" if self.zone_s is None else f", the time zone ({_hhmm(self.zone_s)}) the other camera records"
        return (
            f"clock offset inferred as {_hhmm(self.offset_s)} (±{self.uncertainty_s / 60:.0f} min) from {n} "
            f"matching anchor{'s' if n != 1 else ''} ({', '.join(f'photo {i}' for i in self.photo_ids)}){zone}"
        )


@dataclass(frozen=True)
class Span:
    """A stretch of UTC time over which two cameras count as companions, and why."""

    start_s: float
    end_s: float
    pairs: tuple[tuple[int, int], ...]
    """(anchor of one camera, anchor of the other) seen together, in time order."""

    def holds(self, t: float) -> bool:
        return self.start_s <= t <= self.end_s

    @property
    def text(self) -> str:
        shown = ", ".join(f"{a}/{b}" for a, b in self.pairs[:3]) + (" ..." if len(self.pairs) > 3 else "")
        return f"seen together by {len(self.pairs)} pair(s) of anchors (photos {shown})"


def _hhmm(seconds: float) -> str:
    sign, minutes = "+" if seconds >= 0 else "-", round(abs(seconds) / 60)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def agree(a: Sighting, b: Sighting, speed_kmh: float) -> bool:
    """Could one person (walking at `speed_kmh`) have taken both photos? Time uncertainty counts for it."""
    hours = (abs(a.time_s - b.time_s) + a.slack_s + b.slack_s) / 3600
    return (
        great_circle_km(a.latitude, a.longitude, b.latitude, b.longitude)
        <= a.radius_km + b.radius_km + speed_kmh * hours
    )


def companion_spans(
    sightings: Iterable[Sighting], window_s: float, speed_kmh: float, reach_s: float
) -> dict[tuple[Camera, Camera], list[Span]]:
    """For each pair of cameras (both orders), the UTC spans over which they count as companions."""
    by_camera: dict[Camera, list[Sighting]] = defaultdict(list)
    for s in sightings:
        by_camera[s.camera].append(s)
    for entries in by_camera.values():
        entries.sort(key=lambda s: (s.time_s, s.photo_id))
    cameras = sorted(by_camera)
    out: dict[tuple[Camera, Camera], list[Span]] = {}
    for i, a in enumerate(cameras):
        for b in cameras[i + 1 :]:
            spans = _spans(by_camera[a], by_camera[b], window_s, speed_kmh, reach_s)
            if spans:
                out[(a, b)] = out[(b, a)] = spans
    return out


def _spans(xs: list[Sighting], ys: list[Sighting], window_s: float, speed_kmh: float, reach_s: float) -> list[Span]:
    keys = [y.time_s for y in ys]
    together: list[tuple[float, int, int]] = []
    apart: list[float] = []
    for x in xs:
        lo = bisect.bisect_left(keys, x.time_s - window_s)
        hi = bisect.bisect_right(keys, x.time_s + window_s)
        for y in ys[lo:hi]:
            t = (x.time_s + y.time_s) / 2
            if agree(x, y, speed_kmh):
                together.append((t, x.photo_id, y.photo_id))
            else:
                apart.append(t)
    together.sort()
    apart.sort()
    runs: list[list[tuple[float, int, int]]] = []
    for event in together:
        if runs and event[0] - runs[-1][-1][0] <= BRIDGE_S and not _between(apart, runs[-1][-1][0], event[0]):
            runs[-1].append(event)
        else:
            runs.append([event])
    spans = []
    for run in runs:
        start, end = run[0][0] - reach_s, run[-1][0] + reach_s
        pairs = tuple((p, q) for _, p, q in run)
        for piece in _cut(start, end, [(t - reach_s, t + reach_s) for t in apart]):
            # a piece keeps the evidence inside it: one cut off from every sighting is no span
            inside = tuple(pq for (t, *_), pq in zip(run, pairs, strict=True) if piece[0] <= t <= piece[1])
            if inside:
                spans.append(Span(piece[0], piece[1], inside))
    return spans


def _between(times: list[float], lo: float, hi: float) -> bool:
    return bisect.bisect_right(times, hi) > bisect.bisect_left(times, lo)


def _cut(start: float, end: float, holes: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """[start, end] less the holes."""
    pieces = [(start, end)]
    for h0, h1 in holes:
        pieces = [p for a, b in pieces for p in ((a, min(b, h0)), (max(a, h1), b)) if p[1] > p[0]]
    return pieces


def sessions(times: Iterable[tuple[float, int]]) -> list[list[tuple[float, int]]]:
    """(wall clock, photo id) grouped into runs with no gap over `SESSION_GAP_S`."""
    out: list[list[tuple[float, int]]] = []
    for t, pid in sorted(times):
        if out and t - out[-1][-1][0] <= SESSION_GAP_S:
            out[-1].append((t, pid))
        else:
            out.append([(t, pid)])
    return out


def infer_offset(
    camera: Camera,
    session: list[tuple[float, int]],
    own: list[Sighting],
    others: list[Sighting],
    window_s: float,
    speed_kmh: float,
) -> ClockFix | None:
    """The session's clock offset from its anchors (`own`, by wall clock) and other cameras' UTC anchors
    (`others`, sorted by time), or None without solid evidence (the rules: module docstring)."""
    first, last = session[0][0], session[-1][0]
    own = [s for s in own if first <= s.time_s <= last]
    if not own:
        return None
    keys = [s.time_s for s in others]
    steps = int(MAX_OFFSET_S // OFFSET_STEP_S)
    matched: dict[int, dict[int, list[tuple[Sighting, Sighting]]]] = defaultdict(lambda: defaultdict(list))
    clashes: dict[int, int] = defaultdict(int)
    for c in own:
        lo = bisect.bisect_left(keys, c.time_s - MAX_OFFSET_S - window_s)
        hi = bisect.bisect_right(keys, c.time_s + MAX_OFFSET_S + window_s)
        for x in others[lo:hi]:
            d = c.time_s - x.time_s  # the offset under which the two are simultaneous
            for k in range(max(-steps, math.ceil((d - window_s) / OFFSET_STEP_S)),
                           min(steps, math.floor((d + window_s) / OFFSET_STEP_S)) + 1):  # fmt: skip
                km = great_circle_km(c.latitude, c.longitude, x.latitude, x.longitude) - c.radius_km - x.radius_km
                if km <= 0:  # the same spot
                    matched[k][c.photo_id].append((c, x))
                elif km > speed_kmh * abs(d - k * OFFSET_STEP_S) / 3600:
                    clashes[k] += 1  # two places at once
    if not matched:
        return None
    counts = {k: len(found) for k, found in matched.items()}
    best = max(counts.values())
    run = sorted(k for k, n in counts.items() if n == best)
    if run[-1] - run[0] != len(run) - 1:
        return None  # two separate offsets explain the evidence equally well
    if any(clashes.get(k, 0) for k in run):
        return None
    standing = {k for k, found in matched.items() if _standing(found, window_s)}
    reach = 2 * int(window_s // OFFSET_STEP_S) + 1
    if not standing & set(run) or any(k < run[0] - reach or k > run[-1] + reach for k in standing):
        return None  # too little evidence, or another offset has evidence of its own (a reset clock, a mix-up)
    found = matched[run[len(run) // 2]]
    interval = _interval(found, window_s)
    if interval is None:
        return None
    lo_s, hi_s = interval
    zones = None if _sightings(found, window_s) >= MIN_SIGHTINGS else [x.zone_s for p in found.values() for _, x in p]
    zone = zones[0] if zones else None
    return ClockFix(camera, first, last, (lo_s + hi_s) / 2, (hi_s - lo_s) / 2, tuple(sorted(found)), zone)


def _interval(found: dict[int, list[tuple[Sighting, Sighting]]], window_s: float) -> tuple[float, float] | None:
    """The offsets every matched anchor allows (each: within the window of one of its matches), or None."""
    lo_s, hi_s = -math.inf, math.inf
    for pairs in found.values():
        gaps = [c.time_s - x.time_s for c, x in pairs]
        lo_s, hi_s = max(lo_s, min(gaps) - window_s), min(hi_s, max(gaps) + window_s)
    return (lo_s, hi_s) if lo_s <= hi_s else None


def _standing(found: dict[int, list[tuple[Sighting, Sighting]]], window_s: float) -> bool:
    """Enough for an offset: two separate sightings, or one whose offset is the time zone the other camera
    records then (the camera shows local time, like its companion: two independent facts agree)."""
    if _sightings(found, window_s) >= MIN_SIGHTINGS:
        return True
    interval = _interval(found, window_s)
    zones = [x.zone_s for pairs in found.values() for _, x in pairs]
    return interval is not None and all(z is not None and interval[0] <= z <= interval[1] for z in zones)


def _sightings(found: dict[int, list[tuple[Sighting, Sighting]]], window_s: float) -> int:
    """How many separate sightings the matched anchors make: anchors close in time and place are one."""
    anchors = sorted((pairs[0][0] for pairs in found.values()), key=lambda s: s.time_s)
    groups: list[Sighting] = []
    for s in anchors:
        if not any(abs(s.time_s - g.time_s) <= 2 * window_s and agree(s, g, 0.0) for g in groups):
            groups.append(s)
    return len(groups)


class ShotLike(Protocol):
    """What this module reads of a photo (`estimate.Shot`)."""

    @property
    def photo_id(self) -> int: ...
    @property
    def camera(self) -> Camera: ...
    @property
    def local_s(self) -> float | None: ...
    @property
    def utc_s(self) -> float | None: ...


class AnchorLike(Protocol):
    """What this module reads of an anchor (`estimate.Anchor`)."""

    @property
    def photo_id(self) -> int: ...
    @property
    def latitude(self) -> float: ...
    @property
    def longitude(self) -> float: ...
    @property
    def radius_km(self) -> float: ...


S = TypeVar("S", bound=ShotLike)
A = TypeVar("A", bound=AnchorLike)


class Companions(Generic[S, A]):
    """Other cameras' anchors by UTC, where the cameras were seen together: the library's clock fixes
    and companion spans, worked out once from every camera's (screened) anchors."""

    def __init__(
        self,
        targets: list[S],
        kept: list[tuple[S, A]],
        disputed: Container[int],
        window_s: float,
        speed_kmh: float,
        reach_s: float,
        name: Callable[[S], str],
    ) -> None:
        self.window_s, self.name = window_s, name
        # disputed anchors place nothing (estimate says why) and are no evidence either
        recorded = [_sighting(s, a, s.utc_s) for s, a in kept if s.utc_s is not None and a.photo_id not in disputed]
        recorded.sort(key=lambda x: (x.time_s, x.photo_id))
        clockless: dict[Camera, list[tuple[S, A | None]]] = defaultdict(list)
        for shot, anchor in [*kept, *((t, None) for t in targets)]:
            if shot.utc_s is None and shot.local_s is not None:
                clockless[shot.camera].append((shot, anchor))
        self.fixes: dict[int, ClockFix] = {}
        for camera, entries in clockless.items():
            own = [_sighting(s, a, s.local_s) for s, a in entries if a is not None and a.photo_id not in disputed]
            others = [x for x in recorded if x.camera != camera]
            for session in sessions((s.local_s, s.photo_id) for s, _ in entries if s.local_s is not None):
                fix = infer_offset(camera, session, own, others, window_s, speed_kmh)
                if fix is not None:
                    self.fixes |= {pid: fix for _, pid in session}
        self.timed: dict[Camera, list[tuple[float, S, A]]] = defaultdict(list)
        evidence = []
        for shot, anchor in kept:
            when = self.utc(shot)
            if when is not None:
                self.timed[shot.camera].append((when[0], shot, anchor))
                if anchor.photo_id not in disputed:
                    evidence.append(_sighting(shot, anchor, when[0], when[1]))
        for entries in self.timed.values():
            entries.sort(key=lambda e: (e[0], e[2].photo_id))
        self.keys = {camera: [e[0] for e in entries] for camera, entries in self.timed.items()}
        self.spans = companion_spans(evidence, window_s, speed_kmh, reach_s)

    def utc(self, shot: S) -> tuple[float, float] | None:
        """The photo's UTC instant (recorded, or by its session's inferred offset) and its uncertainty."""
        if shot.utc_s is not None:
            return shot.utc_s, 0.0
        fix = self.fixes.get(shot.photo_id)
        if fix is None or shot.local_s is None:
            return None
        return shot.local_s - fix.offset_s, fix.uncertainty_s

    def near(self, shot: S) -> list[tuple[float, S, A, float, str]]:
        """(gap from the anchor to the photo, anchor shot, anchor, gap uncertainty, why) for the anchors of
        companion cameras within the window, both photos inside one companion span."""
        when = self.utc(shot)
        if when is None:
            return []
        t, slack = when
        found = []
        for camera, entries in self.timed.items():
            spans = [s for s in self.spans.get((shot.camera, camera), []) if s.holds(t)]
            if camera == shot.camera or not spans:
                continue
            keys = self.keys[camera]
            lo, hi = bisect.bisect_left(keys, t - self.window_s), bisect.bisect_right(keys, t + self.window_s)
            for when_s, other, anchor in entries[lo:hi]:
                span = next((s for s in spans if s.holds(when_s)), None)
                if span is not None:
                    extra = self.utc(other)
                    assert extra is not None
                    found.append((t - when_s, other, anchor, slack + extra[1], self._why(shot, other, span)))
        return found

    def _why(self, shot: S, other: S, span: Span) -> str:
        clocks = [f"{self.name(s)}: {self.fixes[s.photo_id].text}" for s in (shot, other) if s.photo_id in self.fixes]
        return f"by {self.name(other)}, a companion camera: {span.text}" + "".join(f"; {c}" for c in clocks)


def _sighting(shot: ShotLike, anchor: AnchorLike, when: float | None, slack: float = 0.0) -> Sighting:
    assert when is not None and shot.local_s is not None
    zone = None if shot.utc_s is None else shot.local_s - shot.utc_s
    return Sighting(
        shot.camera, anchor.photo_id, when, anchor.latitude, anchor.longitude, anchor.radius_km, slack, zone
    )
