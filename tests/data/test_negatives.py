"""Negatives: fetching the ImageNet sample gallery (from a local HTTP server), finding, checking, splitting."""

from __future__ import annotations

import io
import logging
import os
import random
import sys
from pathlib import Path

import numpy as np
import pytest
import test_data_download as download_tests
from data_factories import write_bad_file
from PIL import Image
from test_data_download import _free_port, _zip_of_folder
from typer.testing import CliRunner

from landmarks.data import negatives
from landmarks.data.decode import file_digest
from landmarks.data.negatives import (
    MIN_ARCHIVE_PHOTOS,
    NegativePhoto,
    collect_negatives,
    ensure_negatives,
    photo_group,
    resolve_negative_dirs,
    scan_negatives,
    split_negatives,
)
from landmarks.errors import DatasetError, DownloadError

serve = download_tests.serve  # the local HTTP server fixture of the dataset download tests
GALLERY_PATH = "/EliSchwartz/imagenet-sample-images/archive/refs/heads/master.zip"
PREFIX = "imagenet-sample-images-master"


def _tiny_jpeg(index: int) -> bytes:
    rng = np.random.default_rng(index)
    pixels = (rng.integers(0, 256, 3) + rng.integers(-20, 20, (32, 40, 3))).clip(0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def _write_gallery(folder: Path, count: int, *, unreadable: int = 0) -> Path:
    """A folder shaped like the gallery: `nXXXXXXXX_name.JPEG` photos plus its two markdown files."""
    folder.mkdir(parents=True)
    for index in range(count):
        (folder / f"n{index:08d}_class_{index}.JPEG").write_bytes(_tiny_jpeg(index))
    for index in range(unreadable):
        (folder / f"n9{index:07d}_broken.JPEG").write_bytes(_tiny_jpeg(index)[:200])
    (folder / "README.md").write_text("# imagenet-sample-images\n")
    (folder / "gallery.md").write_text("gallery\n")
    return folder


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, Path]:
    """The zip of a 910-photo stand-in for the gallery, and the folder it was made from."""
    folder = _write_gallery(tmp_path_factory.mktemp("gallery") / "photos", MIN_ARCHIVE_PHOTOS + 10)
    return _zip_of_folder(folder, PREFIX), folder


SMALL = 40


@pytest.fixture(scope="module")
def _small_gallery(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, Path]:
    folder = _write_gallery(tmp_path_factory.mktemp("small") / "photos", SMALL + 5)
    return _zip_of_folder(folder, PREFIX), folder


@pytest.fixture
def small_gallery(_small_gallery, monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, Path]:
    """A 45-photo gallery, with the minimum lowered to 40 photos: file-system time, not the check, is costly."""
    monkeypatch.setattr(negatives, "MIN_ARCHIVE_PHOTOS", SMALL)
    return _small_gallery


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _url(server) -> str:
    return server.url.rsplit("/datasets/", 1)[0] + GALLERY_PATH


def _leftovers(cache: Path) -> list[str]:
    folder = cache / "negatives"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_the_gallery_is_downloaded_verified_and_kept_in_the_cache(tmp_path: Path, serve, gallery) -> None:
    payload, source = gallery
    server = serve(payload)
    folder = ensure_negatives(_url(server), cache=tmp_path / "cache", progress=False)

    assert folder == tmp_path / "cache" / "negatives" / "imagenet-sample-images"
    assert _files(folder) == _files(source)
    assert _leftovers(tmp_path / "cache") == ["imagenet-sample-images"]  # no zip, no .part, no staging
    closed = f"http://127.0.0.1:{_free_port()}{GALLERY_PATH}"  # a second run needs no network
    assert ensure_negatives(closed, cache=tmp_path / "cache", progress=False) == folder
    assert len(server.requests) == 1


def test_the_default_cache_is_the_settings_cache(serve, small_gallery, _isolated_cache: Path) -> None:
    folder = ensure_negatives(_url(serve(small_gallery[0])), progress=False)
    assert folder == _isolated_cache / "negatives" / "imagenet-sample-images"


