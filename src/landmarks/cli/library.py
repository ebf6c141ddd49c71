"""`landmarks library ...`: index a photo library (scan), and see (stats) or export what is located."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from landmarks.errors import LandmarksError
from landmarks.library.estimate import EstimateOptions

if TYPE_CHECKING:
    from landmarks.library.nearby import NearbyPlan

app = typer.Typer(
    help="Index a photo library so geotag runs are incremental; see what is located.", no_args_is_help=True
)

_MAX_PROBLEM_LINES = 20

DirArg = Annotated[Path, typer.Argument(metavar="DIR", help="The library's root folder.", show_default=False)]
DbOption = Annotated[
    Path | None,
    typer.Option("--db", metavar="FILE", help="Index file (default: one per library in the cache folder)."),
]


DEFAULTS = EstimateOptions()
WindowOption = Annotated[
    float, typer.Option("--window", min=0.1, metavar="MIN", help="Only anchors this many minutes away place a photo.")
]
SpeedOption = Annotated[
    float,
    typer.Option(
        min=0.1, help="Assumed travel speed (walking pace: one tours a landmark on foot); the radius grows with it."
    ),
]
MaxRadiusOption = Annotated[float, typer.Option(min=0.01, help="Propose no estimate looser than this (km).")]
AnyCameraOption = Annotated[
    bool,
    typer.Option(
        "--any-camera",
        help="Also anchors of any other camera, by UTC (both photos must record their offset), with no evidence "
        "that the cameras were together: for a library of one traveller.",
    ),
]
SameCameraOption = Annotated[
    bool,
    typer.Option(
        "--same-camera",
        help="Only the photo's own camera places it (default: also companion cameras, those seen in the same "
        "place at the same time, around then; a camera that records no UTC offset gets one inferred from that).",
    ),
]

TogetherOption = Annotated[
    float,
    typer.Option(
        "--together-hours",
        min=0.1,
        metavar="H",
        help="How long two cameras seen together (same place, same time) count as companions, before and after.",
    ),
]


def camera_mode(same_camera: bool, any_camera: bool) -> str:
    """`EstimateOptions.cameras` from the two flags (which exclude each other)."""
    if same_camera and any_camera:
        raise LibraryUsageError("--same-camera and --any-camera exclude each other")
    return "same" if same_camera else "any" if any_camera else "companions"


def _shown(text: str | Path) -> str:
    return str(text).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class LibraryUsageError(LandmarksError):
    exit_code = 2


@app.command()
def scan(
    folder: DirArg,
    db: DbOption = None,
    recursive: Annotated[bool, typer.Option("--recursive/--no-recursive", help="Descend into sub-folders.")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Add new photos to the index and re-read changed ones; unchanged photos are not opened."""
    from landmarks.library.db import open_library
    from landmarks.library.scan import scan_library

    with open_library(folder, db) as library:
        summary = scan_library(library.root, library, recursive=recursive, progress=not quiet)
    for path, reason in summary.problems[:_MAX_PROBLEM_LINES]:
        typer.secho(f"warning: {_shown(path)}: {reason}", fg=typer.colors.YELLOW, err=True)
    if len(summary.problems) > _MAX_PROBLEM_LINES:
        typer.secho(f"... and {len(summary.problems) - _MAX_PROBLEM_LINES} more", err=True)
    typer.echo(f"scanned {_shown(summary.root)}: {summary.present} photos in {summary.timings['total']:.1f} s")
    for name in ("new", "changed", "unchanged", "renamed", "missing", "unreadable", "skipped", "symlinks"):
        if value := getattr(summary, name):
            typer.echo(f"  {name:<12} {value:>8}")
    typer.echo(f"index: {_shown(summary.db_path)}")


