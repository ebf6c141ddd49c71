"""`landmarks library ...`: index a photo library (scan), and see (stats) or export what is located."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from landmarks.errors import LandmarksError

app = typer.Typer(
    help="Index a photo library so geotag runs are incremental; see what is located.", no_args_is_help=True
)

_MAX_PROBLEM_LINES = 20

DirArg = Annotated[Path, typer.Argument(metavar="DIR", help="The library's root folder.", show_default=False)]
DbOption = Annotated[
    Path | None,
    typer.Option("--db", metavar="FILE", help="Index file (default: one per library in the cache folder)."),
]


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
