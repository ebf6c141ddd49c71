"""`apply_proposals`: only accepted proposals are written, only into the file they were made for.

Results are read back with the exiftool binary (geotag_helpers), never through the code under test.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from geotag_helpers import EIFFEL, OPERA, VOLATILE, exiftool_json, exiftool_run, location_of, make_photo, sha256

from landmarks.errors import LibraryError
from landmarks.geotag.apply import ESTIMATE_METHOD, ApplyAction, apply_proposals
from landmarks.geotag.library_undo import undo_library
from landmarks.geotag.metadata import WriteMode
from landmarks.geotag.undo import undo
from landmarks.library.db import LibraryDB, open_library
from landmarks.library.records import add_proposal, proposals, set_proposal_status, writes
from landmarks.library.scan import scan_library


def _propose(db: LibraryDB, name: str, landmark: tuple = EIFFEL, **kwargs: object) -> int:
    photo = db.photo_by_path(name)
    assert photo is not None
    _, lat, lon, radius, city, country = landmark
    return add_proposal(
        db, photo.id, kind=str(kwargs.pop("kind", "landmark")), latitude=lat, longitude=lon, radius_km=radius,
        landmark=landmark[0], city=city, country=country, confidence=0.9, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture
def library(tmp_path: Path) -> LibraryDB:
    root = tmp_path / "lib"
    for i, name in enumerate(("a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg")):
        make_photo(root / name, seed=i)
    db = open_library(root, tmp_path / "index.sqlite")
    scan_library(root, db, progress=False)
    yield db
    db.close()


def test_only_accepted_proposals_are_written_and_undo_restores_them(library: LibraryDB, tmp_path: Path) -> None:
    root = library.root
    before = {p.name: sha256(p) for p in root.iterdir()}
    a, b = _propose(library, "a.jpg"), _propose(library, "b.jpg", OPERA)
    set_proposal_status(library, [a], "accepted")

    result = apply_proposals(library, report=tmp_path / "report.csv")
    assert [(i.path, i.action) for i in result.items] == [("a.jpg", ApplyAction.WRITTEN)]
    assert location_of(root / "a.jpg") == (pytest.approx(EIFFEL[1], abs=1e-5), pytest.approx(EIFFEL[2], abs=1e-5))
    assert sha256(root / "b.jpg") == before["b.jpg"]  # proposed, not accepted: untouched
    assert {p.id: p.status for p in proposals(library)} == {a: "applied", b: "proposed"}
    (write,) = writes(library)
    assert (write.status, write.proposal_id, write.target) == ("written", a, "a.jpg")
    assert library.photo_by_path("a.jpg").digest == sha256(root / "a.jpg")  # type: ignore[union-attr]

    # ids, not yet accepted: accepted on the way when accepted_only=False, refused otherwise
    refused = apply_proposals(library, proposal_ids=[b])
    assert refused.items[0].action is ApplyAction.NOT_ACCEPTED and sha256(root / "b.jpg") == before["b.jpg"]
    assert apply_proposals(library, proposal_ids=[b], accepted_only=False).written == 1

    summary = undo_library(library)
    assert summary.ok and summary.counts == {"restored": 2}
    assert {p.name: sha256(p) for p in root.iterdir()} == before
    assert {p.status for p in proposals(library)} == {"undone"}
    assert undo(tmp_path / "report.csv").ok  # the CSV journal agrees: nothing left to restore


def test_photos_deleted_renamed_or_replaced_since_the_plan_are_skipped(library: LibraryDB) -> None:
    root = library.root
    ids = [_propose(library, name) for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg")]
    set_proposal_status(library, ids, "accepted")
    (root / "a.jpg").unlink()
    (root / "b.jpg").rename(root / "b2.jpg")
    shutil.copy2(root / "e.jpg", root / "c.jpg")  # replaced by another photo
    replaced = sha256(root / "c.jpg")

    result = apply_proposals(library)
    got = {i.path: i.action for i in result.items}
    assert got == {
        "a.jpg": ApplyAction.MISSING,
        "b.jpg": ApplyAction.MISSING,
        "c.jpg": ApplyAction.CHANGED,
        "d.jpg": ApplyAction.WRITTEN,
    }
    assert all(i.detail for i in result.items if i.action is not ApplyAction.WRITTEN)
    assert location_of(root / "b2.jpg") is None and sha256(root / "c.jpg") == replaced
    assert [w.target for w in writes(library)] == ["d.jpg"]


def test_a_photo_that_got_a_location_meanwhile_is_left_alone(library: LibraryDB) -> None:
    from geotag_helpers import exiftool_run

    pid = _propose(library, "a.jpg")
    set_proposal_status(library, [pid], "accepted")
    sidecar = library.root / "a.jpg.xmp"  # another tool put the place in a sidecar: the photo is the same
    exiftool_run(
        "-XMP-exif:GPSLatitude=1.5", "-XMP-exif:GPSLongitude=2.5", "-o", str(sidecar), str(library.root / "a.jpg")
    )
    digest = sha256(sidecar)
    (item,) = apply_proposals(library, write=WriteMode.XMP).items
    assert item.action is ApplyAction.HAS_GPS and sha256(sidecar) == digest
    assert apply_proposals(library, write=WriteMode.XMP, overwrite_gps=True).written == 1
    assert location_of(sidecar) == (pytest.approx(EIFFEL[1], abs=1e-5), pytest.approx(EIFFEL[2], abs=1e-5))


def test_estimates_carry_their_radius_and_marker_and_undo_alone(library: LibraryDB) -> None:
    root = library.root
    anchor = library.photo_by_path("a.jpg")
    assert anchor is not None
    landmark = _propose(library, "a.jpg")
    photo = library.photo_by_path("b.jpg")
    assert photo is not None
    estimate = add_proposal(
        library, photo.id, kind="estimate", latitude=48.86, longitude=2.35, radius_km=2.5,
        anchor_photo_id=anchor.id, detail={"minutes": 12},
    )  # fmt: skip
    set_proposal_status(library, [landmark, estimate], "accepted")
    assert apply_proposals(library).written == 2

    tags = exiftool_json(root / "b.jpg")
    assert tags["GPS:GPSHPositioningError"] == 2500
    assert tags["GPS:GPSProcessingMethod"] == ESTIMATE_METHOD
    assert "XMP-iptcExt:LocationShown" not in tags  # an estimate shows no landmark
    assert "GPS:GPSProcessingMethod" not in exiftool_json(root / "a.jpg")

    summary = undo_library(library, kind="estimate")
    assert summary.counts == {"restored": 1}
    assert location_of(root / "b.jpg") is None and location_of(root / "a.jpg") is not None
    assert {p.id: p.status for p in proposals(library)} == {landmark: "applied", estimate: "undone"}
    with pytest.raises(LibraryError, match="kind must be one of"):
        undo_library(library, kind="guess")


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tif", ".heic"])
def test_an_estimate_is_marked_in_the_photos_xmp_too_and_undo_takes_out_only_that(tmp_path: Path, suffix: str) -> None:
    root = tmp_path / "lib"
    anchor, photo = make_photo(root / f"a{suffix}", seed=1), make_photo(root / f"b{suffix}", seed=2)
    exiftool_run("-overwrite_original", "-EXIF:Artist=A. Photographer", "-XMP-dc:Title=Our trip",
                 "-XMP-xmp:Rating=4", str(photo))  # fmt: skip
    before = {k: v for k, v in exiftool_json(photo).items() if not k.startswith(VOLATILE)}
    with open_library(root, tmp_path / "index.sqlite") as db:
        scan_library(root, db, progress=False)
        a, b = db.photo_by_path(anchor.name), db.photo_by_path(photo.name)
        assert a is not None and b is not None
        estimate = add_proposal(db, b.id, kind="estimate", latitude=48.86, longitude=2.35, radius_km=1.5,
                                anchor_photo_id=a.id)  # fmt: skip
        set_proposal_status(db, [estimate], "accepted")
        assert apply_proposals(db).written == 1

        tags = exiftool_json(photo)  # read back by exiftool
        assert tags["GPS:GPSProcessingMethod"] == tags["XMP-exif:GPSProcessingMethod"] == ESTIMATE_METHOD
        assert tags["GPS:GPSHPositioningError"] == tags["XMP-exif:GPSHPositioningError"] == 1500
        assert (tags["XMP-dc:Title"], tags["XMP-xmp:Rating"], tags["IFD0:Artist"]) == ("Our trip", 4, "A. Photographer")
        assert "XMP-exif:GPSLatitude" not in tags  # the place itself stays in EXIF alone, as for landmarks
        assert db.photo(b.id).gps_source == "estimate"  # type: ignore[union-attr]

        assert undo_library(db, kind="estimate").counts == {"restored": 1}
        assert {k: v for k, v in exiftool_json(photo).items() if not k.startswith(VOLATILE)} == before
        assert db.photo(b.id).gps is None  # type: ignore[union-attr]


def test_sidecar_writes_leave_the_photo_alone_and_undo_removes_the_sidecar(library: LibraryDB) -> None:
    root = library.root
    digest = sha256(root / "a.jpg")
    pid = _propose(library, "a.jpg")
    set_proposal_status(library, [pid], "accepted")
    assert apply_proposals(library, write=WriteMode.XMP).written == 1
    sidecar = root / "a.jpg.xmp"
    assert sha256(root / "a.jpg") == digest and location_of(sidecar) is not None
    assert undo_library(library).counts == {"removed sidecar": 1}
    assert not sidecar.exists()


def test_apply_needs_a_writable_index(library: LibraryDB) -> None:
    with open_library(library.root, library.path, readonly=True) as reader, pytest.raises(LibraryError):
        apply_proposals(reader)


def test_tags_through_the_index_are_undone_exactly(library: LibraryDB) -> None:
    from geotag_helpers import exiftool_run

    photo = library.root / "a.jpg"
    exiftool_run("-overwrite_original", "-XMP-dc:Subject=holiday", "-IPTC:Keywords=travel", str(photo))
    scan_library(library.root, library, progress=False)
    pid = _propose(library, "a.jpg")
    set_proposal_status(library, [pid], "accepted")
    assert apply_proposals(library, tags=True).written == 1
    tags = exiftool_json(photo)
    assert tags["XMP-dc:Subject"] == ["holiday", "Eiffel Tower", "Paris", "France"]
    assert tags["IPTC:Keywords"] == ["travel", "Eiffel Tower", "Paris", "France"]
    assert tags["XMP-iptcCore:CountryCode"] == "FR"
    assert undo_library(library).ok
    tags = exiftool_json(photo)
    assert (tags["XMP-dc:Subject"], tags["IPTC:Keywords"]) == (["holiday"], "travel")
    assert "XMP-photoshop:City" not in tags and "XMP-lr:HierarchicalSubject" not in tags


def test_a_photo_changed_while_its_digest_is_checked_is_not_written(
    library: LibraryDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    from landmarks.geotag import apply as apply_module

    pid = _propose(library, "a.jpg")
    set_proposal_status(library, [pid], "accepted")
    real = apply_module.file_digest

    def digest_then_edit(path: Path) -> str:
        digest = real(path)
        with open(path, "ab") as fh:  # another program appends right after the bytes were hashed
            fh.write(b"\0")
        return digest

    monkeypatch.setattr(apply_module, "file_digest", digest_then_edit)
    (item,) = apply_proposals(library).items
    assert item.action is ApplyAction.CHANGED
    assert location_of(library.root / "a.jpg") is None and writes(library) == []