@app.command()
def stats(folder: DirArg, db: DbOption = None) -> None:
    """How many photos the index holds, which are located and by what, predictions and proposals."""
    from landmarks.library.db import open_library
    from landmarks.library.stats import library_stats

    with open_library(folder, db, readonly=True) as library:
        s = library_stats(library)
    typer.echo(f"{_shown(library.root)}: {s.photos} photos ({s.unreadable} unreadable), {s.missing} missing")
    typer.echo(f"  with capture time {s.with_capture_time}, with time zone {s.with_utc_time}, cameras {s.cameras}")
    typer.echo("  located by: " + ", ".join(f"{k} {v}" for k, v in s.located.items()))
    typer.echo(f"  predicted {s.predicted} (models/galleries: {s.models})")
    if s.proposals:
        typer.echo("  proposals: " + ", ".join(f"{k} {v}" for k, v in s.proposals.items()))
    if s.interrupted_writes:
        typer.secho(f"  interrupted writes: {s.interrupted_writes}", fg=typer.colors.YELLOW)
    typer.echo(f"  last scan: {s.last_scan or 'never'}")


@app.command()
def export(
    folder: DirArg,
    db: DbOption = None,
    geojson: Annotated[Path | None, typer.Option(metavar="FILE", help="Located photos as GeoJSON points.")] = None,
    csv: Annotated[Path | None, typer.Option(metavar="FILE", help="Every photo, located or not, as CSV.")] = None,
) -> None:
    """Write what is located (and by what: gps, landmark, estimate) as GeoJSON and/or CSV."""
    from landmarks.library.db import open_library
    from landmarks.library.export import export_csv, export_geojson

    if geojson is None and csv is None:
        raise LibraryUsageError("give --geojson FILE and/or --csv FILE")
    with open_library(folder, db, readonly=True) as library:
        if geojson is not None:
            typer.echo(f"{export_geojson(library, geojson)} located photos -> {_shown(geojson)}")
        if csv is not None:
            typer.echo(f"{export_csv(library, csv)} photos -> {_shown(csv)}")


@app.command()
def estimate(
    folder: DirArg,
    db: DbOption = None,
    window: WindowOption = DEFAULTS.window_s / 60,
    speed_kmh: SpeedOption = DEFAULTS.speed_kmh,
    max_radius_km: MaxRadiusOption = DEFAULTS.max_radius_km,
    any_camera: AnyCameraOption = False,
    same_camera: SameCameraOption = False,
    together_hours: TogetherOption = DEFAULTS.together_s / 3600,
    report: Annotated[
        Path | None, typer.Option(metavar="FILE.csv", help="One row per photo: its estimate or why none.")
    ] = None,
) -> None:
    """Plan estimated locations for photos taken near located ones (close in time, same or companion camera).

    Anchors: photos with GPS and photos with a live landmark proposal (made by `geotag DIR --plan`;
    `geotag DIR --plan --estimate-nearby` does both at once). Estimates become proposals of kind
    `estimate` (with their anchor photo), applied (`geotag apply`) and undone like landmark ones."""
    from landmarks.geotag.report import check_writable
    from landmarks.library.db import open_library
    from landmarks.library.nearby import plan_estimates, write_report

    cameras = camera_mode(same_camera, any_camera)
    if report is not None:
        check_writable(report)

    options = EstimateOptions(window * 60, speed_kmh, max_radius_km, cameras=cameras, together_s=together_hours * 3600)
    with open_library(folder, db) as library:
        plan = plan_estimates(library, options)
    say_plan(plan)
    if report is not None:
        typer.echo(f"report: {_shown(write_report(plan, report))}")


def say_plan(plan: NearbyPlan) -> None:
    """The plan's counts: how many estimated, and why the others were not."""
    estimated = sum(o.outcome in ("proposed", "kept") for o in plan.outcomes)
    considered = sum(o.outcome != "anchor" and o.reason != "has_location" for o in plan.outcomes)
    anchors = sum(o.outcome == "anchor" for o in plan.outcomes)
    typer.echo(f"estimated {estimated} of {considered} photos without a location of their own ({anchors} anchors)")
    for key, count in sorted(plan.counts.items()):
        typer.echo(f"  {key:<34} {count:>6}")
