"""`landmarks geotag` end to end through the console entry point, with a fake model behind it."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
from geotag_helpers import CHRIST, EIFFEL, FakePredictor, location_of, make_photo, sha256

from landmarks.cli import main


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["landmarks", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, object]:
    """Predictor.load answers with a FakePredictor; records what it was asked to load.

    The checkpoint file (`m.pt`, also the default model) only has to exist: the library index
    identifies a model by the digest of its file."""
    from landmarks.inference import predictor as predictor_module

    seen: dict[str, object] = {}
    (tmp_path / "m.pt").write_bytes(b"a model")
    monkeypatch.setenv("LANDMARKS_CHECKPOINT", str(tmp_path / "m.pt"))

    def load(
        checkpoint: object = None, device: object = None, backend: str = "auto", gallery: object = None
    ) -> FakePredictor:
        seen["checkpoint"], seen["backend"], seen["gallery"] = checkpoint, backend, gallery
        return FakePredictor({"eiffel.jpg": (EIFFEL, 0.9), "rio.jpg": (CHRIST, 0.4)}, threshold=0.5)

    monkeypatch.setattr(predictor_module.Predictor, "load", staticmethod(load))
    return seen


def test_geotag_command_then_undo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fake_model: dict
) -> None:
    folder = tmp_path / "photos"
    eiffel, rio = make_photo(folder / "eiffel.jpg", seed=1), make_photo(folder / "sub" / "rio.jpg", seed=2)
    digests = {eiffel: sha256(eiffel), rio: sha256(rio)}
    report, geojson = tmp_path / "report.csv", tmp_path / "map.geojson"

    code, out, _ = _run(
        monkeypatch,
        capsys,
        "geotag",
        folder,
        "-r",
        "--checkpoint",
        tmp_path / "m.pt",
        "--min-confidence",
        "0.3",
        "--report",
        report,
        "--geojson",
        geojson,
    )
    assert code == 0
    assert fake_model["checkpoint"] == tmp_path / "m.pt"
    assert "geotagged 2 of 2 photos" in out and f"report: {report}" in out
    assert location_of(rio) == (pytest.approx(CHRIST[1], abs=1e-5), pytest.approx(CHRIST[2], abs=1e-5))
    with open(report, newline="") as fh:
        assert [row["action"] for row in csv.DictReader(fh)] == ["written", "written"]
    assert len(json.loads(geojson.read_text())["features"]) == 2

    code, out, _ = _run(monkeypatch, capsys, "geotag", "--undo", report)
    assert code == 0 and "restored" in out
    assert {p: sha256(p) for p in digests} == digests


def test_dry_run_and_default_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fake_model: dict
) -> None:
    eiffel = make_photo(tmp_path / "eiffel.jpg")
    digest = sha256(eiffel)
    code, out, _ = _run(monkeypatch, capsys, "geotag", eiffel, "--dry-run")
    assert code == 0 and "would geotag 1 of 1" in out
    assert sha256(eiffel) == digest
    report = Path(out.split("report: ")[1].split()[0])
    assert report.is_file() and "would write" in report.read_text()  # in the cache folder


def test_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fake_model: dict
) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_text("nope")
    code, _, err = _run(monkeypatch, capsys, "geotag", broken, "--report", tmp_path / "r.csv")
    assert code == 1 and "none of the 1 photos could be geotagged" in err
    assert "skipped: unreadable" in (tmp_path / "r.csv").read_text()

    code, _, err = _run(monkeypatch, capsys, "geotag", tmp_path / "missing")
    assert code == 1 and "no such file or folder" in err and "error: no photos to geotag" in err

    code, _, err = _run(monkeypatch, capsys, "geotag", broken, "--undo", tmp_path / "r.csv")
    assert code == 2 and "--undo takes a report" in err

    code, _, err = _run(monkeypatch, capsys, "geotag", "--undo", tmp_path / "nothing.csv")
    assert code == 1 and "no such report" in err
    assert "Traceback" not in err


def test_real_model_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tiny_checkpoint: Path
) -> None:
    """A model trained by `landmarks train` (tiny, synthetic): its answer lands in the photo as GPS."""
    from helpers import TINY_CLASSES, synthetic_photo
    from landmarks.engine.checkpoint import load_checkpoint

    landmarks = load_checkpoint(tiny_checkpoint).landmarks
    folder = tmp_path / "trip"
    folder.mkdir()
    for label in range(len(TINY_CLASSES)):
        synthetic_photo(label, 50_000 + label, (80, 64)).save(folder / f"photo{label}.jpg", quality=92)
    report = tmp_path / "report.csv"
    code, _, err = _run(
        monkeypatch,
        capsys,
        "geotag",
        folder,
        "--checkpoint",
        tiny_checkpoint,
        "--min-confidence",
        "0",
        "--report",
        report,
    )
    assert code == 0, err
    rows = {Path(r["file"]).name: r for r in csv.DictReader(report.open())}
    for label in range(len(TINY_CLASSES)):
        row = rows[f"photo{label}.jpg"]
        assert row["action"] == "written"
        expected = next(lm for lm in landmarks if lm.name == row["landmark"])
        got = location_of(folder / f"photo{label}.jpg")  # read back by exiftool, not by our code
        assert got is not None
        assert got[0] == pytest.approx(expected.latitude, abs=1e-5)
        assert got[1] == pytest.approx(expected.longitude, abs=1e-5)


def test_a_gallery_landmark_geotags_with_its_own_coordinates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tiny_checkpoint: Path
) -> None:
    """A landmark added with `landmarks gallery add` (no retraining) puts its own place into photos."""
    from helpers import synthetic_photo

    shots = tmp_path / "shots"
    shots.mkdir()
    for i in range(5):
        synthetic_photo(6, 70_000 + i, (80, 64)).save(shots / f"s{i}.jpg")
    gallery = tmp_path / "mine.gallery.npz"
    args = ["--checkpoint", tiny_checkpoint, "--gallery", gallery]
    code, _, err = _run(monkeypatch, capsys, "gallery", "add", shots, "--name", "Old Chapel", "--lat", "52.3986",
                        "--lon", "0.2627", "--radius-km", "0.3", *args)  # fmt: skip
    assert code == 0, err
    folder = tmp_path / "trip"
    folder.mkdir()
    synthetic_photo(6, 80_000, (80, 64)).save(folder / "chapel.jpg", quality=92)
    report = tmp_path / "report.csv"
    code, _, err = _run(monkeypatch, capsys, "geotag", folder, *args, "--min-confidence", "0", "--report", report)
    assert code == 0, err
    row = next(csv.DictReader(report.open()))
    assert row["action"] == "written" and row["landmark"] == "Old Chapel"
    got = location_of(folder / "chapel.jpg")
    assert got is not None and got[0] == pytest.approx(52.3986, abs=1e-5) and got[1] == pytest.approx(0.2627, abs=1e-5)


def test_undo_exits_1_naming_lines_it_would_not_restore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fake_model: dict
) -> None:
    eiffel = make_photo(tmp_path / "eiffel.jpg")
    report = tmp_path / "report.csv"
    assert _run(monkeypatch, capsys, "geotag", eiffel, "--report", report)[0] == 0
    with open(report, newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows[0]["previous"] = json.dumps({"IFD0:Orientation": 8})
    with open(report, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    code, _, err = _run(monkeypatch, capsys, "geotag", "--undo", report)
    assert code == 1
    assert "refused: not a geotag write" in err and "IFD0:Orientation" in err
    assert "1 of the 1 photos" in err


def test_a_second_run_on_a_folder_is_refused_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fake_model: dict
) -> None:
    from landmarks.geotag.lock import folder_locks

    eiffel = make_photo(tmp_path / "photos" / "eiffel.jpg")
    digest = sha256(eiffel)
    with folder_locks([eiffel.parent]):
        code, _, err = _run(monkeypatch, capsys, "geotag", eiffel.parent, "--report", tmp_path / "r.csv")
    assert code == 1
    assert "another geotag run (or --undo) is working in" in err
    assert sha256(eiffel) == digest


@pytest.mark.timeout(60)
def test_a_recursive_glob_over_symlink_loops_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fake_model: dict
) -> None:
    folder = tmp_path / "photos"
    make_photo(folder / "eiffel.jpg", seed=1)
    (folder / "loop").symlink_to(folder, target_is_directory=True)
    (folder / "sub").mkdir()
    (folder / "sub" / "up").symlink_to("..", target_is_directory=True)
    code, out, _ = _run(
        monkeypatch, capsys, "geotag", f"{folder}/**/*.jpg", "-r", "--dry-run", "--report", tmp_path / "r.csv"
    )
    assert code == 0
    assert "would geotag 1 of 1 photos" in out
