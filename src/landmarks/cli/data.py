"""`landmarks data ...`: download and prepare datasets (owned by the data layer)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from landmarks.errors import DatasetError

app = typer.Typer(help="Download and prepare landmark photo datasets.", no_args_is_help=True)

SKIPPED_SHOWN = 15
"""Skipped files listed on the terminal; the rest are in skipped.csv."""


@app.command()
def download(
    url: Annotated[str | None, typer.Option(help="Archive to fetch [default: the official dataset].")] = None,
    dest: Annotated[
        Path | None, typer.Option(help="Folder to unpack into [default: the cache's datasets/ folder].")
    ] = None,
    sha256: Annotated[str | None, typer.Option(help="Expected SHA-256 of the zip.")] = None,
    source: Annotated[
        Path | None,
        typer.Option("--from", help="Import this zip or extracted folder instead of downloading."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Fetch landmark_images.zip (resuming an interrupted transfer) and unpack it safely."""
    from landmarks.data.download import DEFAULT_URL, ensure_dataset

    root = ensure_dataset(url=url or DEFAULT_URL, dest=dest, sha256=sha256, source=source, progress=not quiet)
    typer.echo(f"Dataset ready: {root}")
    typer.echo(f"Next: landmarks data prepare --data {root}")


@app.command()
def prepare(
    data: Annotated[
        Path | None,
        typer.Option(help="Folder with train/<class>/ and test/<class>/ [env: LANDMARKS_DATA].", show_default=False),
    ] = None,
    val_fraction: Annotated[
        float, typer.Option(min=0.0, max=0.9, help="Share of each train/ class kept for validation.")
    ] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the train/val split.")] = 0,
    cache: Annotated[
        Path | None, typer.Option(help="Cache directory [env: LANDMARKS_CACHE; default ~/.cache/landmarks].")
    ] = None,
    image_size: Annotated[int, typer.Option(min=64, help="Shorter side of the decoded-image cache.")] = 256,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Validate, split and measure a dataset; cache the decoded photos. Reruns reuse the earlier work."""
    from rich.console import Console

    from landmarks.data.prepare import prepare_dataset, summary_table

    prepared = prepare_dataset(
        resolve_data_folder(data), val_fraction=val_fraction, seed=seed, cache=cache, progress=not quiet,
        image_size=image_size,
    )  # fmt: skip
    console = Console()
    console.print(summary_table(prepared))
    if prepared.reused:
        console.print("Unchanged since the last run: reused its split, statistics and decoded photos.")
    lines: list[str] = []  # paths are printed whole (soft_wrap), so they can be copied
    if prepared.skipped:
        lines.append(f"{len(prepared.skipped)} files skipped:")
        lines += [f"  {item.path}: {item.reason}" for item in prepared.skipped[:SKIPPED_SHOWN]]
        if len(prepared.skipped) > SKIPPED_SHOWN:
            lines.append(f"  ... and {len(prepared.skipped) - SKIPPED_SHOWN} more")
        lines.append(f"Skipped files are listed in {prepared.skipped_csv}")
    lines += [
        f"Manifest:   {prepared.manifest_path}",
        f"Samples:    {prepared.samples_plot}",
        f"Histograms: {prepared.histogram_plot}",
    ]
    for line in lines:
        console.print(line, soft_wrap=True, markup=False, highlight=False)


def resolve_data_folder(data: Path | None) -> Path:
    """--data, else LANDMARKS_DATA, else the dataset `landmarks data download` left in the cache."""
    from landmarks.data.download import DEFAULT_URL, archive_name, default_dest
    from landmarks.settings import get_settings

    folder = data or get_settings().data
    if folder is not None:
        return folder
    downloaded = default_dest() / archive_name(DEFAULT_URL)
    if downloaded.is_dir():
        return downloaded
    raise DatasetError("no dataset given: pass --data DIR, set LANDMARKS_DATA, or run `landmarks data download` first")


def resolve_negatives(
    data_root: Path, given: list[Path] | None, *, off: bool, download: bool
) -> tuple[list[Path], str]:
    """The negatives of a training run: --negatives, LANDMARKS_NEGATIVES, DATA/negatives, else the ImageNet
    sample gallery (downloaded when `download`, else only when `landmarks data negatives` fetched it)."""
    from landmarks.data.layout import find_dataset_root
    from landmarks.data.negatives import (
        NEGATIVES_URL,
        ensure_negatives,
        negatives_dir,
        resolve_negative_dirs,
        source_name,
    )
    from landmarks.errors import DownloadError

    if off:
        return [], "none: --no-negatives"

    def fetch() -> Path:
        if download:
            return ensure_negatives()
        folder = negatives_dir() / source_name(NEGATIVES_URL)
        if not folder.is_dir():
            raise DownloadError("not downloaded (`landmarks data negatives` fetches them)")
        return ensure_negatives()  # checks the folder; no network when it is complete

    try:
        root = find_dataset_root(data_root)
    except DatasetError:
        root = data_root
    dirs, source = resolve_negative_dirs(root, given or [], fetch=fetch)
    colour = "yellow" if not dirs else None
    typer.secho(
        f"negatives: {source}" + ("" if dirs else " (the unknown decision is fitted without photos of no landmark)"),
        fg=colour,
        err=True,
    )
    return dirs, source


@app.command()
def negatives(
    source: Annotated[
        Path | None,
        typer.Option("--from", help="Import this zip or folder of the ImageNet sample gallery instead of downloading."),
    ] = None,
    url: Annotated[str | None, typer.Option(help="Archive to fetch (default: the ImageNet sample gallery).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Fetch photos of no landmark (the ImageNet sample gallery) into the cache, for `train --negatives`."""
    from landmarks.data.images import is_image_file
    from landmarks.data.negatives import NEGATIVES_URL, ensure_negatives

    folder = ensure_negatives(url or NEGATIVES_URL, source=source, progress=not quiet)
    count = sum(1 for path in folder.iterdir() if path.is_file() and is_image_file(path))
    typer.echo(f"Negatives ready: {folder} ({count} photos)")
    typer.echo(f"Next: landmarks train --negatives {folder}")
