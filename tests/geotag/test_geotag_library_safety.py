"""Bad input for `geotag DIR` on the index: read-only photos, a damaged or locked index, two runs at once.

Every case ends with a clear one-line error (or a clear skip) and the photos byte for byte as they were.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import sys
import threading
import time
from pathlib import Path

import pytest
from geotag_helpers import EIFFEL, FakePredictor, location_of, make_photo, sha256

from landmarks.cli import main
from landmarks.library.db import open_library


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["landmarks", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from landmarks.inference import predictor as predictor_module

    root = tmp_path / "photos"
    for i in range(3):
        make_photo(root / f"p{i}.jpg", seed=i)
    (tmp_path / "m.pt").write_bytes(b"model")
    monkeypatch.setenv("LANDMARKS_CHECKPOINT", str(tmp_path / "m.pt"))
    fake = FakePredictor({f"p{i}.jpg": (EIFFEL, 0.9) for i in range(3)})
    monkeypatch.setattr(predictor_module.Predictor, "load", staticmethod(lambda *a, **k: fake))
    return root


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: sha256(p) for p in sorted(folder.iterdir())}


def test_a_read_only_library_is_planned_but_never_written(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _digests(folder)
    for photo in folder.iterdir():
        photo.chmod(0o444)
    folder.chmod(0o555)
    try:
        code, out, err = _run(monkeypatch, capsys, "geotag", folder, "--db", tmp_path / "i.sqlite")
    finally:
        folder.chmod(0o755)
    assert code == 0, err
    assert "skipped: read-only" in out and "geotagged 0 of 3" in out and "read-only" in err
    assert _digests(folder) == before
    assert all(stat.S_IMODE(os.stat(p).st_mode) == 0o444 for p in folder.iterdir())


def test_a_damaged_index_is_a_clear_error(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before, index = _digests(folder), tmp_path / "i.sqlite"
    index.write_bytes(b"not a database at all " * 200)
    code, _, err = _run(monkeypatch, capsys, "geotag", folder, "--db", index)
    assert code == 1 and "damaged or not a landmarks index" in err and "Traceback" not in err
    assert _digests(folder) == before


def test_an_index_locked_by_another_program_is_a_clear_error(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from landmarks.library import db as db_module

    before, index = _digests(folder), tmp_path / "i.sqlite"
    open_library(folder, index).close()
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_S", 0.2)
    other = sqlite3.connect(index, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        code, _, err = _run(monkeypatch, capsys, "geotag", folder, "--db", index)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert code == 1 and "locked by another program" in err
    assert _digests(folder) == before


def test_a_second_run_waits_for_the_first_or_refuses(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before, index = _digests(folder), tmp_path / "i.sqlite"
    first = open_library(folder, index)  # another run holds the library
    code, _, err = _run(monkeypatch, capsys, "geotag", folder, "--db", index, "--wait", "0.2")
    assert code == 1 and "in use by another landmarks run" in err and f"pid {os.getpid()}" in err
    assert _digests(folder) == before

    threading.Timer(0.5, first.close).start()
    started = time.monotonic()
    code, out, err = _run(monkeypatch, capsys, "geotag", folder, "--db", index, "--wait", "20")
    assert code == 0, err
    assert time.monotonic() - started >= 0.4 and "geotagged 3 of 3" in out
    assert location_of(folder / "p0.jpg") is not None
