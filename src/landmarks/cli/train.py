"""`landmarks train` and `landmarks evaluate`."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from landmarks.cli.data import resolve_data_folder, resolve_negatives


def export_beside(best: Path) -> Path | None:
    """Write the fp32 ONNX export beside a freshly trained `best.pt`, where predict/geotag/serve find it.

    An int8 export left there by an earlier run no longer matches the new checkpoint: it is removed
    (`landmarks export --int8` makes a new one). When the export fails, training's result stands: the
    stale fp32 export goes too (so `--backend auto` runs the new checkpoint on torch) and the user is told.
    """
    from landmarks.export.onnx_export import export_onnx
    from landmarks.runtime_onnx.metadata import export_path_for

    stale_int8 = export_path_for(best, int8=True)
    if stale_int8.exists():
        stale_int8.unlink()
        typer.secho(f"removed {stale_int8}: it was exported from the previous model", err=True)
    try:
        path = export_onnx(best)
    except Exception as exc:  # the trained model stands whatever the exporter does; say why there is no export
        export_path_for(best).unlink(missing_ok=True)
        reason = " ".join(str(exc).split())[:300]
        typer.secho(f"warning: no ONNX export written ({reason}); predict will run on torch", fg="yellow", err=True)
        return None
    typer.echo(f"ONNX export: {path} (predict, geotag and serve use it; --backend torch for the checkpoint)")
    return path


class ModelKind(StrEnum):
    scratch = "scratch"
    transfer = "transfer"


class DecisionKind(StrEnum):
    fused = "fused"
    max_softmax = "max_softmax"
    knn = "knn"


def train(
    out: Annotated[Path, typer.Option("--out", help="Run directory: best.pt, last.pt, metrics.csv, curves, report.")],
    data: Annotated[Path | None, typer.Option(help="A train/ test/ photo folder (env LANDMARKS_DATA).")] = None,
    model: Annotated[ModelKind, typer.Option(help="A CNN from scratch, or transfer learning.")] = ModelKind.transfer,
    backbone: Annotated[
        str, typer.Option(help="Pretrained backbone (transfer); several joined by '+' concatenate their features.")
    ] = "efficientnet_lite0+efficientnet_lite2",
    finetune: Annotated[
        bool,
        typer.Option("--finetune/--freeze", help="Fine-tune the backbone, or train the head on frozen features."),
    ] = False,
    epochs: Annotated[int | None, typer.Option(min=1, help="Default: scratch 70, finetune 12, frozen 80.")] = None,
    image_size: Annotated[int | None, typer.Option(min=32, help="Input size (scratch default 128).")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate of the head / scratch model.")] = None,
    label_smoothing: Annotated[float, typer.Option(min=0.0, max=0.99)] = 0.1,
    mixup: Annotated[float, typer.Option(min=0.0, help="MixUp/CutMix alpha for image runs; 0 = off.")] = 0.0,
    head_hidden: Annotated[
        int | None, typer.Option(min=0, help="Hidden width of an MLP head; 0 = linear. Default: 1024 frozen, else 0.")
    ] = None,
    feature_views: Annotated[int, typer.Option(min=1, help="Frozen mode: augmented views per photo.")] = 10,
    patience: Annotated[int, typer.Option(min=1, help="Early stopping patience (epochs).")] = 15,
    time_budget: Annotated[
        float | None, typer.Option(help="Stop (and shorten the schedule) to fit MIN minutes.")
    ] = None,
    seed: Annotated[int, typer.Option()] = 0,
    val_fraction: Annotated[float, typer.Option(min=0.01, max=0.9)] = 0.2,
    weights: Annotated[Path | None, typer.Option(help="Backbone weights file, when not found offline.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from RUN_DIR/last.pt.")] = False,
    threads: Annotated[int | None, typer.Option(min=1, help="torch threads (default: all cores).")] = None,
    workers: Annotated[int, typer.Option(min=0, help="DataLoader worker processes.")] = 0,
    device: Annotated[str | None, typer.Option(help="cpu or cuda (default: cuda when present).")] = None,
    negatives: Annotated[
        list[Path] | None,
        typer.Option(
            "--negatives",
            help="A folder of photos that show none of the landmarks (repeatable); they fit the unknown decision. "
            "Default: LANDMARKS_NEGATIVES, else DATA/negatives, else the gallery `landmarks data negatives` fetched.",
        ),
    ] = None,
    no_negatives: Annotated[bool, typer.Option("--no-negatives", help="Fit the unknown decision without any.")] = False,
    target_precision: Annotated[
        float,
        typer.Option(min=0.5, max=0.9999, help="Share of the answers given (locations written) that must be right."),
    ] = 0.99,
    decision: Annotated[
        DecisionKind, typer.Option(help="The unknown decision's score (all are fitted; this one is used).")
    ] = DecisionKind.fused,
    outlier_weight: Annotated[
        float, typer.Option(min=0.0, help="Frozen mode: outlier exposure on half the negatives (0 = off).")
    ] = 0.0,
    export: Annotated[
        bool, typer.Option("--export/--no-export", help="Write the fp32 ONNX export beside best.pt (best.onnx).")
    ] = True,
) -> None:
    """Train a landmark classifier; the defaults are the best measured recipe."""
    from landmarks.engine.train import TrainConfig, run
    from landmarks.state import remember_last_model

    folder = resolve_data_folder(data)
    negative_dirs, negatives_source = resolve_negatives(folder, negatives, off=no_negatives, download=False)
    result = run(
        TrainConfig(
            data=folder,
            negatives=negative_dirs,
            negatives_source=negatives_source,
            target_precision=target_precision,
            decision_score=decision.value,
            outlier_weight=outlier_weight,
            out=out,
            model=model.value,
            backbone=backbone,
            mode="finetune" if finetune else "frozen",
            image_size=image_size,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            label_smoothing=label_smoothing,
            mixup=mixup,
            head_hidden=head_hidden,
            feature_views=feature_views,
            patience=patience,
            time_budget_min=time_budget,
            seed=seed,
            val_fraction=val_fraction,
            weights=weights,
            resume=resume,
            threads=threads,
            workers=workers,
            device=device,
        )
    )
    if export:
        export_beside(result.best)
    remember_last_model(result.best)  # the default model of `landmarks predict` from now on


def evaluate(
    checkpoint: Annotated[Path, typer.Option(help="A checkpoint written by `landmarks train`.")],
    out: Annotated[Path, typer.Option(help="Folder for report.md, report.json and the PNGs.")],
    data: Annotated[Path | None, typer.Option(help="A train/ test/ photo folder (env LANDMARKS_DATA).")] = None,
    split: Annotated[str, typer.Option(help="train, val or test.")] = "test",
    tta: Annotated[bool, typer.Option(help="Test-time augmentation: average with the mirrored photo.")] = False,
    seed: Annotated[
        int | None, typer.Option(help="Split seed; default and only accepted value: the checkpoint's.")
    ] = None,
    val_fraction: Annotated[
        float | None,
        typer.Option(min=0.01, max=0.9, help="Val share of train/; default and only accepted value: the checkpoint's."),
    ] = None,
    negatives: Annotated[
        list[Path] | None,
        typer.Option(
            "--negatives",
            help="Folders of photos of no landmark (repeatable): adds GAP, the precision/recall curve of written "
            "locations and what the stored threshold does on them.",
        ),
    ] = None,
) -> None:
    """Top-1/3/5, per-class accuracy, confusion matrix, worst mistakes and calibration of a checkpoint.

    The train/val split is the one the checkpoint was trained with (its recorded seed and val
    fraction): another one would put training photos into "val". Options that disagree are refused.
    """
    from landmarks.engine.checkpoint import load_checkpoint
    from landmarks.engine.evaluation import evaluate_checkpoint

    folder = resolve_data_folder(data)
    recorded = load_checkpoint(checkpoint).train_config
    chosen: dict[str, float] = {}
    for key, option, given, default in (
        ("seed", "--seed", seed, 0),
        ("val_fraction", "--val-fraction", val_fraction, 0.2),
    ):
        trained = recorded.get(key)
        if trained is None:  # a checkpoint from before the split was recorded
            chosen[key] = given if given is not None else default
            message = f"WARNING: {checkpoint} does not record its split's {key}; using {chosen[key]}"
            typer.secho(message, fg=typer.colors.YELLOW, err=True)
        elif given is not None and given != trained:
            raise typer.BadParameter(
                f"{checkpoint} was trained with {key} {trained}; evaluating with {given} would score photos it "
                f"trained on as {split} photos. Leave {option} out to use the checkpoint's split.",
                param_hint=option,
            )
        else:
            chosen[key] = trained
    report, written = evaluate_checkpoint(
        checkpoint,
        folder,
        out,
        split=split,
        tta=tta,
        seed=int(chosen["seed"]),
        val_fraction=float(chosen["val_fraction"]),
        negatives=negatives or [],
    )
    typer.echo(
        f"{split}: {report.n} photos  top-1 {report.top1:.2%}  top-3 {report.top3:.2%}  top-5 {report.top5:.2%}  "
        f"ECE {report.ece:.3f} (temperature {report.temperature:.2f})"
    )
    ckpt = load_checkpoint(checkpoint)
    fitted = ckpt.calibration.rule().fitted.get("operating_point")
    if fitted:
        typer.echo(
            f"decision: {ckpt.calibration.score} >= {ckpt.calibration.threshold:.3f}, chosen for precision "
            f"{ckpt.calibration.rule().target_precision} on {ckpt.calibration.rule().fitted.get('photos')} calibration "
            f"photos + {ckpt.calibration.rule().fitted.get('negatives')} negatives: {fitted['right_share']:.1%} right, "
            f"{fitted['negatives_answered']:.1%} of negatives answered"
        )
    library = json.loads(written["json"].read_text())["extra"].get("library") if "json" in written else None
    if library:
        point = library["at_threshold"]
        typer.echo(
            f"with {library['negatives']} negatives: GAP {library['gap']:.4f}; at the threshold "
            f"{point['right_share']:.1%} of landmark photos right, {point['wrong_share']:.1%} wrong, "
            f"{point['negatives_answered']:.1%} of negatives answered (precision {point['precision']:.1%})"
        )
    typer.echo(f"report: {written.get('markdown', out)}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command()(train)
    app.command()(evaluate)
