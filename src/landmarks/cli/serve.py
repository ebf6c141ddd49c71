"""`landmarks serve`: the HTTP API and the page at `/`, run by uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
    gallery: Annotated[
        Path | None, typer.Option(help="Gallery file (env LANDMARKS_GALLERY; default: beside the checkpoint).")
    ] = None,
    admin_token: Annotated[
        str | None,
        typer.Option(
            help="Enable POST /api/v1/admin/landmarks (add a gallery landmark) for requests with "
            "`Authorization: Bearer TOKEN` (env LANDMARKS_SERVE_ADMIN_TOKEN; default: no such endpoint)."
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the recognition API (/api/v1/predict, /docs) and the web page at http://HOST:PORT/."""
    import uvicorn
    from pydantic import ValidationError

    from landmarks.inference.predictor import Predictor
    from landmarks.serve.app import create_app
    from landmarks.serve.settings import ServeSettings

    overrides = {"host": host, "port": port, "max_concurrency": max_concurrency, "admin_token": admin_token}
    try:  # options given on the command line win over LANDMARKS_SERVE_* variables
        settings = ServeSettings(**{key: value for key, value in overrides.items() if value is not None})
    except ValidationError as exc:
        raise LandmarksError(f"bad serve setting: {exc}") from None

    # Load before uvicorn starts, so a missing or broken checkpoint is a one-line error, not a traceback.
    predictor = Predictor.load(checkpoint, gallery=gallery)
    typer.echo(
        f"landmarks: {len(predictor.classes)} landmarks from {predictor.checkpoint_path} "
        f"({len(predictor.gallery)} from the gallery {predictor.gallery_path}); "
        f"open http://{settings.host}:{settings.port}/"
        + ("; admin endpoint on" if settings.admin_token is not None else ""),
        err=True,
    )
    app = create_app(predictor, settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command()(serve)
