"""Training end to end on synthetic photos: it learns, records, resumes exactly, and calibrates."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from helpers import TINY_CLASSES, TINY_SCRATCH, make_dataset
from landmarks.engine import fit_images as train_module
from landmarks.engine.checkpoint import load_checkpoint
from landmarks.engine.train import TrainConfig, fit


def test_short_training_learns_synthetic_landmarks(tiny_run: Path) -> None:
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert metrics["val_top1"] >= 0.9
    assert metrics["test_top1"] >= 0.9
    rows = list(csv.DictReader((tiny_run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == list(range(1, len(rows) + 1))
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    assert (tiny_run / "training_curves.png").stat().st_size > 10_000
    assert (tiny_run / "test_report" / "report.json").is_file()


def test_checkpoint_records_everything_inference_needs(tiny_checkpoint: Path) -> None:
    ckpt = load_checkpoint(tiny_checkpoint)
    assert ckpt.classes == TINY_CLASSES
    assert [lm.name for lm in ckpt.landmarks] == [
        "Haleakalā National Park",
        "Golden Gate Bridge",
        "Eiffel Tower",
        "Machu Picchu",
    ]
    assert ckpt.landmarks[2].latitude == pytest.approx(48.8583, abs=0.01)
    assert ckpt.model.arch == "scratch" and ckpt.model.image_size == 64
    assert all(s > 0 for s in ckpt.model.std) and len(ckpt.model.mean) == 3
    assert ckpt.model.mean == tuple(ckpt.extra["dataset"]["mean"])  # scratch: the train split's own statistics
    details = ckpt.calibration.details
    # Temperature and threshold come from a seeded, per-class half of val that did not choose the epoch.
    assert details["fitted_on"] == "val-calibration" and details["calibration_seed"] == 0
    assert details["n_calibration"] + details["n_selection"] == details["n_val"]
    assert details["n_calibration"] == len(details["calibration_photos"]) == len(TINY_CLASSES) * 2
    rule = ckpt.calibration.rule()
    assert ckpt.calibration.threshold == rule.threshold and ckpt.calibration.score == rule.score == "fused"
    assert set(details["alternatives"]) == {"fused", "max_softmax", "knn"}
    assert rule.target_precision == 0.99 and details["negatives"]["fitted_without_negatives"]
    # The retrieval index holds every training photo, by its path inside the dataset.
    assert ckpt.index is not None and len(ckpt.index) == len(ckpt.index.ids) > 0
    assert all(not Path(i).is_absolute() and i.startswith("train/") for i in ckpt.index.ids)
    assert ckpt.train_config["seed"] == 0 and ckpt.package_version
    assert ckpt.metrics["test_top1"] >= 0.9


def _config(data: Path, out: Path, cache: Path, epochs: int = 3) -> TrainConfig:
    return TrainConfig(
        data=data,
        out=out,
        model="scratch",
        image_size=48,
        epochs=epochs,
        lr=3e-3,
        warmup_epochs=1,
        scratch=TINY_SCRATCH,
        cache=cache,
        progress=False,
        threads=1,
    )


def test_resume_continues_at_the_right_epoch_with_the_same_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_dataset(tmp_path / "data", TINY_CLASSES[:3], train_per_class=10, test_per_class=2, size=(64, 48))
    cache = tmp_path / "cache"
    straight = fit(_config(data, tmp_path / "straight", cache))

    real_epoch = train_module.train_one_epoch
    calls = {"n": 0}

    def crash_in_third_epoch(*args: object, **kwargs: object) -> tuple[float, float, float]:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the machine went down mid-run
        return real_epoch(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(train_module, "train_one_epoch", crash_in_third_epoch)
    with pytest.raises(KeyboardInterrupt):
        fit(_config(data, tmp_path / "resumed", cache))
    interrupted = load_checkpoint(tmp_path / "resumed" / "last.pt")
    assert interrupted.extra["epoch"] == 2
    monkeypatch.setattr(train_module, "train_one_epoch", real_epoch)

    seen_epochs: list[int] = []

    def record(*args: object, **kwargs: object) -> tuple[float, float, float]:
        seen_epochs.append(int(kwargs["epoch"]))  # type: ignore[call-overload]
        return real_epoch(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(train_module, "train_one_epoch", record)
    resumed_config = _config(data, tmp_path / "resumed", cache)
    resumed_config.resume = True
    resumed = fit(resumed_config)
    assert seen_epochs == [3]
    assert [h.epoch for h in resumed.history] == [1, 2, 3]
    # Same optimizer state, schedule and RNG: the resumed run ends with the uninterrupted run's weights.
    a, b = load_checkpoint(straight.best).state_dict, load_checkpoint(resumed.best).state_dict
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=f"{key} differs after resume")


def test_resume_without_a_previous_run_is_a_clear_error(tmp_path: Path) -> None:
    from landmarks.errors import CheckpointError

    data = make_dataset(tmp_path / "data", TINY_CLASSES[:2], train_per_class=6, test_per_class=1, size=(64, 48))
    config = _config(data, tmp_path / "run", tmp_path / "cache", epochs=1)
    config.resume = True
    with pytest.raises(CheckpointError, match=r"last\.pt does not exist"):
        fit(config)


def test_fit_and_run_leave_the_last_trained_model_alone(tmp_path: Path) -> None:
    """Only the `train` / `quickstart` commands record the user's default model, never a fit (tests, benchmarks)."""
    from landmarks.engine.train import run
    from landmarks.state import LAST_MODEL_FILE, last_model, remember_last_model

    cache = tmp_path / "cache"
    users_model = remember_last_model(tmp_path / "users" / "best.pt", cache)
    before = users_model.read_bytes()
    data = make_dataset(tmp_path / "data", TINY_CLASSES[:2], train_per_class=6, test_per_class=1, size=(64, 48))
    run(_config(data, tmp_path / "run", cache, epochs=1))
    assert (cache / LAST_MODEL_FILE).read_bytes() == before
    assert last_model(cache) == (tmp_path / "users" / "best.pt").resolve()


