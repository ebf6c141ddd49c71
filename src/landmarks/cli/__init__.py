"""The `landmarks` command line: one typer app, one module per concern.

Heavy imports (torch, timm, FastAPI) happen inside the commands, so `landmarks --version` and
`--help` answer at once.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from landmarks import __version__
from landmarks.cli import batch as batch_cli
from landmarks.cli import data as data_cli
from landmarks.cli import export as export_cli
from landmarks.cli import gallery as gallery_cli
from landmarks.cli import geotag as geotag_cli
from landmarks.cli import library as library_cli
from landmarks.cli import predict as predict_cli
from landmarks.cli import quickstart as quickstart_cli
from landmarks.cli import serve as serve_cli
from landmarks.cli import train as train_cli
from landmarks.errors import LandmarksError

TRAIN_EXTRA_MODULES = frozenset({"torch", "torchvision", "timm", "torchmetrics", "matplotlib", "onnx"})
"""What only the `train` extra installs: a command that imports one of them without it says so."""

app = typer.Typer(
    name="landmarks",
    help="Recognise famous landmarks in photos and put photos on the map.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"landmarks {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Recognise famous landmarks in photos and put photos on the map."""


app.add_typer(data_cli.app, name="data")
app.add_typer(library_cli.app, name="library")
app.add_typer(gallery_cli.app, name="gallery")
quickstart_cli.register(app)
train_cli.register(app)
predict_cli.register(app)
geotag_cli.register(app)
serve_cli.register(app)
export_cli.register(app)
batch_cli.register(app)


def main() -> None:
    """Console entry point: user-facing errors become one line on stderr and a non-zero exit.

    typer's standalone mode already turns usage errors into a message and exit code 2; what reaches us
    here are the errors a user can act on (bad data, missing model, ...), printed without a traceback.
    """
    try:
        app()
    except LandmarksError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(exc.exit_code)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing not in TRAIN_EXTRA_MODULES:
            raise
        typer.secho(
            f"error: this command needs {missing}, which is not installed (a light, inference-only install): "
            "pip install 'landmarks[train]'",
            fg=typer.colors.RED,
            err=True,
        )
        sys.exit(1)
