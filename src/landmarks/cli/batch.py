"""`landmarks batch`: recognise every photo under some sources into a Parquet dataset or a library index.

Nothing heavy is imported until the command runs, and Ray only with `--engine ray`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

EXIT_SOME_FAILED = 3
"""As `predict`: some photos got an error row (or an input named no photos); the others were answered."""


def batch(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="Folders, globs, @FILE (a list of paths, one a line) or URIs (s3://..., gs://..., any "
            "pyarrow/fsspec filesystem that is installed).",
            show_default=False,
        ),
    ],
    out: Annotated[
        str,
        typer.Option(
            "--out",
            "-o",
            help="Results: a folder of Parquet files (made if missing), or a library index "
            "(library:DB, or a path ending in .sqlite/.db) made by `landmarks library scan`.",
            show_default=False,
        ),
    ],
    engine: Annotated[str, typer.Option(help="local (one process) or ray (Ray Data; the `ray` extra).")] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(help="Join this Ray cluster (env RAY_ADDRESS); default: start Ray on this machine."),
    ] = None,
    actors: Annotated[int, typer.Option(min=1, help="Ray actors, each holding one copy of the model.")] = 1,
    batch_size: Annotated[int, typer.Option(min=1, help="Photos per model call.")] = 16,
    checkpoint: Annotated[
        Path | None, typer.Option(help="Model file (env LANDMARKS_CHECKPOINT; default: the last trained model).")
    ] = None,
    k: Annotated[int, typer.Option("-k", "--top-k", min=1, help="Landmarks kept per photo.")] = 3,
    recursive: Annotated[bool, typer.Option(help="Descend into sub-folders.")] = True,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Recognise every photo, one row each (path, digest, top-k with probabilities and coordinates, the
    unknown decision and score, model and gallery ids, error); a rerun skips photos already answered
    by the same model.

    Exit status: 0 when every photo was answered; 3 when any got an error row or an input named
    no photos; 1 when nothing could run (no model, results in use by another run); 2 for bad usage.
    """
    from landmarks.errors import LandmarksError

    if engine not in ("local", "ray"):
        raise typer.BadParameter("must be local or ray", param_hint="--engine")
    try:
        from landmarks.batch.run import run_batch

        summary = run_batch(
            sources, out, engine=engine, checkpoint=checkpoint, k=k, batch_size=batch_size, actors=actors,
            ray_address=ray_address, recursive=recursive, progress=progress,
        )  # fmt: skip
    except ImportError as exc:  # pyarrow, or ray with --engine ray
        raise LandmarksError(f"{exc}: install the `ray` extra (pip install 'landmarks[ray]')") from exc
    for problem in summary.problems:
        typer.secho(f"warning: {problem}", fg=typer.colors.YELLOW, err=True)
    typer.echo(
        f"{summary.listed} photos listed, {summary.skipped} already answered by model {summary.model_id}, "
        f"{summary.written} rows written ({summary.errors} errors) to {summary.out} "
        f"in {summary.seconds:.1f} s ({summary.engine} engine)"
    )
    if summary.errors or summary.problems:
        raise typer.Exit(EXIT_SOME_FAILED)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command()(batch)
