"""Predictor and `landmarks predict`: top-k with coordinates, the unknown flag, per-file errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

import landmarks
from helpers import TINY_CLASSES, synthetic_photo
from landmarks.cli import app
from landmarks.engine.checkpoint import load_checkpoint, save_checkpoint
from landmarks.errors import BadImageError, CheckpointError
from landmarks.inference.predictor import Predictor, resolve_checkpoint


@pytest.fixture(scope="module")
def predictor(tiny_checkpoint: Path) -> Predictor:
    return Predictor.load(tiny_checkpoint)


@pytest.fixture
def photos(tmp_path: Path) -> dict[str, Path]:
    """One synthetic photo per class (unseen seeds), plus bad files."""
    out: dict[str, Path] = {}
    for label, name in enumerate(TINY_CLASSES):
        path = tmp_path / f"{name}.jpg"
        synthetic_photo(label, 10_000 + label, (80, 64)).save(path)
        out[name] = path
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out["broken"] = tmp_path / "broken.jpg"
    return out


def test_top_k_is_sorted_with_probabilities_and_coordinates(predictor: Predictor, photos: dict[str, Path]) -> None:
    result = predictor.predict(photos["16.Eiffel_Tower"], k=3)
    assert [g.rank for g in result.top] == [1, 2, 3]
    probs = [g.probability for g in result.top]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    best = result.best
    assert best.folder == "16.Eiffel_Tower" and best.class_id == 16 and best.name == "Eiffel Tower"
    assert best.latitude == pytest.approx(48.8583, abs=0.01) and best.longitude == pytest.approx(2.2945, abs=0.01)
    assert predictor.score == result.decision == "fused"  # the default unknown score
    assert 0 <= result.score <= 1 and result.threshold == predictor.threshold
    assert result.unknown == (result.score < result.threshold)
    # The nearest training photos come with every answer; this photo's own class is the closest.
    assert len(result.neighbours) == 5 and result.neighbours[0].name == "Eiffel Tower"
    sims = [n.similarity for n in result.neighbours]
    assert sims == sorted(sims, reverse=True) and result.knn_similarity == pytest.approx(sims[0], abs=1e-4)
    assert result.neighbours[0].path.startswith("train/16.Eiffel_Tower/")
    assert result.fitted_without_negatives  # the tiny model was trained without negatives, and says so
    assert result.landmark_likeness is None  # so it has no landmark gate


def test_every_fitted_decision_is_usable(tiny_checkpoint: Path, photos: dict[str, Path]) -> None:
    ckpt = load_checkpoint(tiny_checkpoint)
    alternatives = ckpt.calibration.details["alternatives"]
    assert set(alternatives) == {"fused", "max_softmax", "knn"}
    results = {
        s: Predictor.load(tiny_checkpoint, score=s).predict(photos["16.Eiffel_Tower"], k=2) for s in alternatives
    }
    # max_softmax is the classifier's own probability of the answer shown (before the neighbours' vote, which
    # the shown probabilities include); knn a cosine.
    predictor = Predictor.load(tiny_checkpoint, score="max_softmax")
    assert predictor.rule.evidence_probability == "classifier"
    backend = predictor.backend
    with Image.open(photos["16.Eiffel_Tower"]) as image:
        classifier, _ = backend.run([backend.prepare(image.convert("RGB"))])
    best = results["max_softmax"].best
    assert results["max_softmax"].score == pytest.approx(float(classifier[0, best.class_index]), abs=1e-4)
    assert results["max_softmax"].score != pytest.approx(best.probability, abs=1e-3)  # the vote moved it
    assert results["knn"].score == pytest.approx(results["knn"].knn_similarity, abs=1e-4)
    for score, result in results.items():
        assert result.threshold == pytest.approx(alternatives[score]["threshold"])
    with pytest.raises(CheckpointError, match="no decision fitted"):
        Predictor.load(tiny_checkpoint, score="centroid_cosine")


def test_predicts_every_class_and_takes_pil_and_bytes(predictor: Predictor, photos: dict[str, Path]) -> None:
    for name in TINY_CLASSES:
        assert predictor.predict(photos[name], k=1).best.folder == name
    path = photos["41.Machu_Picchu"]
    assert predictor.predict(Image.open(path), k=1).best.folder == "41.Machu_Picchu"
    assert predictor.predict(path.read_bytes(), k=1, source="upload.jpg").source == "upload.jpg"


def test_grayscale_rgba_and_rotated_photos_are_accepted(predictor: Predictor, photos: dict[str, Path], tmp_path: Path):
    image = Image.open(photos["09.Golden_Gate_Bridge"])
    variants = {"gray.png": image.convert("L"), "rgba.png": image.convert("RGBA"), "cmyk.jpg": image.convert("CMYK")}
    for name, img in variants.items():
        img.save(tmp_path / name)
        assert len(predictor.predict(tmp_path / name, k=2).top) == 2


def test_bad_files_are_reported_per_file_and_the_rest_still_processed(
    predictor: Predictor, photos: dict[str, Path]
) -> None:
    results = predictor.predict_many([photos["broken"], photos["16.Eiffel_Tower"], photos["broken"]], k=2)
    assert isinstance(results[0], BadImageError) and isinstance(results[2], BadImageError)
    assert "broken.jpg" in str(results[0])
    assert results[1].best.folder == "16.Eiffel_Tower"  # type: ignore[union-attr]
    with pytest.raises(BadImageError):
        predictor.predict(photos["broken"])


@pytest.mark.parametrize("k", [0, -1, 5, 2.5, True])
def test_bad_k(predictor: Predictor, photos: dict[str, Path], k: object) -> None:
    with pytest.raises(ValueError, match="k must be a whole number from 1 to 4"):
        predictor.predict(photos["16.Eiffel_Tower"], k=k)  # type: ignore[arg-type]


def test_below_the_threshold_the_answer_is_unknown(
    tiny_checkpoint: Path, photos: dict[str, Path], tmp_path: Path
) -> None:
    ckpt = load_checkpoint(tiny_checkpoint)
    ckpt.calibration.threshold = 1.01  # nothing is that confident
    ckpt.calibration.decision.threshold = 1.01  # the rule in use holds its own threshold
    strict = Predictor.load(save_checkpoint(ckpt, tmp_path / "strict.pt"))
    result = strict.predict(photos["16.Eiffel_Tower"], k=3)
    assert result.unknown and len(result.top) == 3  # the top-k is still shown


def test_checkpoint_resolution_order(tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from landmarks.state import remember_last_model

    with pytest.raises(CheckpointError, match="--checkpoint"):
        resolve_checkpoint(None)
    remember_last_model(tiny_checkpoint)
    assert resolve_checkpoint(None) == tiny_checkpoint.resolve()
    monkeypatch.setenv("LANDMARKS_CHECKPOINT", str(tmp_path / "env.pt"))
    assert resolve_checkpoint(None) == tmp_path / "env.pt"
    assert resolve_checkpoint(tmp_path / "arg.pt") == tmp_path / "arg.pt"


def test_module_level_predict(tiny_checkpoint: Path, photos: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANDMARKS_CHECKPOINT", str(tiny_checkpoint))
    result = landmarks.predict(photos["00.Haleakala_National_Park"], k=2)
    assert result.best.folder == "00.Haleakala_National_Park" and len(result.top) == 2


runner = CliRunner()


def test_cli_prints_one_line_per_guess(tiny_checkpoint: Path, photos: dict[str, Path]) -> None:
    res = runner.invoke(app, ["predict", str(photos["16.Eiffel_Tower"]), "--checkpoint", str(tiny_checkpoint)])
    assert res.exit_code == 0, res.output
    note, *lines = res.output.splitlines()
    assert note.startswith("note:") and "without photos of no landmark" in note  # said once, on stderr
    assert lines[0].endswith("16.Eiffel_Tower.jpg")
    first = next(line for line in lines if line.strip().startswith("1."))
    assert "Eiffel Tower" in first and "%" in first and "48.8583, 2.2945" in first
    assert sum(1 for line in lines if line.strip()[:2] in ("1.", "2.", "3.")) == 3
    assert any("confidence" in line and "%" in line for line in lines)
    assert any(line.strip().startswith("nearest training photos:") for line in lines)


def test_cli_json_folder_and_partial_failure(tiny_checkpoint: Path, photos: dict[str, Path]) -> None:
    folder = photos["broken"].parent
    res = runner.invoke(app, ["predict", str(folder), "--checkpoint", str(tiny_checkpoint), "--json", "-k", "2"])
    assert res.exit_code == 3  # the other photos are answered; the status tells a script one failed
    start = res.stdout.index("[")
    records = json.loads(res.stdout[start:])
    assert len(records) == 5
    errors = [r for r in records if "error" in r]
    assert len(errors) == 1 and errors[0]["source"].endswith("broken.jpg")
    good = [r for r in records if "top" in r]
    assert all(len(r["top"]) == 2 and "unknown" in r for r in good)


def test_cli_exits_3_when_an_input_failed(tiny_checkpoint: Path, photos: dict[str, Path], tmp_path: Path) -> None:
    res = runner.invoke(app, ["predict", str(photos["broken"]), "--checkpoint", str(tiny_checkpoint)])
    assert res.exit_code == 3
    res = runner.invoke(app, ["predict", str(tmp_path / "missing.jpg"), "--checkpoint", str(tiny_checkpoint)])
    assert res.exit_code == 3
    assert "no such file" in res.output


def test_cli_without_any_model_is_one_clear_line(photos: dict[str, Path]) -> None:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "LANDMARKS_CHECKPOINT"}
    proc = subprocess.run(
        [sys.executable, "-m", "landmarks", "predict", str(photos["16.Eiffel_Tower"])],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: no model to predict with")
    assert "Traceback" not in proc.stderr
