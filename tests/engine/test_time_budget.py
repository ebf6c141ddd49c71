"""`--time-budget`: a budget too small for the run stops it early, and the run still saves a usable model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import TINY_CLASSES, TINY_SCRATCH, make_dataset
from landmarks.engine.checkpoint import load_checkpoint
from landmarks.engine.train import TrainConfig, fit
from landmarks.inference.predictor import Predictor

BUDGET_MIN = 1e-4  # 6 ms: less than any epoch or feature view takes


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return make_dataset(tmp_path / "data", TINY_CLASSES[:3], train_per_class=8, test_per_class=2, size=(64, 48))


def _usable(best: Path, photo: Path, classes: list[str]) -> None:
    ckpt = load_checkpoint(best)
    assert ckpt.classes == classes and ckpt.calibration.temperature > 0
    prediction = Predictor.load(best).predict(photo, k=3)
    assert len(prediction.top) == 3 and prediction.source


def test_image_training_stops_after_the_first_epoch_and_saves_best(data: Path, tmp_path: Path) -> None:
    config = TrainConfig(
        data=data,
        out=tmp_path / "run",
        model="scratch",
        image_size=48,
        epochs=30,
        lr=3e-3,
        warmup_epochs=1,
        scratch=TINY_SCRATCH,
        time_budget_min=BUDGET_MIN,
        cache=tmp_path / "cache",
        progress=False,
        threads=1,
    )
    result = fit(config)
    assert result.metrics["epochs_run"] == 1 == len(result.history)
    assert (result.best.parent / "metrics.json").is_file()
    assert json.loads((result.best.parent / "metrics.json").read_text())["epochs_run"] == 1
    assert result.last.is_file()
    _usable(result.best, next((data / "test" / TINY_CLASSES[0]).iterdir()), TINY_CLASSES[:3])


def test_frozen_training_computes_fewer_feature_views_and_saves_best(data: Path, tmp_path: Path) -> None:
    config = TrainConfig(
        data=data,
        out=tmp_path / "run",
        model="transfer",
        backbone="efficientnet_lite0",
        image_size=64,
        epochs=5,
        feature_views=4,
        time_budget_min=BUDGET_MIN,
        cache=tmp_path / "cache",
        progress=False,
        threads=1,
    )
    result = fit(config)
    assert result.metrics["feature_views"] == 1  # the eval view only: no augmented view fitted the budget
    assert result.metrics["epochs_run"] == 5  # the head over cached features is cheap and still trains
    _usable(result.best, next((data / "test" / TINY_CLASSES[1]).iterdir()), TINY_CLASSES[:3])