def test_a_cut_download_resumes_with_a_range_request(tmp_path: Path, serve, small_gallery) -> None:
    payload, source = small_gallery
    server = serve(payload, cut_first_responses=1)
    folder = ensure_negatives(_url(server), cache=tmp_path, progress=False)
    assert server.requests == [None, f"bytes={len(payload) // 2}-"]
    assert _files(folder) == _files(source)


def test_a_truncated_archive_is_refused_and_not_kept(tmp_path: Path, serve, small_gallery) -> None:
    payload, _ = small_gallery
    server = serve(payload[: len(payload) * 2 // 3])  # Content-Length matches: the archive itself is cut
    with pytest.raises(DownloadError, match=r"not a complete zip.*removed"):
        ensure_negatives(_url(server), cache=tmp_path, progress=False)
    assert _leftovers(tmp_path) == []


def test_an_archive_with_too_few_photos_is_refused(tmp_path: Path, serve) -> None:
    folder = _write_gallery(tmp_path / "short", MIN_ARCHIVE_PHOTOS - 1)
    server = serve(_zip_of_folder(folder, PREFIX))
    with pytest.raises(DownloadError, match=f"holds {MIN_ARCHIVE_PHOTOS - 1} readable photos") as caught:
        ensure_negatives(_url(server), cache=tmp_path / "cache", progress=False)
    assert "\n" not in str(caught.value)
    assert _leftovers(tmp_path / "cache") == []


def test_unreadable_photos_do_not_count(tmp_path: Path, serve, small_gallery) -> None:
    folder = _write_gallery(tmp_path / "broken", SMALL - 1, unreadable=10)
    server = serve(_zip_of_folder(folder, PREFIX))
    with pytest.raises(DownloadError, match=f"holds {SMALL - 1} readable photos"):
        ensure_negatives(_url(server), cache=tmp_path / "cache", progress=False)
    assert _leftovers(tmp_path / "cache") == []


def test_offline_without_a_copy_is_one_line_naming_the_from_option(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}{GALLERY_PATH}"
    with pytest.raises(DownloadError) as caught:
        ensure_negatives(url, cache=tmp_path, progress=False)
    message = str(caught.value)
    assert url in message and "landmarks data negatives --from PATH" in message and "\n" not in message
    assert _leftovers(tmp_path) == []


def test_import_from_a_zip_and_from_a_folder(tmp_path: Path, small_gallery) -> None:
    payload, source = small_gallery
    archive = tmp_path / "master.zip"
    archive.write_bytes(payload)
    before = _files(source)

    from_zip = ensure_negatives(source=archive, cache=tmp_path / "a", progress=False)
    assert _files(from_zip) == before and archive.read_bytes() == payload
    from_folder = ensure_negatives(source=source.parent, cache=tmp_path / "b", progress=False)  # one level up
    assert from_folder == tmp_path / "b" / "negatives" / "imagenet-sample-images"
    assert _files(from_folder) == before == _files(source)
    assert _leftovers(tmp_path / "b") == ["imagenet-sample-images"]


def test_import_of_a_folder_with_too_few_photos_is_refused(tmp_path: Path) -> None:
    folder = _write_gallery(tmp_path / "few", 20)
    with pytest.raises(DownloadError, match="holds 20 readable photos"):
        ensure_negatives(source=folder, cache=tmp_path / "cache", progress=False)
    assert _leftovers(tmp_path / "cache") == []
    with pytest.raises(DownloadError, match="no such file or folder"):
        ensure_negatives(source=tmp_path / "missing.zip", cache=tmp_path / "cache", progress=False)


def test_cli_imports_and_prints_where_the_photos_are(tmp_path: Path, small_gallery, _isolated_cache: Path) -> None:
    from landmarks.cli import app

    archive = tmp_path / "master.zip"
    archive.write_bytes(small_gallery[0])
    result = CliRunner().invoke(app, ["data", "negatives", "--from", str(archive), "-q"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    folder = _isolated_cache / "negatives" / "imagenet-sample-images"
    assert f"Negatives ready: {folder} ({SMALL + 5} photos)" in result.output


def test_cli_offline_exits_non_zero_with_one_line(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from landmarks.cli import main

    url = f"http://127.0.0.1:{_free_port()}{GALLERY_PATH}"
    monkeypatch.setattr(sys, "argv", ["landmarks", "data", "negatives", "--url", url, "-q"])
    with pytest.raises(SystemExit) as exited:
        main()
    err = capsys.readouterr().err
    assert exited.value.code != 0 and err.count("\n") == 1 and "--from" in err and "Traceback" not in err


# --- where the negatives come from -------------------------------------------------------------------


def _never() -> Path:
    raise AssertionError("fetch must not be called when a folder is given")


def test_precedence_given_then_env_then_beside_then_download(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "negatives").mkdir(parents=True)
    a, b = tmp_path / "a", tmp_path / "b"
    env = f"{a}{os.pathsep}{b}"

    assert resolve_negative_dirs(data, [a], env=env, fetch=_never) == ([a], "--negatives")
    assert resolve_negative_dirs(data, [], env=env, fetch=_never) == ([a, b], "LANDMARKS_NEGATIVES")
    assert resolve_negative_dirs(data, [], env="", fetch=_never) == ([data / "negatives"], "data/negatives")
    (data / "negatives").rmdir()
    fetched = tmp_path / "cache" / "imagenet-sample-images"
    assert resolve_negative_dirs(data, [], env="", fetch=lambda: fetched) == (
        [fetched],
        "downloaded imagenet-sample-images",
    )


def test_environment_is_read_at_call_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANDMARKS_NEGATIVES", str(tmp_path / "x"))
    assert resolve_negative_dirs(tmp_path, [], fetch=_never) == ([tmp_path / "x"], "LANDMARKS_NEGATIVES")


def test_no_source_and_no_download_means_none_with_the_reason(tmp_path: Path) -> None:
    def offline() -> Path:
        raise DownloadError("cannot reach https://example.invalid/master.zip")

    assert resolve_negative_dirs(tmp_path, [], env="", fetch=offline) == (
        [],
        "none: cannot reach https://example.invalid/master.zip",
    )
    dirs, why = resolve_negative_dirs(tmp_path, [], env="", fetch=None)
    assert dirs == [] and why.startswith("none: ")


# --- finding and checking the photos -------------------------------------------------------------------


def _photo(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_tiny_jpeg(seed))
    return path


def test_photo_groups_are_wordnet_ids_or_folder_and_stem() -> None:
    assert photo_group(Path("x/n01440764_tench.JPEG")) == "n01440764"
    assert photo_group(Path("x/n01440764.jpg")) == "n01440764"
    assert photo_group(Path("not_landmarks/coral_cat.jpg")) == "not_landmarks/coral_cat"
    assert photo_group(Path("x/n0144_short.jpg")) == "x/n0144_short"


def test_collect_finds_readable_photos_and_skips_the_rest(tmp_path: Path, caplog) -> None:
    first, second = tmp_path / "everyday", tmp_path / "mine"
    tench = _photo(first / "n01440764_tench.jpg", 1)
    nested = _photo(first / "sub" / "n01443537_goldfish.png", 2)
    _photo(first / ".hidden" / "n01484850_shark.jpg", 3)  # hidden folders are not photos of ours
    bad = write_bad_file(first, "truncated")
    cat = _photo(second / "cat.jpg", 4)
    copy = second / "tench_again.jpg"
    copy.write_bytes(tench.read_bytes())

    with caplog.at_level(logging.WARNING, logger="landmarks.data.negatives"):
        photos = collect_negatives([first, second])
    assert [(p.path, p.group) for p in photos] == [
        (tench, "n01440764"),
        (nested, "n01443537"),
        (cat, "mine/cat"),
    ]
    assert photos[0].digest == file_digest(tench)
    assert "2 negative files skipped" in caplog.text and str(bad) in caplog.text and str(copy) in caplog.text

    _, skipped = scan_negatives([first, second])
    assert {item.path for item in skipped} == {bad, copy}
    assert [p.path for p in collect_negatives([first], recursive=False)] == [tench]


def test_a_negative_that_is_a_training_photo_is_an_error_naming_both(tmp_path: Path) -> None:
    train_photo = _photo(tmp_path / "data" / "train" / "16.Eiffel_Tower" / "e1.jpg", 7)
    negative = tmp_path / "negatives" / "tower.jpg"
    negative.parent.mkdir()
    negative.write_bytes(train_photo.read_bytes())
    _photo(tmp_path / "negatives" / "cat.jpg", 8)
    with pytest.raises(DatasetError, match=f"{negative}.*{train_photo}"):
        collect_negatives([negative.parent], exclude_digests={file_digest(train_photo): train_photo})


def test_a_missing_folder_or_one_without_a_readable_photo_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        collect_negatives([tmp_path / "missing"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match=r"holds no readable photo \(0 unreadable"):
        collect_negatives([empty])
    broken = tmp_path / "broken"
    write_bad_file(broken, "truncated")
    write_bad_file(broken, "not-an-image")
    (broken / "notes.txt").write_text("not a photo")
    with pytest.raises(DatasetError, match=r"broken holds no readable photo \(2 unreadable"):
        collect_negatives([broken])


# --- splitting by group ---------------------------------------------------------------------------------


def _photos(groups: int, per_group: int) -> list[NegativePhoto]:
    return [
        NegativePhoto(Path(f"/n/{g:03d}_{i}.jpg"), f"{g:03d}{i}", f"n{g:08d}")
        for g in range(groups)
        for i in range(per_group)
    ]


def test_the_split_is_by_group_deterministic_and_covers_everything() -> None:
    photos = _photos(40, 3)
    parts = split_negatives(photos, {"fit": 0.5, "eval": 0.5}, seed=0)

    groups = {name: {p.group for p in part} for name, part in parts.items()}
    assert not groups["fit"] & groups["eval"]
    assert len(groups["fit"]) == len(groups["eval"]) == 20
    assert sorted(p.path for part in parts.values() for p in part) == sorted(p.path for p in photos)

    shuffled = photos[:]
    random.Random(5).shuffle(shuffled)
    assert split_negatives(shuffled, {"fit": 0.5, "eval": 0.5}, seed=0) == parts  # order does not matter
    assert split_negatives(photos, {"fit": 0.5, "eval": 0.5}, seed=1) != parts


def test_split_fractions_round_by_group_and_must_sum_to_one() -> None:
    parts = split_negatives(_photos(10, 2), {"train": 0.7, "val": 0.1, "test": 0.2}, seed=3)
    assert [len({p.group for p in part}) for part in parts.values()] == [7, 1, 2]
    assert split_negatives([], {"a": 1.0}, seed=0) == {"a": []}
    with pytest.raises(ValueError, match="sum to 1"):
        split_negatives(_photos(4, 1), {"a": 0.5, "b": 0.4}, seed=0)
    with pytest.raises(ValueError, match=">= 0"):
        split_negatives(_photos(4, 1), {"a": 1.5, "b": -0.5}, seed=0)


# --- the real photos -----------------------------------------------------------------------------------


@pytest.mark.integration
def test_everyday_holds_500_photos_in_500_groups(everyday_dir: Path) -> None:
    photos = collect_negatives([everyday_dir])
    assert len(photos) == 500
    assert len({p.group for p in photos}) == 500
    assert all(p.group.startswith("n") and len(p.group) == 9 for p in photos)
    halves = split_negatives(photos, {"fit": 0.5, "eval": 0.5}, seed=0)
    assert not {p.group for p in halves["fit"]} & {p.group for p in halves["eval"]}
