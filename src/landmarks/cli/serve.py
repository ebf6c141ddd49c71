"""`landmarks serve`: the HTTP API and the page at `/`, run by uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from landmarks.cli.predict import BACKEND_HELP, BackendKind
from landmarks.errors import LandmarksError
from landmarks.geotag.metadata import SidecarName, WriteMode

if TYPE_CHECKING:
    from landmarks.serve.review import ReviewLibrary
    from landmarks.serve.review_apply import Writer
    from landmarks.serve.settings import ServeSettings


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
    backend: Annotated[BackendKind, typer.Option(case_sensitive=False, help=BACKEND_HELP)] = BackendKind.auto,
    library: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            file_okay=False,
            help="Also serve the review view of this library at /review (scan and plan it first).",
        ),
    ] = None,
    db: Annotated[
        Path | None, typer.Option("--db", metavar="FILE", help="The library's index file (default: in the cache).")
    ] = None,
    write: Annotated[
        WriteMode,
        typer.Option(case_sensitive=False, help="What the review view writes: exif (into the photo) or xmp (sidecar)."),
    ] = WriteMode.EXIF,
    sidecar_name: Annotated[
        SidecarName, typer.Option(help="Sidecar naming for --write xmp (darktable/digiKam or Lightroom).")
    ] = SidecarName.APPEND,
    tags: Annotated[
        bool | None,
        typer.Option(
            "--tags/--no-tags",
            help="The review view also writes keywords and place names (default: on for --write xmp).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the recognition API (/api/v1/predict, /docs) and the web page at http://HOST:PORT/.

    With --library, also the review view at /review: accept or reject planned locations, then write
    them. Off loopback it needs a token (LANDMARKS_SERVE_TOKEN, else one is made up and printed in the
    URL); every request of the view then carries it."""
    import os

    import uvicorn
    from pydantic import ValidationError

    from landmarks.inference.predictor import Predictor
    from landmarks.serve.app import create_app
    from landmarks.serve.review_apply import geotag_applier
    from landmarks.serve.settings import ServeSettings
    from landmarks.settings import get_settings

    overrides = {"host": host, "port": port, "max_concurrency": max_concurrency, "admin_token": admin_token}
    try:  # options given on the command line win over LANDMARKS_SERVE_* variables
        settings = ServeSettings(**{key: value for key, value in overrides.items() if value is not None})
    except ValidationError as exc:
        raise LandmarksError(f"bad serve setting: {exc}") from None

    review = _review_library(library, db, settings, geotag_applier(write, sidecar_name, tags)) if library else None
    # Load before uvicorn starts, so a missing or broken checkpoint is a one-line error, not a traceback.
    # Inferences run side by side (max_concurrency): each gets its share of the cores rather than all of
    # them, since threads of two inferences contending for the same cores spin and wait on each other.
    threads = get_settings().num_threads or max(1, (os.cpu_count() or 1) // settings.max_concurrency)
    predictor = Predictor.load(checkpoint, backend=backend.value, threads=threads, gallery=gallery)
    base = f"http://{_url_host(settings.host)}:{settings.port}"
    model = (
        f"{len(predictor.classes)} landmarks from {predictor.backend.path} ({predictor.backend.name}; "
        f"{len(predictor.gallery)} from the gallery {predictor.gallery_path})"
    )
    admin = "; admin endpoint on" if settings.admin_token is not None else ""
    typer.echo(f"landmarks: {model}; open {base}/{admin}", err=True)
    if review is not None:
        token = settings.token.get_secret_value() if settings.token is not None else None
        fragment = f"#token={token}" if token else ""
        typer.echo(f"landmarks: review {review.root} at {base}/review{fragment}", err=True)
    app = create_app(predictor, settings, review)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _review_library(folder: Path, db: Path | None, settings: ServeSettings, applier: Writer) -> ReviewLibrary:
    """The library to review, checked now (an index must exist); a made-up token when off loopback."""
    from pydantic import SecretStr

    from landmarks.library.db import open_library
    from landmarks.serve.guard import is_loopback, new_token
    from landmarks.serve.review import ReviewLibrary
    from landmarks.serve.review_apply import geotag_undoer

    with open_library(folder, db, readonly=True) as index:
        root, db_path = index.root, index.path
    if settings.token is None and not is_loopback(settings.host):
        settings.token = SecretStr(new_token())
    return ReviewLibrary(root=root, db=db_path, applier=applier, undoer=geotag_undoer)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command()(serve)
