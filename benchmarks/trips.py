"""Simulated trips of real photos: how well the photos taken around a recognised landmark get located.

A seeded generator builds, in a temporary folder, trips of "stops": each stop is a proxy44 landmark
(its catalog coordinates), with 1-2 of its test photos and several everyday photos (the half of
`../shared/data/everyday` the library-mix model never fitted on), minutes apart within a stop and
hours between stops, shot by one or two cameras (DateTimeOriginal, OffsetTimeOriginal, Make, Model
and sometimes a serial, set by one `exiftool -stay_open` process): a phone (offset, no serial, GPS on
some photos), a newer body (offset, serial) and an older one (serial, no offset). A few photos carry
no time. People walk around at a stop: each photo's true place drifts from the landmark at up
to `--walk-kmh` (0 puts every photo of a stop at the landmark's point, the issue's ground truth).

Then the real pipeline, as `landmarks geotag LIBRARY --plan --estimate-nearby` runs it: `plan_library`
(scan, the real model's predictions into the index, landmark proposals), then `plan_estimates` with the
product's defaults (companion cameras, clock offsets inferred for the Canon; `--same-camera` for the
photo's own camera alone, `--any-camera` for every camera by UTC).
Reported: the share of everyday photos located, median and p95 error, the share whose true place
lies outside the stated radius, the estimates a misrecognised landmark caused, and the issue's aim:
the share of everyday photos of stops with a recognised landmark photo that get an estimate whose
radius holds the true place.

    PYTHONPATH=src:benchmarks nice -n 10 .venv/bin/python benchmarks/trips.py --checkpoint runs/library-mix/best.pt
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from _common import EVERYDAY, PROXY44, negative_halves
from landmarks.catalog import great_circle_km, read_catalog
from landmarks.library.estimate import EstimateOptions
from landmarks.library.nearby import plan_estimates

CAMERAS = (("Canon", "EOS 80D", "0411223344"), ("Apple", "iPhone 13", None), ("FUJIFILM", "X-T30", "92K01234"))


@dataclass
class Truth:
    name: str
    kind: str
    """`landmark` (a proxy44 test photo) or `everyday`."""
    trip: int
    stop: int
    landmark: str
    latitude: float
    longitude: float
    camera: int
    tags: list[str]
    stop_latitude: float
    stop_longitude: float


def _moved(lat: float, lon: float, km: float, rng: random.Random) -> tuple[float, float]:
    bearing = rng.uniform(0, 2 * math.pi)
    dlat = km * math.cos(bearing) / 111.2
    dlon = km * math.sin(bearing) / (111.2 * max(math.cos(math.radians(lat)), 1e-6))
    return lat + dlat, (lon + dlon + 180) % 360 - 180


def _walk(
    lat: float, lon: float, minutes: list[float], start: int, args: argparse.Namespace, rng: random.Random
) -> list[tuple[float, float]]:
    """Where the photographer stands at each shot: at the landmark for its first photo, then a random walk
    (each step at most `--walk-kmh` times the time since the last shot), forward and backward in time."""
    places: list[tuple[float, float]] = [(lat, lon)] * len(minutes)
    for order in (range(start + 1, len(minutes)), range(start - 1, -1, -1)):
        here = (lat, lon)
        previous = start
        for i in order:
            km = rng.uniform(0, args.walk_kmh * abs(minutes[i] - minutes[previous]) / 60)
            here = places[i] = _moved(*here, km, rng)
            previous = i
    return places


def generate(args: argparse.Namespace, everyday: list[Path]) -> list[tuple[Path, Truth]]:
    """The trips' photos (source file, truth); nothing is written here."""
    rng = random.Random(args.seed)
    catalog = read_catalog(PROXY44 / "catalog.csv")
    classes = sorted(c for c in catalog if (PROXY44 / "test" / c).is_dir() and catalog[c].has_location)
    pool: list[Path] = []

    def everyday_photo() -> Path:
        if not pool:  # more trips than everyday photos: each is used again, with other metadata
            pool.extend(everyday)
            rng.shuffle(pool)
        return pool.pop()

    out: list[tuple[Path, Truth]] = []
    for trip in range(args.trips):
        cameras = rng.sample(range(len(CAMERAS)), rng.choice((1, 2)))
        offset_h = rng.choice((-5, 0, 1, 2, 5.5, 8, 9))
        clock = datetime(2023, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(900), hours=rng.uniform(6, 9))
        for stop, folder in enumerate(rng.sample(classes, args.stops)):
            place = catalog[folder]
            landmark_photos = rng.sample(sorted((PROXY44 / "test" / folder).glob("*.jpg")), rng.choice((1, 2)))
            kinds = ["landmark"] * len(landmark_photos) + ["everyday"] * rng.randint(3, args.max_everyday)
            rng.shuffle(kinds)
            minutes, sources, shots = 0.0, iter(landmark_photos), []
            for kind in kinds:
                minutes += rng.uniform(1, 6)
                shots.append((kind, next(sources) if kind == "landmark" else everyday_photo(), minutes))
            places = _walk(
                place.latitude, place.longitude, [m for _, _, m in shots], kinds.index("landmark"), args, rng
            )
            for i, ((kind, source, minute), (lat, lon)) in enumerate(zip(shots, places, strict=True)):
                camera = rng.choice(cameras)
                tags = _tags(camera, clock + timedelta(minutes=minute), offset_h, lat, lon, rng, args)
                name = f"trip{trip:02d}/IMG_{rng.randrange(10**6):06d}_{i:02d}.jpg"  # names out of time order
                out.append(
                    (
                        source,
                        Truth(
                            name, kind, trip, stop, place.name, lat, lon, camera, tags, place.latitude, place.longitude
                        ),
                    )
                )
            clock += timedelta(minutes=minutes, hours=rng.uniform(2, 6))
    return out


