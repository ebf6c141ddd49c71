"""What an ONNX export records about itself, stored as one JSON document in the model's `metadata_props`.

Why in the file: an export travels alone (a server may have no checkpoint beside it), so it carries
everything inference needs (classes, landmarks, preprocessing, calibration with its decision rule,
and the retrieval index of the training photos) and the SHA-256 of the checkpoint it was made from,
so it can never be paired with another checkpoint's metadata. The index is large, so it sits under a
key of its own (`INDEX_KEY`, base64 of its bytes) whose SHA-256 the main document records.
Standard library only: both the exporter (torch side) and the runtime (no torch) use it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from landmarks.errors import ExportError

FORMAT = "landmarks-onnx"
FORMAT_VERSION = 2
"""2: the decision rule, the retrieval index and the dataset's root. Version 1 exports still load, but
the predictor needs version 2 (`landmarks export` again)."""
METADATA_KEY = "landmarks"
"""The `metadata_props` key holding the JSON document."""
INDEX_KEY = "landmarks.index"
"""The `metadata_props` key holding the retrieval index (JSON, embeddings as base64)."""

INPUT = "image"
"""float32 [N, 3, image_size, image_size], normalised as `Preprocessing` says."""
REQUIRED_OUTPUTS = ("log_probs", "features")
"""Temperature-scaled log-softmax [N, C]; pooled backbone features [N, F] (what the head consumes)."""
OPTIONAL_OUTPUTS = ("embedding",)
"""`embedding` [N, E] when the model has `embed(features)` (what the retrieval index searches with)."""

Precision = Literal["fp32", "int8"]


def export_path_for(checkpoint: Path | str, *, int8: bool = False) -> Path:
    """Where the export of `checkpoint` lives by default: beside it, `best.pt` -> `best.onnx` / `best.int8.onnx`."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_suffix(".int8.onnx" if int8 else ".onnx")


