"""`landmarks evaluate` scores the checkpoint's own split, and its calibration figures are the calibrated ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torchmetrics.classification import MulticlassCalibrationError
from typer.testing import CliRunner

from helpers import TINY_CLASSES, TINY_SCRATCH, make_dataset
from landmarks.cli import app
from landmarks.data.prepare import dataset_cache_dir, prepare_dataset
from landmarks.engine.checkpoint import load_checkpoint
from landmarks.engine.evaluation import predict_split
from landmarks.engine.runtime import Runtime
from landmarks.engine.train import TrainConfig
from landmarks.engine.train import run as fit_and_test

SEED, VAL_FRACTION = 3, 0.3  # not the CLI's defaults (0, 0.2)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(data folder, best.pt) of a tiny scratch model trained with seed 3 and a 30 % val split."""
    root = tmp_path_factory.mktemp("evaluate")
    data = make_dataset(root / "data", TINY_CLASSES[:3], train_per_class=10, test_per_class=3, size=(64, 48))
    result = fit_and_test(
        TrainConfig(
            data=data,
            out=root / "run",
            model="scratch",
            image_size=48,
            epochs=4,
            lr=3e-3,
            warmup_epochs=1,
            scratch=TINY_SCRATCH,
            seed=SEED,
            val_fraction=VAL_FRACTION,
            cache=root / "cache",
            progress=False,
            threads=1,
        )
    )
    return data, result.best


def _evaluate(data: Path, checkpoint: Path, out: Path, *options: str) -> tuple[int, str]:
    args = ["evaluate", "--checkpoint", str(checkpoint), "--data", str(data), "--out", str(out), *options]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    return result.exit_code, result.output


def test_val_is_the_checkpoint_split_without_any_option(run: tuple[Path, Path], tmp_path: Path) -> None:
    data, checkpoint = run
    code, output = _evaluate(data, checkpoint, tmp_path / "val", "--split", "val")
    assert code == 0, output
    expected = prepare_dataset(data, seed=SEED, val_fraction=VAL_FRACTION, progress=False, plots=False)
    assert f"val: {len(expected.val)} photos" in output
    assert len(expected.val) == 3 * 3  # val_count(10, 0.3) per class; the CLI's 0.2 would give 2
    report = json.loads((tmp_path / "val" / "report.json").read_text())["report"]
    assert report["n"] == len(expected.val)
    manifest = json.loads((dataset_cache_dir(expected.root) / "manifest.json").read_text())
    assert (manifest["seed"], manifest["val_fraction"]) == (SEED, VAL_FRACTION)


@pytest.mark.parametrize(("option", "value"), [("--seed", "1"), ("--val-fraction", "0.2")])
def test_options_that_disagree_with_the_checkpoint_are_refused(
    run: tuple[Path, Path], tmp_path: Path, option: str, value: str
) -> None:
    data, checkpoint = run
    code, output = _evaluate(data, checkpoint, tmp_path / "out", "--split", "val", option, value)
    assert code == 2, output
    assert option in output and "trained with" in output
    assert not (tmp_path / "out" / "report.json").exists()


def test_options_that_agree_with_the_checkpoint_are_accepted(run: tuple[Path, Path], tmp_path: Path) -> None:
    data, checkpoint = run
    options = ("--split", "val", "--seed", str(SEED), "--val-fraction", str(VAL_FRACTION))
    code, output = _evaluate(data, checkpoint, tmp_path / "out", *options)
    assert code == 0, output


def _calibrated_ece(log_probs: torch.Tensor, targets: torch.Tensor, temperature: float) -> float:
    metric = MulticlassCalibrationError(num_classes=log_probs.shape[1], n_bins=15, norm="l1")
    return float(metric(torch.softmax(log_probs.float() / temperature, dim=1), targets))


def _test_split_outputs(data: Path, checkpoint: Path) -> tuple[torch.Tensor, torch.Tensor]:
    ckpt = load_checkpoint(checkpoint)
    prepared = prepare_dataset(data, seed=SEED, val_fraction=VAL_FRACTION, progress=False, plots=False)
    runtime = Runtime.detect()  # as `landmarks evaluate` and training run it (bf16 where the CPU has it)
    test = predict_split(runtime.prepare(ckpt.build_model()), prepared, "test", runtime, progress=False)
    return test.log_probs, test.targets


@pytest.mark.parametrize("temperature", [None, 4.0])  # the fitted one, and one far from 1
def test_evaluate_report_ece_uses_the_checkpoint_temperature(
    run: tuple[Path, Path], tmp_path: Path, temperature: float | None
) -> None:
    data, checkpoint = run
    if temperature is not None:
        from landmarks.engine.checkpoint import save_checkpoint

        ckpt = load_checkpoint(checkpoint)
        ckpt.calibration.temperature = temperature
        checkpoint = save_checkpoint(ckpt, tmp_path / "hot.pt")
    t = load_checkpoint(checkpoint).calibration.temperature
    code, output = _evaluate(data, checkpoint, tmp_path / "test", "--split", "test")
    assert code == 0, output
    report = json.loads((tmp_path / "test" / "report.json").read_text())["report"]
    log_probs, targets = _test_split_outputs(data, checkpoint)
    assert report["temperature"] == pytest.approx(t)
    assert report["ece"] == pytest.approx(_calibrated_ece(log_probs, targets, t), abs=1e-5)
    assert report["ece_uncalibrated"] == pytest.approx(_calibrated_ece(log_probs, targets, 1.0), abs=1e-5)
    if temperature is not None:
        assert abs(report["ece"] - report["ece_uncalibrated"]) > 0.01


def test_training_test_report_ece_uses_the_fitted_temperature(run: tuple[Path, Path]) -> None:
    data, checkpoint = run
    t = load_checkpoint(checkpoint).calibration.temperature
    report = json.loads((checkpoint.parent / "test_report" / "report.json").read_text())["report"]
    log_probs, targets = _test_split_outputs(data, checkpoint)
    assert report["temperature"] == pytest.approx(t)
    assert report["ece"] == pytest.approx(_calibrated_ece(log_probs, targets, t), abs=1e-5)
