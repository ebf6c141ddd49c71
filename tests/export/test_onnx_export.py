"""`export_onnx`: parity with torch, the metadata it records, where and how it writes, int8."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from export_helpers import random_checkpoint
from torch.nn import functional as F

from landmarks.data.images import load_rgb
from landmarks.data.transforms import EvalPreset
from landmarks.engine.calibration import calibrated_probs
from landmarks.engine.checkpoint import load_checkpoint
from landmarks.errors import CheckpointError, ExportError
from landmarks.export import onnx_export
from landmarks.export.onnx_export import export_onnx
from landmarks.export.photos import prepared_dataset, spread, validation_photos
from landmarks.models.classifier import LandmarkClassifier
from landmarks.runtime_onnx.metadata import METADATA_KEY, ExportMetadata, file_sha256
from landmarks.runtime_onnx.model import OnnxModel


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    return random_checkpoint(tmp_path / "run" / "best.pt")


def _torch_outputs(checkpoint: Path, batch: np.ndarray) -> dict[str, np.ndarray]:
    """What the torch predictor computes: calibrated log-probs, features, the retrieval embedding."""
    ckpt = load_checkpoint(checkpoint)
    model = ckpt.build_model()
    with torch.inference_mode():
        features = model.forward_features(torch.from_numpy(batch))
        probs = calibrated_probs(model.forward_head(features), ckpt.calibration.temperature)
        out = {"log_probs": probs.log().numpy(), "features": features.numpy()}
        if hasattr(model, "embed"):
            out["embedding"] = model.embed(features).numpy()
    return out


@pytest.mark.parametrize("n", [1, 7])
def test_fp32_export_matches_torch(checkpoint: Path, n: int) -> None:
    path = export_onnx(checkpoint)
    batch = np.random.default_rng(n).normal(size=(n, 3, 48, 48)).astype(np.float32)
    got, expected = OnnxModel(path).run(batch), _torch_outputs(checkpoint, batch)
    assert sorted(got) == sorted(expected) == ["embedding", "features", "log_probs"]
    for name, value in expected.items():
        assert got[name].shape == value.shape
        assert np.abs(got[name] - value).max() < 1e-5, name  # measured: ~1e-7
    assert not np.allclose(got["log_probs"][0], got["log_probs"][0].mean())  # a real, non-uniform answer


def test_the_metadata_records_the_checkpoint_and_everything_inference_needs(checkpoint: Path) -> None:
    path = export_onnx(checkpoint)
    assert path == checkpoint.with_suffix(".onnx")
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    meta = ExportMetadata.from_json({p.key: p.value for p in proto.metadata_props}[METADATA_KEY])
    ckpt = load_checkpoint(checkpoint)
    assert meta.checkpoint_name == "best.pt" and meta.checkpoint_sha256 == file_sha256(checkpoint)
    assert meta.classes == ckpt.classes and meta.landmarks == [lm.to_dict() for lm in ckpt.landmarks]
    assert meta.model == ckpt.model.to_dict() and meta.precision == "fp32" and meta.quantization == {}
    preset = EvalPreset(ckpt.model.image_size, ckpt.model.mean, ckpt.model.std, crop_pct=ckpt.model.crop_pct)
    pre = meta.preprocessing
    assert (pre.image_size, pre.resize_size, pre.crop_pct) == (48, preset.resize_size, 0.875)
    assert (pre.mean, pre.std, pre.interpolation) == (ckpt.model.mean, ckpt.model.std, "bilinear")
    cal = meta.calibration
    assert (cal.temperature, cal.threshold, cal.score) == (1.7, 0.3, "max_softmax")
    assert cal.threshold_for("knn") == 0.5
    assert [i.name for i in proto.graph.input] == ["image"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"


def test_an_embed_method_adds_an_embedding_output(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def embed(self: LandmarkClassifier, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(features[:, :8] * 2 + 1, dim=1)

    monkeypatch.setattr(LandmarkClassifier, "embed", embed, raising=False)
    path = export_onnx(checkpoint)
    batch = np.random.default_rng(0).normal(size=(3, 3, 48, 48)).astype(np.float32)
    got = OnnxModel(path).run(batch)
    assert "embedding" in OnnxModel(path).metadata.outputs
    assert np.abs(got["embedding"] - _torch_outputs(checkpoint, batch)["embedding"]).max() < 1e-5


def test_out_is_checked_and_failures_leave_the_old_export(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ExportError, match="over its checkpoint"):
        export_onnx(checkpoint, checkpoint)
    with pytest.raises(ExportError, match=r"end in \.onnx"):
        export_onnx(checkpoint, tmp_path / "model.bin")
    target = export_onnx(checkpoint, tmp_path / "elsewhere" / "model.onnx")
    before = target.read_bytes()

    def broken(*args: object, **kwargs: object) -> float:
        raise ExportError("the ONNX export disagrees with torch")

    monkeypatch.setattr(onnx_export, "check_parity", broken)
    with pytest.raises(ExportError, match="disagrees"):
        export_onnx(checkpoint, target)
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir()] == ["model.onnx"]  # no temporaries left behind


def test_a_full_disk_is_a_clear_error_that_keeps_the_old_export(
    checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    target = export_onnx(checkpoint)
    before = target.read_bytes()

    def full(fd: int) -> None:  # where a full disk shows up for buffered writes
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(ExportError, match=r"cannot write the export .*No space left on device"):
        export_onnx(checkpoint)
    monkeypatch.undo()
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir() if p.suffix == ".tmp"] == []


def test_bad_checkpoints_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="does not exist"):
        export_onnx(tmp_path / "missing.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not a landmarks checkpoint"):
        export_onnx(foreign)


def test_int8_needs_readable_calibration_photos(checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="calibration photos"):
        export_onnx(checkpoint, int8=True)
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not a photo")
    with pytest.raises(ExportError, match="none of the 1 calibration photos"):
        export_onnx(checkpoint, int8=True, calibration_photos=[junk])
    assert not checkpoint.with_suffix(".int8.onnx").exists()


def test_int8_export_of_a_trained_model_agrees_with_fp32(tiny_checkpoint: Path, tmp_path: Path) -> None:
    """Calibrated on the run's val photos; top-1 compared with the fp32 export on its test photos."""
    fp32 = export_onnx(tiny_checkpoint, tmp_path / "fp32.onnx")
    photos = validation_photos(tiny_checkpoint, progress=False)
    int8 = export_onnx(tiny_checkpoint, tmp_path / "int8.onnx", int8=True, calibration_photos=photos)
    meta = OnnxModel(int8).metadata
    assert meta.precision == "int8" and meta.quantization["calibration_photos"] == len(photos) > 0
    assert meta.quantization["top1_agreement_with_fp32_on_calibration_photos"] >= 0.9
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in onnx.load(str(int8)).graph.node}
    ckpt = load_checkpoint(tiny_checkpoint)
    data = Path(ckpt.train_config["data"])
    from landmarks.runtime_onnx.preprocess import preprocess_batch

    test = sorted((data / "test").rglob("*.jpg"))
    batch = preprocess_batch([load_rgb(p, min_side=meta.preprocessing.resize_size) for p in test], meta.preprocessing)
    top_fp32 = OnnxModel(fp32).run(batch)["log_probs"].argmax(1)
    top_int8 = OnnxModel(int8).run(batch)["log_probs"].argmax(1)
    assert (top_fp32 == top_int8).mean() >= 0.9


def test_calibration_photos_are_the_val_split_spread_over_classes(tiny_checkpoint: Path) -> None:
    prepared = prepared_dataset(tiny_checkpoint, progress=False)
    val = [s.path for s in prepared.val]
    assert validation_photos(tiny_checkpoint, progress=False) == val
    few = validation_photos(tiny_checkpoint, limit=4, progress=False)
    assert len(few) == 4 and set(few) <= set(val)
    labels = {s.path: s.label for s in prepared.val}
    assert len({labels[p] for p in few}) == 4  # one per class, not the first class's four
    assert not {s.path for s in prepared.test} & set(few)
    assert spread([Path(str(i)) for i in range(10)], 3) == [Path("0"), Path("3"), Path("6")]