def _tags(
    camera: int, when: datetime, offset_h: float, lat: float, lon: float, rng: random.Random, args: argparse.Namespace
) -> list[str]:
    make, model, serial = CAMERAS[camera]
    tags = [f"-EXIF:Make={make}", f"-EXIF:Model={model}"] + ([f"-ExifIFD:SerialNumber={serial}"] if serial else [])
    if rng.random() < args.no_time:
        return tags
    local = when.astimezone(timezone(timedelta(hours=offset_h)))
    tags.append(f"-EXIF:DateTimeOriginal={local:%Y:%m:%d %H:%M:%S}")
    if make != "Canon":  # phones and newer bodies record their offset; the older Canon does not
        sign, hours = "+" if offset_h >= 0 else "-", abs(offset_h)
        tags.append(f"-EXIF:OffsetTimeOriginal={sign}{int(hours):02d}:{round(hours % 1 * 60):02d}")
    if make == "Apple" and rng.random() < args.gps:  # phones often record their place too
        gps_lat, gps_lon = _moved(lat, lon, rng.uniform(0, 0.02), rng)
        tags += [
            f"-GPS:GPSLatitude={abs(gps_lat)}", f"-GPS:GPSLatitudeRef={'N' if gps_lat >= 0 else 'S'}",
            f"-GPS:GPSLongitude={abs(gps_lon)}", f"-GPS:GPSLongitudeRef={'E' if gps_lon >= 0 else 'W'}",
            "-GPS:GPSHPositioningError=10",
        ]  # fmt: skip
    return tags


def build(root: Path, photos: list[tuple[Path, Truth]]) -> None:
    """Copy each photo with its tags, all through one exiftool process."""
    import exiftool

    with exiftool.ExifTool(common_args=None) as et:
        for source, truth in photos:
            target = root / truth.name
            target.parent.mkdir(parents=True, exist_ok=True)
            et.execute("-q", "-all=", *truth.tags, "-o", str(target), str(source))
            if not target.is_file():
                raise SystemExit(f"exiftool did not write {target}: {et.last_stderr}")


def locate_landmarks(db: Any, checkpoint: Path, min_confidence: float | None) -> dict[str, Any]:
    """The real `geotag --plan` first half: scan, the model's predictions into the index, landmark proposals."""
    from landmarks.geotag.plan import PlanOptions, model_id_of, plan_library
    from landmarks.inference.predictor import Predictor

    summary = plan_library(
        db, lambda: Predictor.load(checkpoint), model_id=model_id_of(checkpoint),
        options=PlanOptions(min_confidence=min_confidence),
    )  # fmt: skip
    return {
        "scanned": summary.scan.present,
        "predicted": summary.predicted,
        "landmark_proposals": len(summary.proposed),
    }


