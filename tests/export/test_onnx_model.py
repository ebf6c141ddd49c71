"""`OnnxModel`: lazy thread-safe loading, one-line errors for every bad export, and no torch import."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import onnx
import pytest
from export_helpers import random_checkpoint
from onnx import TensorProto, helper

from landmarks.engine.checkpoint import load_checkpoint, save_checkpoint
from landmarks.errors import ExportError, LandmarksError
from landmarks.export.onnx_export import export_onnx
from landmarks.runtime_onnx.metadata import METADATA_KEY
from landmarks.runtime_onnx.model import OnnxModel

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    return export_onnx(random_checkpoint(tmp_path / "run" / "best.pt"))


def _error(path: Path, **kwargs: object) -> str:
    with pytest.raises(ExportError) as caught:
        OnnxModel(path, **kwargs).load()  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message and isinstance(caught.value, LandmarksError)
    return message


def test_construction_is_cheap_and_loading_happens_once_across_threads(
    exported: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onnxruntime as ort

    created = []
    real = ort.InferenceSession

    def counting(*args: object, **kwargs: object) -> object:
        created.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", counting)
    model = OnnxModel(exported, threads=1)
    assert created == []
    batch = np.zeros((2, 3, 48, 48), np.float32)
    results: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: results.append(model.run(batch)["log_probs"])) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert created == [1] and len(results) == 8
    assert all(np.array_equal(r, results[0]) for r in results)


def test_run_checks_the_batch_shape(exported: Path) -> None:
    model = OnnxModel(exported)
    with pytest.raises(ValueError, match=r"\[N>=1, 3, 48, 48\]"):
        model.run(np.zeros((3, 48, 48), np.float32))
    with pytest.raises(ValueError, match="got \\[1, 3, 64, 64\\]"):
        model.run(np.zeros((1, 3, 64, 64), np.float32))
    assert model.run(np.zeros((1, 3, 48, 48)), outputs=["features"]).keys() == {"features"}  # float64 is cast


def test_missing_truncated_and_foreign_files(exported: Path, tmp_path: Path) -> None:
    assert "does not exist" in _error(tmp_path / "nothing.onnx")
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(exported.read_bytes()[: exported.stat().st_size // 2])
    assert "not a readable ONNX model" in _error(truncated)
    photo = tmp_path / "photo.onnx"
    photo.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40)
    assert "not a readable ONNX model" in _error(photo)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    assert "not a readable ONNX model" in _error(empty)


def _identity_model(path: Path, metadata: str | None = None) -> Path:
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 48, 48])
    y = helper.make_tensor_value_info("log_probs", TensorProto.FLOAT, ["N", 3, 48, 48])
    model = helper.make_model(
        helper.make_graph([helper.make_node("Identity", ["image"], ["log_probs"])], "g", [x], [y])
    )
    if metadata is not None:
        model.metadata_props.add(key=METADATA_KEY, value=metadata)
    onnx.save(model, str(path))
    return path


def test_an_onnx_model_that_is_not_a_landmarks_export(exported: Path, tmp_path: Path) -> None:
    assert "not a landmarks export" in _error(_identity_model(tmp_path / "foreign.onnx"))
    assert "not valid JSON" in _error(_identity_model(tmp_path / "bad.onnx", "{oops"))
    assert "not a landmarks export" in _error(_identity_model(tmp_path / "other.onnx", '{"format": "x"}'))
    good = {p.key: p.value for p in onnx.load(str(exported)).metadata_props}[METADATA_KEY]
    damaged = json.loads(good)
    del damaged["classes"]
    assert "damaged landmarks metadata" in _error(_identity_model(tmp_path / "damaged.onnx", json.dumps(damaged)))
    newer = dict(json.loads(good), format_version=99)
    assert "newer landmarks" in _error(_identity_model(tmp_path / "newer.onnx", json.dumps(newer)))
    # Real metadata on a graph that lacks its outputs: the file was tampered with.
    assert "lacks the outputs" in _error(_identity_model(tmp_path / "tampered.onnx", good))


def test_an_export_is_refused_beside_another_checkpoint(exported: Path, tmp_path: Path) -> None:
    checkpoint = exported.with_name("best.pt")
    OnnxModel(exported).load()  # beside its own checkpoint: fine
    ckpt = load_checkpoint(checkpoint)
    ckpt.calibration.temperature = 2.5  # retrained or recalibrated since the export
    save_checkpoint(ckpt, checkpoint)
    message = _error(exported)
    assert "exported from another best.pt" in message and "landmarks export --checkpoint" in message
    checkpoint.unlink()
    OnnxModel(exported).load()  # deployed alone: its own metadata is all it needs
    other = random_checkpoint(tmp_path / "other.pt", seed=1)
    assert "exported from another" in _error(exported, checkpoint=other)
    assert "cannot read checkpoint" in _error(exported, checkpoint=tmp_path / "gone.pt")


def test_a_missing_onnxruntime_is_a_clear_error(exported: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what `import onnxruntime` sees when not installed
    message = _error(exported)
    assert "onnxruntime is not installed" in message and "pip install onnxruntime" in message


def test_the_runtime_never_imports_torch(exported: Path, tmp_path: Path) -> None:
    """Decode, preprocess and run an export in a fresh interpreter; torch must stay out of sys.modules."""
    from helpers import synthetic_photo

    photo = tmp_path / "photo.jpg"
    synthetic_photo(1, 7, size=(120, 90)).save(photo)
    script = f"""
import json, sys
from landmarks.data.images import load_rgb
from landmarks.runtime_onnx.model import OnnxModel
from landmarks.runtime_onnx.preprocess import preprocess
model = OnnxModel({str(exported)!r})
pre = model.metadata.preprocessing
out = model.run(preprocess(load_rgb({str(photo)!r}, min_side=pre.resize_size), pre)[None])
print(json.dumps({{"torch": sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")),
                  "log_probs": out["log_probs"][0].tolist()}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env={"PYTHONPATH": str(SRC)}, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["torch"] == []
    assert len(result["log_probs"]) == 4 and abs(float(np.exp(result["log_probs"]).sum()) - 1) < 1e-5
