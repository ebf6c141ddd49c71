"""`landmarks gallery` and the predictor answering from the model and its gallery together."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers import TINY_CLASSES, synthetic_photo
from landmarks.cli import app
from landmarks.engine.checkpoint import load_checkpoint, save_checkpoint
from landmarks.errors import GalleryError
from landmarks.inference.predictor import Predictor
from landmarks.settings import cache_dir

NEW_LABEL = 6
"""A synthetic 'landmark' the tiny model never saw (its own colour and stripe angle)."""


@pytest.fixture
def checkpoint(tiny_checkpoint: Path, tmp_path: Path) -> Path:
    """A copy of the tiny model, so its gallery (beside it by default) is this test's own."""
    return Path(shutil.copy(tiny_checkpoint, tmp_path / "best.pt"))


def shots(folder: Path, label: int, n: int, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        synthetic_photo(label, seed + i, (80, 64)).save(folder / f"shot_{label}_{seed + i}.jpg")
    return folder


def invoke(*args: str) -> object:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_add_then_predict_list_export_remove(checkpoint: Path, tmp_path: Path) -> None:
    photos = shots(tmp_path / "chapel", NEW_LABEL, 5)
    (photos / "notes.txt").write_text("not a photo")
    result = invoke(
        "gallery", "add", str(photos), "--checkpoint", str(checkpoint), "--name", "Old Chapel",
        "--lat", "52.4", "--lon", "0.26", "--radius-km", "0.3", "--country", "UK",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "added Old Chapel" in result.output and "from 5 photo(s)" in result.output
    gallery = checkpoint.with_name("best.gallery.npz")
    assert gallery.is_file()

    query = tmp_path / "query.jpg"
    synthetic_photo(NEW_LABEL, 999, (80, 64)).save(query)
    predictor = Predictor.load(checkpoint)
    assert predictor.classes[-1] == "old_chapel" and len(predictor.landmarks) == len(TINY_CLASSES) + 1
    answer = predictor.predict(query, k=2)
    assert answer.best.name == "Old Chapel" and answer.best.class_index == len(TINY_CLASSES)
    assert answer.best.latitude == 52.4 and answer.best.radius_km == 0.3 and answer.best.country == "UK"
    assert answer.neighbours[0].path.startswith("gallery:old_chapel/shot_6_")
    assert answer.threshold == predictor.threshold  # the checkpoint's one threshold
    # A photo of a trained class keeps its trained answer.
    trained = tmp_path / "eiffel.jpg"
    synthetic_photo(2, 1234, (80, 64)).save(trained)
    assert predictor.predict(trained, k=1).best.folder == "16.Eiffel_Tower"

    out = invoke("predict", str(query), "--checkpoint", str(checkpoint), "--json", "-k", "5")
    assert out.exit_code == 0 and json.loads(out.stdout)[0]["top"][0]["name"] == "Old Chapel"
    listed = invoke("gallery", "list", "--checkpoint", str(checkpoint))
    assert "Old Chapel" in listed.output and "5 photo(s)" in listed.output
    copy = tmp_path / "shared.gallery.npz"
    assert invoke("gallery", "export", str(copy), "--checkpoint", str(checkpoint)).exit_code == 0
    assert Predictor.load(checkpoint, gallery=copy).classes[-1] == "old_chapel"

    removed = invoke("gallery", "remove", "old chapel", "--checkpoint", str(checkpoint))
    assert removed.exit_code == 0 and "0 landmark(s) left" in removed.output
    assert Predictor.load(checkpoint).classes == TINY_CLASSES


def test_bad_additions_leave_the_gallery_file_unchanged(checkpoint: Path, tmp_path: Path) -> None:
    photos = shots(tmp_path / "a", NEW_LABEL, 3)
    base = ["--checkpoint", str(checkpoint), "--lat", "1", "--lon", "2"]
    assert invoke("gallery", "add", str(photos), "--name", "Chapel", *base).exit_code == 0
    gallery = checkpoint.with_name("best.gallery.npz")
    before = gallery.read_bytes()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    other = shots(tmp_path / "b", 7, 2, seed=50)
    cases = [
        ([str(broken), "--name", "Broken", *base], "no readable photo"),
        ([str(other), "--name", "chapel", *base], "already has a landmark named"),
        ([str(other), "--name", "Eiffel Tower", *base], "model already knows"),
        ([str(photos / "shot_6_0.jpg"), "--name", "Again", *base], "already in the gallery"),
        ([str(other), "--name", "Far", "--checkpoint", str(checkpoint), "--lat", "95", "--lon", "2"], "latitude 95"),
    ]
    for args, message in cases:
        with pytest.raises(GalleryError, match=message):
            invoke("gallery", "add", *args)
        assert gallery.read_bytes() == before


def test_a_gallery_of_another_model_is_refused(checkpoint: Path, tmp_path: Path) -> None:
    photos = shots(tmp_path / "a", NEW_LABEL, 2)
    assert invoke("gallery", "add", str(photos), "--name", "C", "--lat", "1", "--lon", "2",
                  "--checkpoint", str(checkpoint)).exit_code == 0  # fmt: skip
    ckpt = load_checkpoint(checkpoint)
    name = next(k for k in ckpt.state_dict if k.startswith("backbone.") and ckpt.state_dict[k].is_floating_point())
    ckpt.state_dict[name] = ckpt.state_dict[name] + 0.01
    other = save_checkpoint(ckpt, tmp_path / "other.pt")
    with pytest.raises(GalleryError, match="made for another model: backbone_sha256"):
        Predictor.load(other, gallery=checkpoint.with_name("best.gallery.npz"))
    damaged = tmp_path / "damaged.gallery.npz"
    damaged.write_bytes(checkpoint.with_name("best.gallery.npz").read_bytes()[:200])
    with pytest.raises(GalleryError, match="not a readable gallery"):
        Predictor.load(checkpoint, gallery=damaged)
    with pytest.raises(GalleryError, match="not a landmarks gallery"):
        Predictor.load(checkpoint, gallery=checkpoint)  # a checkpoint is not a gallery
    ckpt = load_checkpoint(checkpoint)
    ckpt.index = None  # an older model, without the index of its training photos
    with pytest.raises(GalleryError, match="no retrieval index"):
        Predictor.load(save_checkpoint(ckpt, tmp_path / "old.pt"), score="max_softmax",
                       gallery=checkpoint.with_name("best.gallery.npz"))  # fmt: skip


def test_import_a_folder_of_landmarks(checkpoint: Path, tmp_path: Path) -> None:
    root = tmp_path / "mine"
    shots(root / "chapel", NEW_LABEL, 3)
    shots(root / "tower", 7, 3, seed=20)
    (root / "catalog.csv").write_text(
        "class,name,latitude,longitude,city,country\nchapel,Old Chapel,52.4,0.26,Ely,UK\ntower,Tall Tower,1,2,,\n"
    )
    result = invoke("gallery", "import", str(root), "--checkpoint", str(checkpoint))
    assert result.exit_code == 0, result.output
    assert Predictor.load(checkpoint).classes[-2:] == ["old_chapel", "tall_tower"]
    (root / "catalog.csv").write_text("class,name,latitude,longitude\nchapel,X,1,2\nmissing,Y,1,2\n")
    before = checkpoint.with_name("best.gallery.npz").read_bytes()
    with pytest.raises(GalleryError, match="is not a folder"):
        invoke("gallery", "import", str(root), "--checkpoint", str(checkpoint))
    assert checkpoint.with_name("best.gallery.npz").read_bytes() == before


def test_landmarks_predict_sees_a_gallery_added_after_it_loaded(checkpoint: Path, tmp_path: Path) -> None:
    import landmarks

    query = tmp_path / "query.jpg"
    synthetic_photo(NEW_LABEL, 999, (80, 64)).save(query)
    before = landmarks.predict(query, k=1, checkpoint=checkpoint)
    assert before.best.folder in TINY_CLASSES
    photos = shots(tmp_path / "a", NEW_LABEL, 5)
    assert invoke("gallery", "add", str(photos), "--name", "Chapel", "--lat", "1", "--lon", "2",
                  "--checkpoint", str(checkpoint)).exit_code == 0  # fmt: skip
    assert landmarks.predict(query, k=1, checkpoint=checkpoint).best.name == "Chapel"


def test_a_loaded_predictor_sees_gallery_changes_written_by_another_writer(checkpoint: Path, tmp_path: Path) -> None:
    """A server's predictor stays loaded: a landmark that `gallery add` writes meanwhile is answered at the
    next call, and one that `gallery remove` takes away is gone at the next call."""
    query = tmp_path / "query.jpg"
    synthetic_photo(NEW_LABEL, 999, (80, 64)).save(query)
    predictor = Predictor.load(checkpoint)
    assert predictor.predict(query, k=1).best.folder in TINY_CLASSES
    photos = shots(tmp_path / "a", NEW_LABEL, 5)
    assert invoke("gallery", "add", str(photos), "--name", "Chapel", "--lat", "1", "--lon", "2",
                  "--checkpoint", str(checkpoint)).exit_code == 0  # fmt: skip
    assert predictor.predict(query, k=1).best.name == "Chapel"
    assert predictor.gallery_id.startswith("sha256:")
    assert invoke("gallery", "remove", "Chapel", "--checkpoint", str(checkpoint)).exit_code == 0
    assert predictor.predict(query, k=1).best.folder in TINY_CLASSES


def test_real_photos_added_come_back_as_their_landmark(checkpoint: Path, udacity_sample: Path, tmp_path: Path) -> None:
    """Real JPEGs (EXIF, sizes, orientations of the target data) through add and predict: a photo that is in
    the gallery finds itself (similarity 1) and is answered as the gallery's landmark, with its place."""
    photos = sorted((udacity_sample / "train" / "00.Haleakala_National_Park").glob("*.jpg"))[:5]
    result = invoke("gallery", "add", *map(str, photos), "--name", "Crater Rim", "--lat", "20.71", "--lon", "-156.25",
                    "--checkpoint", str(checkpoint))  # fmt: skip
    assert result.exit_code == 0, result.output
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(photos[2].read_bytes())
    answer = Predictor.load(checkpoint).predict(copy, k=1)
    assert answer.best.name == "Crater Rim" and answer.best.longitude == -156.25
    assert answer.neighbours[0].similarity == pytest.approx(1.0, abs=2e-3)
    assert answer.neighbours[0].path == f"gallery:crater_rim/{photos[2].name}"


def test_a_gallery_made_on_torch_answers_on_the_onnx_export(checkpoint: Path, tmp_path: Path) -> None:
    """The export carries the checkpoint's embedding fingerprint, so the same gallery fits both backends."""
    from landmarks.export.onnx_export import export_onnx

    photos = shots(tmp_path / "chapel", NEW_LABEL, 5)
    added = invoke("gallery", "add", str(photos), "--checkpoint", str(checkpoint),
                   "--name", "Old Chapel", "--lat", "52.4", "--lon", "0.26")  # fmt: skip
    assert added.exit_code == 0, added.output
    export_onnx(checkpoint)
    query = tmp_path / "query.jpg"
    synthetic_photo(NEW_LABEL, 999, (80, 64)).save(query)
    on_torch = Predictor.load(checkpoint, backend="torch").predict(query, k=2)
    onnx = Predictor.load(checkpoint, backend="onnx")
    assert onnx.backend.name == "onnx fp32" and onnx.classes[-1] == "old_chapel"
    on_onnx = onnx.predict(query, k=2)
    assert on_onnx.best.name == on_torch.best.name == "Old Chapel"
    assert abs(on_onnx.best.probability - on_torch.best.probability) < 0.05
    assert onnx.gallery_id.startswith("sha256:") and onnx.gallery_id == Predictor(checkpoint).gallery_id


def test_a_large_gallery_keeps_its_faiss_index_in_the_cache(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the size limit the index is searched by FAISS; the built index goes to the cache folder (this
    test's own LANDMARKS_CACHE), so the next process with the same model and gallery reads it back."""
    pytest.importorskip("faiss")
    monkeypatch.setattr("landmarks.retrieval.index.FAISS_MIN_ROWS", 40)
    photos = shots(tmp_path / "a", NEW_LABEL, 5)
    assert invoke("gallery", "add", str(photos), "--name", "Chapel", "--lat", "1", "--lon", "2",
                  "--checkpoint", str(checkpoint)).exit_code == 0  # fmt: skip
    query = tmp_path / "query.jpg"
    synthetic_photo(NEW_LABEL, 999, (80, 64)).save(query)
    first = Predictor.load(checkpoint)
    assert first.predict(query, k=1).best.name == "Chapel"
    searched = first.known.index
    assert searched is not None and searched.approximate and not searched.approximate_backend().from_cache
    assert list((cache_dir() / "faiss").glob("*.faiss"))
    again = Predictor.load(checkpoint)
    assert again.predict(query, k=1).best.name == "Chapel"
    assert again.known.index is not None and again.known.index.approximate_backend().from_cache
