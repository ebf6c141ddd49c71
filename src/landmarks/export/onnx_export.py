"""`export_onnx`: a checkpoint's whole inference graph (backbone(s), head, temperature) as one ONNX model.

Exporter: torch's TorchScript-based one (`dynamo=False`). Why: it needs nothing beyond torch and
onnx, honours the requested opset, and exports these CNNs in seconds; the torch.export-based one
needs onnxscript, and here it could not down-convert to opset 17 (it logged a traceback and wrote
opset 18). Switch when the legacy one is removed from torch.

The graph takes `image` float32 [N, 3, S, S] (N dynamic) and returns `log_probs` (log-softmax of the
head's output divided by the temperature: the calibrated probabilities' logarithm), `features` (the
pooled backbone features the head consumes) and `embedding` when the model has `embed(features)`.
The decision rule and the retrieval index travel in the metadata and are applied in numpy by the
predictor, as for the torch backend.
"""

from __future__ import annotations

import copy
import io
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_linear_bn_eval

from landmarks import __version__
from landmarks.atomic import atomic_write_bytes
from landmarks.engine.checkpoint import Checkpoint, load_checkpoint
from landmarks.engine.fingerprint import model_fingerprint
from landmarks.errors import ExportError
from landmarks.runtime_onnx.metadata import (
    INDEX_KEY,
    INPUT,
    METADATA_KEY,
    CalibrationInfo,
    ExportMetadata,
    Preprocessing,
    encode_index,
    export_path_for,
    file_sha256,
    text_sha256,
)

PARITY_TOLERANCE = 1e-3
"""Max |log-prob difference| between torch and the fp32 export on a random batch, checked at export."""


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm1d into the Linear just before it in a Sequential (exact in eval).

    The exporter folds Conv+BN itself but leaves Linear+BN as a BatchNormalization node, which int8
    quantization would treat as a layer with weights of its own.
    """
    for child in module.children():
        fold_batchnorm(child)
    if isinstance(module, nn.Sequential):
        layers = list(module)
        for i in range(len(layers) - 1):
            linear, bn = layers[i], layers[i + 1]
            if isinstance(linear, nn.Linear) and isinstance(bn, nn.BatchNorm1d) and bn.track_running_stats:
                module[i] = fuse_linear_bn_eval(linear, bn)
                module[i + 1] = nn.Identity()
    return module


class InferenceGraph(nn.Module):
    """What inference computes from a preprocessed batch, as one module to trace (on a folded copy)."""

    def __init__(self, model: nn.Module, temperature: float) -> None:
        super().__init__()
        self.model = fold_batchnorm(copy.deepcopy(model).eval())
        self.temperature = float(temperature)
        self.has_embedding = callable(getattr(model, "embed", None))

    @property
    def output_names(self) -> list[str]:
        names = ["log_probs", "features"]
        if self.has_embedding:
            names.append("embedding")
        return names

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.model.forward_features(image)
        log_probs = torch.log_softmax(self.model.forward_head(features) / self.temperature, dim=1)
        outputs = [log_probs, features]
        if self.has_embedding:
            outputs.append(self.model.embed(features))
        return tuple(outputs)


def preprocessing_of(ckpt: Checkpoint) -> Preprocessing:
    cfg = ckpt.model
    return Preprocessing.for_model(cfg.image_size, cfg.crop_pct, cfg.mean, cfg.std)


def index_text(ckpt: Checkpoint) -> str | None:
    """The checkpoint's retrieval index as the export stores it (None without one)."""
    return encode_index(ckpt.index.to_dict()) if ckpt.index is not None else None


def build_metadata(
    ckpt: Checkpoint,
    checkpoint: Path,
    digest: str,
    outputs: list[str],
    precision: str,
    quantization: dict,
    index: str | None = None,
) -> ExportMetadata:
    cal = ckpt.calibration
    decision = cal.decision.to_dict() if cal.decision is not None else None
    return ExportMetadata(
        package_version=__version__,
        checkpoint_name=checkpoint.name,
        checkpoint_sha256=digest,
        classes=list(ckpt.classes),
        landmarks=[lm.to_dict() for lm in ckpt.landmarks],
        preprocessing=preprocessing_of(ckpt),
        calibration=CalibrationInfo(
            float(cal.temperature), float(cal.threshold), cal.score, dict(cal.details), decision=decision
        ),
        model=ckpt.model.to_dict(),
        precision=precision,  # type: ignore[arg-type]
        outputs=outputs,
        quantization=quantization,
        dataset=dict(ckpt.extra.get("dataset", {})),
        index_sha256=text_sha256(index) if index is not None else None,
        embedding_fingerprint=model_fingerprint(ckpt),
    )


