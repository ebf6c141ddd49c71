"""The feature cache is keyed by photo content, view and every backbone weight: never stale, always shared."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from tests.data.data_factories import make_dataset

from landmarks.data.prepare import prepare_dataset
from landmarks.engine.features import FeatureExtractor, FeatureStore, backbone_fingerprint
from landmarks.engine.runtime import Runtime
from landmarks.models.classifier import ModelConfig, create_model

CLASSES = ["00.Alpha", "01.Beta"]


@pytest.fixture
def setup(tmp_path: Path):
    data = make_dataset(tmp_path / "data", CLASSES, train_per_class=5, test_per_class=1, size=(72, 64))
    prepared = prepare_dataset(data, cache=tmp_path / "cache", progress=False, image_size=64)
    torch.manual_seed(0)
    model = create_model(ModelConfig.for_scratch(2, (0.5,) * 3, (0.25,) * 3, 48), pretrained=False)
    model.eval()
    return data, prepared, model


def _extractor(prepared, model) -> FeatureExtractor:
    return FeatureExtractor(model, prepared, Runtime(torch.device("cpu"), None, False), progress=False)


def test_features_are_computed_once_and_reused_across_splits(setup) -> None:
    _, prepared, model = setup
    first = _extractor(prepared, model)
    train = first.train_views(3, seed=0)
    assert train.shape[:2] == (len(prepared.train), 3) and first.images_computed == 3 * len(prepared.train)
    again = _extractor(prepared, model)
    assert torch.equal(again.train_views(3, seed=0), train) and again.images_computed == 0
    # A subset (another split of the same photos) is served from the same cache, row for row.
    subset = [s.path for s in prepared.train[::2]]
    assert torch.equal(again.of_paths(subset), train[::2, 0]) and again.images_computed == 0


def test_a_replaced_photo_is_recomputed(setup) -> None:
    _, prepared, model = setup
    before = _extractor(prepared, model).of_paths([prepared.train[0].path])
    path = prepared.train[0].path
    Image.new("RGB", (72, 64), (250, 10, 10)).save(path)  # same path, new content
    prepared2 = prepare_dataset(path.parents[2], cache=prepared.cache_dir.parents[1], progress=False, image_size=64)
    fresh = _extractor(prepared2, model)
    after = fresh.of_paths([path])
    assert fresh.images_computed == 1 and not torch.equal(before, after)


def test_changed_backbone_weights_change_the_key(setup) -> None:
    _, prepared, model = setup
    key = backbone_fingerprint(model)
    with torch.no_grad():
        last = list(model.backbone.parameters())[-1]
        last.view(-1)[-1] += 1e-3  # the very last value: a sampled fingerprint would miss it
    assert backbone_fingerprint(model) != key
    assert _extractor(prepared, model).features.folder.name.endswith(backbone_fingerprint(model)[:16])


def test_augmented_views_are_seeded_per_photo(setup) -> None:
    _, prepared, model = setup
    paths = [s.path for s in prepared.train]
    whole = _extractor(prepared, model).views_of_paths(paths, 2, seed=7)
    for cache in prepared.cache_dir.parents[1].glob("features/*"):
        for f in cache.iterdir():
            f.unlink()
    reversed_order = _extractor(prepared, model).views_of_paths(paths[::-1], 2, seed=7)
    assert torch.equal(reversed_order.flip(0), whole)


def test_a_damaged_cache_file_is_recomputed(tmp_path: Path) -> None:
    store = FeatureStore(tmp_path)
    store.add("eval", {"abc": torch.ones(4, dtype=torch.float16)})
    (tmp_path / "eval.pt").write_bytes(b"not a tensor file")
    assert FeatureStore(tmp_path).view("eval") == {}
