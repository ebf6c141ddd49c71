"""`landmarks geotag`: put photos without GPS on the map from the landmark they show; `--undo` it.

`geotag DIR` works on the library's index (plan, then apply: see `geotag_library`); `geotag apply`
writes a reviewed plan, `geotag undo DIR` takes back what the index records. Photos or globs (and
`--dry-run`, `--no-index`) run the index-free batch geotagger.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import Annotated

import click
import typer
from typer.core import TyperGroup

from landmarks.cli.library import (
    DEFAULTS,
    AnyCameraOption,
    MaxRadiusOption,
    SameCameraOption,
    SpeedOption,
    TogetherOption,
    WindowOption,
    camera_mode,
)
from landmarks.cli.predict import BACKEND_HELP, BackendKind
from landmarks.errors import LandmarksError
from landmarks.geotag.metadata import SidecarName, WriteMode
from landmarks.library.estimate import EstimateOptions

_MAX_PROBLEM_LINES = 20


class GeotagUsageError(LandmarksError):
    """Arguments that do not go together; exit code 2 like other usage errors."""

    exit_code = 2


class _DefaultGroup(TyperGroup):
    """`landmarks geotag DIR ...` means `landmarks geotag run DIR ...`: the subcommands sit beside it."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_DefaultGroup,
    help="Write recognised landmarks' locations into photos (`geotag DIR`), review first (`--plan`, `apply`), undo.",
    no_args_is_help=True,
)

DbOption = Annotated[
    Path | None,
    typer.Option("--db", metavar="FILE", help="Library index file (default: one per library in the cache folder)."),
]
TagsOption = Annotated[
    bool | None,
    typer.Option(
        "--tags/--no-tags",
        help="Also add keywords and place names (dc:subject, lr:hierarchicalSubject, IPTC, City, Country, "
        "Location, CountryCode). Default: on for --write xmp, off for exif.",
        show_default=False,
    ),
]
WaitOption = Annotated[
    float,
    typer.Option("--wait", min=0.0, metavar="SECONDS", help="How long to wait for another run on the library."),
]


@app.command("run")
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
    backend: Annotated[BackendKind, typer.Option(case_sensitive=False, help=BACKEND_HELP)] = BackendKind.auto,
    db: DbOption = None,
    plan: Annotated[
        bool, typer.Option("--plan", help="Library: propose locations (index + plan CSV), write no photo.")
    ] = False,
    plan_csv: Annotated[
        Path | None, typer.Option(metavar="FILE.csv", help="Where --plan writes the plan (default: cache folder).")
    ] = None,
    no_index: Annotated[
        bool, typer.Option("--no-index", help="Geotag a folder without the library index (no incremental rerun).")
    ] = False,
    wait: WaitOption = 30.0,
    tags: TagsOption = None,
    estimate_nearby: Annotated[
        bool,
        typer.Option(
            "--estimate-nearby",
            help="Library: also estimate where photos without GPS or landmark were taken, from located photos "
            "close in time by the same camera or a companion one (GPS error = the estimate's radius).",
        ),
    ] = False,
    window: WindowOption = DEFAULTS.window_s / 60,
    speed_kmh: SpeedOption = DEFAULTS.speed_kmh,
    max_radius_km: MaxRadiusOption = DEFAULTS.max_radius_km,
    any_camera: AnyCameraOption = False,
    same_camera: SameCameraOption = False,
    together_hours: TogetherOption = DEFAULTS.together_s / 3600,
    estimate_report: Annotated[
        Path | None,
        typer.Option(metavar="FILE.csv", help="With --estimate-nearby: one row per photo, its estimate or why none."),
    ] = None,
) -> None:
    """Recognise the landmark in each photo and write its location (the default command).

    Into the photo (EXIF GPS + XMP) or an XMP sidecar; `--undo REPORT.csv` takes a run back. One
    folder is a library: its index makes reruns incremental, `--plan` proposes without writing (then
    `geotag apply`), and `geotag undo DIR` takes back what the index records. Photos or globs (or
    --no-index, --dry-run) are geotagged without an index; every photo gets a line in the report.

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
    library_mode = len(photos) == 1 and Path(photos[0]).is_dir() and not (no_index or dry_run)
    if (plan or db is not None or plan_csv is not None or estimate_nearby) and not library_mode:
        raise GeotagUsageError(
            "--plan, --plan-csv, --db and --estimate-nearby need one library folder (and no --dry-run/--no-index)"
        )
    if estimate_report is not None and not estimate_nearby:
        raise GeotagUsageError("--estimate-report goes with --estimate-nearby")
    cameras = camera_mode(same_camera, any_camera)
    if library_mode:
        from landmarks.cli.geotag_library import LibraryRun, run_library

        run_library(
            LibraryRun(
                folder=Path(photos[0]), db=db, checkpoint=checkpoint, device=device, plan_only=plan,
                plan_csv=plan_csv, min_confidence=min_confidence, write=write, sidecar_name=sidecar_name,
                recursive=recursive, overwrite_gps=overwrite_gps, report=report, geojson=geojson,
                batch_size=batch_size, wait=wait, tags=tags, backend=backend.value, gallery=gallery,
                estimate=EstimateOptions(window * 60, speed_kmh, max_radius_km, cameras=cameras,
                                         together_s=together_hours * 3600)
                if estimate_nearby
                else None,
                estimate_report=estimate_report,
            )
        )  # fmt: skip
        return

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
    from landmarks.inference.predictor import Predictor  # the model: only once the inputs are known good

    predictor = Predictor.load(checkpoint, device=device, backend=backend.value, gallery=gallery)
    options = GeotagOptions(
        write=write,
        sidecar_name=sidecar_name,
        min_confidence=min_confidence,
        dry_run=dry_run,
        overwrite_gps=overwrite_gps,
        tags=tags,
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


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    from landmarks.cli import geotag_library

    geotag_library.register(app)
    root.add_typer(app, name="geotag")
