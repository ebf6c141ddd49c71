"""A seeded run repeats itself on CPU: the second run (reading every cache the first one filled) ends
with exactly the same weights."""

from __future__ import annotations

from pathlib import Path

import torch

from helpers import TINY_CLASSES, TINY_SCRATCH, make_dataset
from landmarks.engine.checkpoint import load_checkpoint
from landmarks.engine.train import TrainConfig, fit


def _same_weights(a: Path, b: Path, prefix: str = "") -> None:
    sa, sb = load_checkpoint(a).state_dict, load_checkpoint(b).state_dict
    keys = [k for k in sa if k.startswith(prefix)]
    assert keys
    for key in keys:
        assert torch.equal(sa[key], sb[key]), f"{key} differs between two runs with the same seed"


def test_frozen_feature_fit_repeats_when_the_features_come_from_the_cache(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data", TINY_CLASSES[:3], train_per_class=6, test_per_class=1, size=(72, 64))
    cache = tmp_path / "cache"  # shared: the first run computes the feature views, the second reads them
    runs = []
    for name in ("first", "second"):
        config = TrainConfig(
            data=data,
            out=tmp_path / name,
            backbone="efficientnet_lite0",
            image_size=64,
            epochs=4,
            feature_views=3,
            head_hidden=32,
            cache=cache,
            progress=False,
            threads=1,
        )
        runs.append(fit(config))
    assert runs[0].metrics["feature_images"] > 0 and runs[1].metrics["feature_images"] == 0
    _same_weights(runs[0].best, runs[1].best, prefix="head.")
    assert runs[0].checkpoint.calibration == runs[1].checkpoint.calibration


def test_image_fit_with_mixup_repeats(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data", TINY_CLASSES[:3], train_per_class=8, test_per_class=1, size=(56, 48))
    cache = tmp_path / "cache"
    runs = [
        fit(
            TrainConfig(
                data=data,
                out=tmp_path / name,
                model="scratch",
                image_size=32,
                epochs=2,
                batch_size=8,
                mixup=0.4,
                scratch=TINY_SCRATCH | {"drop_path": 0.1},
                cache=cache,
                progress=False,
                threads=1,
            )
        )
        for name in ("first", "second")
    ]
    _same_weights(runs[0].best, runs[1].best)
