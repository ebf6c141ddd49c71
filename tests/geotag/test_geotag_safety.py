"""What a careless or hostile user could do to a geotag run or its undo, and what must still hold."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from geotag_helpers import CHRIST, EIFFEL, OPERA, FakePredictor, exiftool_json, exiftool_run, make_photo, sha256

from landmarks.geotag.batch import GeotagOptions, geotag
from landmarks.geotag.lock import FolderBusyError, folder_locks
from landmarks.geotag.report import COLUMNS
from landmarks.geotag.undo import undo

HOTEL = {"LocationName": "My Hotel", "GPSLatitude": 45.4371, "GPSLongitude": 12.3326}


def _set_struct(photo: Path, tag: str, entry: dict) -> None:
    value = "{" + ",".join(f"{k}={v}" for k, v in entry.items()) + "}"
    exiftool_run("-overwrite_original", "-n", f"-XMP-iptcExt:{tag}={value}", str(photo))


def _rows(report: Path) -> list[dict[str, str]]:
    with open(report, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _write_rows(report: Path, rows: list[dict[str, str]]) -> None:
    with open(report, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


# ------------------------------------------------------------------------------------ a location of their own


def test_a_location_anywhere_standard_counts_as_gps(tmp_path: Path) -> None:
    shown = make_photo(tmp_path / "shown.jpg", seed=1)
    _set_struct(shown, "LocationShown", HOTEL)
    created = make_photo(tmp_path / "created.jpg", seed=2)
    _set_struct(created, "LocationCreated", {**HOTEL, "GPSLatitude": -12.5, "GPSLongitude": -77.25})
    xmp_gps = make_photo(tmp_path / "xmp.jpg", seed=3)
    exiftool_run(
        "-overwrite_original", "-n", "-XMP-exif:GPSLatitude=10.5", "-XMP-exif:GPSLongitude=20.25", str(xmp_gps)
    )
    named_only = make_photo(tmp_path / "named.jpg", seed=4)  # a place name but no coordinates: not a location
    _set_struct(named_only, "LocationShown", {"LocationName": "Somewhere"})
    photos = [shown, created, xmp_gps, named_only]
    digests = {p: sha256(p) for p in photos}

    summary = geotag(photos, FakePredictor({p.name: (EIFFEL, 0.9) for p in photos}), tmp_path / "r.csv")

    by_name = {r.file.name: r for r in summary.results}
    assert {n: str(r.action) for n, r in by_name.items()} == {
        "shown.jpg": "skipped: has GPS",
        "created.jpg": "skipped: has GPS",
        "xmp.jpg": "skipped: has GPS",
        "named.jpg": "written",
    }
    assert (by_name["shown.jpg"].latitude, by_name["shown.jpg"].longitude) == (45.4371, 12.3326)
    assert (by_name["created.jpg"].latitude, by_name["created.jpg"].longitude) == (-12.5, -77.25)
    assert all(sha256(p) == digests[p] for p in (shown, created, xmp_gps))


def test_overwriting_keeps_their_location_shown_entries(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "photo.jpg")
    _set_struct(photo, "LocationShown", HOTEL)
    digest = sha256(photo)
    report = tmp_path / "r.csv"
    geotag([photo], FakePredictor({"photo.jpg": (EIFFEL, 0.9)}), report, options=GeotagOptions(overwrite_gps=True))

    shown = exiftool_json(photo)["XMP-iptcExt:LocationShown"]
    assert [entry["LocationName"] for entry in shown] == ["My Hotel", "Eiffel Tower"]
    assert (shown[0]["GPSLatitude"], shown[0]["GPSLongitude"]) == (45.4371, 12.3326)
    assert undo(report).ok
    assert sha256(photo) == digest


# ---------------------------------------------------------------------------------- a report edited by hand


@pytest.mark.parametrize(
    "previous",
    [
        {"EXIF:Artist": "INJECTED", "IFD0:Orientation": 8},
        {"GPS:GPSLatitude": 1, "IFD0:Orientation": 8},
        {"XMP-dc:Title": "INJECTED"},
    ],
)
def test_undo_refuses_lines_that_name_other_tags(tmp_path: Path, previous: dict) -> None:
    photo = make_photo(tmp_path / "photo.jpg")
    report = tmp_path / "r.csv"
    geotag([photo], FakePredictor({"photo.jpg": (EIFFEL, 0.9)}), report)
    rows = _rows(report)
    rows[0]["previous"] = json.dumps(previous)
    _write_rows(report, rows)
    digest = sha256(photo)

    summary = undo(report)

    assert summary.counts == {"refused: not a geotag write": 1}
    assert "geotag never changes" in summary.results[0].detail
    assert not summary.ok
    assert sha256(photo) == digest
    tags = exiftool_json(photo)
    assert "IFD0:Orientation" not in tags and "IFD0:Artist" not in tags


def test_undo_refuses_a_target_that_is_not_the_photo(tmp_path: Path) -> None:
    photo, bystander = make_photo(tmp_path / "photo.jpg", seed=1), make_photo(tmp_path / "other.jpg", seed=2)
    report = tmp_path / "r.csv"
    geotag([photo, bystander], FakePredictor({"photo.jpg": (EIFFEL, 0.9), "other.jpg": (EIFFEL, 0.9)}), report)
    rows = _rows(report)
    rows[0]["target"] = str(bystander)
    _write_rows(report, rows)
    summary = undo(report)
    assert sorted(summary.counts.items()) == [("refused: not a geotag write", 1), ("restored", 1)]
    assert not summary.ok


def _nine_written(tmp_path: Path) -> tuple[list[Path], dict[Path, str], Path]:
    """Nine photos that had a location of their own, overwritten: every line records `previous`."""
    photos = [make_photo(tmp_path / f"p{i}.jpg", seed=i) for i in range(9)]
    for i, photo in enumerate(photos):
        exiftool_run("-overwrite_original", "-n", f"-GPSLatitude={10 + i}", "-GPSLatitudeRef=N",
                     "-GPSLongitude=20", "-GPSLongitudeRef=E", str(photo))  # fmt: skip
    digests = {p: sha256(p) for p in photos}
    report = tmp_path / "r.csv"
    answers = {p.name: ((OPERA, CHRIST)[i % 2], 0.9) for i, p in enumerate(photos)}
    geotag(photos, FakePredictor(answers), report, options=GeotagOptions(overwrite_gps=True))
    assert all(sha256(p) != digests[p] for p in photos)
    return photos, digests, report


@pytest.mark.parametrize("where", ['"GPS:GPSLatitude', "p4.jpg", "Sydney"])
def test_a_report_cut_short_restores_every_line_before_the_cut(tmp_path: Path, where: str) -> None:
    """Cut inside the JSON of `previous`, inside the file name, or in a plain field."""
    photos, digests, report = _nine_written(tmp_path)
    text = report.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    cut_at = text.index(lines[5]) + lines[5].index(where) + len(where) // 2  # inside the line of p4.jpg
    report.write_text(text[:cut_at], encoding="utf-8")

    summary = undo(report)

    assert [sha256(p) == digests[p] for p in photos] == [True] * 4 + [False] * 5
    assert summary.counts == {"restored": 4, "failed: bad report line": 1}
    bad = [r for r in summary.results if str(r.action) == "failed: bad report line"]
    assert "line 6" in bad[0].detail
    assert not summary.ok


def test_a_line_damaged_mid_report_costs_that_line_only(tmp_path: Path) -> None:
    """An unbalanced quote would swallow the following lines: they are read on their own."""
    photos, digests, report = _nine_written(tmp_path)
    lines = report.read_text(encoding="utf-8").splitlines(keepends=True)
    damaged = lines[5][: lines[5].index('"GPS:GPSLatitude') + 6] + "\n"
    report.write_text("".join(lines[:5]) + damaged + "".join(lines[6:]), encoding="utf-8")

    summary = undo(report)

    assert [sha256(p) == digests[p] for p in photos] == [True] * 4 + [False] + [True] * 4
    assert summary.counts == {"restored": 8, "failed: bad report line": 1}
    assert not summary.ok


def test_a_report_saved_by_a_spreadsheet_is_accepted(tmp_path: Path) -> None:
    photos, digests, report = _nine_written(tmp_path)
    text = report.read_text(encoding="utf-8").replace("\r\n", "\n").replace("\n", "\r\n")
    report.write_bytes("\ufeff".encode() + text.replace(",false,", ",FALSE,").encode())
    summary = undo(report)
    assert summary.counts == {"restored": 9}
    assert summary.ok
    assert all(sha256(p) == digests[p] for p in photos)


# ----------------------------------------------------------------------------------- what the messages say


def test_undo_twice_says_already_undone_and_unwritten_lines_say_not_written(tmp_path: Path) -> None:
    photos = [make_photo(tmp_path / f"p{i}.jpg", seed=i) for i in range(3)]
    report = tmp_path / "r.csv"
    geotag(photos, FakePredictor({p.name: (EIFFEL, 0.9) for p in photos}), report)
    assert undo(report).counts == {"restored": 3}

    second = undo(report)
    assert second.counts == {"skipped: already undone": 3}
    assert second.ok

    rows = _rows(report)  # as a killed run leaves it: logged as `writing`, the photo never replaced
    for row in rows:
        row["action"] = "writing"
    _write_rows(report, rows)
    killed = undo(report)
    assert killed.counts == {"skipped: not written": 3}
    assert killed.ok


# -------------------------------------------------------------------------- temporaries and concurrent runs


OURS = [".p0.jpg.landmarks-0123abcd.tmp", ".p0.jpg.xmp.landmarks-89abcdef.xmp"]
NOT_OURS = [
    ".p0.jpg.landmarks-notours.tmp",  # not our token
    ".p0.jpg.landmarks-0123abcd.tmp.keep",
    ".notes.tmp",
    "p0.jpg.landmarks-0123abcd.tmp",  # not hidden
    ".p0.jpg.landmarks-0123ABCD.tmp",  # our tokens are lower-case hex
]


def _litter(folder: Path) -> None:
    for name in OURS + NOT_OURS:
        (folder / name).write_bytes(b"leftover")


def test_the_next_run_and_undo_remove_our_temporaries_only(tmp_path: Path) -> None:
    photos = [make_photo(tmp_path / f"p{i}.jpg", seed=i) for i in range(2)]
    _litter(tmp_path)
    report = tmp_path / "r.csv"
    summary = geotag(photos, FakePredictor({p.name: (EIFFEL, 0.9) for p in photos}), report)
    assert sorted(p.name for p in summary.temporaries_removed) == sorted(OURS)
    assert sorted(
        p.name for p in tmp_path.iterdir() if p.name.startswith((".", "p0.jpg.")) or "landmarks-" in p.name
    ) == sorted(NOT_OURS)

    _litter(tmp_path)
    result = undo(report)
    assert sorted(p.name for p in result.temporaries_removed) == sorted(OURS)
    assert all((tmp_path / name).exists() for name in NOT_OURS)


def test_a_second_run_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "photos" / "p.jpg")
    digest = sha256(photo)
    report = tmp_path / "r.csv"
    with folder_locks([photo.parent]):  # as a run in progress holds it
        with pytest.raises(FolderBusyError, match="another geotag run"):
            geotag([photo], FakePredictor({"p.jpg": (EIFFEL, 0.9)}), report)
        assert sha256(photo) == digest and not report.exists()
    geotag([photo], FakePredictor({"p.jpg": (EIFFEL, 0.9)}), report)
    with folder_locks([photo.parent]), pytest.raises(FolderBusyError):
        undo(report)
    assert undo(report).counts == {"restored": 1}
