"""`scan_library`: what it reads from each photo, and that a rescan reads only what changed."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
from library_helpers import CANON, exiftool_run, tagged_photo

from landmarks.library import scan as scan_module
from landmarks.library.db import LibraryDB, open_library
from landmarks.library.metadata import MetadataReader
from landmarks.library.records import needs_prediction, proposals, record_prediction
from landmarks.library.scan import scan_library


@pytest.fixture
def db(library: Path, tmp_path: Path) -> LibraryDB:
    with open_library(library, tmp_path / "index.sqlite") as handle:
        yield handle


class Counter:
    """Counts every photo hashed and every file handed to exiftool during a scan."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.hashed: list[str] = []
        self.read: list[str] = []
        real_digest, real_read = scan_module.file_digest, MetadataReader.read

        def digest(path: Path) -> str:
            self.hashed.append(Path(path).name)
            return real_digest(path)

        def read(reader: MetadataReader, paths: list[Path]) -> list:
            self.read.extend(Path(p).name for p in paths)
            return real_read(reader, paths)

        monkeypatch.setattr(scan_module, "file_digest", digest)
        monkeypatch.setattr(MetadataReader, "read", read)


def test_scan_reads_time_camera_and_gps_from_every_place(db: LibraryDB) -> None:
    summary = scan_library(db.root, db, progress=False)

    assert (summary.new, summary.unreadable, summary.changed, summary.missing) == (6, 1, 0, 0)
    assert summary.symlinks == 3  # a file and two folders, none followed
    photos = {p.path: p for p in db.photos(status=None)}
    assert set(photos) == {
        "paris.jpg", "lunch.jpg", "broken.jpg",
        "trip/nyc.png", "trip/shown.jpg", "trip/created.jpg", "trip/plain.jpg",
    }  # fmt: skip

    paris = photos["paris.jpg"]
    assert (paris.make, paris.model, paris.serial) == ("Canon", "EOS 5D", "0123456")
    assert (paris.datetime_original, paris.offset_time_original) == ("2023:07:14 10:20:30", "+02:00")
    assert paris.taken_utc == "2023-07-14T08:20:30+00:00"
    assert paris.gps == pytest.approx((48.8584, 2.2945)) and paris.gps_source == "exif"
    assert paris.gps_error_m == 15 and (paris.width, paris.height) == (160, 120)
    assert paris.digest == scan_module.file_digest(db.root / "paris.jpg")

    lunch = photos["lunch.jpg"]  # no offset: a camera-clock time only, compared within one camera
    assert lunch.offset_time_original is None and lunch.taken_utc is None and lunch.taken_utc_s is None
    assert lunch.taken_local_s - paris.taken_local_s == 14 * 60 + 30
    assert lunch.camera == paris.camera and lunch.gps is None

    nyc = photos["trip/nyc.png"]
    assert nyc.gps == pytest.approx((40.6892, -74.0445)) and nyc.gps_source == "xmp"
    assert nyc.offset_time_original == "-04:00" and nyc.taken_utc == "2022-05-01T13:00:00+00:00"
    assert photos["trip/shown.jpg"].gps_source == "location_shown"
    assert photos["trip/shown.jpg"].gps == pytest.approx((-33.8568, 151.2153))
    assert photos["trip/created.jpg"].gps_source == "location_created"
    plain = photos["trip/plain.jpg"]
    assert plain.sidecar == "trip/plain.jpg.xmp" and plain.gps_in_sidecar == 1
    assert plain.gps == pytest.approx((41 + 53.4 / 60, 12 + 29.5 / 60)) and plain.gps_source == "xmp"

    broken = photos["broken.jpg"]
    assert broken.status == "unreadable" and "not an image" in broken.error
    assert [p for p, _ in summary.problems] == ["broken.jpg"]


def test_rescan_of_unchanged_photos_opens_none(db: LibraryDB, monkeypatch: pytest.MonkeyPatch) -> None:
    scan_library(db.root, db, progress=False)
    before = {p.path: p for p in db.photos(status=None)}
    counter = Counter(monkeypatch)

    summary = scan_library(db.root, db, progress=False)

    assert (counter.hashed, counter.read, summary.exiftool_calls) == ([], [], 0)
    assert (summary.unchanged, summary.new, summary.changed, summary.missing) == (7, 0, 0, 0)
    assert {p.path: p for p in db.photos(status=None)} == before


