"""`landmarks geotag DIR` on the library index: incremental reruns, --plan, an edited plan CSV, apply, undo."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest
from geotag_helpers import CHRIST, EIFFEL, OPERA, FakePredictor, location_of, make_photo, sha256

from landmarks.cli import main
from landmarks.library.db import open_library
from landmarks.library.records import proposals, writes


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["landmarks", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


ANSWERS = {"eiffel.jpg": (EIFFEL, 0.9), "opera.jpg": (OPERA, 0.95), "rio.jpg": (CHRIST, 0.8), "cat.jpg": (EIFFEL, 0.1)}


@pytest.fixture
def model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, object]:
    """A fake predictor behind `Predictor.load`; `loads` counts how often a model was loaded."""
    from landmarks.inference import predictor as predictor_module

    state: dict[str, object] = {"loads": 0, "predictor": FakePredictor(dict(ANSWERS), threshold=0.5)}
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"model one")
    monkeypatch.setenv("LANDMARKS_CHECKPOINT", str(checkpoint))

    def load(
        checkpoint: object = None, device: object = None, backend: object = None, gallery: object = None
    ) -> FakePredictor:
        state["loads"] = int(state["loads"]) + 1  # type: ignore[call-overload]
        return state["predictor"]  # type: ignore[return-value]

    monkeypatch.setattr(predictor_module.Predictor, "load", staticmethod(load))
    state["checkpoint"] = checkpoint
    return state


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    for i, name in enumerate(ANSWERS):
        make_photo(root / name, seed=i)
    return root


def test_reruns_predict_only_new_photos_or_all_after_a_model_change(
    folder: Path, tmp_path: Path, model: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "index.sqlite"
    code, out, err = _run(monkeypatch, capsys, "geotag", folder, "--db", db, "--report", tmp_path / "r1.csv")
    assert code == 0, err
    assert "predicted 4" in out and "geotagged 3 of 4 photos" in out
    predictor: FakePredictor = model["predictor"]  # type: ignore[assignment]
    assert predictor.asked == set(ANSWERS)

    # unchanged library: no model is even loaded, nothing is written again
    digests = {p.name: sha256(p) for p in folder.iterdir()}
    code, out, _ = _run(monkeypatch, capsys, "geotag", folder, "--db", db, "--report", tmp_path / "r2.csv")
    assert code == 0 and "predicted 0" in out and "geotagged 0 of 4" in out and model["loads"] == 1
    assert {p.name: sha256(p) for p in folder.iterdir()} == digests

    # a new photo: only it is predicted
    predictor.calls.clear()
    make_photo(folder / "new.jpg", seed=9)
    predictor.answers["new.jpg"] = (CHRIST, 0.99)
    code, out, _ = _run(monkeypatch, capsys, "geotag", folder, "--db", db, "--report", tmp_path / "r3.csv")
    assert code == 0 and predictor.asked == {"new.jpg"} and "geotagged 1 of 5" in out

    # another model: every photo without a location is predicted again (written ones have GPS now)
    predictor.calls.clear()
    model["checkpoint"].write_bytes(b"model two")  # type: ignore[union-attr]
    code, out, _ = _run(monkeypatch, capsys, "geotag", folder, "--db", db, "--report", tmp_path / "r4.csv")
    assert code == 0 and predictor.asked == {"cat.jpg"}
    with open_library(folder, db, readonly=True) as library:
        assert {w.status for w in writes(library)} == {"written"} and len(writes(library)) == 4


def test_plan_edit_the_csv_apply_then_undo(
    folder: Path, tmp_path: Path, model: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db, plan = tmp_path / "index.sqlite", tmp_path / "plan.csv"
    digests = {p.name: sha256(p) for p in folder.iterdir()}
    code, out, err = _run(monkeypatch, capsys, "geotag", folder, "--plan", "--plan-csv", plan, "--db", db)
    assert code == 0, err
    assert {p.name: sha256(p) for p in folder.iterdir()} == digests  # a plan writes no photo
    with open(plan, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["path"] for r in rows) == ["eiffel.jpg", "opera.jpg", "rio.jpg"]
    assert {r["accept"] for r in rows} == {""}

    # what a spreadsheet saves: BOM, CRLF, upper case; one yes, one no, one left undecided
    decisions = {"eiffel.jpg": "YES", "opera.jpg": "no", "rio.jpg": ""}
    for row in rows:
        row["accept"] = decisions[row["path"]]
    with open(plan, "w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)

    code, out, err = _run(monkeypatch, capsys, "geotag", "apply", "--plan", plan, "--db", db)
    assert code == 0, err
    assert "1 accepted, 1 rejected, 1 undecided" in out and "geotagged 1 of 4" in out
    assert location_of(folder / "eiffel.jpg") == (
        pytest.approx(EIFFEL[1], abs=1e-5),
        pytest.approx(EIFFEL[2], abs=1e-5),
    )
    assert sha256(folder / "opera.jpg") == digests["opera.jpg"] and sha256(folder / "rio.jpg") == digests["rio.jpg"]
    with open_library(folder, db, readonly=True) as library:
        status = {library.photo(p.photo_id).path: p.status for p in proposals(library)}  # type: ignore[union-attr]
    assert status == {"eiffel.jpg": "applied", "opera.jpg": "rejected", "rio.jpg": "proposed"}

    # applying the same plan again writes nothing twice
    code, out, err = _run(monkeypatch, capsys, "geotag", "apply", "--plan", plan, "--db", db)
    assert code == 0 and "geotagged 0 of 4" in out
    assert "0 accepted, 1 rejected, 1 undecided, 1 refused" in out and "applied already" in err

    code, out, err = _run(monkeypatch, capsys, "geotag", "undo", folder, "--db", db)
    assert code == 0, err
    assert {p.name: sha256(p) for p in folder.iterdir()} == digests


def test_a_plan_line_edited_beyond_accept_is_refused(
    folder: Path, tmp_path: Path, model: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db, plan = tmp_path / "index.sqlite", tmp_path / "plan.csv"
    assert _run(monkeypatch, capsys, "geotag", folder, "--plan", "--plan-csv", plan, "--db", db)[0] == 0
    rows = list(csv.DictReader(plan.open(newline="")))
    for row in rows:
        row["accept"] = "yes"
    rows[0]["latitude"] = "0.0"  # moved by hand: never written
    rows[1]["path"] = "cat.jpg"  # pointed at another photo: never written
    with open(plan, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    code, out, err = _run(monkeypatch, capsys, "geotag", "apply", "--plan", plan, "--db", db)
    assert code == 0, err
    assert "coordinates were edited" in err and "not the proposal's" in err
    assert "1 accepted" in out and "2 refused" in out
    assert location_of(folder / rows[2]["path"]) is not None
    assert location_of(folder / rows[0]["path"]) is None and location_of(folder / "cat.jpg") is None

    (tmp_path / "bad.csv").write_text("proposal,accept,path,latitude,longitude,digest\n1,maybe,a.jpg,1,2,x\n")
    code, _, err = _run(monkeypatch, capsys, "geotag", "apply", "--plan", tmp_path / "bad.csv", "--db", db)
    assert code == 1 and "accept must be yes or no" in err
    code, _, err = _run(monkeypatch, capsys, "geotag", "apply", folder, "--plan", plan, "--accepted-only")
    assert code == 2 and "not both" in err


def test_estimates_go_through_the_plan_and_are_undone_alone(
    folder: Path, tmp_path: Path, model: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from landmarks.library.records import add_proposal

    db, plan = tmp_path / "index.sqlite", tmp_path / "plan.csv"
    assert (
        _run(monkeypatch, capsys, "geotag", folder, "--plan", "--plan-csv", tmp_path / "first.csv", "--db", db)[0] == 0
    )
    with open_library(folder, db) as library:  # what issue 12's time-based estimates record
        anchor, cat = library.photo_by_path("eiffel.jpg"), library.photo_by_path("cat.jpg")
        assert anchor is not None and cat is not None
        add_proposal(library, cat.id, kind="estimate", latitude=48.86, longitude=2.33, radius_km=1.2,
                     anchor_photo_id=anchor.id)  # fmt: skip
        from landmarks.geotag.plan_csv import write_plan

        write_plan(library, plan)
    rows = list(csv.DictReader(plan.open(newline="")))
    estimate = next(r for r in rows if r["kind"] == "estimate")
    assert (estimate["path"], estimate["anchor"], estimate["radius_km"]) == ("cat.jpg", "eiffel.jpg", "1.2")
    for row in rows:
        row["accept"] = "y"
    with open(plan, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    code, out, err = _run(monkeypatch, capsys, "geotag", "apply", "--plan", plan, "--db", db)
    assert code == 0 and "geotagged 4 of 4" in out, err
    assert "estimate 1" in out and "landmark 3" in out

    code, out, err = _run(monkeypatch, capsys, "geotag", "undo", folder, "--kind", "estimate", "--db", db)
    assert code == 0 and "undid 1 of 1" in out, err
    assert location_of(folder / "cat.jpg") is None and location_of(folder / "eiffel.jpg") is not None