def evaluate(db: Any, plan: Any, truths: dict[str, Truth]) -> dict[str, Any]:
    from landmarks.library.records import proposals

    by_id = {p.id: p for p in db.photos()}
    landmark = {by_id[r.photo_id].path: r for r in proposals(db, kind="landmark")}
    right_anchor = {
        path for path, r in landmark.items()
        if great_circle_km(r.latitude, r.longitude, truths[path].stop_latitude, truths[path].stop_longitude) <= 1.0
    }  # fmt: skip
    recognised_stops = {(truths[p].trip, truths[p].stop) for p in right_anchor}
    recognised_by_camera = {(truths[p].trip, truths[p].stop, truths[p].camera) for p in right_anchor}
    everyday = {n: t for n, t in truths.items() if t.kind == "everyday"}
    gps_paths = {p.path for p in by_id.values() if p.gps is not None}
    targets = [n for n in everyday if n not in gps_paths]
    outcomes = {o.path: o for o in plan.outcomes}
    errors, outside, wrong_anchor, held_aim, held_same, held_timed = [], 0, 0, 0, 0, 0
    aim_total = sum(1 for n in targets if (everyday[n].trip, everyday[n].stop) in recognised_stops)
    timed = {n for n in targets if any(t.startswith("-EXIF:DateTimeOriginal") for t in everyday[n].tags)}
    timed_total = sum(1 for n in timed if (everyday[n].trip, everyday[n].stop) in recognised_stops)
    same_total = sum(
        1 for n in timed if (everyday[n].trip, everyday[n].stop, everyday[n].camera) in recognised_by_camera
    )
    for name in targets:
        o, t = outcomes.get(name), everyday[name]
        if o is None or o.outcome != "proposed":
            continue
        error = great_circle_km(o.latitude, o.longitude, t.latitude, t.longitude)
        errors.append(error)
        miss = error > o.radius_km
        outside += miss
        anchors = {a for a in (o.anchor, o.anchor2) if a is not None}
        if miss and any(a in landmark and a not in right_anchor for a in anchors):
            wrong_anchor += 1
        if not miss and (t.trip, t.stop) in recognised_stops:
            held_aim += 1
        if not miss and (t.trip, t.stop) in recognised_stops and name in timed:
            held_timed += 1
        if not miss and (t.trip, t.stop, t.camera) in recognised_by_camera and name in timed:
            held_same += 1
    landmark_truth = [n for n, t in truths.items() if t.kind == "landmark"]
    reasons = Counter(o.reason for n, o in outcomes.items() if n in targets and o.outcome != "proposed")
    return {
        "photos": len(truths), "everyday": len(everyday), "everyday_without_gps": len(targets),
        "landmark_photos": len(landmark_truth),
        "landmark_photos_located_right": sum(n in right_anchor for n in landmark_truth),
        "landmark_photos_located_wrong": sum(n in landmark and n not in right_anchor for n in landmark_truth),
        "everyday_given_a_landmark": sum(n in landmark for n in targets),
        "located_share": len(errors) / max(len(targets), 1),
        "median_error_km": statistics.median(errors) if errors else None,
        "p95_error_km": _percentile(errors, 95) if errors else None,
        "median_radius_km": statistics.median(o.radius_km for o in outcomes.values() if o.outcome == "proposed")
        if errors else None,
        "outside_radius_share": outside / max(len(errors), 1),
        "outside_radius": outside,
        "wrong_from_misrecognised_anchor": wrong_anchor,
        "aim_share": held_aim / max(aim_total, 1), "aim_photos": aim_total,
        "aim_timed_share": held_timed / max(timed_total, 1), "aim_timed_photos": timed_total,
        "aim_same_camera_share": held_same / max(same_total, 1), "aim_same_camera_photos": same_total,
        "not_estimated": dict(reasons.most_common()),
    }  # fmt: skip


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--trips", type=int, default=8)
    p.add_argument("--stops", type=int, default=4, help="stops per trip")
    p.add_argument("--max-everyday", type=int, default=7, help="everyday photos per stop: 3 to this")
    p.add_argument("--gps", type=float, default=0.2, help="share of phone photos that carry GPS")
    p.add_argument("--no-time", type=float, default=0.05, help="share of photos with no capture time")
    p.add_argument("--walk-kmh", type=float, default=3.0, help="how fast people drift from the landmark at a stop")
    p.add_argument("--seed", type=int, nargs="+", default=[0], help="one trip set per seed; several: also pooled")
    p.add_argument("--window-min", type=float, default=30.0)
    p.add_argument("--speed-kmh", type=float, default=EstimateOptions.speed_kmh)
    p.add_argument("--max-radius-km", type=float, default=EstimateOptions.max_radius_km)
    p.add_argument("--together-hours", type=float, default=EstimateOptions.together_s / 3600,
                   help="how long two cameras seen together count as companions, before and after")  # fmt: skip
    cameras = p.add_mutually_exclusive_group()
    cameras.add_argument("--any-camera", action="store_true", help="anchors of any other camera too (by UTC)")
    cameras.add_argument("--same-camera", action="store_true", help="the photo's own camera only (no companions)")
    p.add_argument("--min-confidence", type=float, default=None, help="default: the checkpoint's threshold")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = p.parse_args()
    runs = {seed: run_seed(argparse.Namespace(**{**vars(args), "seed": seed})) for seed in args.seed}
    figures: dict[str, Any] = runs[args.seed[0]] if len(runs) == 1 else {"seeds": runs, "pooled": pooled(runs)}
    figures["args"] = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    print(json.dumps(figures, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))


