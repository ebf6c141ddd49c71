"""DecodedImageStore and the datasets over it: decode once, reuse from memory and disk, survive damage."""

from __future__ import annotations

import pickle
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from data_factories import synthetic_photo, write_bad_file

import landmarks.data.cache as cache_module
from landmarks.data.cache import DecodedImageStore
from landmarks.data.datasets import CachedImageDataset, FileImageDataset, make_loader
from landmarks.data.images import load_rgb
from landmarks.data.prepare import Sample
from landmarks.data.transforms import EvalPreset
from landmarks.errors import BadImageError


def _photos(folder: Path, count: int, size: tuple[int, int] = (120, 90)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"photo_{i:02d}.jpg"
        synthetic_photo(i % 4, i, size).save(path, quality=92)
        paths.append(path)
    return paths


def _no_decoding(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("the photo was decoded again instead of coming from the cache")


def test_load_returns_uint8_chw_with_the_shorter_side_at_size(tmp_path: Path) -> None:
    (path,) = _photos(tmp_path / "photos", 1, (300, 200))
    store = DecodedImageStore(tmp_path / "images", size=64)
    tensor = store.load(path)
    assert tensor.dtype == torch.uint8
    assert tensor.shape == (3, 64, 96)
    expected = np.asarray(load_rgb(path).resize((96, 64)), np.int16).transpose(2, 0, 1)
    assert np.abs(tensor.numpy().astype(np.int16) - expected).mean() < 6  # same picture, resized


def test_memory_then_disk_serve_later_loads_without_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (path,) = _photos(tmp_path / "photos", 1)
    store = DecodedImageStore(tmp_path / "images", size=64)
    first = store.load(path)
    monkeypatch.setattr(cache_module, "decode_resized", _no_decoding)
    assert store.load(path) is first  # kept in memory
    fresh = DecodedImageStore(tmp_path / "images", size=64)
    assert torch.equal(fresh.load(path), first)  # read back from disk


def test_identical_files_share_one_entry_and_edited_files_get_a_new_one(tmp_path: Path) -> None:
    (path,) = _photos(tmp_path / "photos", 1)
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(path.read_bytes())
    store = DecodedImageStore(tmp_path / "images", size=64)
    store.load(path)
    store.load(copy)
    assert len(list((tmp_path / "images").rglob("*.npy"))) == 1

    synthetic_photo(3, 99, (120, 90)).save(copy)
    DecodedImageStore(tmp_path / "images", size=64).load(copy)
    assert len(list((tmp_path / "images").rglob("*.npy"))) == 2


def test_a_damaged_cache_entry_is_decoded_again(tmp_path: Path) -> None:
    (path,) = _photos(tmp_path / "photos", 1)
    store = DecodedImageStore(tmp_path / "images", size=64)
    good = store.load(path).clone()
    store.entry(path).write_bytes(b"\x93NUMPY garbage")
    assert torch.equal(DecodedImageStore(tmp_path / "images", size=64).load(path), good)


def test_warm_decodes_in_parallel_and_reports_bad_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = _photos(tmp_path / "photos", 12)
    bad = [write_bad_file(tmp_path / "photos", "truncated"), write_bad_file(tmp_path / "photos", "zero-byte")]
    store = DecodedImageStore(tmp_path / "images", size=64, workers=2)
    real_decode, threads = cache_module.decode_into_cache, set()

    def spy(*args: object) -> object:
        threads.add(threading.current_thread().name)
        return real_decode(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(cache_module, "decode_into_cache", spy)
    skipped = store.warm([*good, *bad], progress=False)

    assert threads and all(name.startswith("decode") for name in threads)  # on the pool, not the caller
    assert {s.path for s in skipped} == set(bad)
    assert all(str(s.path) not in s.reason for s in skipped)  # the CSV has the path in its own column
    assert all(store.entry(p).is_file() for p in good)
    monkeypatch.setattr(cache_module, "decode_into_cache", _no_decoding)
    assert store.warm(good, progress=False) == []  # everything cached: nothing to decode
    with pytest.raises(BadImageError, match="truncated"):
        store.load(bad[0])


def test_parallel_warm_of_identical_photos_loses_none(tmp_path: Path) -> None:
    (original,) = _photos(tmp_path / "photos", 1)
    copies = [original]
    for i in range(15):  # duplicates: the threads race to write one cache entry
        copy = tmp_path / "photos" / f"copy_{i}.jpg"
        copy.write_bytes(original.read_bytes())
        copies.append(copy)
    store = DecodedImageStore(tmp_path / "images", size=64, workers=2)
    assert store.warm(copies, progress=False) == []
    assert len(list((tmp_path / "images").rglob("*"))) == 3  # 64px/, its shard folder, one entry


def test_warm_with_preload_fills_memory(tmp_path: Path) -> None:
    paths = _photos(tmp_path / "photos", 3)
    store = DecodedImageStore(tmp_path / "images", size=32)
    store.warm(paths, progress=False, preload=True)
    assert store.in_memory() == 3
    store.forget()
    assert store.in_memory() == 0


def test_store_pickles_without_its_tensors(tmp_path: Path) -> None:
    paths = _photos(tmp_path / "photos", 2)
    store = DecodedImageStore(tmp_path / "images", size=32)
    store.warm(paths, progress=False, preload=True)
    clone = pickle.loads(pickle.dumps(store))
    assert clone.in_memory() == 0
    assert torch.equal(clone.load(paths[0]), store.load(paths[0]))


def test_cached_dataset_batches_through_a_dataloader_with_workers(tmp_path: Path) -> None:
    paths = _photos(tmp_path / "photos", 6, (100, 140))
    samples = [Sample(p, i % 3) for i, p in enumerate(paths)]
    store = DecodedImageStore(tmp_path / "images", size=48)
    dataset = CachedImageDataset(samples, store, EvalPreset(32, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)))
    assert dataset.labels == [0, 1, 2, 0, 1, 2]

    in_process = [(x.clone(), y.clone()) for x, y in make_loader(dataset, batch_size=4)]
    with_workers = list(make_loader(pickle.loads(pickle.dumps(dataset)), batch_size=4, num_workers=1))

    assert [x.shape for x, _ in in_process] == [(4, 3, 32, 32), (2, 3, 32, 32)]
    for (a, la), (b, lb) in zip(in_process, with_workers, strict=True):
        assert torch.equal(a, b) and torch.equal(la, lb)


def test_cache_and_file_datasets_give_the_same_pixels(tmp_path: Path) -> None:
    paths = _photos(tmp_path / "photos", 2, (80, 60))  # smaller than the cache size: stored as is
    samples = [Sample(p, 0) for p in paths]
    cached = CachedImageDataset(samples, DecodedImageStore(tmp_path / "images", size=128))
    files = FileImageDataset(samples)
    image, label = cached[1]
    assert label == 0
    assert np.array_equal(image.permute(1, 2, 0).numpy(), np.asarray(files[1][0]))
