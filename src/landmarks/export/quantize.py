"""Static int8 quantization of an fp32 export with ONNX Runtime's tools, calibrated on real photos.

QDQ format, per-channel int8 weights, uint8 activations whose ranges are the min/max seen on the
calibration photos, which are decoded and preprocessed exactly as inference does (`load_rgb` with
JPEG draft decoding, then `runtime_onnx.preprocess`), so the ranges are those the model will meet.
`quant_pre_process` runs shape inference and ONNX Runtime's graph fusions first, as its docs advise.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quant_pre_process,
    quantize_static,
)

from landmarks.data.images import load_rgb
from landmarks.errors import ExportError, LandmarksError
from landmarks.runtime_onnx.metadata import INPUT, REQUIRED_OUTPUTS, Preprocessing
from landmarks.runtime_onnx.preprocess import preprocess_batch

CALIBRATION_BATCH = 8


class PhotoCalibrationReader(CalibrationDataReader):
    """Feeds batches of preprocessed photos; unreadable photos are skipped and counted."""

    def __init__(self, photos: Sequence[Path], pre: Preprocessing, batch_size: int = CALIBRATION_BATCH) -> None:
        self.photos = list(photos)
        self.pre = pre
        self.batch_size = batch_size
        self.used = 0
        self.skipped: list[str] = []
        self._batches = self._iterate()

    def _iterate(self) -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, len(self.photos), self.batch_size):
            images = []
            for path in self.photos[start : start + self.batch_size]:
                try:
                    images.append(load_rgb(path, min_side=self.pre.resize_size))
                except LandmarksError as exc:
                    self.skipped.append(str(exc))
            if images:
                self.used += len(images)
                yield {INPUT: preprocess_batch(images, self.pre)}

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def side_branch_nodes(model_path: Path, keep: Sequence[str] = REQUIRED_OUTPUTS) -> list[str]:
    """Names of the nodes that compute only the optional outputs (the embedding).

    They stay fp32: they are a few small matrix products, and a cosine threshold fitted in fp32
    should not move because of rounding in its own arithmetic.
    """
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    producer = {out: node for node in graph.node for out in node.output}

    def ancestors(outputs: Sequence[str]) -> set[str]:
        seen: set[str] = set()
        stack = [producer[o] for o in outputs if o in producer]
        while stack:
            node = stack.pop()
            if node.name not in seen:
                seen.add(node.name)
                stack.extend(producer[i] for i in node.input if i in producer)
        return seen

    extra = [o.name for o in graph.output if o.name not in keep]
    return sorted(ancestors(extra) - ancestors(keep))


def quantize_int8(
    fp32: bytes, workdir: Path, photos: Sequence[Path], pre: Preprocessing
) -> tuple[bytes, dict[str, Any]]:
    """The int8 model's bytes and a record of how it was made (stored in the export's metadata)."""
    source, prepared, target = workdir / "fp32.onnx", workdir / "prepared.onnx", workdir / "int8.onnx"
    source.write_bytes(fp32)
    # ONNX's own shape inference, not ORT's symbolic one: that gives up on the Lite0+Lite2 composite (its
    # resize) and then dumps its half-inferred model into the current directory.
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    reader = PhotoCalibrationReader(photos, pre)
    settings: dict[str, Any] = {
        "quant_format": QuantFormat.QDQ,
        "per_channel": True,
        "reduce_range": False,
        "activation_type": QuantType.QUInt8,
        "weight_type": QuantType.QInt8,
        "calibrate_method": CalibrationMethod.MinMax,
        "nodes_to_exclude": side_branch_nodes(prepared),
    }
    try:
        quantize_static(str(prepared), str(target), reader, **settings)
    except Exception:
        if reader.used == 0:  # ORT fails on an empty calibration set in its own words; say why instead
            raise ExportError(
                f"none of the {len(photos)} calibration photos could be read (e.g. {reader.skipped[:1]})"
            ) from None
        raise
    quantized = target.read_bytes()
    record = {
        "method": "onnxruntime static quantization",
        "format": "QDQ",
        "weights": "int8 per-channel",
        "activations": "uint8",
        "reduce_range": False,
        "calibrate_method": "MinMax",
        "calibration_photos": reader.used,
        "calibration_skipped": len(reader.skipped),
        "fp32_nodes": len(settings["nodes_to_exclude"]),
        "top1_agreement_with_fp32_on_calibration_photos": top1_agreement(fp32, quantized, photos, pre),
    }
    return quantized, record


def top1_agreement(fp32: bytes, int8: bytes, photos: Sequence[Path], pre: Preprocessing) -> float:
    """Share of `photos` whose top-1 class the int8 model shares with the fp32 one.

    Recorded in the export so that a backbone int8 does not suit can be told from the file alone.
    """
    import onnxruntime as ort

    sessions = [ort.InferenceSession(model, providers=["CPUExecutionProvider"]) for model in (fp32, int8)]
    same = total = 0
    for batch in iter(PhotoCalibrationReader(photos, pre).get_next, None):
        fp32_top, int8_top = (s.run(["log_probs"], batch)[0].argmax(1) for s in sessions)
        same += int((fp32_top == int8_top).sum())
        total += len(fp32_top)
    return round(same / total, 4) if total else 0.0
