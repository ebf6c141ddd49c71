"""`landmarks geotag`: put photos without GPS on the map from the landmark they show; `--undo` it."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from landmarks.errors import LandmarksError
from landmarks.geotag.metadata import SidecarName, WriteMode

_MAX_PROBLEM_LINES = 20


class GeotagUsageError(LandmarksError):
    """Arguments that do not go together; exit code 2 like other usage errors."""

    exit_code = 2


def geotag(
    photos: Annotated[
        list[str] | None,
        typer.Argument(metavar="PHOTO_OR_DIR...", help="Photos, folders or globs.", show_default=False),
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="Model file (default: $LANDMARKS_CHECKPOINT, else the last trained)."),
    ] = None,
    gallery: Annotated[
        Path | None,
        typer.Option(help="Gallery of added landmarks (env LANDMARKS_GALLERY; default: beside the checkpoint)."),
    ] = None,
    min_confidence: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            metavar="P",
            help="Write only predictions at least this confident (default: the checkpoint's threshold).",
        ),
    ] = None,
    write: Annotated[
        WriteMode,
        typer.Option(
            case_sensitive=False,
            help="exif: GPS tags into the photo itself; xmp: an XMP sidecar, the photo untouched.",
        ),
    ] = WriteMode.EXIF,
    sidecar_name: Annotated[
        SidecarName, typer.Option(help="Sidecar naming for --write xmp (darktable/digiKam or Lightroom).")
    ] = SidecarName.APPEND,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Write nothing but the report.")] = False,
    overwrite_gps: Annotated[
        bool, typer.Option("--overwrite-gps", help="Also geotag photos that already have GPS.")
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE.csv",
            help="Per-photo report, needed by --undo (default: a new file in the cache folder).",
        ),
    ] = None,
    geojson: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Also write the photos' locations as GeoJSON points.")
    ] = None,
    undo: Annotated[
        Path | None,
        typer.Option("--undo", metavar="REPORT.csv", help="Restore the photos a geotag run wrote, and exit."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per forward pass.")] = 16,
    device: Annotated[str | None, typer.Option(help="torch device for the model (default: auto).")] = None,
) -> None:
    """Recognise the landmark in each photo and write its location into the photo (EXIF GPS + XMP)
    or an XMP sidecar. Every photo gets a line in the report; `--undo REPORT.csv` takes it back.

    Photos that already have a location (EXIF or XMP GPS, or an IPTC LocationShown/LocationCreated
    with coordinates) are left alone unless --overwrite-gps. One run (or undo) per folder at a time:
    a second one is refused at once. --undo exits 1 unless every photo is as it was before the run.
    """
    if undo is not None:
        if photos:
            raise GeotagUsageError("--undo takes a report, not photos")
        _undo(undo)
        return
    if not photos:
        raise GeotagUsageError("give photos or folders to geotag, or --undo REPORT.csv")

    from landmarks.cli.inputs import expand_inputs
    from landmarks.geotag.batch import GeotagOptions, NothingGeotaggedError
    from landmarks.geotag.batch import geotag as run_geotag
    from landmarks.geotag.metadata import ExifToolSession
    from landmarks.geotag.report import FAILURES, check_report_path, check_writable

    found, problems = expand_inputs(photos, recursive=recursive)
    for problem in problems:
        typer.secho(f"warning: {problem}", fg=typer.colors.YELLOW, err=True)
    if not found:
        raise LandmarksError("no photos to geotag")
    # what can go wrong before any photo is touched is reported before the model loads
    ExifToolSession()
    report = report or _default_report()
    check_report_path(report)
    if geojson is not None:
        check_writable(geojson)
    from landmarks.inference.predictor import Predictor  # torch: only once the inputs are known good

    predictor = Predictor.load(checkpoint, device=device, gallery=gallery)
    options = GeotagOptions(
        write=write,
        sidecar_name=sidecar_name,
        min_confidence=min_confidence,
        dry_run=dry_run,
        overwrite_gps=overwrite_gps,
        batch_size=batch_size,
    )
    with _progress(len(found)) as advance:
        summary = run_geotag(found, predictor, report, options=options, geojson=geojson, progress=advance)

    _say_removed(summary.temporaries_removed)
    problems_found = [r for r in summary.results if r.action in FAILURES]
    for result in problems_found[:_MAX_PROBLEM_LINES]:
        typer.secho(f"{result.action}: {_shown(result.file)}: {result.detail}", fg=typer.colors.YELLOW, err=True)
    if len(problems_found) > _MAX_PROBLEM_LINES:
        typer.secho(f"... and {len(problems_found) - _MAX_PROBLEM_LINES} more (see the report)", err=True)
    total = len(summary.results)
    written = summary.counts.get("written", 0) + summary.counts.get("would write", 0)
    verb = "would geotag" if dry_run else "geotagged"
    typer.echo(f"{verb} {written} of {total} photos" + (" (dry run: nothing written)" if dry_run else ""))
    for action, count in sorted(summary.counts.items()):
        typer.echo(f"  {action:<28} {count:>6}")
    typer.echo(f"report: {_shown(summary.report)}")
    if summary.geojson is not None:
        typer.echo(f"map: {_shown(summary.geojson)}")
    if not summary.ok:
        raise NothingGeotaggedError(f"none of the {total} photos could be geotagged (see {summary.report})")


def _undo(report: Path) -> None:
    from landmarks.geotag.undo import UNDONE
    from landmarks.geotag.undo import undo as run_undo

    summary = run_undo(report)
    _say_removed(summary.temporaries_removed)
    if not summary.results:
        typer.echo(f"nothing to undo: {report} records no written photo")
        return
    not_undone = [r for r in summary.results if r.action not in UNDONE]
    for result in not_undone[:_MAX_PROBLEM_LINES]:
        typer.secho(f"{result.action}: {_shown(result.target)}: {result.detail}", fg=typer.colors.YELLOW, err=True)
    if len(not_undone) > _MAX_PROBLEM_LINES:
        typer.secho(f"... and {len(not_undone) - _MAX_PROBLEM_LINES} more", err=True)
    typer.echo(f"undid {report}:")
    for action, count in sorted(summary.counts.items()):
        typer.echo(f"  {action:<34} {count:>6}")
    if not summary.ok:
        raise LandmarksError(
            f"{len(not_undone)} of the {len(summary.results)} photos in {report} could not be restored (listed above)"
        )


def _say_removed(temporaries: list[Path]) -> None:
    if temporaries:
        typer.secho(
            f"removed {len(temporaries)} temporary file(s) an interrupted run had left beside the photos",
            err=True,
        )


def _shown(path: Path) -> str:
    """A path printable on any terminal (names that are not UTF-8 get \\x escapes)."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _default_report() -> Path:
    from landmarks.settings import cache_dir

    return cache_dir() / "geotag" / f"report-{datetime.now():%Y%m%d-%H%M%S-%f}.csv"


class _progress:
    """A thread-safe progress bar on stderr (hidden when stderr is not a terminal)."""

    def __init__(self, total: int) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, unit="photo", disable=None, leave=False)
        self._lock = threading.Lock()

    def __enter__(self) -> _progress:
        return self

    def __call__(self, n: int) -> None:
        with self._lock:
            self._bar.update(n)

    def __exit__(self, *exc: object) -> None:
        self._bar.close()


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command()(geotag)
