"""prepare_dataset: discovery, stratified seeded split, statistics, caching, and every kind of bad input."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from data_factories import BAD_FILES, make_dataset, synthetic_photo, write_bad_file
from PIL import Image

import landmarks.data.cache as cache_module
import landmarks.data.decode as decode_module
from landmarks.data.datasets import CachedImageDataset, make_loader
from landmarks.data.prepare import (
    PreparedDataset,
    find_dataset_root,
    prepare_dataset,
    stratified_split,
    summary_table,
    val_count,
)
from landmarks.data.transforms import TrainPreset
from landmarks.errors import DatasetError

CLASSES = ["00.Haleakala_National_Park", "09.Golden_Gate_Bridge", "16.Eiffel_Tower", "41.Machu_Picchu"]


def _prepare(root: Path, **options: object) -> PreparedDataset:
    options = {"progress": False, "plots": False, "image_size": 64, **options}
    return prepare_dataset(root, **options)  # type: ignore[arg-type]


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under root with its size and mtime: proves nothing was written there."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def _uneven_dataset(root: Path, counts: dict[str, int]) -> Path:
    """Classes of `count` train photos (and 2 test photos) each, every photo distinct."""
    for label, (name, count) in enumerate(counts.items()):
        for split, n in (("train", count), ("test", 2)):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                synthetic_photo(label, 1000 * label + 100 * (split == "test") + i, (64, 48)).save(
                    folder / f"{name}_{i:03d}.jpg"
                )
    return root


@pytest.mark.parametrize(("n", "expected"), [(1, 0), (2, 0), (3, 1), (7, 1), (8, 2), (10, 2), (12, 2), (13, 3)])
def test_val_count_is_round_of_the_fraction(n: int, expected: int) -> None:
    assert val_count(n, 0.2) == expected
    assert val_count(n, 0.2) == int(np.floor(0.2 * n + 0.5))


def test_val_count_always_leaves_a_training_photo() -> None:
    assert val_count(2, 0.9) == 1
    assert val_count(5, 0.0) == 0


def test_split_is_stratified_seeded_and_complete(tmp_path: Path) -> None:
    counts = {"a_class": 10, "b_class": 7, "c_class": 3, "d_class": 1}
    root = _uneven_dataset(tmp_path / "data", counts)

    prepared = _prepare(root, seed=0)

    assert prepared.classes == sorted(counts)
    for label, name in enumerate(prepared.classes):
        val = [s for s in prepared.val if s.label == label]
        train = [s for s in prepared.train if s.label == label]
        assert len(val) == val_count(counts[name], 0.2)
        assert len(train) + len(val) == counts[name]
        assert all(s.path.parent.name == name for s in (*train, *val))
    all_train_files = {p for p in (root / "train").rglob("*.jpg")}
    assert {s.path for s in prepared.train} | {s.path for s in prepared.val} == all_train_files
    assert not {s.path for s in prepared.train} & {s.path for s in prepared.val}
    assert len(prepared.test) == 2 * len(counts)

    again = _prepare(root, seed=0, cache=tmp_path / "other-cache")
    assert again.val == prepared.val
    reseeded = _prepare(root, seed=1)
    assert reseeded.val != prepared.val
    assert not reseeded.reused


def test_a_class_split_does_not_depend_on_other_classes(tmp_path: Path) -> None:
    files = {"a": [Path(f"a/{i}.jpg") for i in range(10)], "b": [Path(f"b/{i}.jpg") for i in range(10)]}
    _, val_both = stratified_split(files, {"a": 0, "b": 1}, 0.2, seed=3)
    _, val_alone = stratified_split({"a": files["a"]}, {"a": 0}, 0.2, seed=3)
    assert [s for s in val_both if s.label == 0] == val_alone


def test_mean_and_std_match_an_independent_computation(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "data", CLASSES[:3], train_per_class=5, test_per_class=1, size=(80, 60))
    prepared = _prepare(root)
    store = prepared.store()
    pixels = np.concatenate([store.load(s.path).numpy().reshape(3, -1) for s in prepared.train], axis=1) / 255
    assert np.allclose(prepared.mean, pixels.mean(axis=1), atol=1e-9)
    assert np.allclose(prepared.std, pixels.std(axis=1), atol=1e-9)


def test_mean_of_single_colour_photos_is_that_colour(tmp_path: Path) -> None:
    for split in ("train", "test"):
        for name in ("x", "y"):
            folder = tmp_path / "data" / split / name
            folder.mkdir(parents=True)
            for i in range(3):  # one colour, distinct files (copies would be set aside as duplicates)
                size = (50 + i + 10 * (name == "y") + 20 * (split == "test"), 40)
                Image.new("RGB", size, (51, 102, 204)).save(folder / f"{i}.png")
    prepared = _prepare(tmp_path / "data")
    assert np.allclose(prepared.mean, (0.2, 0.4, 0.8))
    assert np.allclose(prepared.std, 1 / 255)  # floor for a constant channel: normalisation stays finite


def test_nothing_is_written_into_the_data_folder(tiny_dataset: Path) -> None:
    before = _snapshot(tiny_dataset)
    prepared = prepare_dataset(tiny_dataset, progress=False)  # with plots
    assert _snapshot(tiny_dataset) == before
    assert tiny_dataset not in prepared.cache_dir.parents


def test_rerun_reuses_everything_and_decodes_nothing(tiny_dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = prepare_dataset(tiny_dataset, progress=False)
    manifest_mtime = first.manifest_path.stat().st_mtime_ns

    def no_decoding(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a rerun on unchanged files decoded a photo")

    monkeypatch.setattr(decode_module, "decode_resized", no_decoding)
    monkeypatch.setattr(cache_module, "decode_resized", no_decoding)
    second = prepare_dataset(tiny_dataset, progress=False)
    assert second.reused and not first.reused
    assert (second.classes, second.train, second.val, second.test) == (
        first.classes, first.train, first.val, first.test
    )  # fmt: skip
    assert second.mean == first.mean and second.std == first.std
    assert second.manifest_path.stat().st_mtime_ns == manifest_mtime
    second.store().load(second.test[0].path)  # served from the cache by the recorded digest


def test_a_changed_file_list_is_prepared_again(tiny_dataset: Path) -> None:
    first = _prepare(tiny_dataset)
    added = tiny_dataset / "train" / CLASSES[0] / "added.jpg"
    synthetic_photo(0, 1234, (96, 72)).save(added)
    removed = first.test[0].path
    removed.unlink()

    second = _prepare(tiny_dataset)

    assert not second.reused
    assert added in {s.path for s in (*second.train, *second.val)}
    assert removed not in {s.path for s in second.test}
    assert len(second.test) == len(first.test) - 1


def test_an_edited_photo_changes_the_fingerprint(tiny_dataset: Path) -> None:
    first = _prepare(tiny_dataset)
    photo = first.train[0].path
    synthetic_photo(3, 999, (96, 72)).save(photo)
    os.utime(photo, ns=(1, 1))
    assert not _prepare(tiny_dataset).reused


def test_manifest_lists_every_file_with_split_label_seed_and_fraction(tiny_dataset: Path) -> None:
    prepared = _prepare(tiny_dataset, val_fraction=0.3, seed=5)
    manifest = json.loads(prepared.manifest_path.read_text())
    assert manifest["seed"] == 5 and manifest["val_fraction"] == 0.3
    assert manifest["classes"] == CLASSES
    rows = {(row["path"], row["split"], row["label"]) for row in manifest["files"]}
    expected = {
        (s.path.relative_to(tiny_dataset).as_posix(), split, s.label)
        for split, samples in (("train", prepared.train), ("val", prepared.val), ("test", prepared.test))
        for s in samples
    }
    assert rows == expected
    assert len(rows) == 4 * 10 + 4 * 4


def test_plots_are_drawn_into_the_cache_directory(tiny_dataset: Path) -> None:
    prepared = prepare_dataset(tiny_dataset, progress=False, image_size=64)
    for picture in (prepared.samples_plot, prepared.histogram_plot):
        assert picture.parent == prepared.cache_dir
        with Image.open(picture) as image:
            assert image.format == "PNG" and min(image.size) > 200


def test_landmark_names_and_coordinates_come_from_the_catalog(tiny_dataset: Path) -> None:
    prepared = _prepare(tiny_dataset)
    assert [lm.folder for lm in prepared.landmarks] == prepared.classes
    eiffel = prepared.landmarks[prepared.classes.index("16.Eiffel_Tower")]
    assert eiffel.name == "Eiffel Tower"
    assert eiffel.latitude is not None and abs(eiffel.latitude - 48.86) < 0.1


def test_summary_table_shows_the_counts(tiny_dataset: Path) -> None:
    from rich.console import Console

    console = Console(record=True, width=120)
    console.print(summary_table(_prepare(tiny_dataset)))
    text = console.export_text()
    assert "32 / 8 / 16" in text and "classes" in text


def test_every_supported_format_in_any_case_is_found(tmp_path: Path) -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    names = {
        "a.JPG": "JPEG",
        "b.jpeg": "JPEG",
        "c.Png": "PNG",
        "d.webp": "WEBP",
        "e.HEIC": "HEIF",
        "f.avif": "AVIF",
    }
    for split in ("train", "test"):
        folder = tmp_path / "data" / split / "taj_mahal"
        folder.mkdir(parents=True)
        for i, (name, fmt) in enumerate(names.items()):
            synthetic_photo(1, i + 100 * (split == "test"), (64, 48)).save(folder / name, fmt)
    prepared = _prepare(tmp_path / "data", val_fraction=0.0)
    assert prepared.skipped == []
    assert sorted(s.path.name for s in prepared.train) == sorted(names)


def test_a_dataset_one_level_down_is_found(tiny_dataset: Path) -> None:
    assert find_dataset_root(tiny_dataset.parent) == tiny_dataset.absolute()


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("missing", "no such folder"),
        ("no-test", "has a train/ folder but no test/"),
        ("nothing", "not a dataset folder"),
    ],
)
def test_a_folder_without_the_layout_is_a_clear_error(tmp_path: Path, layout: str, message: str) -> None:
    root = tmp_path / "data"
    if layout == "no-test":
        make_dataset(root, ["a"], train_per_class=2, test_per_class=0)
        shutil.rmtree(root / "test")
        (root / "nested" / "test").mkdir(parents=True)  # a stray test/ elsewhere does not count
    elif layout == "nothing":
        (root / "photos").mkdir(parents=True)
    with pytest.raises(DatasetError, match=message):
        _prepare(root)


def test_a_dataset_without_any_usable_photo_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_bad_file(root / "train" / "only_bad", "truncated")
    (root / "test").mkdir()
    with pytest.raises(DatasetError, match="no usable photos"):
        _prepare(root)


# --- bad input: each case is skipped, listed in skipped.csv, and loses nothing else ----------------


def _skipped_rows(prepared: PreparedDataset) -> dict[str, str]:
    with prepared.skipped_csv.open(newline="") as handle:
        return {row["path"]: row["reason"] for row in csv.DictReader(handle)}


def _used_paths(prepared: PreparedDataset) -> set[Path]:
    return {s.path for s in (*prepared.train, *prepared.val, *prepared.test)}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_file_is_skipped_listed_and_nothing_else_is_lost(tiny_dataset: Path, case: str) -> None:
    good = {p for p in tiny_dataset.rglob("*.jpg")}
    bad = write_bad_file(tiny_dataset / "train" / CLASSES[1], case)

    prepared = _prepare(tiny_dataset)

    rows = _skipped_rows(prepared)
    assert list(rows) == [str(bad)]
    assert BAD_FILES[case][2] in rows[str(bad)]
    assert _used_paths(prepared) == good
    assert prepared.classes == CLASSES


def test_stray_files_outside_class_folders_are_skipped(tiny_dataset: Path) -> None:
    stray = tiny_dataset / "train" / "loose_photo.jpg"
    synthetic_photo(0, 0).save(stray)
    ds_store = tiny_dataset / ".DS_Store"  # beside train/ and test/: not looked at, not a problem
    ds_store.write_bytes(b"\x00")
    hidden_folder = tiny_dataset / "test" / ".ipynb_checkpoints"
    hidden_folder.mkdir()

    prepared = _prepare(tiny_dataset)

    rows = _skipped_rows(prepared)
    assert "not inside a class folder" in rows[str(stray)]
    assert "hidden" in rows[str(hidden_folder)]
    assert str(ds_store) not in rows
    assert ".ipynb_checkpoints" not in prepared.classes


def test_an_empty_class_folder_is_skipped_and_is_no_class(tiny_dataset: Path) -> None:
    empty = tiny_dataset / "train" / "99.Empty_Place"
    empty.mkdir()
    (tiny_dataset / "test" / "99.Empty_Place").mkdir()

    prepared = _prepare(tiny_dataset)

    assert "empty class folder" in _skipped_rows(prepared)[str(empty)]
    assert prepared.classes == CLASSES


def test_a_test_class_that_train_lacks_is_skipped(tiny_dataset: Path) -> None:
    orphans = [write_bad_file(tiny_dataset / "test" / "77.Nowhere", "too-small").with_name("x.jpg")]
    synthetic_photo(1, 1).save(orphans[0])
    (tiny_dataset / "test" / "77.Nowhere" / "tiny.png").unlink()

    prepared = _prepare(tiny_dataset)

    assert "is in test/ but has no usable photos in train/" in _skipped_rows(prepared)[str(orphans[0])]
    assert "77.Nowhere" not in prepared.classes
    assert all(s.label < len(CLASSES) for s in prepared.test)


def test_a_class_whose_photos_are_all_bad_is_dropped(tiny_dataset: Path) -> None:
    folder = tiny_dataset / "train" / "50.All_Bad"
    write_bad_file(folder, "corrupt")
    write_bad_file(folder, "zero-byte")

    prepared = _prepare(tiny_dataset)

    assert "50.All_Bad" not in prepared.classes
    assert "no usable photos" in _skipped_rows(prepared)[str(folder)]


def test_an_epoch_over_a_dataset_with_every_bad_case_completes(tiny_dataset: Path) -> None:
    for case in BAD_FILES:
        write_bad_file(tiny_dataset / "train" / CLASSES[0], case)
        write_bad_file(tiny_dataset / "test" / CLASSES[2], case)
    prepared = _prepare(tiny_dataset)
    assert len(prepared.skipped) == 2 * len(BAD_FILES)

    store = prepared.store()
    preset = TrainPreset(32, prepared.mean, prepared.std)
    seen = 0
    for split in (prepared.train, prepared.val, prepared.test):
        for images, _labels in make_loader(CachedImageDataset(split, store, preset), batch_size=8):
            seen += images.shape[0]
    assert seen == 4 * 10 + 4 * 4
