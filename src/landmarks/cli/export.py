"""`landmarks export`: a checkpoint as one ONNX model (fp32, or int8 calibrated on its val photos)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def export(
    checkpoint: Annotated[Path, typer.Option(help="A checkpoint written by `landmarks train`.")],
    int8: Annotated[bool, typer.Option("--int8", help="Static int8 quantization, calibrated on val photos.")] = False,
    out: Annotated[
        Path | None, typer.Option(help="The .onnx file (default: beside the checkpoint, best.onnx / best.int8.onnx).")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="int8: the dataset whose val split calibrates (default: the checkpoint's dataset)."),
    ] = None,
    calibration_size: Annotated[int, typer.Option(min=1, help="int8: at most this many val photos.")] = 300,
) -> None:
    """Export the whole inference graph (backbone, head, temperature) with its metadata as ONNX."""
    from landmarks.export.onnx_export import export_onnx

    photos: list[Path] = []
    if int8:
        from landmarks.export.photos import validation_photos

        photos = validation_photos(checkpoint, data, limit=calibration_size)
        typer.echo(f"calibrating on {len(photos)} val photos")
    path = export_onnx(checkpoint, out, int8=int8, calibration_photos=photos)
    typer.echo(f"wrote {path} ({'int8' if int8 else 'fp32'}, {path.stat().st_size / 1e6:.1f} MB)")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command()(export)
