"""`landmarks batch` on the local engine: one row per photo, error rows for bad ones, resuming, the sinks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from batch_helpers import bad_photos
from typer.testing import CliRunner

from landmarks.batch.parquet import STAGING, ParquetResults, part_files, read_results
from landmarks.batch.run import run_batch
from landmarks.batch.schema import ROW_SCHEMA
from landmarks.cli import app
from landmarks.inference.predictor import Predictor

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def photos(tiny_run: Path, tmp_path: Path) -> Path:
    """The tiny model's 20 synthetic test photos, plus five bad files."""
    root = tmp_path / "photos"
    src = tiny_run.parent / "data" / "test"
    for photo in sorted(src.rglob("*.jpg")):
        (root / photo.parent.name).mkdir(parents=True, exist_ok=True)
        (root / photo.parent.name / photo.name).write_bytes(photo.read_bytes())
    bad_photos(root / "bad", next(root.rglob("*.jpg")))
    return root


def test_every_photo_gets_one_row_and_bad_ones_an_error(photos: Path, tiny_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    summary = run_batch([str(photos)], str(out), checkpoint=tiny_checkpoint, k=2, progress=False)
    rows = read_results(out, dedupe=False).to_pylist()
    assert summary.listed == len(rows) == 25 and summary.written == 25 and summary.errors == 5
    assert len({r["path"] for r in rows}) == 25
    errors = {Path(r["path"]).name: r["error"] for r in rows if r["decision"] == "error"}
    assert set(errors) == {"truncated.jpg", "notes.jpg", "huge.png", "empty.jpg", "gone.jpg"}
    assert "safety limit" in errors["huge.png"] and "cannot read" in errors["gone.jpg"]
    assert all(str(photos) in message for message in errors.values())  # each names its file
    good = [r for r in rows if r["decision"] != "error"]
    predictor = Predictor.load(tiny_checkpoint)
    by_path = {r["path"]: r for r in good}
    for path, answer in zip(by_path, predictor.predict_many(list(by_path), k=2), strict=True):
        row = by_path[path]  # the same answer as `landmarks predict`
        assert [g["class_index"] for g in row["top_k"]] == [g.class_index for g in answer.top]
        assert row["top_k"][0]["probability"] == pytest.approx(answer.top[0].probability, abs=1e-6)
        assert row["decision"] == ("unknown" if answer.unknown else "known") and len(row["digest"]) == 64
        assert row["top_k"][0]["latitude"] == answer.top[0].latitude and row["gallery_id"] == ""
    assert pq.read_schema(part_files(out)[0]).equals(ROW_SCHEMA)


def test_a_rerun_skips_what_is_answered_and_redoes_changed_photos(
    photos: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    out = tmp_path / "results"
    run_batch([str(photos)], str(out), checkpoint=tiny_checkpoint, progress=False)
    again = run_batch([str(photos)], str(out), checkpoint=tiny_checkpoint, progress=False)
    assert (again.skipped, again.written) == (25, 0)
    changed = next(photos.rglob("*_000.jpg"))
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    third = run_batch([str(photos)], str(out), checkpoint=tiny_checkpoint, progress=False)
    assert (third.skipped, third.written) == (24, 1)
    rows = read_results(out).to_pylist()
    assert len(rows) == 25  # same content: the new row has the same (path, digest, model) key
    assert len(read_results(out, dedupe=False)) == 26


def test_leftovers_of_a_killed_run_are_salvaged_or_dropped(tmp_path: Path) -> None:
    out = tmp_path / "results"
    staged = out / STAGING / "deadrun"
    staged.mkdir(parents=True)
    row = {name: None for name in ROW_SCHEMA.names} | {"path": "/p.jpg", "size": 1, "mtime_ns": 2,
           "model_id": "m", "gallery_id": "", "decision": "error", "error": "x", "top_k": []}  # fmt: skip
    pq.write_table(pa.Table.from_pylist([row], schema=ROW_SCHEMA), staged / "whole.parquet")
    whole = (staged / "whole.parquet").read_bytes()
    (staged / "cut.parquet").write_bytes(whole[: len(whole) - 20])
    (out / ".part-x.parquet.abc.tmp").write_bytes(b"half")
    with ParquetResults(out) as results:
        assert results.done("m", "") == {("/p.jpg", 1, 2)} and results.done("other", "") == set()
        with pytest.raises(Exception, match="in use by another"), ParquetResults(out):
            pass
    assert [p.name for p in part_files(out)] == ["deadrun-whole.parquet"]
    assert not (out / STAGING).exists() and not list(out.glob(".*.tmp"))


def test_results_go_into_a_library_index(photos: Path, tiny_checkpoint: Path, tmp_path: Path) -> None:
    from landmarks.library.db import open_library
    from landmarks.library.records import needs_prediction
    from landmarks.library.scan import scan_library

    db_path = tmp_path / "index.sqlite"
    with open_library(photos, db_path) as db:
        scan_library(photos, db, progress=False)
    outside = tmp_path / "elsewhere.jpg"
    outside.write_bytes(next(photos.rglob("*_001.jpg")).read_bytes())
    summary = run_batch([str(photos), str(outside)], f"library:{db_path}", checkpoint=tiny_checkpoint,
                        progress=False)  # fmt: skip
    assert any("outside the library" in p for p in summary.problems)
    with open_library(photos, db_path) as db:
        recorded = db.query("SELECT decision, model_id, top_k FROM predictions")
        assert needs_prediction(db, summary.model_id) == []
    assert len(recorded) == summary.written >= 20 and {r["model_id"] for r in recorded} == {summary.model_id}
    assert sum(r["decision"] == "known" or r["decision"] == "unknown" for r in recorded) == 20
    again = run_batch([str(photos)], str(db_path), checkpoint=tiny_checkpoint, progress=False)
    assert again.written == 0


def test_the_cli_exits_3_when_some_photos_failed(photos: Path, tiny_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    args = ["batch", str(photos), "--out", str(out), "--checkpoint", str(tiny_checkpoint), "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 3, result.output
    assert "25 rows written (5 errors)" in result.output
    assert CliRunner().invoke(app, [*args, "--engine", "spark"]).exit_code == 2


def test_the_local_engine_never_imports_ray(photos: Path, tiny_checkpoint: Path, tmp_path: Path) -> None:
    code = (
        "import sys; from landmarks.cli import main; sys.argv = ['landmarks', 'batch', sys.argv[1], '--out', "
        "sys.argv[2], '--checkpoint', sys.argv[3], '--no-progress']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\nassert 'ray' not in sys.modules, 'ray imported'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run([sys.executable, "-c", code, str(photos / "bad"), str(tmp_path / "r"), str(tiny_checkpoint)],
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_which_out_is_a_library_index() -> None:
    from landmarks.batch.library_sink import library_target
    from landmarks.batch.run import open_results
    from landmarks.errors import LandmarksError

    assert library_target("library:~/idx") == Path("~/idx").expanduser()
    assert library_target("runs/photos.sqlite") == Path("runs/photos.sqlite")
    assert library_target("runs/index.DB") == Path("runs/index.DB")
    assert library_target("results/") is None and library_target("s3://bucket/x.db") is None
    with pytest.raises(LandmarksError, match="object-store"):
        open_results("s3://bucket/results")
    with pytest.raises(LandmarksError, match="no library index"):
        open_results("library:/nonexistent/index.sqlite")
