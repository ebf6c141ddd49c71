"""The index file: where it lives, WAL and foreign keys, migrations, locking, and damaged databases."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from landmarks.errors import LibraryError
from landmarks.library import db as db_module
from landmarks.library.db import default_db_path, migrate, open_library
from landmarks.library.records import needs_prediction
from landmarks.library.scan import scan_library
from landmarks.library.schema import CURRENT_VERSION

SRC = Path(__file__).resolve().parents[2] / "src"


def _fingerprint(root: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


def test_default_index_lives_in_the_cache_keyed_by_the_resolved_path(library: Path, tmp_path: Path) -> None:
    cache = Path(os.environ["LANDMARKS_CACHE"])
    (tmp_path / "alias").symlink_to(library, target_is_directory=True)
    path = default_db_path(library)
    assert path.parent == cache / "libraries" and path.name.startswith("library-") and path.suffix == ".sqlite"
    assert default_db_path(tmp_path / "alias") == default_db_path(library / "trip" / "..") == path
    assert default_db_path(tmp_path / "outside") != path
    before = set(os.listdir(library))
    with open_library(library) as db:
        assert db.path == path
        scan_library(library, db, progress=False)
    assert set(os.listdir(library)) == before and path.is_file()


def test_wal_mode_and_foreign_keys_are_on(library: Path, tmp_path: Path) -> None:
    with open_library(library, tmp_path / "i.sqlite") as db:
        assert db.query("PRAGMA journal_mode")[0][0] == "wal"
        assert db.query("PRAGMA foreign_keys")[0][0] == 1
        assert db.version == CURRENT_VERSION
        with pytest.raises(LibraryError, match="FOREIGN KEY"), db.transaction() as conn:
            conn.execute(
                "INSERT INTO predictions (photo_id, model_id, digest, decision, created)"
                " VALUES (999, 'm', 'd', 'known', 'now')"
            )


def test_a_v1_database_is_migrated_to_the_current_version(library: Path, tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=1) == 1
    conn.execute("INSERT INTO library (key, value) VALUES ('root', ?)", (str(library.resolve()),))
    conn.execute(
        "INSERT INTO photos (path, size, mtime_ns, digest, status, make, first_seen, changed_at)"
        " VALUES ('old.jpg', 1, 2, 'abc', 'present', 'Nikon', 't', 't')"
    )
    assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")} == {
        "schema_version", "library", "photos", "scans",
    }  # fmt: skip
    conn.close()

    with open_library(library, path) as db:
        assert db.version == CURRENT_VERSION == 4
        assert [r[0] for r in db.query("SELECT version FROM schema_version ORDER BY version")] == [1, 2, 3, 4]
        old = db.photo_by_path("old.jpg")
        assert old.make == "Nikon" and [p.path for p in needs_prediction(db, "m")] == ["old.jpg"]
        summary = scan_library(library, db, progress=False)
    assert summary.missing == 1 and summary.new == 6


def test_v4_rebuilds_photos_keeping_every_reference_and_marks_applied_estimates(library: Path, tmp_path: Path) -> None:
    path = tmp_path / "v3.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")  # as the index's own connections have it: a drop must not cascade
    assert migrate(conn, target=3) == 3
    conn.execute("INSERT INTO library (key, value) VALUES ('root', ?)", (str(library.resolve()),))
    for pid, name in ((1, "anchor.jpg"), (2, "estimated.jpg")):
        conn.execute(
            "INSERT INTO photos (id, path, size, mtime_ns, digest, gps_lat, gps_lon, gps_source, first_seen,"
            " changed_at) VALUES (?, ?, 1, 2, 'd', 48.8, 2.3, 'exif', 't', 't')",
            (pid, name),
        )
    conn.execute(
        "INSERT INTO predictions (photo_id, model_id, digest, decision, created) VALUES (1, 'm', 'd', 'known', 't')"
    )
    for pid, kind in ((1, "landmark"), (2, "estimate")):
        conn.execute(
            "INSERT INTO proposals (photo_id, kind, anchor_photo_id, digest, latitude, longitude, status, created,"
            " updated) VALUES (?, ?, 1, 'd', 48.8, 2.3, 'applied', 't', 't')",
            (pid, kind),
        )
    conn.execute("INSERT INTO writes (photo_id, action, target, tags, previous, status, started)"
                 " VALUES (2, 'write', 'estimated.jpg', '{}', '{}', 'written', 't')")  # fmt: skip
    conn.close()

    with open_library(library, path) as db:
        assert db.version == 4 and db.query("PRAGMA foreign_keys")[0][0] == 1
        counts = [db.query(f"SELECT COUNT(*) FROM {t}")[0][0] for t in ("photos", "predictions", "proposals", "writes")]
        assert counts == [2, 1, 2, 1]  # nothing cascaded away with the old table
        assert {r[0]: r[1] for r in db.query("SELECT id, gps_source FROM photos")} == {1: "exif", 2: "estimate"}
        names = {r[0] for r in db.query("SELECT name FROM sqlite_master WHERE tbl_name = 'photos'")}
        assert {"photos_digest", "photos_camera_time", "photos_taken_utc"} <= names
        with pytest.raises(LibraryError, match="CHECK"), db.transaction() as c:
            c.execute("UPDATE photos SET gps_source = 'guess' WHERE id = 1")
        with pytest.raises(LibraryError, match="FOREIGN KEY"), db.transaction() as c:
            c.execute("INSERT INTO writes (photo_id, action, target, tags, previous, started)"
                      " VALUES (9, 'write', 'x', '{}', '{}', 't')")  # fmt: skip


def test_a_database_from_a_newer_version_is_refused(library: Path, tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    open_library(library, path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version (version, applied) VALUES (99, 'later')")
    with pytest.raises(LibraryError, match="newer than this landmarks"):
        open_library(library, path)


def test_an_index_of_another_library_is_refused(library: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    open_library(library, tmp_path / "i.sqlite").close()
    with pytest.raises(LibraryError, match="belongs to"):
        open_library(other, tmp_path / "i.sqlite")


def test_reading_a_library_that_was_never_scanned_says_so(library: Path) -> None:
    with pytest.raises(LibraryError, match=r"no library index yet.*library scan"):
        open_library(library, readonly=True)
    with pytest.raises(LibraryError, match="is not a folder"):
        open_library(library / "paris.jpg")


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_database_is_one_clear_error_and_no_photo_is_touched(
    library: Path, tmp_path: Path, damage: str
) -> None:
    path = tmp_path / "i.sqlite"
    if damage == "garbage":
        path.write_bytes(os.urandom(8192))
    else:
        with open_library(library, path) as db:
            scan_library(library, db, progress=False)
        data = path.read_bytes()
        assert len(data) > 8192
        path.write_bytes(data[:4096] + os.urandom(len(data) - 4096))
    before = _fingerprint(library)
    with pytest.raises(LibraryError) as info, open_library(library, path) as db:
        scan_library(library, db, progress=False)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "damaged" in message
    assert _fingerprint(library) == before


def _holder(library: Path, path: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding the library lock for `seconds`; returns once it holds it."""
    code = (
        "import sys, time\n"
        "from landmarks.library.db import open_library\n"
        "db = open_library(sys.argv[1], sys.argv[2])\n"
        "print('ready', flush=True)\n"
        "time.sleep(float(sys.argv[3]))\n"
        "db.close()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(library), str(path), str(seconds)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_a_second_run_waits_for_the_first_then_refuses_clearly(library: Path, tmp_path: Path) -> None:
    path = tmp_path / "i.sqlite"
    proc = _holder(library, path, 60)
    try:
        started = time.monotonic()
        with pytest.raises(LibraryError, match=rf"in use by another landmarks run \(pid {proc.pid}\); waited 0.5 s"):
            open_library(library, path, lock_timeout=0.5)
        assert time.monotonic() - started >= 0.5
        with open_library(library, path, readonly=True) as reader:  # readers do not wait
            assert reader.version == CURRENT_VERSION
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    with open_library(library, path, lock_timeout=5) as db:  # a killed holder leaves no stale lock
        assert db.writable


def test_a_second_run_that_waits_long_enough_gets_the_library(library: Path, tmp_path: Path) -> None:
    path = tmp_path / "i.sqlite"
    proc = _holder(library, path, 1.0)
    started = time.monotonic()
    with open_library(library, path, lock_timeout=30) as db:
        assert db.writable and time.monotonic() - started > 0.3
    proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_two_scans_at_once_do_not_interleave(library: Path, tmp_path: Path) -> None:
    path = tmp_path / "i.sqlite"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    command = [sys.executable, "-m", "landmarks", "library", "scan", str(library), "--db", str(path), "-q"]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for _ in range(2)]  # fmt: skip
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    with open_library(library, path, readonly=True) as db:
        scans = db.query("SELECT new, unchanged FROM scans ORDER BY id")
        assert [tuple(r) for r in scans] == [(6, 0), (0, 7)]
        assert db.query("SELECT COUNT(*), COUNT(DISTINCT path) FROM photos")[0][:] == (7, 7)


def test_a_database_locked_by_another_program_is_a_clear_error(
    library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "i.sqlite"
    open_library(library, path).close()
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_S", 0.2)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(LibraryError, match="locked by another program"), open_library(library, path) as db:
            scan_library(library, db, progress=False)
    finally:
        other.execute("ROLLBACK")
        other.close()
