"""`landmarks gallery`: teach the model new landmarks from a few photos, without retraining.

The gallery is a file beside the checkpoint (`best.gallery.npz`), or `--gallery FILE` /
`LANDMARKS_GALLERY`; `predict`, `geotag` and `serve` answer from it as well as from the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from landmarks.errors import GalleryError

if TYPE_CHECKING:
    from landmarks.inference.predictor import Predictor

app = typer.Typer(help="Add your own landmarks from a few photos (no retraining).", no_args_is_help=True)

CheckpointOption = Annotated[
    Path | None, typer.Option(help="Model file (env LANDMARKS_CHECKPOINT; default: the last trained model).")
]
GalleryOption = Annotated[
    Path | None,
    typer.Option(help="Gallery file (env LANDMARKS_GALLERY; default: beside the checkpoint, NAME.gallery.npz)."),
]


def _predictor(checkpoint: Path | None, gallery: Path | None) -> Predictor:
    from landmarks.inference.predictor import Predictor

    return Predictor.load(checkpoint, gallery=gallery)


def _fingerprint_only(checkpoint: Path | None, gallery: Path | None) -> tuple[dict, Path]:
    """The model's fingerprint and the gallery path, without reading the gallery first."""
    from landmarks.inference.predictor import Predictor, resolve_checkpoint

    predictor = Predictor(resolve_checkpoint(checkpoint), gallery=gallery)
    return predictor.fingerprint, predictor.gallery_path


@app.command()
def add(
    photos: Annotated[list[str], typer.Argument(help="Photos, folders or globs of the landmark.", show_default=False)],
    name: Annotated[str, typer.Option(help="The landmark's name, as answers will show it.")],
    lat: Annotated[float, typer.Option(help="Latitude in degrees (-90..90).")],
    lon: Annotated[float, typer.Option(help="Longitude in degrees (-180..180).")],
    radius_km: Annotated[float | None, typer.Option(help="How far from the spot its photos are taken.")] = None,
    city: Annotated[str | None, typer.Option()] = None,
    country: Annotated[str | None, typer.Option()] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")] = False,
    checkpoint: CheckpointOption = None,
    gallery: GalleryOption = None,
) -> None:
    """Add a landmark from its photos (embedded with the model's backbone) to the model's gallery."""
    from landmarks.cli.inputs import expand_inputs
    from landmarks.inference.gallery import add_landmark, read_photo
    from landmarks.retrieval.gallery import make_landmark

    landmark = make_landmark(name, lat, lon, radius_km, city, country)  # bad fields fail before the model loads
    found, problems = expand_inputs(photos, recursive=recursive)
    for problem in problems:
        typer.secho(f"warning: {problem}", fg=typer.colors.YELLOW, err=True)
    if not found:
        raise GalleryError(f"no photos of {landmark.name!r} to add")
    predictor = _predictor(checkpoint, gallery)
    grown, skipped = add_landmark(predictor, predictor.gallery_path, landmark, [(str(p), read_photo(p)) for p in found])
    for problem in skipped:
        typer.secho(f"skipped {problem}", fg=typer.colors.YELLOW, err=True)
    added = grown.entries[-1]
    typer.echo(
        f"added {added.landmark.name} ({added.landmark.latitude:.4f}, {added.landmark.longitude:.4f}) from "
        f"{len(added.photos)} photo(s) to {predictor.gallery_path} ({len(grown)} landmark(s) in the gallery)"
    )


@app.command(name="import")
def import_(
    folder: Annotated[Path, typer.Argument(help="A folder of class folders with a catalog.csv beside them.")],
    checkpoint: CheckpointOption = None,
    gallery: GalleryOption = None,
) -> None:
    """Add every class folder of FOLDER as a landmark; catalog.csv (proxy44's columns: class, name,
    latitude, longitude[, radius_km, city, country]) gives each its name and place. All or nothing."""
    from landmarks.catalog import DATASET_CATALOG, read_catalog
    from landmarks.cli.inputs import expand_inputs
    from landmarks.inference.gallery import add_many
    from landmarks.retrieval.gallery import make_landmark

    if not (folder / DATASET_CATALOG).is_file():
        raise GalleryError(f"{folder} has no {DATASET_CATALOG} (columns: class, name, latitude, longitude)")
    catalog = read_catalog(folder / DATASET_CATALOG)
    items = []
    for key, entry in catalog.items():
        if not (folder / key).is_dir():
            raise GalleryError(f"{DATASET_CATALOG} lists {key!r}, but {folder / key} is not a folder")
        if entry.latitude is None or entry.longitude is None:
            raise GalleryError(f"{DATASET_CATALOG}: {key!r} has no coordinates")
        landmark = make_landmark(
            entry.name, entry.latitude, entry.longitude, entry.radius_km, entry.city, entry.country
        )
        found, _ = expand_inputs([folder / key], recursive=True)
        items.append((landmark, found))
    if not items:
        raise GalleryError(f"{folder / DATASET_CATALOG} lists no landmarks")
    predictor = _predictor(checkpoint, gallery)
    grown, skipped = add_many(predictor, predictor.gallery_path, items)
    for problem in skipped:
        typer.secho(f"skipped {problem}", fg=typer.colors.YELLOW, err=True)
    typer.echo(f"imported {len(items)} landmark(s) into {predictor.gallery_path} ({len(grown)} in the gallery)")


@app.command(name="list")
def list_(checkpoint: CheckpointOption = None, gallery: GalleryOption = None) -> None:
    """The gallery's landmarks: name, place, number of photos."""
    from landmarks.retrieval.gallery import open_gallery

    fingerprint, path = _fingerprint_only(checkpoint, gallery)
    found = open_gallery(path, fingerprint)
    if not len(found):
        typer.echo(f"no landmarks in the gallery ({path})")
        return
    typer.echo(f"{len(found)} landmark(s) in {path}:")
    for entry in found.entries:
        lm = entry.landmark
        place = ", ".join(x for x in (lm.city, lm.country) if x)
        radius = f", radius {lm.radius_km:g} km" if lm.radius_km else ""
        typer.echo(
            f"  {lm.name:<30} {lm.latitude:9.4f}, {lm.longitude:9.4f}{radius}  {len(entry.photos)} photo(s)"
            + (f"  ({place})" if place else "")
        )


@app.command()
def remove(
    name: Annotated[str, typer.Argument(help="The landmark's name.")],
    checkpoint: CheckpointOption = None,
    gallery: GalleryOption = None,
) -> None:
    """Take a landmark and its photos out of the gallery."""
    from landmarks.inference.gallery import remove_landmark

    fingerprint, path = _fingerprint_only(checkpoint, gallery)
    smaller = remove_landmark(fingerprint, path, name)
    typer.echo(f"removed {name} from {path} ({len(smaller)} landmark(s) left)")


@app.command()
def export(
    out: Annotated[Path, typer.Argument(help="Where to write a copy of the gallery (usable with --gallery).")],
    checkpoint: CheckpointOption = None,
    gallery: GalleryOption = None,
) -> None:
    """Write a checked copy of the gallery to OUT (for another machine running the same model)."""
    from landmarks.retrieval.gallery import load_gallery

    fingerprint, path = _fingerprint_only(checkpoint, gallery)
    if out.resolve() == path.resolve():
        raise GalleryError(f"{out} is the gallery itself")
    found = load_gallery(path, fingerprint)
    found.save(out)
    typer.echo(f"wrote {len(found)} landmark(s) to {out}")
