"""Batch geotagging: predict the landmark in each photo, write its location, report every photo.

The pipeline keeps both CPU-heavy halves busy at once: the main thread inspects metadata and runs
the predictor on chunk N+1 while a writer thread (with its own exiftool process) writes chunk N,
many files per exiftool call. Photos whose fate is settled by their metadata alone (GPS already
there, read-only, unreadable) are never sent to the predictor.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from landmarks.errors import LandmarksError
from landmarks.geotag.lock import folder_locks
from landmarks.geotag.metadata import (
    EXIF_CLEARED,
    SIDECAR_CLEARED,
    WRITABLE_TYPES,
    ExifToolSession,
    FileMetadata,
    Location,
    SidecarName,
    WriteJob,
    WriteMode,
    read_only_reason,
    remove_temporaries,
    sidecar_path,
)
from landmarks.geotag.places import IPTC_TYPES, add_places
from landmarks.geotag.report import (
    FAILURES,
    Action,
    PhotoResult,
    ReportJournal,
    check_writable,
    write_geojson,
)
from landmarks.inference.types import Prediction


class NothingGeotaggedError(LandmarksError):
    """Not a single photo of the batch could be read or written."""


class PredictorLike(Protocol):
    """What the geotagger needs from a predictor (`landmarks.inference.Predictor` has it)."""

    @property
    def threshold(self) -> float: ...

    def predict_many(
        self, images: Sequence[Path], k: int = ..., batch_size: int = ...
    ) -> Sequence[Prediction | LandmarksError]: ...


@dataclass(frozen=True)
class GeotagOptions:
    write: WriteMode = WriteMode.EXIF
    sidecar_name: SidecarName = SidecarName.APPEND
    min_confidence: float | None = None
    """Scores below this are not written; None: the predictor's (checkpoint's) threshold."""
    dry_run: bool = False
    overwrite_gps: bool = False
    tags: bool | None = None
    """Also add keywords and place names (`places`); None: on for XMP sidecars, off for EXIF."""
    batch_size: int = 16
    """Images per forward pass of the predictor."""
    chunk_size: int = 64
    """Photos per pipeline step (one exiftool read, one predict_many call, one exiftool write)."""


@dataclass
class GeotagSummary:
    results: list[PhotoResult]
    report: Path
    geojson: Path | None = None
    counts: Counter[str] = field(default_factory=Counter)
    temporaries_removed: list[Path] = field(default_factory=list)
    """Hidden temporaries a killed earlier run had left beside these photos, now deleted."""

    @property
    def ok(self) -> bool:
        """False when nothing worked: every photo unreadable, unsupported or failed."""
        return any(r.action not in FAILURES for r in self.results)


class _Writer:
    """A thread that writes batches through its own exiftool session while the next chunk predicts."""

    def __init__(self, session: ExifToolSession, on_done: Callable[[int], None]) -> None:
        self._session = session
        self._on_done = on_done
        self._queue: queue.Queue[list[tuple[PhotoResult, WriteJob]] | None] = queue.Queue(maxsize=2)
        self._cancel = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="landmarks-geotag-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._cancel.is_set() or self.error is not None:
                reason = "interrupted before writing" if self.error is None else f"not written: {self.error}"
                for result, _ in batch:
                    result.action, result.detail = Action.FAILED, reason
                continue
            try:
                errors = self._session.write([job for _, job in batch])
            except BaseException as exc:
                # exiftool died under us: whether each photo of this batch was replaced is unknown,
                # so they stay `writing` (undo checks every such file before touching it)
                self.error = exc
                for result, _ in batch:
                    result.detail = f"unknown: the writer stopped ({exc})"
                continue
            for (result, _), error in zip(batch, errors, strict=True):
                result.action = Action.WRITTEN if error is None else Action.FAILED
                result.detail = error or ""
            self._on_done(len(batch))

    def submit(self, batch: list[tuple[PhotoResult, WriteJob]]) -> None:
        if self.error is not None:
            raise self.error
        if batch:
            # started here, in the caller's thread: exiftool is tied to the thread that spawns it
            # (pyexiftool sets PDEATHSIG), and runs with nothing to write never start it at all
            self._session.start()
            self._queue.put(batch)

    def close(self, cancel: bool = False) -> None:
        if cancel:
            self._cancel.set()
        self._queue.put(None)
        self._thread.join()


def geotag(
    photos: Sequence[Path],
    predictor: PredictorLike,
    report: Path,
    *,
    options: GeotagOptions | None = None,
    geojson: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> GeotagSummary:
    """Geotag `photos` with the landmark `predictor` sees in them; every photo gets a report line.

    `progress` is called with the number of photos just finished (from two threads).
    """
    options = options or GeotagOptions()
    min_confidence = predictor.threshold if options.min_confidence is None else options.min_confidence
    unique: dict[Path, Path] = {}
    for photo in photos:
        unique.setdefault(Path(photo).resolve(), Path(photo).absolute())
    results = [PhotoResult(file=p, write=str(options.write)) for p in unique.values()]
    advance = progress or (lambda n: None)
    claimed: dict[Path, Path] = {}  # sidecar -> photo, to catch photo.jpg and photo.png sharing photo.xmp

    if geojson is not None:
        check_writable(geojson)
    with folder_locks(p.parent for p in unique.values()) as folders:
        removed = [] if options.dry_run else remove_temporaries(folders)
        _run(results, predictor, report, options, min_confidence, advance, claimed)
    summary = GeotagSummary(results=[r for r in results if r.action is not None], report=report)
    summary.temporaries_removed = removed
    summary.counts = Counter(str(r.action) for r in summary.results)
    if geojson is not None:
        write_geojson(geojson, summary.results)
        summary.geojson = geojson
    return summary


def _run(
    results: list[PhotoResult],
    predictor: PredictorLike,
    report: Path,
    options: GeotagOptions,
    min_confidence: float,
    advance: Callable[[int], None],
    claimed: dict[Path, Path],
) -> None:
    """The pipeline: plan chunk N+1 (metadata, predictions) while the writer thread writes chunk N."""
    journal = ReportJournal(report)
    interrupted = True
    try:
        with ExifToolSession() as reader, ExifToolSession(start=False) as writer_session:
            writer = _Writer(writer_session, advance)
            try:
                for start in range(0, len(results), options.chunk_size):
                    chunk = results[start : start + options.chunk_size]
                    batch = _plan_chunk(chunk, reader, predictor, options, min_confidence, claimed)
                    journal.append(chunk)
                    advance(len(chunk) - len(batch))
                    writer.submit(batch)
                interrupted = False
            finally:
                writer.close(cancel=interrupted)
            if writer.error is not None:
                raise writer.error
    finally:
        journal.finish(results)


def _plan_chunk(
    chunk: list[PhotoResult],
    reader: ExifToolSession,
    predictor: PredictorLike,
    options: GeotagOptions,
    min_confidence: float,
    claimed: dict[Path, Path],
) -> list[tuple[PhotoResult, WriteJob]]:
    """Decide each photo of a chunk; return the writes to make (none on a dry run)."""
    sidecar_mode = options.write is WriteMode.XMP
    infos = reader.inspect([r.file for r in chunk])
    sidecars: list[FileMetadata | None] = [None] * len(chunk)
    if sidecar_mode:
        paths = [sidecar_path(r.file, options.sidecar_name) for r in chunk]
        existing = [i for i, p in enumerate(paths) if p.exists()]
        for i, info in zip(existing, reader.inspect([paths[i].resolve() for i in existing]), strict=True):
            sidecars[i] = info

    candidates: list[tuple[PhotoResult, FileMetadata, FileMetadata | None]] = []
    for result, info, sidecar in zip(chunk, infos, sidecars, strict=True):
        if not _settle_from_metadata(result, info, sidecar, options, claimed):
            candidates.append((result, info, sidecar))
    if not candidates:
        return []

    predictions = predictor.predict_many([r.file for r, _, _ in candidates], k=1, batch_size=options.batch_size)
    if len(predictions) != len(candidates):
        raise LandmarksError(f"the predictor answered {len(predictions)} of {len(candidates)} photos")
    jobs: list[tuple[PhotoResult, WriteJob]] = []
    for (result, info, sidecar), prediction in zip(candidates, predictions, strict=True):
        job = _decide(result, info, sidecar, prediction, options, min_confidence)
        if job is not None:
            jobs.append((result, job))
    return jobs


def _settle_from_metadata(
    result: PhotoResult,
    info: FileMetadata,
    sidecar: FileMetadata | None,
    options: GeotagOptions,
    claimed: dict[Path, Path],
) -> bool:
    """Settle the photos whose metadata alone decides them; True when settled."""
    sidecar_mode = options.write is WriteMode.XMP
    if info.error is not None:
        result.action, result.detail = Action.UNREADABLE, info.error
        return True
    if not sidecar_mode and info.file_type not in WRITABLE_TYPES:
        kind = info.file_type or "unknown"
        if info.is_image:
            result.action = Action.UNSUPPORTED
            result.detail = f"cannot write GPS into {kind} files (try --write xmp)"
        else:
            result.action, result.detail = Action.UNREADABLE, f"not a photo ({kind})"
        return True
    if sidecar_mode:
        target = sidecar_path(result.file, options.sidecar_name)
        if sidecar is not None and sidecar.error is not None:
            result.action, result.detail = Action.UNREADABLE, f"sidecar {target.name}: {sidecar.error}"
            return True
        owner = claimed.setdefault(target.resolve(), result.file)
        if owner != result.file:
            result.action = Action.FAILED
            result.detail = f"{target.name} is already the sidecar of {owner.name}"
            return True
    else:
        target = result.file.resolve()
    result.target = target.resolve() if target.exists() else target
    gps = info.gps or (sidecar.gps if sidecar is not None else None)
    if gps is not None and not options.overwrite_gps:
        result.action = Action.HAS_GPS
        result.latitude, result.longitude = gps
        return True
    reason = read_only_reason(result.target, exists=result.target.exists())
    if reason is not None:
        result.action, result.detail = Action.READ_ONLY, reason
        return True
    return False


def _decide(
    result: PhotoResult,
    info: FileMetadata,
    sidecar: FileMetadata | None,
    prediction: Prediction | LandmarksError,
    options: GeotagOptions,
    min_confidence: float,
) -> WriteJob | None:
    if isinstance(prediction, LandmarksError):
        result.action, result.detail = Action.UNREADABLE, str(prediction)
        return None
    if not prediction.top:
        result.action, result.detail = Action.LOW_CONFIDENCE, "no landmark predicted"
        return None
    best = prediction.best
    result.landmark, result.confidence = best.name, prediction.score
    result.decision = prediction.decision
    if prediction.score < min_confidence:
        result.action = Action.LOW_CONFIDENCE
        result.detail = f"confidence {prediction.score:.3f} < {min_confidence:.3f}"
        return None
    if best.latitude is None or best.longitude is None:
        result.action, result.detail = Action.NO_COORDINATES, f"the catalog has no location for {best.name}"
        return None
    try:
        location = Location(best.name, best.latitude, best.longitude, best.radius_km, best.city, best.country)
    except ValueError as exc:  # a catalog row with impossible coordinates: never write those
        result.action, result.detail = Action.NO_COORDINATES, f"{best.name}: {exc}"
        return None
    result.latitude, result.longitude = location.latitude, location.longitude
    result.radius_km, result.city, result.country = best.radius_km, best.city, best.country
    if options.dry_run:
        result.action = Action.WOULD_WRITE
        return None
    assert result.target is not None
    result.action = Action.WRITING
    sidecar_mode = options.write is WriteMode.XMP
    with_tags = sidecar_mode if options.tags is None else options.tags
    if sidecar_mode:
        result.created = sidecar is None
        result.previous = sidecar.location_tags if sidecar is not None else {}
        places = sidecar.place_tags if sidecar is not None else {}
        expected = None if sidecar is None else sidecar.stamp
        tags = _keep_their_locations(location.sidecar_tags(), result.previous)
    else:
        result.previous, places, expected = info.location_tags, info.place_tags, info.stamp
        tags = _keep_their_locations(location.exif_tags(), result.previous)
    if with_tags:
        iptc = not sidecar_mode and info.file_type in IPTC_TYPES
        extra, result.added = add_places(places, best.name, best.city, best.country, iptc=iptc)
        tags.update(extra)
    return WriteJob(result.target, tags, SIDECAR_CLEARED if sidecar_mode else EXIF_CLEARED, result.created, expected)


def _keep_their_locations(tags: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    """Our LocationShown entry goes after the ones already there (cleared and rewritten as a whole)."""
    key = "XMP-iptcExt:LocationShown"
    theirs = previous.get(key) or []
    theirs = theirs if isinstance(theirs, list) else [theirs]
    ours = tags[key]
    return {**tags, key: [entry for entry in theirs if entry not in ours] + ours}
