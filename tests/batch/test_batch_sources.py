"""What `landmarks batch` reads: folders, globs, file lists and filesystem URIs."""

from __future__ import annotations

from pathlib import Path

import pytest

from landmarks.batch.sources import is_uri, list_sources, read_bytes


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    (root / "trip" / "day2").mkdir(parents=True)
    (root / ".hidden").mkdir()
    for rel in ("a.jpg", "b.png", "trip/c.jpeg", "trip/day2/d.jpg", ".hidden/e.jpg", "notes.txt", ".f.jpg"):
        (root / rel).write_bytes(rel.encode())
    return root


def names(found: list) -> list[str]:
    return [Path(p.path).name for p in found]


def test_a_folder_gives_its_photos_recursively_in_a_stable_order(photos: Path) -> None:
    found, problems = list_sources([str(photos)])
    assert names(found) == ["a.jpg", "b.png", "c.jpeg", "d.jpg"] and problems == []
    assert all(Path(p.path).is_absolute() and p.size > 0 and p.mtime_ns > 0 for p in found)
    flat, _ = list_sources([str(photos)], recursive=False)
    assert names(flat) == ["a.jpg", "b.png"]


def test_globs_file_lists_and_duplicates(photos: Path, tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(f"# my photos\n{photos / 'a.jpg'}\n\nphotos/trip/c.jpeg\nphotos/missing.jpg\n")
    found, problems = list_sources([str(photos / "**" / "*.jpg"), f"@{listing}", str(photos / "a.jpg")])
    assert names(found) == ["a.jpg", "d.jpg", "c.jpeg", "missing.jpg"]
    missing = found[-1]
    assert (missing.size, missing.mtime_ns) == (-1, -1)  # still listed: it gets an error row
    assert problems == []


def test_what_names_no_photo_is_a_problem_not_a_crash(photos: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    found, problems = list_sources([str(tmp_path / "nope"), str(tmp_path / "empty"), str(tmp_path / "*.gif"),
                                    f"@{tmp_path / 'nolist.txt'}"])  # fmt: skip
    assert found == [] and len(problems) == 4
    assert "no such file or folder" in problems[0] and "no photos" in problems[1]


def test_uris_are_told_from_paths() -> None:
    assert is_uri("s3://bucket/a.jpg") and is_uri("memory://x/y.jpg") and is_uri("file:///tmp/a.jpg")
    assert not is_uri("/tmp/a.jpg") and not is_uri("x://")
    assert not is_uri("C:\\photos") and not is_uri("relative/a.jpg")


def test_file_uris_read_the_local_disk(photos: Path) -> None:
    found, _ = list_sources([f"file://{photos / 'trip'}"])
    assert names(found) == ["c.jpeg", "d.jpg"]
    assert read_bytes(found[0].path) == b"trip/c.jpeg"


def test_an_fsspec_filesystem_is_listed_and_read() -> None:
    fsspec = pytest.importorskip("fsspec")
    memory = fsspec.filesystem("memory")
    memory.pipe("/batchtest/x/1.jpg", b"one")
    memory.pipe("/batchtest/x/sub/2.jpg", b"two")
    memory.pipe("/batchtest/x/readme.md", b"no")
    try:
        found, problems = list_sources(["memory://batchtest/x"])
        assert problems == [] and names(found) == ["1.jpg", "2.jpg"]
        assert [p.size for p in found] == [3, 3]
        assert read_bytes(found[1].path) == b"two"
    finally:
        memory.rm("/batchtest", recursive=True)
