"""The Predictor's backends: ONNX Runtime on the export beside the checkpoint, torch otherwise; one answer.

The export must bring its own classes, calibration, decision rule and index (no checkpoint read), and
every way it can be wrong (stale, truncated, edited, old, no onnxruntime) is a one-line error: with
`--backend auto` too, since falling back to torch would quietly change the answers.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from typer.testing import CliRunner

from helpers import TINY_CLASSES, synthetic_photo
from landmarks.cli import app
from landmarks.engine.checkpoint import load_checkpoint, save_checkpoint
from landmarks.errors import CheckpointError, ExportError, LandmarksError
from landmarks.export.onnx_export import export_onnx
from landmarks.inference.predictor import Predictor
from landmarks.runtime_onnx.metadata import INDEX_KEY, METADATA_KEY

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def exported_run(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny run's best.pt with its fp32 export beside it (best.onnx)."""
    run = tmp_path_factory.mktemp("exported")
    checkpoint = Path(shutil.copy2(tiny_checkpoint, run / "best.pt"))
    export_onnx(checkpoint)
    return checkpoint


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("photos")
    out = []
    for label, name in enumerate(TINY_CLASSES):
        for seed in (0, 1):
            path = folder / f"{name}_{seed}.jpg"
            synthetic_photo(label, 20_000 + 10 * label + seed, (400, 300)).save(path, quality=92)
            out.append(path)
    return out


