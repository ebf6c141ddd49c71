"""`landmarks data prepare` and `landmarks data download --from` as a user runs them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from data_factories import write_bad_file
from typer.testing import CliRunner

from landmarks.cli import app, main


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_prepare_prints_the_summary_and_the_picture_paths(tiny_dataset: Path) -> None:
    code, output = _run("data", "prepare", "--data", str(tiny_dataset), "-q", "--image-size", "64")
    assert code == 0, output
    assert "classes" in output and "32 / 8 / 16" in output
    for name in ("samples.png", "rgb_histograms.png"):
        line = next(line for line in output.splitlines() if name in line)
        assert Path(line.split()[-1]).is_file()

    code, again = _run("data", "prepare", "--data", str(tiny_dataset), "-q", "--image-size", "64")
    assert code == 0 and "Unchanged since the last run" in again


def test_prepare_lists_skipped_files_and_the_csv(tiny_dataset: Path) -> None:
    bad = write_bad_file(tiny_dataset / "train" / "16.Eiffel_Tower", "truncated")
    code, output = _run("data", "prepare", "--data", str(tiny_dataset), "-q", "--image-size", "64")
    assert code == 0
    assert f"{bad}: corrupt or truncated" in output
    csv_line = next(line for line in output.splitlines() if "skipped.csv" in line)
    assert str(bad) in Path(csv_line.split()[-1]).read_text()


def test_prepare_reads_landmarks_data_from_the_environment(tiny_dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANDMARKS_DATA", str(tiny_dataset))
    code, output = _run("data", "prepare", "-q", "--image-size", "64")
    assert code == 0 and "32 / 8 / 16" in output


def test_prepare_without_data_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["landmarks", "data", "prepare"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--data" in err and "landmarks data download" in err


def test_prepare_of_a_folder_that_is_not_a_dataset_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["landmarks", "data", "prepare", "--data", str(tmp_path)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path) in err and "Traceback" not in err


def test_download_from_a_folder_then_prepare_the_default(tiny_dataset: Path) -> None:
    code, output = _run("data", "download", "--from", str(tiny_dataset), "-q")
    assert code == 0, output
    assert "Dataset ready:" in output
    code, output = _run("data", "prepare", "-q", "--image-size", "64")  # no --data: the imported copy
    assert code == 0, output
    assert "landmark_images" in output and "32 / 8 / 16" in output