def trace_to_onnx(graph: InferenceGraph, image_size: int, opset: int) -> bytes:
    """The serialised ONNX model of `graph` with a dynamic batch dimension."""
    dummy = torch.zeros(2, 3, image_size, image_size)  # N=2: a batch of 1 invites shape specialisation
    names = graph.output_names
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter announces its own deprecation on every call (see the module docstring).
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        torch.onnx.export(
            graph,
            (dummy,),
            buffer,
            dynamo=False,
            input_names=[INPUT],
            output_names=names,
            dynamic_axes={INPUT: {0: "N"}, **{name: {0: "N"} for name in names}},
            opset_version=opset,
            do_constant_folding=True,
        )
    return buffer.getvalue()


def with_metadata(model_bytes: bytes, meta: ExportMetadata, index: str | None = None) -> bytes:
    """The model with `meta` (and the retrieval index) in its metadata_props, checked by onnx.checker."""
    import onnx

    proto = onnx.load_from_string(model_bytes)
    kept = [p for p in proto.metadata_props if p.key not in (METADATA_KEY, INDEX_KEY)]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    proto.metadata_props.add(key=METADATA_KEY, value=meta.to_json())
    if index is not None:
        proto.metadata_props.add(key=INDEX_KEY, value=index)
    proto.producer_name, proto.producer_version = "landmarks", __version__
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(
            f"the exported graph does not pass onnx.checker: {' '.join(str(exc).split())[:300]}"
        ) from None
    return proto.SerializeToString()


def check_parity(graph: InferenceGraph, model_bytes: bytes, image_size: int) -> float:
    """Max |log-prob difference| of torch and ONNX Runtime on a seeded random batch; refuses a bad export."""
    import onnxruntime as ort

    batch = torch.randn(3, 3, image_size, image_size, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected = graph(batch)[0].numpy()
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    got = session.run(["log_probs"], {INPUT: batch.numpy()})[0]
    diff = float(np.abs(got - expected).max())
    if not diff <= PARITY_TOLERANCE:
        raise ExportError(f"the ONNX export disagrees with torch (max |log-prob diff| {diff:.2e}); not written")
    return diff


def _resolve_out(checkpoint: Path, out: Path | None, int8: bool) -> Path:
    out = Path(out) if out is not None else export_path_for(checkpoint, int8=int8)
    if out.resolve() == checkpoint.resolve():
        raise ExportError(f"refusing to write the export over its checkpoint {checkpoint}")
    if out.suffix != ".onnx":
        raise ExportError(f"the export's file name must end in .onnx, not {out.name!r}")
    return out


def _write(out: Path, data: bytes) -> Path:
    """Atomically: a full disk or a read-only folder leaves any earlier export as it was."""
    try:
        return atomic_write_bytes(out, data)
    except OSError as exc:
        raise ExportError(f"cannot write the export {out}: {exc.strerror or exc}") from None


def export_onnx(
    checkpoint: Path,
    out: Path | None = None,
    *,
    int8: bool = False,
    calibration_photos: Sequence[Path] = (),
    opset: int = 17,
) -> Path:
    """Write the ONNX export of `checkpoint` (atomically) and return its path.

    `out` defaults to beside the checkpoint (`best.pt` -> `best.onnx`, int8 -> `best.int8.onnx`).
    `int8` quantizes statically, calibrated on `calibration_photos` (val photos: never test ones).
    """
    checkpoint = Path(checkpoint)
    out = _resolve_out(checkpoint, out, int8)
    if int8 and not calibration_photos:
        raise ExportError("an int8 export needs calibration photos (the checkpoint's val split)")
    if not checkpoint.is_file():
        raise ExportError(f"checkpoint {checkpoint} does not exist")
    digest = file_sha256(checkpoint)
    ckpt = load_checkpoint(checkpoint)
    if file_sha256(checkpoint) != digest:
        raise ExportError(f"{checkpoint} changed while it was being read; try again once it is written")
    model = ckpt.build_model().float().eval()
    graph = InferenceGraph(model, ckpt.calibration.temperature).eval()
    pre = preprocessing_of(ckpt)
    fp32 = trace_to_onnx(graph, pre.image_size, opset)
    check_parity(graph, fp32, pre.image_size)
    index = index_text(ckpt)
    if not int8:
        meta = build_metadata(ckpt, checkpoint, digest, graph.output_names, "fp32", {}, index)
        return _write(out, with_metadata(fp32, meta, index))

    from landmarks.export.quantize import quantize_int8

    with tempfile.TemporaryDirectory(prefix="landmarks-int8-") as tmp:
        quantized, quantization = quantize_int8(fp32, Path(tmp), calibration_photos, pre)
    meta = build_metadata(ckpt, checkpoint, digest, graph.output_names, "int8", quantization, index)
    return _write(out, with_metadata(quantized, meta, index))
