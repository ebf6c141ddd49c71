"""The gallery file: format, model fingerprint, and additions that are refused without touching the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from landmarks.errors import GalleryError
from landmarks.retrieval.gallery import (
    Gallery,
    GalleryPhoto,
    default_gallery_path,
    load_gallery,
    make_landmark,
    open_gallery,
)

FP = {"backbone": "tiny", "image_size": 64, "backbone_sha256": "a" * 64}


def photos(tag: str, n: int) -> list[GalleryPhoto]:
    return [GalleryPhoto(f"{tag}-{i}".ljust(64, "0"), f"{tag}_{i}.jpg") for i in range(n)]


def grown(rng: np.random.Generator) -> Gallery:
    g = Gallery(dict(FP))
    g = g.add(make_landmark("Old Chapel", 52.4, 0.26, 0.5, "Ely", "UK"), rng.normal(size=(3, 8)), photos("a", 3))
    return g.add(make_landmark("Town Bridge", 10.0, -20.0), rng.normal(size=(2, 8)), photos("b", 2))


def test_round_trip_keeps_landmarks_rows_and_labels(tmp_path: Path) -> None:
    g = grown(np.random.default_rng(0))
    path = g.save(tmp_path / "g.gallery.npz")
    back = load_gallery(path, FP)
    assert [lm.name for lm in back.landmarks] == ["Old Chapel", "Town Bridge"]
    assert back.landmarks[0].radius_km == 0.5 and back.landmarks[0].city == "Ely"
    assert back.labels.tolist() == [0, 0, 0, 1, 1]
    np.testing.assert_array_equal(back.embeddings, g.embeddings)
    assert np.allclose(np.linalg.norm(back.embeddings.astype(np.float32), axis=1), 1, atol=1e-3)
    index = back.index(offset=4)
    assert index.labels.tolist() == [4, 4, 4, 5, 5] and index.ids[3] == "gallery:town_bridge/b_0.jpg"


def test_remove_relabels_the_rest(tmp_path: Path) -> None:
    g = grown(np.random.default_rng(0)).remove("old chapel")
    assert [lm.name for lm in g.landmarks] == ["Town Bridge"] and g.labels.tolist() == [0, 0]
    with pytest.raises(GalleryError, match="no landmark named 'Nowhere'"):
        g.remove("Nowhere")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda g, e: g.add(make_landmark("old  chapel", 1, 2), e, photos("c", 2)), "already has a landmark named"),
        (lambda g, e: g.add(make_landmark("Eiffel Tower", 1, 2), e, photos("c", 2), ["Eiffel Tower"]), "model already"),
        (lambda g, e: g.add(make_landmark("New", 1, 2), e, photos("a", 2)), "already in the gallery"),
        (lambda g, e: g.add(make_landmark("New", 1, 2), e, [photos("c", 1)[0]] * 2), "are the same photo"),
        (lambda g, e: g.add(make_landmark("New", 1, 2), e[:0], []), "no readable photo"),
        (lambda g, e: make_landmark("New", 91, 2), "latitude 91"),
        (lambda g, e: make_landmark("New", 1, -181), "longitude -181"),
        (lambda g, e: make_landmark("New", float("nan"), 1), "not a number"),
        (lambda g, e: make_landmark(" ", 1, 2), "needs a name"),
        (lambda g, e: make_landmark("New", 1, 2, radius_km=-1), "radius_km"),
    ],
)
def test_bad_additions_are_refused(tmp_path: Path, change, message: str) -> None:
    g = grown(np.random.default_rng(0))
    path = g.save(tmp_path / "g.gallery.npz")
    before = path.read_bytes()
    with pytest.raises(GalleryError, match=message):
        change(load_gallery(path, FP), np.ones((2, 8)))
    assert path.read_bytes() == before


def test_damaged_foreign_and_other_model_files_are_refused(tmp_path: Path) -> None:
    path = grown(np.random.default_rng(0)).save(tmp_path / "g.gallery.npz")
    with pytest.raises(GalleryError, match="made for another model: backbone_sha256 aaaaaaaaaaaa"):
        load_gallery(path, {**FP, "backbone_sha256": "b" * 64})
    truncated = tmp_path / "t.gallery.npz"
    truncated.write_bytes(path.read_bytes()[:300])
    with pytest.raises(GalleryError, match="not a readable gallery"):
        load_gallery(truncated, FP)
    text = tmp_path / "x.gallery.npz"
    text.write_text("hello")
    with pytest.raises(GalleryError, match="not a readable gallery"):
        load_gallery(text, FP)
    other = tmp_path / "o.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(GalleryError, match="not a landmarks gallery"):
        load_gallery(other, FP)
    with pytest.raises(GalleryError, match="does not exist"):
        load_gallery(tmp_path / "missing.npz", FP)
    assert len(open_gallery(tmp_path / "missing.npz", FP)) == 0


def test_default_path_is_beside_the_checkpoint_unless_told(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LANDMARKS_GALLERY", raising=False)
    assert default_gallery_path(tmp_path / "run" / "best.pt") == tmp_path / "run" / "best.gallery.npz"
    assert default_gallery_path(tmp_path / "best.pt", tmp_path / "mine.npz") == tmp_path / "mine.npz"
    monkeypatch.setenv("LANDMARKS_GALLERY", str(tmp_path / "env.npz"))
    assert default_gallery_path(tmp_path / "best.pt") == tmp_path / "env.npz"