def test_train_command_records_the_last_trained_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from landmarks.cli import app
    from landmarks.state import last_model

    monkeypatch.setenv("LANDMARKS_CACHE", str(tmp_path / "cache"))
    data = make_dataset(tmp_path / "data", TINY_CLASSES[:2], train_per_class=6, test_per_class=1, size=(64, 48))
    args = ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--model", "scratch", "--epochs", "1"]
    res = CliRunner().invoke(app, [*args, "--image-size", "48", "--threads", "1"])
    assert res.exit_code == 0, res.output
    assert last_model() == (tmp_path / "run" / "best.pt").resolve()


def test_frozen_transfer_caches_features_and_trains_the_head(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data", TINY_CLASSES, train_per_class=12, test_per_class=3, size=(96, 72))
    config = TrainConfig(
        data=data,
        out=tmp_path / "run",
        model="transfer",
        backbone="efficientnet_lite0",
        image_size=96,
        epochs=30,
        feature_views=2,
        cache=tmp_path / "cache",
        progress=False,
    )
    result = fit(config)
    assert result.metrics["val_top1"] >= 0.9
    feature_files = sorted(p.name for p in (tmp_path / "cache").rglob("features/*/*.pt"))
    assert feature_files == ["aug1-s0.pt", "eval.pt"]
    ckpt = load_checkpoint(result.best)
    assert ckpt.model.backbone == "efficientnet_lite0" and ckpt.model.mean == (0.5, 0.5, 0.5)
    # The saved model is the whole network: backbone + trained head, usable without the feature cache.
    model = ckpt.build_model()
    assert model(torch.zeros(1, 3, 96, 96)).shape == (1, 4)


def test_finetuning_unfreezes_the_backbone_after_the_head_warms_up(tmp_path: Path) -> None:
    """Gradual unfreezing: epoch 1 trains the head only; then the backbone learns at a lower rate."""
    data = make_dataset(tmp_path / "data", TINY_CLASSES[:2], train_per_class=8, test_per_class=1, size=(80, 64))
    snapshots: list[dict[str, torch.Tensor]] = []
    real_epoch = train_module.train_one_epoch

    def snapshot_after(*args: object, **kwargs: object) -> tuple[float, float, float]:
        out = real_epoch(*args, **kwargs)  # type: ignore[arg-type]
        model = args[0]
        snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})  # type: ignore[attr-defined]
        return out

    config = TrainConfig(
        data=data,
        out=tmp_path / "run",
        model="transfer",
        backbone="efficientnet_lite0",
        mode="finetune",
        image_size=64,
        epochs=2,
        batch_size=8,
        unfreeze_after=1,
        cache=tmp_path / "cache",
        progress=False,
    )
    from landmarks.models.backbones import build_backbone

    pretrained = build_backbone("efficientnet_lite0")[0].state_dict()
    mp = pytest.MonkeyPatch()
    mp.setattr(train_module, "train_one_epoch", snapshot_after)
    try:
        fit(config)
    finally:
        mp.undo()
    conv = "backbone.conv_stem.weight"
    torch.testing.assert_close(snapshots[0][conv], pretrained["conv_stem.weight"])  # frozen in epoch 1
    assert not torch.equal(snapshots[1][conv], snapshots[0][conv])  # learning from epoch 2
    assert not torch.equal(snapshots[1]["head.1.weight"], snapshots[0]["head.1.weight"])


def test_evaluate_command_writes_a_report_that_matches_training(tiny_run: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from landmarks.cli import app

    out = tmp_path / "eval"
    res = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--checkpoint",
            str(tiny_run / "best.pt"),
            "--data",
            str(tiny_run.parent / "data"),
            "--out",
            str(out),
            "--tta",
        ],
    )
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())["report"]
    trained = json.loads((tiny_run / "metrics.json").read_text())
    assert report["n"] == 4 * 5
    assert report["top1"] >= 0.9 and abs(report["top1"] - trained["test_top1"]) <= 0.1  # TTA may move a photo
    for name in ("report.md", "confusion_matrix.png", "mistakes.png", "reliability.png"):
        assert (out / name).stat().st_size > 0
    assert "top-1" in res.output and str(out / "report.md") in res.output


def test_test_report_describes_the_calibrated_probabilities(tiny_run: Path) -> None:
    """The shipped probabilities are temperature-scaled, so the report's ECE must be of those, not the raw ones."""
    from landmarks.data.prepare import prepare_dataset
    from landmarks.engine.evaluation import predict_split
    from landmarks.engine.report import compute_report
    from landmarks.engine.runtime import Runtime

    ckpt = load_checkpoint(tiny_run / "best.pt")
    t = ckpt.calibration.temperature
    assert abs(t - 1.0) > 0.05  # otherwise both ECEs agree and this test could not tell them apart
    prepared = prepare_dataset(tiny_run.parent / "data", cache=tiny_run.parent / "cache", progress=False)
    runtime = Runtime.detect()  # as `run` scores test
    test = predict_split(runtime.prepare(ckpt.build_model()), prepared, "test", runtime, progress=False)
    raw = compute_report(test.log_probs, test.targets, ckpt.classes, temperature=1.0).ece
    scaled = compute_report(test.log_probs, test.targets, ckpt.classes, temperature=t).ece
    reported = json.loads((tiny_run / "test_report" / "report.json").read_text())["report"]["ece"]
    assert reported == pytest.approx(scaled, abs=1e-4) and reported != pytest.approx(raw, abs=1e-4)
