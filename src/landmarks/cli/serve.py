"""`landmarks serve`: the HTTP API and the page at `/`, run by uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from landmarks.cli.predict import BACKEND_HELP, BackendKind
from landmarks.errors import LandmarksError


def serve(
    checkpoint: Annotated[
        Path | None, typer.Option(help="Model file (env LANDMARKS_CHECKPOINT; default: the last trained).")
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (env LANDMARKS_SERVE_HOST; default: 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (env LANDMARKS_SERVE_PORT; default: 8000).")
    ] = None,
    max_concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Inferences at once (env LANDMARKS_SERVE_MAX_CONCURRENCY; default: 2)."),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    backend: Annotated[BackendKind, typer.Option(case_sensitive=False, help=BACKEND_HELP)] = BackendKind.auto,
) -> None:
    """Serve the recognition API (/api/v1/predict, /docs) and the web page at http://HOST:PORT/."""
    import os

    import uvicorn
    from pydantic import ValidationError

    from landmarks.inference.predictor import Predictor
    from landmarks.serve.app import create_app
    from landmarks.serve.settings import ServeSettings
    from landmarks.settings import get_settings

    overrides = {"host": host, "port": port, "max_concurrency": max_concurrency}
    try:  # options given on the command line win over LANDMARKS_SERVE_* variables
        settings = ServeSettings(**{key: value for key, value in overrides.items() if value is not None})
    except ValidationError as exc:
        raise LandmarksError(f"bad serve setting: {exc}") from None

    # Load before uvicorn starts, so a missing or broken checkpoint is a one-line error, not a traceback.
    # Inferences run side by side (max_concurrency): each gets its share of the cores rather than all of
    # them, since threads of two inferences contending for the same cores spin and wait on each other.
    threads = get_settings().num_threads or max(1, (os.cpu_count() or 1) // settings.max_concurrency)
    predictor = Predictor.load(checkpoint, backend=backend.value, threads=threads)
    typer.echo(
        f"landmarks: {len(predictor.classes)} landmarks from {predictor.backend.path} ({predictor.backend.name}); "
        f"open http://{settings.host}:{settings.port}/",
        err=True,
    )
    app = create_app(predictor, settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command()(serve)
