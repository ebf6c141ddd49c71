"""Checkpoints: a round trip keeps predictions; wrong, truncated and foreign files are refused clearly."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from landmarks.engine.checkpoint import load_checkpoint, save_checkpoint
from landmarks.errors import CheckpointError


def test_round_trip_keeps_weights_and_predictions(tiny_checkpoint: Path, tmp_path: Path) -> None:
    ckpt = load_checkpoint(tiny_checkpoint)
    copy = save_checkpoint(ckpt, tmp_path / "copy.pt")
    again = load_checkpoint(copy)
    assert again.classes == ckpt.classes and again.landmarks == ckpt.landmarks
    assert again.model == ckpt.model and again.calibration == ckpt.calibration
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ckpt.build_model()(x), again.build_model()(x))


def test_saving_is_atomic(tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure mid-save (say, a full disk) leaves the previous file intact and no temporary behind."""
    ckpt = load_checkpoint(tiny_checkpoint)
    target = save_checkpoint(ckpt, tmp_path / "best.pt")
    before = target.read_bytes()

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(ckpt, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


def test_truncated_file(tiny_checkpoint: Path, tmp_path: Path) -> None:
    broken = tmp_path / "truncated.pt"
    broken.write_bytes(tiny_checkpoint.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="truncated or not a torch file"):
        load_checkpoint(broken)


def test_not_a_torch_file(tmp_path: Path) -> None:
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable landmarks checkpoint"):
        load_checkpoint(text)


def test_foreign_state_dict(tmp_path: Path) -> None:
    foreign = tmp_path / "resnet.pt"
    torch.save({"conv1.weight": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="not a landmarks checkpoint"):
        load_checkpoint(foreign)


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("this must never run",))


def test_pickled_code_is_never_executed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evil = tmp_path / "evil.pt"
    torch.save({"format": "landmarks-checkpoint", "x": _Payload()}, evil, pickle_protocol=pickle.DEFAULT_PROTOCOL)
    with pytest.raises(CheckpointError, match="refusing to load"):
        load_checkpoint(evil)
    assert "must never run" not in capsys.readouterr().out


def test_weights_that_do_not_fit_the_model(tiny_checkpoint: Path, tmp_path: Path) -> None:
    ckpt = load_checkpoint(tiny_checkpoint)
    ckpt.state_dict = {k: v for k, v in list(ckpt.state_dict.items())[:-2]}
    damaged = save_checkpoint(ckpt, tmp_path / "damaged.pt")
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(damaged).build_model()


def test_newer_format_asks_for_an_upgrade(tiny_checkpoint: Path, tmp_path: Path) -> None:
    raw = torch.load(tiny_checkpoint, weights_only=True)
    raw["format_version"] = 99
    future = tmp_path / "future.pt"
    torch.save(raw, future)
    with pytest.raises(CheckpointError, match="newer landmarks"):
        load_checkpoint(future)