def _one_line_error(kind: type[Exception], fn: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(kind) as caught:
        fn(*args, **kwargs)  # type: ignore[operator]
    message = str(caught.value)
    assert "\n" not in message and isinstance(caught.value, LandmarksError)
    return message


def test_auto_runs_the_export_and_answers_as_torch_does(exported_run: Path, photos: list[Path]) -> None:
    onnx_predictor = Predictor.load(exported_run)  # auto: best.onnx is beside it
    torch_predictor = Predictor.load(exported_run, backend="torch")
    assert onnx_predictor.backend.name == "onnx fp32" and onnx_predictor.backend.path == exported_run.with_suffix(
        ".onnx"
    )
    assert torch_predictor.backend.name == "torch"
    assert onnx_predictor.classes == torch_predictor.classes and onnx_predictor.rule == torch_predictor.rule
    assert onnx_predictor.landmarks == torch_predictor.landmarks
    assert onnx_predictor.fitted_without_negatives == torch_predictor.fitted_without_negatives
    a = onnx_predictor.predict_many(photos, k=3)
    b = torch_predictor.predict_many(photos, k=3)
    for x, y in zip(a, b, strict=True):
        assert not isinstance(x, LandmarksError) and not isinstance(y, LandmarksError)
        assert x.best.class_index == y.best.class_index and x.unknown == y.unknown
        assert abs(x.best.probability - y.best.probability) < 0.02  # torch runs bf16 autocast on capable CPUs
        assert abs(x.score - y.score) < 0.02 and x.threshold == y.threshold and x.decision == y.decision
        assert x.neighbours[0].index == y.neighbours[0].index and x.neighbours[0].path == y.neighbours[0].path
    assert onnx_predictor.training_photo(0) == torch_predictor.training_photo(0) is not None


def test_the_export_carries_the_decision_and_index(exported_run: Path) -> None:
    ckpt = load_checkpoint(exported_run)
    record = Predictor.load(exported_run.with_suffix(".onnx")).checkpoint
    assert record.calibration.rule() == ckpt.calibration.rule()
    assert record.calibration.temperature == ckpt.calibration.temperature
    assert record.index is not None and ckpt.index is not None
    assert np.array_equal(record.index.embeddings, ckpt.index.embeddings) and record.index.ids == ckpt.index.ids
    assert np.array_equal(record.index.labels, ckpt.index.labels)
    assert record.extra["dataset"]["root"] == ckpt.extra["dataset"]["root"]
    assert (record.model.image_size, record.model.crop_pct) == (ckpt.model.image_size, ckpt.model.crop_pct)


def test_an_export_deployed_alone_needs_no_checkpoint(exported_run: Path, photos: list[Path], tmp_path: Path) -> None:
    alone = Path(shutil.copy2(exported_run.with_suffix(".onnx"), tmp_path / "model.onnx"))
    got = Predictor.load(alone).predict(photos[0])
    want = Predictor.load(exported_run).predict(photos[0])
    assert got.model_dump(exclude={"source"}) == want.model_dump(exclude={"source"})


def test_backend_choice(exported_run: Path, tmp_path: Path) -> None:
    bare = Path(shutil.copy2(exported_run, tmp_path / "best.pt"))
    assert Predictor.load(bare).backend.name == "torch"  # auto without an export
    message = _one_line_error(ExportError, Predictor.load, bare, backend="onnx")
    assert "no ONNX export beside" in message and "landmarks export --checkpoint" in message
    message = _one_line_error(CheckpointError, Predictor.load, exported_run.with_suffix(".onnx"), backend="torch")
    assert "the torch backend needs the .pt checkpoint" in message
    _one_line_error(LandmarksError, Predictor.load, bare, backend="tensorflow")


def test_a_stale_export_is_an_error_not_a_fallback(exported_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy2(exported_run.with_suffix(".onnx"), run / "best.onnx")
    ckpt = load_checkpoint(exported_run)
    ckpt.calibration.temperature *= 2  # retrained since: another checkpoint under the same name
    save_checkpoint(ckpt, run / "best.pt")
    message = _one_line_error(ExportError, Predictor.load, run / "best.pt")
    assert "was exported from another best.pt" in message and "landmarks export --checkpoint" in message


@pytest.mark.parametrize("damage", ["truncated", "foreign", "edited index", "old format"])
def test_a_broken_export_beside_the_checkpoint_is_an_error(exported_run: Path, tmp_path: Path, damage: str) -> None:
    run = tmp_path / "run"
    run.mkdir()
    checkpoint = Path(shutil.copy2(exported_run, run / "best.pt"))
    export = run / "best.onnx"
    data = exported_run.with_suffix(".onnx").read_bytes()
    if damage == "truncated":
        export.write_bytes(data[: len(data) // 2])
    elif damage == "foreign":
        export.write_bytes(b"GIF89a" + bytes(200))
    else:
        proto = onnx.load_from_string(data)
        props = {p.key: p for p in proto.metadata_props}
        if damage == "edited index":
            index = json.loads(props[INDEX_KEY].value)
            index["labels"][0] = (index["labels"][0] + 1) % len(TINY_CLASSES)
            props[INDEX_KEY].value = json.dumps(index, sort_keys=True)
        else:
            meta = json.loads(props[METADATA_KEY].value)
            meta["format_version"] = 1
            props[METADATA_KEY].value = json.dumps(meta)
        export.write_bytes(proto.SerializeToString())
    message = _one_line_error(ExportError, Predictor.load, checkpoint)
    expected = {
        "truncated": "not a readable ONNX model",
        "foreign": "not a readable ONNX model",
        "edited index": "retrieval index does not match",
        "old format": "export it again",
    }[damage]
    assert expected in message


def test_a_missing_onnxruntime_is_an_error_with_an_export_present(
    exported_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert "onnxruntime is not installed" in _one_line_error(ExportError, Predictor.load, exported_run)


def test_the_cli_takes_the_backend_and_an_onnx_file(exported_run: Path, photos: list[Path]) -> None:
    runner = CliRunner()
    answers = {}
    for args in (
        ["--backend", "onnx"],
        ["--backend", "auto"],
        ["--checkpoint", str(exported_run.with_suffix(".onnx"))],
    ):
        checkpoint = [] if "--checkpoint" in args else ["--checkpoint", str(exported_run)]
        done = runner.invoke(app, ["predict", str(photos[0]), "--json", *checkpoint, *args])
        assert done.exit_code == 0, done.output
        answers[args[-1]] = json.loads(done.stdout)
    assert len({json.dumps(a, sort_keys=True) for a in answers.values()}) == 1


def _run_python(script: str, timeout: int = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "HOME": "/nonexistent"},
        timeout=timeout,
    )


def test_predict_geotag_and_serve_on_onnx_import_no_torch(
    exported_run: Path, photos: list[Path], tmp_path: Path
) -> None:
    """Run the real commands in a fresh interpreter; torch, torchvision and timm must never be imported."""
    geotag_photo = Path(shutil.copy2(photos[1], tmp_path / "geo.jpg"))
    geotag = shutil.which("exiftool") is not None
    script = f"""
import io, json, sys, os
os.environ["LANDMARKS_CACHE"] = {str(tmp_path / "cache")!r}
from typer.testing import CliRunner
from landmarks.cli import app
runner = CliRunner()
done = runner.invoke(app, ["predict", {str(photos[0])!r}, "--json", "--checkpoint", {str(exported_run)!r}])
assert done.exit_code == 0, done.output
if {geotag}:
    done = runner.invoke(app, ["geotag", {str(geotag_photo)!r}, "--dry-run", "--checkpoint", {str(exported_run)!r},
                               "--report", {str(tmp_path / "report.csv")!r}])
    assert done.exit_code in (0, 1), done.output
from fastapi.testclient import TestClient
from landmarks.inference.predictor import Predictor
from landmarks.serve.app import create_app
with TestClient(create_app(Predictor.load({str(exported_run)!r}))) as client:
    reply = client.post("/api/v1/predict", files={{"file": ("p.jpg", open({str(photos[0])!r}, "rb").read())}})
    assert reply.status_code == 200, reply.text
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision", "timm"))
print(json.dumps({{"heavy": heavy, "answer": reply.json()["top"][0]["folder"]}}))
"""
    done = _run_python(script)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    assert result["answer"] == Predictor.load(exported_run).predict(photos[0]).best.folder


def test_without_torch_a_checkpoint_alone_names_the_train_extra(exported_run: Path, tmp_path: Path) -> None:
    bare = Path(shutil.copy2(exported_run, tmp_path / "best.pt"))
    script = f"""
import sys
for name in ("torch", "torchvision", "timm"):
    sys.modules[name] = None  # what `import torch` sees when it is not installed
from landmarks.cli import main
sys.argv = ["landmarks", "predict", {str(tmp_path / "none.jpg")!r}, "--checkpoint", {str(bare)!r}]
main()
"""
    (tmp_path / "none.jpg").write_bytes(b"")
    done = _run_python(script)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "pip install 'landmarks[train]'" in done.stderr and "which has no ONNX export beside it" in done.stderr
    script = script.replace(
        '"predict", ' + repr(str(tmp_path / "none.jpg")) + ', "--checkpoint", ' + repr(str(bare)),
        '"train", "--data", ' + repr(str(tmp_path)) + ', "--out", ' + repr(str(tmp_path / "o")),
    )
    done = _run_python(script)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "needs torch" in done.stderr and "pip install 'landmarks[train]'" in done.stderr