def run_seed(args: argparse.Namespace) -> dict[str, Any]:
    """One seed's trips, built in a temporary folder and put through the real pipeline."""
    from landmarks.library.db import open_library

    with tempfile.TemporaryDirectory(prefix="trips-") as tmp:
        os.environ["LANDMARKS_CACHE"] = str(Path(tmp) / "cache")  # nothing of the user's is read or written
        _, held_out = negative_halves(EVERYDAY, Path(tmp) / "fit", seed=0)
        photos = generate(args, held_out)
        root = Path(tmp) / "library"
        build(root, photos)
        truths = {t.name: t for _, t in photos}
        with open_library(root, Path(tmp) / "index.sqlite") as db:
            pipeline = locate_landmarks(db, args.checkpoint, args.min_confidence)
            cameras = "any" if args.any_camera else "same" if args.same_camera else EstimateOptions.cameras
            options = EstimateOptions(
                args.window_min * 60, args.speed_kmh, args.max_radius_km, cameras=cameras,
                together_s=args.together_hours * 3600,
            )  # fmt: skip
            plan = plan_estimates(db, options)
            return pipeline | evaluate(db, plan, truths)


def pooled(runs: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The seeds' trips as one larger benchmark: each share re-weighted by the photos it counts."""

    def share(key: str, total: str) -> float:
        return sum(r[key] * r[total] for r in runs.values()) / max(sum(r[total] for r in runs.values()), 1)

    located = sum(round(r["located_share"] * r["everyday_without_gps"]) for r in runs.values())
    return {
        "photos": sum(r["photos"] for r in runs.values()),
        "everyday_without_gps": sum(r["everyday_without_gps"] for r in runs.values()),
        "located_share": share("located_share", "everyday_without_gps"),
        "outside_radius": sum(r["outside_radius"] for r in runs.values()),
        "outside_radius_share": sum(r["outside_radius"] for r in runs.values()) / max(located, 1),
        "wrong_from_misrecognised_anchor": sum(r["wrong_from_misrecognised_anchor"] for r in runs.values()),
        "aim_photos": sum(r["aim_photos"] for r in runs.values()),
        "aim_share": share("aim_share", "aim_photos"),
        "aim_timed_share": share("aim_timed_share", "aim_timed_photos"),
        "aim_same_camera_share": share("aim_same_camera_share", "aim_same_camera_photos"),
        "aim_by_seed": {seed: round(r["aim_share"], 4) for seed, r in runs.items()},
    }


if __name__ == "__main__":
    main()
