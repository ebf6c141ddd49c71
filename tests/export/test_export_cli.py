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
