"""`landmarks quickstart`: the main job, end to end.

Get the data (the official dataset by default) and photos of no landmark (the ImageNet sample gallery
by default: the real dataset ships none, and without them the unknown decision has never seen an
everyday photo), train the fast transfer model, evaluate it on the test split and show the top-3 for
a few test photos. Safe to run again: the downloads, the decoded photos and the backbone features are
reused from the cache.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Annotated

import typer


def quickstart(
    data: Annotated[
        Path | None,
        typer.Option(help="A local train/ test/ photo folder (env LANDMARKS_DATA) instead of the official dataset."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Run directory.")] = Path("runs/quickstart"),
    url: Annotated[str | None, typer.Option(help="Dataset archive URL [default: the official one].")] = None,
    examples: Annotated[int, typer.Option(min=0, help="Test photos to show the top-3 of.")] = 4,
    negatives: Annotated[
        list[Path] | None,
        typer.Option("--negatives", help="Folders of photos of no landmark (default: as for train, else downloaded)."),
    ] = None,
    no_negatives: Annotated[bool, typer.Option("--no-negatives", help="Train without photos of no landmark.")] = False,
) -> None:
    """Get the data, train the fast transfer model, evaluate it on test, show top-3 for a few photos."""
    from landmarks.cli.data import resolve_negatives
    from landmarks.cli.inputs import expand_inputs
    from landmarks.cli.predict import echo_prediction
    from landmarks.cli.train import export_beside
    from landmarks.data.download import DEFAULT_URL, ensure_dataset
    from landmarks.data.layout import find_dataset_root
    from landmarks.engine.train import TrainConfig, run
    from landmarks.inference.predictor import Predictor
    from landmarks.settings import get_settings
    from landmarks.state import remember_last_model

    root = data or get_settings().data
    if root is None:
        typer.secho("1/4 dataset: the official landmark_images.zip", bold=True)
        root = ensure_dataset(url=url or DEFAULT_URL)
    else:
        typer.secho(f"1/4 dataset: {root}", bold=True)
    negative_dirs, source = resolve_negatives(Path(root), negatives, off=no_negatives, download=True)
    typer.secho("2/4 training the fast transfer model (frozen EfficientNet-Lite features + head)", bold=True)
    result = run(TrainConfig(data=Path(root), out=out, negatives=negative_dirs, negatives_source=source))
    export_beside(result.best)
    remember_last_model(result.best)
    typer.secho("3/4 test split", bold=True)
    m = result.metrics
    if "test_top1" in m:
        typer.echo(f"   top-1 {m['test_top1']:.2%}   top-3 {m['test_top3']:.2%}   top-5 {m['test_top5']:.2%}")
        typer.echo(f"   report: {out / 'test_report' / 'report.md'}")
    else:
        typer.echo("   (no test photos)")
    if examples:
        typer.secho(f"4/4 top-3 for {examples} test photos", bold=True)
        test_photos, _ = expand_inputs([find_dataset_root(Path(root)) / "test"], recursive=True)
        photos = random.Random(0).sample(test_photos, min(examples, len(test_photos)))
        predictor = Predictor.load(result.best)
        for prediction in predictor.predict_many(photos, k=min(3, len(predictor.classes))):
            if not isinstance(prediction, Exception):
                echo_prediction(prediction)
    typer.secho(f"done: model {result.best} (also the default for `landmarks predict` from now on)", fg="green")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command()(quickstart)
