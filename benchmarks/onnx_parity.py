"""Parity of the ONNX exports with torch on proxy44 test: log-prob differences, top-1, int8 agreement.

Exports the checkpoint as fp32 and as int8 (calibrated on its val photos) into a temporary folder,
decodes every test photo once (as the predictor does: JPEG draft to the resize size) and runs:
- torch fp32 on the EvalPreset tensors (the reference), and torch as the Predictor runs it (bf16
  autocast on CPUs with AVX512-BF16/AMX);
- ONNX fp32 on the same tensors (the graph alone) and on the numpy/Pillow preprocessing (end to end);
- ONNX int8 on the numpy/Pillow preprocessing.

    LANDMARKS_CACHE=runs/cache PYTHONPATH=src python benchmarks/onnx_parity.py --checkpoint runs/lite0/best.pt
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from landmarks.data.images import load_rgb
from landmarks.data.transforms import EvalPreset
from landmarks.engine.checkpoint import load_checkpoint
from landmarks.engine.runtime import Runtime
from landmarks.export.onnx_export import export_onnx
from landmarks.export.photos import prepared_dataset, spread
from landmarks.runtime_onnx.model import OnnxModel
from landmarks.runtime_onnx.preprocess import preprocess_batch

BATCH = 32


def torch_log_probs(model: torch.nn.Module, batch: torch.Tensor, temperature: float, runtime: Runtime) -> np.ndarray:
    out = []
    with torch.inference_mode():
        for start in range(0, len(batch), BATCH):
            chunk = runtime.to_input(batch[start : start + BATCH])
            with runtime.autocast():
                log_probs = model(chunk).float()
            out.append(torch.log_softmax(log_probs / temperature, dim=1).cpu().numpy())
    return np.concatenate(out)


def onnx_log_probs(model: OnnxModel, batch: np.ndarray) -> np.ndarray:
    return np.concatenate(
        [model.run(batch[s : s + BATCH], outputs=["log_probs"])["log_probs"] for s in range(0, len(batch), BATCH)]
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--data", type=Path, default=None, help="dataset folder (default: the checkpoint's)")
    p.add_argument("--calibration-size", type=int, default=300, help="val photos for int8 calibration")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads")
    args = p.parse_args()

    ckpt = load_checkpoint(args.checkpoint)
    prepared = prepared_dataset(args.checkpoint, args.data, progress=False)
    calibration = spread([s.path for s in prepared.val], args.calibration_size)
    figures: dict[str, object] = {
        "checkpoint": str(args.checkpoint),
        "backbone": ckpt.model.backbone or ckpt.model.arch,
        "test_photos": len(prepared.test),
        "calibration_photos": len(calibration),
        "checkpoint_test_top1_cached_pipeline": ckpt.metrics.get("test_top1"),
    }
    with tempfile.TemporaryDirectory(prefix="landmarks-onnx-parity-") as tmp:
        started = time.perf_counter()
        fp32_path = export_onnx(args.checkpoint, Path(tmp) / "fp32.onnx")
        figures["export_fp32_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        int8_path = export_onnx(args.checkpoint, Path(tmp) / "int8.onnx", int8=True, calibration_photos=calibration)
        figures["export_int8_s"] = round(time.perf_counter() - started, 1)
        figures["size_mb"] = {
            "fp32": round(fp32_path.stat().st_size / 1e6, 1),
            "int8": round(int8_path.stat().st_size / 1e6, 1),
        }
        fp32, int8 = OnnxModel(fp32_path, threads=args.threads), OnnxModel(int8_path, threads=args.threads)
        pre = fp32.metadata.preprocessing
        cfg = ckpt.model
        preset = EvalPreset(cfg.image_size, cfg.mean, cfg.std, crop_pct=cfg.crop_pct)
        images = [load_rgb(s.path, min_side=pre.resize_size) for s in prepared.test]
        targets = np.array([s.label for s in prepared.test])
        torch_batch = torch.stack([preset(image) for image in images])
        numpy_batch = preprocess_batch(images, pre)
        del images

        model = ckpt.build_model()
        temperature = ckpt.calibration.temperature
        reference = torch_log_probs(model, torch_batch, temperature, Runtime.detect("cpu", amp=False))
        predictor_runtime = Runtime.detect("cpu")
        as_predictor = torch_log_probs(predictor_runtime.prepare(model), torch_batch, temperature, predictor_runtime)
        graph_only = onnx_log_probs(fp32, torch_batch.numpy())
        end_to_end = onnx_log_probs(fp32, numpy_batch)
        quantized = onnx_log_probs(int8, numpy_batch)

    def top1(log_probs: np.ndarray) -> float:
        return round(float((log_probs.argmax(1) == targets).mean()), 4)

    def agreement(a: np.ndarray, b: np.ndarray) -> float:
        return round(float((a.argmax(1) == b.argmax(1)).mean()), 4)

    threshold = ckpt.calibration.threshold if ckpt.calibration.score == "max_softmax" else None
    figures |= {
        "max_abs_diff_log_probs": {
            "onnx_fp32_vs_torch_same_tensors": float(np.abs(graph_only - reference).max()),
            "onnx_fp32_numpy_preprocessing_vs_torch": float(np.abs(end_to_end - reference).max()),
            "onnx_int8_vs_onnx_fp32": float(np.abs(quantized - end_to_end).max()),
        },
        "max_abs_diff_top_probability": {
            "onnx_fp32_numpy_preprocessing_vs_torch": float(
                np.abs(np.exp(end_to_end).max(1) - np.exp(reference).max(1)).max()
            ),
            "onnx_int8_vs_onnx_fp32": float(np.abs(np.exp(quantized).max(1) - np.exp(end_to_end).max(1)).max()),
        },
        "test_top1": {
            "torch_fp32": top1(reference),
            f"torch_predictor_{predictor_runtime.describe().split(', ', 1)[1].replace(' ', '_')}": top1(as_predictor),
            "onnx_fp32": top1(end_to_end),
            "onnx_int8": top1(quantized),
        },
        "top1_agreement": {
            "onnx_fp32_vs_torch_fp32": agreement(end_to_end, reference),
            "onnx_int8_vs_onnx_fp32": agreement(quantized, end_to_end),
        },
    }
    if threshold is not None:
        known = [np.exp(lp).max(1) >= threshold for lp in (end_to_end, quantized)]
        figures["unknown_decision_agreement_int8_vs_fp32"] = round(float((known[0] == known[1]).mean()), 4)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
