"""`landmarks predict`: the top-k landmarks for photos, as text or JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from landmarks.errors import LandmarksError
from landmarks.inference.types import Prediction


def _format_coordinates(lat: float | None, lon: float | None) -> str:
    return f"{lat:.4f}, {lon:.4f}" if lat is not None and lon is not None else "(no coordinates)"


def echo_prediction(result: Prediction) -> None:
    """The human output: the photo's name, then `1. Golden Gate Bridge   91.2 %   37.8199, -122.4783`."""
    typer.secho(result.source, bold=True)
    if result.unknown:
        typer.secho(
            f"   not one of our landmarks (confidence {result.score:.1%} < {result.threshold:.1%}); closest:",
            fg=typer.colors.YELLOW,
        )
    width = max(len(g.name) for g in result.top)
    for g in result.top:
        typer.echo(
            f"   {g.rank}. {g.name:<{width}}  {g.probability * 100:5.1f} %   "
            f"{_format_coordinates(g.latitude, g.longitude)}"
        )


def predict(
    images: Annotated[list[str], typer.Argument(help="Photos, folders or globs.", show_default=False)],
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="Model file (env LANDMARKS_CHECKPOINT; default: the last trained model)."),
    ] = None,
    k: Annotated[int, typer.Option("-k", "--top-k", min=1, help="How many landmarks to list per photo.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")] = False,
    batch_size: Annotated[int, typer.Option(min=1)] = 16,
) -> None:
    """Recognise the landmark in each photo: name, probability and coordinates of the top-k."""
    from landmarks.inference.inputs import expand_inputs
    from landmarks.inference.predictor import Predictor

    photos, problems = expand_inputs(images, recursive=recursive)
    for problem in problems:
        typer.secho(f"warning: {problem}", fg=typer.colors.YELLOW, err=True)
    if not photos:
        raise LandmarksError("no photos to process")
    predictor = Predictor.load(checkpoint)
    k = min(k, len(predictor.classes))
    results = predictor.predict_many(photos, k=k, batch_size=batch_size)
    ok = 0
    records = []
    for photo, result in zip(photos, results, strict=True):
        if isinstance(result, LandmarksError):
            typer.secho(f"error: {result}", fg=typer.colors.RED, err=True)
            records.append({"source": str(photo), "error": str(result)})
            continue
        ok += 1
        if as_json:
            records.append(result.model_dump(mode="json"))
            continue
        echo_prediction(result)
    if as_json:
        typer.echo(json.dumps(records, indent=2))
    if ok == 0:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command()(predict)
