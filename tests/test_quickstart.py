"""`landmarks quickstart --data` end to end on tiny synthetic photos, with the default recipe.

Everything it writes (run, cache, decoded photos, features, the "last trained model" record) must land
in this test's own folders: the user's state is never touched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from helpers import TINY_CLASSES, make_dataset
from landmarks.cli import app
from landmarks.engine.checkpoint import load_checkpoint
from landmarks.state import last_model


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_quickstart_trains_the_default_model_and_shows_top3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated_cache: Path
) -> None:
    # Three classes: the top-3 needs three; three photos each: 2 train, 1 val.
    data = make_dataset(tmp_path / "data", TINY_CLASSES[:3], train_per_class=3, test_per_class=1, size=(64, 48))
    data_before = {p: p.stat().st_mtime_ns for p in _files(data)}
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # the default --out (runs/quickstart) must not be used: we pass ours
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    # Photos of no landmark from the environment: they win over the download, so the test stays offline.
    negatives = tmp_path / "everyday"
    negatives.mkdir()
    for i in range(4):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(
            negatives / f"n0000000{i}_noise.jpg"
        )
    monkeypatch.setenv("LANDMARKS_NEGATIVES", str(negatives))
    out = tmp_path / "run"

    result = CliRunner().invoke(
        app, ["quickstart", "--data", str(data), "--out", str(out), "--examples", "2"], catch_exceptions=False
    )

    assert result.exit_code == 0, result.output
    for step in ("1/4 dataset", "2/4 training", "3/4 test split", "4/4 top-3 for 2 test photos"):
        assert step in result.output
    assert "top-1" in result.output and str(out / "test_report" / "report.md") in result.output
    ckpt = load_checkpoint(out / "best.pt")
    assert ckpt.model.backbone == "efficientnet_lite0+efficientnet_lite2"  # the default recipe ran
    assert ckpt.classes == TINY_CLASSES[:3]
    record = ckpt.calibration.details["negatives"]
    assert record["source"] == "LANDMARKS_NEGATIVES" and record["n_calibration"] == 4
    assert (out / "test_report" / "report.json").is_file()
    # Two predictions were printed, each naming one of the two landmarks.
    assert sum(result.output.count(name) for name in ("Haleakal", "Golden Gate Bridge", "Eiffel Tower")) >= 2
    # The "last trained model" record is in this test's cache, nowhere else; the data folder is untouched.
    assert last_model() == (out / "best.pt").resolve()
    assert last_model().is_relative_to(tmp_path)  # type: ignore[union-attr]
    assert (_isolated_cache / "last_model.json").is_file()
    assert {p: p.stat().st_mtime_ns for p in _files(data)} == data_before
    assert not any(cwd.iterdir())
