"""Training with photos of no landmark (negatives): recorded, never a class, refused when they leak."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from helpers import TINY_CLASSES, TINY_SCRATCH, make_dataset
from landmarks.cli import app
from landmarks.engine.checkpoint import load_checkpoint
from landmarks.engine.train import TrainConfig, fit
from landmarks.engine.train import run as fit_and_test
from landmarks.errors import DatasetError


def make_negatives(folder: Path, n: int = 12, seed: int = 0) -> Path:
    """Noise photos unlike any synthetic landmark, one 'class' each (ImageNet-style names)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        pixels = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"n{1000 + i:08d}_thing{i}.jpg")
    return folder


def _config(root: Path, data: Path, **kw: object) -> TrainConfig:
    return TrainConfig(
        data=data,
        out=root / "run",
        model="scratch",
        image_size=48,
        epochs=3,
        lr=3e-3,
        warmup_epochs=1,
        scratch=TINY_SCRATCH,
        cache=root / "cache",
        progress=False,
        threads=1,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("negatives")
    data = make_dataset(root / "data", TINY_CLASSES[:3], train_per_class=10, test_per_class=3, size=(64, 48))
    negatives = make_negatives(root / "everyday")
    result = fit_and_test(_config(root, data, negatives=[negatives], negatives_source="test folder"))
    return data, negatives, result.best


def test_negatives_fit_the_decision_and_are_recorded(trained: tuple[Path, Path, Path]) -> None:
    _, _, best = trained
    ckpt = load_checkpoint(best)
    record = ckpt.calibration.details["negatives"]
    assert record == {
        "source": "test folder",
        "fitted_without_negatives": False,
        "n_outlier_exposure": 0,
        "n_calibration": 12,
        "groups_calibration": 12,
    }
    rule = ckpt.calibration.rule()
    assert rule.fitted["negatives"] == 12 and rule.fitted["photos"] == ckpt.calibration.details["n_calibration"]
    assert len(ckpt.classes) == 3  # negatives never become a class
    assert "precision" in rule.fitted["operating_point"]
    # The fused score is gated by the landmark probe, fitted on the training photos against the negatives
    assert rule.score == "fused" and rule.evidence_probability == "classifier"
    assert rule.landmark_gate is not None and rule.landmark_probe is not None
    assert ckpt.index is not None and len(rule.landmark_probe) == ckpt.index.embeddings.shape[1] + 1
    gate = rule.fitted["landmark_gate"]
    assert gate["negatives_out_of_fold"] == 12 and gate["training_photos"] == len(ckpt.index.labels)
    alternatives = ckpt.calibration.details["alternatives"]
    assert alternatives["max_softmax"]["landmark_gate"] is None and alternatives["knn"]["landmark_probe"] is None


def test_a_negative_that_is_a_dataset_photo_is_refused(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data", TINY_CLASSES[:2], train_per_class=6, test_per_class=1, size=(64, 48))
    negatives = make_negatives(tmp_path / "everyday", n=3)
    leaked = next((data / "train" / TINY_CLASSES[0]).iterdir())
    shutil.copy(leaked, negatives / "copy.jpg")
    with pytest.raises(DatasetError, match="same file as training photo"):
        fit(_config(tmp_path, data, negatives=[negatives]))


def test_a_negatives_folder_without_photos_is_refused(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data", TINY_CLASSES[:2], train_per_class=6, test_per_class=1, size=(64, 48))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no photos here")
    with pytest.raises(DatasetError, match="no readable photo"):
        fit(_config(tmp_path, data, negatives=[tmp_path / "empty"]))


def test_outlier_exposure_uses_half_the_negatives_in_frozen_mode(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data", TINY_CLASSES[:2], train_per_class=8, test_per_class=1, size=(96, 72))
    negatives = make_negatives(tmp_path / "everyday", n=8)
    config = TrainConfig(
        data=data,
        out=tmp_path / "run",
        backbone="efficientnet_lite0",
        image_size=96,
        epochs=5,
        feature_views=2,
        negatives=[negatives],
        outlier_weight=0.5,
        cache=tmp_path / "cache",
        progress=False,
        threads=1,
    )
    result = fit(config)
    record = load_checkpoint(result.best).calibration.details["negatives"]
    assert record["n_outlier_exposure"] + record["n_calibration"] == 8 and record["n_outlier_exposure"] > 0
    assert result.metrics["outlier_exposure_photos"] == record["n_outlier_exposure"]


def test_evaluate_with_negatives_reports_library_figures(trained: tuple[Path, Path, Path], tmp_path: Path) -> None:
    data, negatives, best = trained
    out = tmp_path / "eval"
    args = [
        "evaluate",
        "--checkpoint",
        str(best),
        "--data",
        str(data),
        "--out",
        str(out),
        "--negatives",
        str(negatives),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    library = json.loads((out / "report.json").read_text())["extra"]["library"]
    assert library["landmark_photos"] == 9 and library["negatives"] == 12
    assert 0.0 <= library["gap"] <= library["top1"] + 1e-9  # GAP never beats perfect ranking of top-1
    assert set(library["at_threshold"]) >= {"right_share", "wrong_share", "negatives_answered", "precision"}
    assert (out / "precision_recall.png").stat().st_size > 1000
    assert "GAP" in result.output and "decision:" in result.output


def test_evaluate_refuses_a_bad_negatives_folder_before_scoring(
    trained: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import landmarks.engine.evaluation as evaluation

    data, _, best = trained
    (tmp_path / "empty").mkdir()
    scored: list[str] = []
    real = evaluation.predict_split
    monkeypatch.setattr(evaluation, "predict_split", lambda *a, **kw: scored.append("split") or real(*a, **kw))
    args = ["evaluate", "--checkpoint", str(best), "--data", str(data), "--out", str(tmp_path / "eval")]
    result = CliRunner().invoke(app, [*args, "--negatives", str(tmp_path / "empty")])
    assert result.exit_code != 0 and "no readable photo" in str(result.exception)
    assert scored == []  # refused before a single photo was scored
    assert not (tmp_path / "eval" / "report.json").exists()


def test_the_landmark_gate_is_applied_alike_on_torch_and_onnx(trained: tuple[Path, Path, Path]) -> None:
    from landmarks.export.onnx_export import export_onnx
    from landmarks.inference.predictor import Predictor

    data, negatives, best = trained
    export_onnx(best)
    photos = sorted((data / "test").rglob("*.jpg"))[:3] + sorted(negatives.glob("*.jpg"))[:2]
    on_torch = Predictor.load(best, backend="torch").predict_many(photos, k=1)
    on_onnx = Predictor.load(best, backend="onnx").predict_many(photos, k=1)
    for a, b in zip(on_torch, on_onnx, strict=True):
        assert a.landmark_likeness is not None and 0.0 <= a.landmark_likeness <= 1.0
        assert a.landmark_likeness == pytest.approx(b.landmark_likeness, abs=0.02)
        assert a.score == pytest.approx(b.score, abs=0.02)
        assert a.unknown == b.unknown or abs(a.score - a.threshold) < 0.02


def test_predict_says_how_much_a_photo_looks_like_a_landmark_photo(trained: tuple[Path, Path, Path]) -> None:
    data, _, best = trained
    photo = sorted((data / "test").rglob("*.jpg"))[0]
    out = CliRunner().invoke(app, ["predict", str(photo), "--checkpoint", str(best), "--backend", "torch"])
    assert out.exit_code == 0, out.output
    assert "a landmark photo: " in out.output
    as_json = CliRunner().invoke(app, ["predict", str(photo), "--checkpoint", str(best), "--json"])
    assert 0.0 <= json.loads(as_json.output)[0]["landmark_likeness"] <= 1.0