def test_a_touched_photo_is_hashed_but_its_metadata_not_reread(db: LibraryDB, monkeypatch: pytest.MonkeyPatch) -> None:
    scan_library(db.root, db, progress=False)
    st = os.stat(db.root / "lunch.jpg")
    os.utime(db.root / "lunch.jpg", ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    counter = Counter(monkeypatch)

    summary = scan_library(db.root, db, progress=False)

    assert (counter.hashed, counter.read) == (["lunch.jpg"], [])
    assert (summary.unchanged, summary.changed) == (7, 0)
    assert db.photo_by_path("lunch.jpg").mtime_ns == st.st_mtime_ns + 5_000_000_000


def test_a_changed_photo_is_reread_and_needs_a_new_prediction(db: LibraryDB, monkeypatch: pytest.MonkeyPatch) -> None:
    scan_library(db.root, db, progress=False)
    old = db.photo_by_path("lunch.jpg")
    record_prediction(db, old.id, model_id="m1", decision="unknown", score=0.1, threshold=0.5)
    assert old.id not in {p.id for p in needs_prediction(db, "m1")}
    exiftool_run("-overwrite_original", "-GPS:GPSLatitude=10", "-GPS:GPSLatitudeRef=S", "-GPS:GPSLongitude=20",
                 "-GPS:GPSLongitudeRef=W", str(db.root / "lunch.jpg"))  # fmt: skip
    counter = Counter(monkeypatch)

    summary = scan_library(db.root, db, progress=False)

    assert (summary.changed, summary.unchanged) == (1, 6)
    assert counter.hashed == counter.read == ["lunch.jpg"]
    new = db.photo_by_path("lunch.jpg")
    assert new.id == old.id and new.digest != old.digest and new.first_seen == old.first_seen
    assert new.gps == pytest.approx((-10.0, -20.0)) and new.gps_source == "exif"
    assert old.id in {p.id for p in needs_prediction(db, "m1")}


def test_a_renamed_photo_keeps_its_row_and_history(db: LibraryDB) -> None:
    from landmarks.library.records import add_proposal

    scan_library(db.root, db, progress=False)
    paris = db.photo_by_path("paris.jpg")
    record_prediction(db, paris.id, model_id="m1", decision="known", landmark="Eiffel Tower", score=0.9)
    add_proposal(db, paris.id, kind="landmark", latitude=48.85, longitude=2.29, landmark="Eiffel Tower")
    (db.root / "2023").mkdir()
    (db.root / "paris.jpg").rename(db.root / "2023" / "eiffel.jpg")

    summary = scan_library(db.root, db, progress=False)

    assert (summary.renamed, summary.new, summary.missing) == (1, 0, 0)
    moved = db.photo_by_path("2023/eiffel.jpg")
    assert moved.id == paris.id and moved.status == "present" and moved.first_seen == paris.first_seen
    assert db.photo_by_path("paris.jpg") is None
    assert paris.id not in {p.id for p in needs_prediction(db, "m1")}
    assert [p.photo_id for p in proposals(db)] == [paris.id]


def test_a_deleted_photo_is_marked_missing_and_comes_back(db: LibraryDB) -> None:
    scan_library(db.root, db, progress=False)
    lunch = db.photo_by_path("lunch.jpg")
    kept = db.root.parent / "kept.jpg"
    shutil.move(db.root / "lunch.jpg", kept)

    summary = scan_library(db.root, db, progress=False)

    assert (summary.missing, summary.unchanged) == (1, 6)
    gone = db.photo_by_path("lunch.jpg")
    assert gone.status == "missing" and gone.missing_since is not None and gone.id == lunch.id
    assert "lunch.jpg" not in {p.path for p in db.photos()}
    assert lunch.id not in {p.id for p in needs_prediction(db, "m1")}
    assert scan_library(db.root, db, progress=False).missing == 0  # already marked: not counted again

    shutil.move(kept, db.root / "lunch.jpg")
    scan_library(db.root, db, progress=False)
    back = db.photo_by_path("lunch.jpg")
    assert back.status == "present" and back.missing_since is None and back.id == lunch.id


def test_a_sidecar_change_rereads_metadata_without_hashing(db: LibraryDB, monkeypatch: pytest.MonkeyPatch) -> None:
    scan_library(db.root, db, progress=False)
    (db.root / "trip" / "plain.jpg.xmp").unlink()
    counter = Counter(monkeypatch)

    summary = scan_library(db.root, db, progress=False)

    assert summary.changed == 1 and counter.hashed == [] and counter.read == ["plain.jpg"]
    plain = db.photo_by_path("trip/plain.jpg")
    assert plain.sidecar is None and plain.gps is None and plain.gps_in_sidecar == 0


def test_no_recursive_scans_the_top_folder_only(db: LibraryDB) -> None:
    summary = scan_library(db.root, db, recursive=False, progress=False)
    assert {p.path for p in db.photos(status=None)} == {"paris.jpg", "lunch.jpg", "broken.jpg"}
    assert summary.new == 2
    scan_library(db.root, db, progress=False)
    (db.root / "lunch.jpg").unlink()
    summary = scan_library(db.root, db, recursive=False, progress=False)
    assert summary.missing == 1  # sub-folders were not looked at: their photos are not missing
    assert {p.path for p in db.photos(status="missing")} == {"lunch.jpg"}


def test_a_photo_changing_during_the_scan_is_left_for_the_next(db: LibraryDB, monkeypatch: pytest.MonkeyPatch) -> None:
    real = scan_module.file_digest

    def digest_then_edit(path: Path) -> str:
        value = real(path)
        if Path(path).name == "lunch.jpg":
            with open(path, "ab") as handle:
                handle.write(b"more")
        return value

    monkeypatch.setattr(scan_module, "file_digest", digest_then_edit)
    summary = scan_library(db.root, db, progress=False)

    assert summary.skipped == 1 and dict(summary.problems)["lunch.jpg"].startswith("the file changed")
    assert db.photo_by_path("lunch.jpg") is None
    monkeypatch.setattr(scan_module, "file_digest", real)
    assert scan_library(db.root, db, progress=False).new == 1
    assert db.photo_by_path("lunch.jpg").digest == real(db.root / "lunch.jpg")


def test_a_read_only_library_is_scanned_without_writing_into_it(tmp_path: Path) -> None:
    root = tmp_path / "ro"
    tagged_photo(root / "a.jpg", *CANON, seed=1)
    tagged_photo(root / "sub" / "b.jpg", seed=2)
    before = sorted((p, p.stat().st_mtime_ns) for p in root.rglob("*"))
    modes = {p: p.stat().st_mode for p in [root, *root.rglob("*")]}
    try:
        for p in modes:
            p.chmod(stat.S_IMODE(modes[p]) & ~0o222)
        with open_library(root, tmp_path / "index.sqlite") as db:
            summary = scan_library(root, db, progress=False)
            assert summary.new == 2 and db.photo_by_path("a.jpg").make == "Canon"
    finally:
        for p, mode in modes.items():
            p.chmod(mode)
    assert sorted((p, p.stat().st_mtime_ns) for p in root.rglob("*")) == before


def test_an_interrupted_scan_keeps_its_committed_batches(db: LibraryDB, monkeypatch: pytest.MonkeyPatch) -> None:
    real_read = MetadataReader.read
    calls = []

    def read_then_interrupt(reader: MetadataReader, paths: list[Path]) -> list:
        calls.append(len(paths))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_read(reader, paths)

    monkeypatch.setattr(MetadataReader, "read", read_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        scan_library(db.root, db, progress=False, batch_size=3)
    done = {p.path for p in db.photos(status=None)}
    assert len(done) == 3

    monkeypatch.setattr(MetadataReader, "read", real_read)
    counter = Counter(monkeypatch)
    summary = scan_library(db.root, db, progress=False)
    assert summary.new + summary.unreadable == 4 and summary.unchanged == 3
    assert not set(counter.hashed) & {Path(p).name for p in done}


def test_scanning_another_folder_into_an_index_is_refused(db: LibraryDB, tmp_path: Path) -> None:
    from landmarks.errors import LibraryError

    with pytest.raises(LibraryError, match="is for"):
        scan_library(tmp_path, db, progress=False)