def file_sha256(path: Path | str) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@dataclass(frozen=True)
class Preprocessing:
    """The eval transform: resize the shorter side to `resize_size`, centre-crop `image_size`, normalise."""

    image_size: int
    crop_pct: float
    resize_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bilinear"
    antialias: bool = True

    def __post_init__(self) -> None:
        if self.interpolation != "bilinear" or not self.antialias:
            raise ExportError(f"unsupported resize {self.interpolation!r} (antialias={self.antialias}) in the export")
        if not 0 < self.image_size <= self.resize_size or len(self.mean) != 3 or len(self.std) != 3:
            raise ExportError(f"inconsistent preprocessing in the export: {self}")
        if any(s <= 0 for s in self.std):
            raise ExportError(f"std must be positive in the export, got {self.std}")

    @classmethod
    def for_model(cls, image_size: int, crop_pct: float, mean: Any, std: Any) -> Preprocessing:
        """What `EvalPreset(image_size, mean, std, crop_pct=crop_pct)` does (timm's round(size / crop_pct))."""
        return cls(
            image_size=int(image_size),
            crop_pct=float(crop_pct),
            resize_size=round(image_size / crop_pct),
            mean=tuple(float(m) for m in mean),  # type: ignore[arg-type]
            std=tuple(float(s) for s in std),  # type: ignore[arg-type]
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessing:
        return cls(
            image_size=int(d["image_size"]),
            crop_pct=float(d["crop_pct"]),
            resize_size=int(d["resize_size"]),
            mean=tuple(float(m) for m in d["mean"]),  # type: ignore[arg-type]
            std=tuple(float(s) for s in d["std"]),  # type: ignore[arg-type]
            interpolation=str(d.get("interpolation", "bilinear")),
            antialias=bool(d.get("antialias", True)),
        )


@dataclass(frozen=True)
class CalibrationInfo:
    """The checkpoint's `Calibration` (temperature, threshold, score, details)."""

    temperature: float
    threshold: float
    score: str
    details: dict[str, Any] = field(default_factory=dict)
    decision: dict[str, Any] | None = None
    """The checkpoint's `DecisionRule.to_dict()` (None in version-1 exports and for legacy checkpoints)."""

    def threshold_for(self, score: str | None = None) -> float:
        """The unknown threshold of `score` (default: the checkpoint's own score)."""
        if score is None or score == self.score:
            return self.threshold
        thresholds = self.details.get("thresholds", {})
        if score not in thresholds:
            raise ExportError(f"the export has no threshold fitted for the {score!r} score")
        return float(thresholds[score])


@dataclass(frozen=True)
class ExportMetadata:
    package_version: str
    checkpoint_name: str
    """File name of the checkpoint it was exported from (looked for beside the export)."""
    checkpoint_sha256: str
    classes: list[str]
    landmarks: list[dict[str, Any]]
    """`Landmark.to_dict()` of each class, in class order."""
    preprocessing: Preprocessing
    calibration: CalibrationInfo
    model: dict[str, Any]
    """The checkpoint's `ModelConfig.to_dict()`."""
    precision: Precision
    outputs: list[str]
    quantization: dict[str, Any] = field(default_factory=dict)
    """int8 only: how it was quantized and calibrated."""
    dataset: dict[str, Any] = field(default_factory=dict)
    """The checkpoint's `extra["dataset"]` (its root: where the neighbours' photos are, when at hand)."""
    index_sha256: str | None = None
    """SHA-256 of the `INDEX_KEY` document; None when the checkpoint has no retrieval index."""
    embedding_fingerprint: dict[str, Any] = field(default_factory=dict)
    """The checkpoint's embedding identity (engine/fingerprint.py), which a user's gallery must match;
    empty in exports made before galleries."""
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        d = asdict(self)
        d["preprocessing"] = self.preprocessing.to_dict()
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "the export") -> ExportMetadata:
        try:
            d = json.loads(text)
        except ValueError as exc:
            raise ExportError(f"{source}: its landmarks metadata is not valid JSON ({exc})") from None
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ExportError(f"{source} is not a landmarks export (metadata format {d.get('format')!r})")
        if int(d.get("format_version", 0)) > FORMAT_VERSION:
            raise ExportError(
                f"{source} was written by a newer landmarks ({d.get('package_version')}); upgrade to use it"
            )
        try:
            precision = d["precision"]
            if precision not in ("fp32", "int8"):
                raise ValueError(f"precision {precision!r}")
            meta = cls(
                package_version=str(d["package_version"]),
                checkpoint_name=str(d["checkpoint_name"]),
                checkpoint_sha256=str(d["checkpoint_sha256"]),
                classes=[str(c) for c in d["classes"]],
                landmarks=[dict(lm) for lm in d["landmarks"]],
                preprocessing=Preprocessing.from_dict(d["preprocessing"]),
                calibration=CalibrationInfo(**d["calibration"]),
                model=dict(d["model"]),
                precision=precision,
                outputs=[str(o) for o in d["outputs"]],
                quantization=dict(d.get("quantization", {})),
                dataset=dict(d.get("dataset", {})),
                index_sha256=str(d["index_sha256"]) if d.get("index_sha256") else None,
                embedding_fingerprint=dict(d.get("embedding_fingerprint") or {}),
                format=FORMAT,
                format_version=int(d["format_version"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ExportError(f"{source}: damaged landmarks metadata (missing or bad field: {exc})") from None
        if len(meta.classes) != len(meta.landmarks) or not meta.classes:
            raise ExportError(
                f"{source}: damaged landmarks metadata ({len(meta.classes)} classes, {len(meta.landmarks)} landmarks)"
            )
        missing = [o for o in REQUIRED_OUTPUTS if o not in meta.outputs]
        if missing:
            raise ExportError(f"{source}: damaged landmarks metadata (no {', '.join(missing)} output)")
        return meta


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def encode_index(index: dict[str, Any]) -> str:
    """`EmbeddingIndex.to_dict()` as one JSON document (its embedding bytes as base64)."""
    plain = dict(index)
    plain["embeddings"] = base64.b64encode(bytes(index["embeddings"])).decode("ascii")
    return json.dumps(plain, sort_keys=True)


def decode_index(text: str, expected_sha256: str | None, source: str = "the export") -> dict[str, Any]:
    """The `EmbeddingIndex.to_dict()` stored by `encode_index`, refused unless its SHA-256 is the recorded one."""
    if expected_sha256 is None or text_sha256(text) != expected_sha256:
        raise ExportError(f"{source}: its retrieval index does not match its metadata (damaged or edited export)")
    try:
        d = json.loads(text)
        d["embeddings"] = base64.b64decode(d["embeddings"], validate=True)
    except (ValueError, KeyError, TypeError) as exc:
        raise ExportError(f"{source}: damaged retrieval index ({exc})") from None
    return d
