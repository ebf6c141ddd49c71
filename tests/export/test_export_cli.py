"""`landmarks export` as a user runs it."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from landmarks.cli import app, main
from landmarks.runtime_onnx.model import OnnxModel


@pytest.fixture
def run_copy(tiny_checkpoint: Path, tmp_path: Path) -> Path:
    """The tiny run's checkpoint in a folder of this test's own (exports land beside it)."""
    target = tmp_path / "run" / "best.pt"
    target.parent.mkdir()
    shutil.copy(tiny_checkpoint, target)
    return target


def test_export_writes_fp32_and_int8_beside_the_checkpoint(run_copy: Path) -> None:
    result = CliRunner().invoke(app, ["export", "--checkpoint", str(run_copy)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"wrote {run_copy.with_suffix('.onnx')} (fp32" in result.output
    result = CliRunner().invoke(
        app, ["export", "--checkpoint", str(run_copy), "--int8", "--calibration-size", "5"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "calibrating on 5 val photos" in result.output
    meta = OnnxModel(run_copy.with_suffix(".int8.onnx")).metadata
    assert meta.precision == "int8" and meta.quantization["calibration_photos"] == 5


def test_export_to_a_chosen_file(run_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "deploy" / "model.onnx"
    result = CliRunner().invoke(app, ["export", "--checkpoint", str(run_copy), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert OnnxModel(out).metadata.checkpoint_name == "best.pt"


@pytest.mark.parametrize("problem", ["missing", "moved-dataset"])
def test_errors_are_one_line(
    problem: str, run_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["landmarks", "export", "--checkpoint", str(tmp_path / "nope.pt")]
    if problem == "moved-dataset":
        args = ["landmarks", "export", "--checkpoint", str(run_copy), "--int8", "--data", str(tmp_path / "gone")]
    monkeypatch.setattr(sys, "argv", args)
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err


def test_train_writes_the_export_beside_the_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers import TINY_CLASSES, make_dataset
    from landmarks.cli.train import export_beside
    from landmarks.export import onnx_export
    from landmarks.inference.predictor import Predictor

    data = make_dataset(tmp_path / "data", TINY_CLASSES[:2], train_per_class=6, test_per_class=1, size=(64, 48))
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.onnx").write_bytes(b"an export of an earlier model")
    (run / "best.int8.onnx").write_bytes(b"an int8 export of an earlier model")
    args = ["train", "--data", str(data), "--out", str(run), "--model", "scratch", "--epochs", "1"]
    done = CliRunner().invoke(app, [*args, "--image-size", "48", "--threads", "1"])
    assert done.exit_code == 0, done.output
    assert "ONNX export" in done.output and not (run / "best.int8.onnx").exists()
    assert Predictor.load(run / "best.pt").backend.name == "onnx fp32"  # fresh: its digest matches

    def broken(*args: object, **kwargs: object) -> Path:
        raise RuntimeError("the exporter\nfell over")

    monkeypatch.setattr(onnx_export, "export_onnx", broken)
    assert export_beside(run / "best.pt") is None  # the model stands; the stale export does not
    assert not (run / "best.onnx").exists() and Predictor.load(run / "best.pt").backend.name == "torch"
