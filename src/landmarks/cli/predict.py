"""`landmarks predict`: the top-k landmarks for photos, as text or JSON."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from landmarks.errors import LandmarksError
from landmarks.inference.types import Prediction


def _format_coordinates(lat: float | None, lon: float | None) -> str:
    return f"{lat:.4f}, {lon:.4f}" if lat is not None and lon is not None else "(no coordinates)"


def echo_prediction(result: Prediction) -> None:
    """The human output: the photo's name, then `1. Golden Gate Bridge   91.2 %   37.8199, -122.4783`."""
    typer.secho(result.source, bold=True)
    like = "" if result.landmark_likeness is None else f"; a landmark photo: {result.landmark_likeness:.0%}"
    if result.unknown:
        typer.secho(
            f"   not one of our landmarks (confidence {result.score:.1%} < {result.threshold:.1%}, {result.decision}"
            f"{like}); closest:",
            fg=typer.colors.YELLOW,
        )
    else:
        typer.echo(f"   confidence {result.score:.1%} ({result.decision}; unknown below {result.threshold:.1%}{like})")
    width = max(len(g.name) for g in result.top)
    for g in result.top:
        typer.echo(
            f"   {g.rank}. {g.name:<{width}}  {g.probability * 100:5.1f} %   "
            f"{_format_coordinates(g.latitude, g.longitude)}"
        )
    if result.neighbours:
        near = ", ".join(f"{n.name} {n.similarity:.2f} ({n.path})" for n in result.neighbours)
        typer.echo(f"   nearest training photos: {near}")


class BackendKind(StrEnum):
    auto = "auto"
    torch = "torch"
    onnx = "onnx"


BACKEND_HELP = (
    "What runs the network: onnx (the export beside the checkpoint, best.onnx; no torch needed), torch, or auto "
    "(onnx when that export exists). --checkpoint may also name an .onnx export (e.g. best.int8.onnx)."
)

EXIT_SOME_FAILED = 3
"""Exit status when any input could not be used (0: all answered; 1: could not run; 2: bad usage)."""


def predict(
    images: Annotated[list[str], typer.Argument(help="Photos, folders or globs.", show_default=False)],
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="Model file (env LANDMARKS_CHECKPOINT; default: the last trained model)."),
    ] = None,
    gallery: Annotated[
        Path | None,
        typer.Option(help="Gallery of added landmarks (env LANDMARKS_GALLERY; default: beside the checkpoint)."),
    ] = None,
    k: Annotated[int, typer.Option("-k", "--top-k", min=1, help="How many landmarks to list per photo.")] = 3,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON list on stdout: every input, a prediction or its error.")
    ] = False,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")] = False,
    verify: Annotated[
        bool,
        typer.Option(
            help="Re-rank by geometric verification (SIFT + RANSAC) against the nearest training photos; "
            "slower, needs the training photos at hand and the `verify` extra (opencv-python-headless)."
        ),
    ] = False,
    batch_size: Annotated[int, typer.Option(min=1)] = 16,
    backend: Annotated[BackendKind, typer.Option(case_sensitive=False, help=BACKEND_HELP)] = BackendKind.auto,
) -> None:
    """Recognise the landmark in each photo: name, probability and coordinates of the top-k.

    Exit status: 0 when every photo was answered; 3 when any input failed (a missing path, a folder
    or glob with no photos, a file that is not a readable photo: each is named on stderr and, with
    --json, listed with its "error"); 1 when nothing could run (no model); 2 for bad usage.
    """
    from landmarks.cli.inputs import expand_each

    records: list[dict[str, Any]] = []  # in input order: a photo's slot, or an input's error
    photos: dict[Path, Path] = {}
    for item, found, problem in expand_each(images, recursive=recursive):
        if problem:
            typer.secho(f"warning: {problem}", fg=typer.colors.YELLOW, err=True)
            records.append({"source": item, "error": problem})
        for photo in found:
            key = photo.resolve()
            if key not in photos:
                photos[key] = photo.absolute()
                records.append({"photo": key})
    failed = len(records) - len(photos)
    results: dict[Path, Prediction | LandmarksError] = {}
    if photos:
        from landmarks.inference.predictor import Predictor

        predictor = Predictor.load(checkpoint, verify=verify, backend=backend.value, gallery=gallery)
        if predictor.fitted_without_negatives:
            typer.secho(
                "note: this model's unknown decision was fitted without photos of no landmark (train --negatives)",
                fg=typer.colors.YELLOW,
                err=True,
            )
        k = min(k, len(predictor.classes))
        answers = predictor.predict_many(list(photos.values()), k=k, batch_size=batch_size)
        results = dict(zip(photos, answers, strict=True))
    out: list[dict[str, Any]] = []
    for record in records:
        if "photo" not in record:
            out.append(record)
            continue
        result = results[record["photo"]]
        if isinstance(result, LandmarksError):
            failed += 1
            typer.secho(f"error: {result}", fg=typer.colors.RED, err=True)
            out.append({"source": str(photos[record["photo"]]), "error": str(result)})
        elif as_json:
            out.append(result.model_dump(mode="json"))
        else:
            echo_prediction(result)
    if as_json:
        typer.echo(json.dumps(out, indent=2))
    if failed:
        typer.secho(f"{failed} of {len(records)} inputs failed", fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(EXIT_SOME_FAILED)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command()(predict)
