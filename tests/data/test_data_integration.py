"""The data layer on real photos: the target dataset's own layout, and the 44-landmark benchmark."""

from __future__ import annotations

from pathlib import Path

import pytest

from landmarks.data.datasets import CachedImageDataset, make_loader
from landmarks.data.prepare import PreparedDataset, prepare_dataset, val_count
from landmarks.data.transforms import EvalPreset, TrainPreset

pytestmark = pytest.mark.integration


def _class_sizes(folder: Path) -> dict[str, int]:
    return {d.name: sum(1 for f in d.iterdir() if f.is_file()) for d in sorted(folder.iterdir()) if d.is_dir()}


def test_udacity_sample_in_its_own_layout(udacity_sample: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in udacity_sample.rglob("*")}
    prepared = prepare_dataset(udacity_sample, progress=False, plots=False)

    assert prepared.classes == ["00.Haleakala_National_Park"]
    haleakala = prepared.landmarks[0]
    assert haleakala.class_id == 0 and haleakala.name.startswith("Haleakal")
    assert haleakala.latitude is not None and 20 < haleakala.latitude < 21
    # One train/ photo is a byte-identical copy of a test/ photo: it is left out of train and val.
    assert (len(prepared.train), len(prepared.val)) == (79, 20)
    assert len(prepared.test) == 25
    leaked = [s for s in prepared.skipped if s.path.is_relative_to(udacity_sample / "train")]
    assert len(leaked) == 1 and "copy of the test photo test/00.Haleakala_National_Park/" in leaked[0].reason
    # The test/ classes that train/ lacks here (09, 16, 24, 37, 41) are skipped with a reason, not lost.
    orphans = {s.path.parent.name for s in prepared.skipped if s not in leaked}
    assert orphans == {
        "09.Golden_Gate_Bridge",
        "16.Eiffel_Tower",
        "24.Soreq_Cave",
        "37.Atomium",
        "41.Machu_Picchu",
    }
    assert all("in test/ but has no usable photos in train/" in s.reason for s in prepared.skipped if s not in leaked)
    assert {p: p.stat().st_mtime_ns for p in udacity_sample.rglob("*")} == before

    store = prepared.store()
    image = store.load(prepared.train[0].path)
    assert min(image.shape[1:]) == 256  # the 800 x 600 originals, decoded once at 256 px
    batch, labels = next(
        iter(make_loader(CachedImageDataset(prepared.val, store, EvalPreset(224, prepared.mean, prepared.std))))
    )
    assert batch.shape == (20, 3, 224, 224) and labels.tolist() == [0] * 20


@pytest.fixture(scope="module")
def proxy44_prepared(proxy44: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[PreparedDataset, Path]:
    """proxy44 prepared once for this module, at 64 px (JPEG draft decoding keeps it to seconds)."""
    cache = tmp_path_factory.mktemp("proxy44-cache")
    return prepare_dataset(proxy44, cache=cache, image_size=64, progress=False, plots=False), cache


def test_proxy44_split_statistics_and_catalog(proxy44: Path, proxy44_prepared) -> None:
    prepared, _ = proxy44_prepared
    sizes = _class_sizes(proxy44 / "train")

    assert prepared.classes == sorted(sizes) and len(sizes) == 44
    assert len(prepared.train) + len(prepared.val) == sum(sizes.values()) == 3871
    assert len(prepared.val) == sum(val_count(n, 0.2) for n in sizes.values())
    assert len(prepared.test) == 1100
    assert prepared.skipped == []
    assert prepared.duplicates.test_copies_in_train == prepared.duplicates.conflicting_labels == 0
    assert all(0.3 < m < 0.7 for m in prepared.mean) and all(0.15 < s < 0.4 for s in prepared.std)
    taj = prepared.landmarks[prepared.classes.index("taj_mahal")]
    assert taj.name == "Taj Mahal" and taj.latitude is not None and abs(taj.latitude - 27.17) < 0.1


def test_proxy44_rerun_reuses_the_manifest(proxy44: Path, proxy44_prepared) -> None:
    first, cache = proxy44_prepared
    again = prepare_dataset(proxy44, cache=cache, image_size=64, progress=False, plots=False)
    assert again.reused
    assert again.val == first.val and again.mean == first.mean

    batch, _ = next(
        iter(
            make_loader(
                CachedImageDataset(again.train, again.store(), TrainPreset(56, again.mean, again.std)),
                shuffle=True,
                seed=0,
            )
        )
    )
    assert batch.shape == (32, 3, 56, 56)
