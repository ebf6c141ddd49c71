"""Shared fixtures: real photos from ../shared/data when present, synthetic photos otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import TINY_CLASSES, TINY_SCRATCH, make_dataset

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def _shared(sub: str) -> Path:
    path = SHARED_DATA / sub
    if not path.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing: CI must run with ../shared/data beside the clone")
        pytest.skip(f"{path} is absent (real photos live in ../shared/data beside the repository)")
    return path


@pytest.fixture(scope="session")
def udacity_sample() -> Path:
    """Real images of the target dataset, in its own layout (`train/`, `test/`)."""
    return _shared("udacity_sample/landmark_images")


@pytest.fixture(scope="session")
def proxy44() -> Path:
    """The 44-landmark real-photo benchmark (`train/`, `test/`, `catalog.csv`)."""
    return _shared("proxy44")


@pytest.fixture(scope="session")
def not_landmarks() -> Path:
    """Everyday photos of no landmark at all."""
    return _shared("not_landmarks")


@pytest.fixture(scope="session")
def everyday_dir() -> Path:
    """500 everyday photos of no landmark, one per ImageNet class (`nXXXXXXXX_name.jpg`)."""
    return _shared("everyday")


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    """Four synthetic classes with the real dataset's `NN.Name` folder names."""
    return make_dataset(tmp_path / "data", TINY_CLASSES)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own LANDMARKS_CACHE so no test reads another's (or the user's) cache."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("LANDMARKS_CACHE", str(cache))
    monkeypatch.delenv("LANDMARKS_CHECKPOINT", raising=False)
    monkeypatch.delenv("LANDMARKS_DATA", raising=False)
    monkeypatch.delenv("LANDMARKS_GALLERY", raising=False)
    return cache


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small scratch model really trained (seconds) on synthetic photos: its run directory.

    Shared by the predictor, geotag and serve tests, which need a real checkpoint, not a fake.
    """
    from landmarks.engine.train import TrainConfig, run

    root = tmp_path_factory.mktemp("tiny")
    data = make_dataset(root / "data", TINY_CLASSES, train_per_class=20, test_per_class=5, size=(80, 64))
    result = run(
        TrainConfig(
            data=data,
            out=root / "run",
            model="scratch",
            image_size=64,
            epochs=8,
            lr=3e-3,
            warmup_epochs=1,
            scratch=TINY_SCRATCH,
            cache=root / "cache",
            progress=False,
        )
    )
    return result.best.parent


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_run: Path) -> Path:
    return tiny_run / "best.pt"
