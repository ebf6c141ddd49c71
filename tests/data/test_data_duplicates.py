"""Copies of one photo across the split: kept on one side, never trained on when in test, conflicts excluded."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from data_factories import make_dataset

from landmarks.data.prepare import PreparedDataset, prepare_dataset, stratified_split, summary_table

CLASSES = ["00.Haleakala_National_Park", "09.Golden_Gate_Bridge", "16.Eiffel_Tower"]


def _prepare(root: Path, **options: object) -> PreparedDataset:
    options = {"progress": False, "plots": False, "image_size": 64, **options}
    return prepare_dataset(root, **options)  # type: ignore[arg-type]


def _dataset(root: Path) -> Path:
    return make_dataset(root, CLASSES, train_per_class=10, test_per_class=4, size=(64, 48))


def _skipped_rows(prepared: PreparedDataset) -> dict[str, str]:
    with prepared.skipped_csv.open(newline="") as handle:
        return {row["path"]: row["reason"] for row in csv.DictReader(handle)}


def _summary_text(prepared: PreparedDataset) -> str:
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(summary_table(prepared))
    return console.export_text()


def test_ten_copies_of_one_photo_stay_on_one_side_of_the_split(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "data")
    folder = root / "train" / CLASSES[0]
    original = folder / f"{CLASSES[0]}_000.jpg"
    copies = [folder / f"copy_{i}.jpg" for i in range(10)]
    for copy in copies:
        shutil.copyfile(original, copy)

    for seed in range(5):  # whichever side the group falls on, all eleven files fall there together
        prepared = _prepare(root, seed=seed)
        train = {s.path for s in prepared.train}
        val = {s.path for s in prepared.val}
        group = {original, *copies}
        assert group <= train or group <= val, f"seed {seed}: copies split across train and val"
        assert prepared.duplicates.grouped_copies == 10
        assert len(prepared.train) + len(prepared.val) == 3 * 10 + 10
    assert "repeated photos kept together" in _summary_text(prepared)


def test_a_train_copy_of_a_test_photo_is_neither_trained_on_nor_validated_on(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "data")
    test_photo = root / "test" / CLASSES[1] / f"{CLASSES[1]}_002.jpg"
    leak = root / "train" / CLASSES[1] / "leak.jpg"
    shutil.copyfile(test_photo, leak)

    prepared = _prepare(root)

    assert leak not in {s.path for s in (*prepared.train, *prepared.val)}
    assert test_photo in {s.path for s in prepared.test}  # the test split stays as it was
    assert len(prepared.test) == 3 * 4
    assert prepared.duplicates.test_copies_in_train == 1
    reason = _skipped_rows(prepared)[str(leak)]
    assert "test" in reason and f"{CLASSES[1]}_002.jpg" in reason
    assert "train copies of test photos" in _summary_text(prepared)


def test_one_photo_under_two_classes_is_excluded_and_reported(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "data")
    photo = root / "train" / CLASSES[0] / f"{CLASSES[0]}_004.jpg"
    in_other_train = root / "train" / CLASSES[2] / "same_as_00.jpg"
    in_other_test = root / "test" / CLASSES[1] / "same_as_00.jpg"
    shutil.copyfile(photo, in_other_train)
    shutil.copyfile(photo, in_other_test)

    prepared = _prepare(root)

    used = {s.path for s in (*prepared.train, *prepared.val, *prepared.test)}
    assert not {photo, in_other_train, in_other_test} & used
    assert prepared.duplicates.conflicting_labels == 3
    reasons = _skipped_rows(prepared)
    for path in (photo, in_other_train, in_other_test):
        assert "conflicting labels" in reasons[str(path)]
        assert CLASSES[0] in reasons[str(path)] and CLASSES[2] in reasons[str(path)]
    assert len(prepared.test) == 3 * 4  # the three test/ copies' own photos stay; the copy is out
    assert "conflicting labels" in _summary_text(prepared)
    manifest = json.loads(prepared.manifest_path.read_text())
    assert manifest["duplicates"] == {"test_copies_in_train": 0, "conflicting_labels": 3, "grouped_copies": 0}
    again = _prepare(root)
    assert again.reused and again.duplicates == prepared.duplicates


def test_grouped_split_is_deterministic_and_stratified() -> None:
    files = {c: [Path(f"/d/{c}/{i:02d}.jpg") for i in range(20)] for c in ("a", "b")}
    digests = {p: f"{p.parent.name}-{int(p.stem) // 2}" for paths in files.values() for p in paths}  # pairs
    labels = {"a": 0, "b": 1}
    first = stratified_split(files, labels, 0.2, seed=3, digests=digests)
    assert first == stratified_split(files, labels, 0.2, seed=3, digests=digests)
    train, val = first
    for label in (0, 1):
        assert sum(s.label == label for s in val) == 4  # val_count(20, 0.2), in whole pairs
    val_digests = {digests[s.path] for s in val}
    assert not val_digests & {digests[s.path] for s in train}


def test_without_duplicates_the_split_is_the_plain_per_file_split() -> None:
    files = {"a": [Path(f"/d/a/{i:02d}.jpg") for i in range(13)]}
    digests = {p: str(p) for p in files["a"]}
    assert stratified_split(files, {"a": 0}, 0.2, 7, digests=digests) == stratified_split(files, {"a": 0}, 0.2, 7)


def test_a_class_of_one_photo_copied_keeps_it_in_train() -> None:
    files = {"a": [Path(f"/d/a/{i}.jpg") for i in range(3)], "b": [Path(f"/d/b/{i}.jpg") for i in range(5)]}
    digests = {p: "same" if p.parent.name == "a" else str(p) for paths in files.values() for p in paths}
    train, _ = stratified_split(files, {"a": 0, "b": 1}, 0.5, 0, digests=digests)
    assert {s.path for s in train if s.label == 0} == set(files["a"])


def test_an_old_manifest_is_rebuilt(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "data")
    first = _prepare(root)
    manifest = json.loads(first.manifest_path.read_text())
    manifest["format"] = 1
    first.manifest_path.write_text(json.dumps(manifest))
    assert not _prepare(root).reused


@pytest.mark.integration
def test_udacity_sample_train_copy_of_a_test_photo_is_left_out(udacity_sample: Path) -> None:
    prepared = prepare_dataset(udacity_sample, progress=False, plots=False)
    assert prepared.duplicates.test_copies_in_train == 1
    test_digests = {prepared.digests[s.path] for s in prepared.test}
    assert not test_digests & {prepared.digests[s.path] for s in (*prepared.train, *prepared.val)}
    assert len(prepared.train) + len(prepared.val) == 99 and len(prepared.test) == 25
