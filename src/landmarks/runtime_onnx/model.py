"""`OnnxModel`: an exported landmarks model run by ONNX Runtime, loaded lazily and once (Immich's InferenceModel).

Construction is cheap; the session is created on first use, under a lock, so a server's threads share
one session (ONNX Runtime's `run` is safe to call concurrently). Loading checks, in this order, that
onnxruntime is installed, that the file is a readable ONNX model, that it carries landmarks metadata
whose inputs and outputs match the graph, and, when the checkpoint it was exported from sits beside it
(or is given), that the checkpoint's SHA-256 is the recorded one. Each failure is one `ExportError` line.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from landmarks.errors import ExportError
from landmarks.runtime_onnx.metadata import INDEX_KEY, INPUT, METADATA_KEY, ExportMetadata, decode_index, file_sha256


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class OnnxModel:
    """One export: `.metadata` (what it records) and `.run(batch)` (its outputs by name)."""

    def __init__(
        self,
        path: Path | str,
        *,
        threads: int | None = None,
        checkpoint: Path | str | None = None,
        providers: list[str] | None = None,
    ) -> None:
        """`threads`: intra-op threads (default: ONNX Runtime's, one per core). `checkpoint`: the
        checkpoint the export must have been made from (default: the recorded file name, if it sits
        beside the export). `providers`: ONNX Runtime execution providers (default: CPU)."""
        self.path = Path(path)
        self.threads = threads
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.providers = providers or ["CPUExecutionProvider"]
        self._lock = threading.Lock()
        self._loaded: tuple[Any, ExportMetadata] | None = None
        self._index_text: str | None = None

    def __repr__(self) -> str:
        return f"OnnxModel({str(self.path)!r}, loaded={self._loaded is not None})"

    # ------------------------------------------------------------------ what callers read
    @property
    def metadata(self) -> ExportMetadata:
        return self._ensure_loaded()[1]

    @property
    def outputs(self) -> list[str]:
        return [o.name for o in self._ensure_loaded()[0].get_outputs()]

    def output_shape(self, name: str) -> list[int | str]:
        """The declared shape of output `name` (symbolic dimensions as strings)."""
        for output in self._ensure_loaded()[0].get_outputs():
            if output.name == name:
                return list(output.shape)
        raise KeyError(name)

    def index_document(self) -> dict[str, Any] | None:
        """The retrieval index the export carries (`EmbeddingIndex.to_dict()`), checked against its digest;
        None when the checkpoint had none."""
        meta = self.metadata
        if meta.index_sha256 is None:
            return None
        if self._index_text is None:
            raise ExportError(f"{self.path}: its metadata records a retrieval index that the file lacks")
        return decode_index(self._index_text, meta.index_sha256, source=str(self.path))

    def load(self) -> OnnxModel:
        """Load now, so that errors surface here rather than at the first photo."""
        self._ensure_loaded()
        return self

    def run(self, batch: np.ndarray, outputs: list[str] | None = None) -> dict[str, np.ndarray]:
        """The graph's outputs (all, or those named) for a float32 [N, 3, S, S] preprocessed batch."""
        session, meta = self._ensure_loaded()
        size = meta.preprocessing.image_size
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if batch.ndim != 4 or batch.shape[1:] != (3, size, size) or batch.shape[0] == 0:
            raise ValueError(f"expected a float32 batch of shape [N>=1, 3, {size}, {size}], got {list(batch.shape)}")
        names = outputs or [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(names, {INPUT: batch}), strict=True))

    # ------------------------------------------------------------------ loading
    def _ensure_loaded(self) -> tuple[Any, ExportMetadata]:
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    session = self._session()
                    meta = self._read_metadata(session)
                    self._check_graph(session, meta)
                    self._check_checkpoint(meta)
                    self._loaded = (session, meta)
        return self._loaded

    def _session(self) -> Any:
        if not self.path.is_file():
            raise ExportError(f"ONNX export {self.path} does not exist")
        try:
            import onnxruntime as ort
        except ImportError:
            raise ExportError(
                "onnxruntime is not installed, so ONNX exports cannot run: `pip install onnxruntime` "
                "(or use the torch backend)"
            ) from None
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.inter_op_num_threads = 1
        if self.threads:
            options.intra_op_num_threads = self.threads
        options.log_severity_level = 3  # errors only: ORT's warnings are not the user's business
        try:
            return ort.InferenceSession(str(self.path), sess_options=options, providers=self.providers)
        except Exception as exc:  # ORT raises its own pybind classes (InvalidProtobuf, Fail, ...)
            raise ExportError(
                f"{self.path} is not a readable ONNX model (truncated, damaged or another kind of file): "
                f"{_one_line(exc)}"
            ) from None

    def _read_metadata(self, session: Any) -> ExportMetadata:
        props = session.get_modelmeta().custom_metadata_map
        text = props.get(METADATA_KEY)
        self._index_text = props.get(INDEX_KEY)
        if not text:
            raise ExportError(
                f"{self.path} is an ONNX model but not a landmarks export (it has no landmarks metadata); "
                "make one with `landmarks export --checkpoint CKPT`"
            )
        return ExportMetadata.from_json(text, source=str(self.path))

    def _check_graph(self, session: Any, meta: ExportMetadata) -> None:
        inputs = {i.name: i for i in session.get_inputs()}
        size = meta.preprocessing.image_size
        image = inputs.get(INPUT)
        if len(inputs) != 1 or image is None or list(image.shape[1:]) != [3, size, size]:
            shapes = {name: i.shape for name, i in inputs.items()}
            raise ExportError(
                f"{self.path}: its graph inputs {shapes} do not match its metadata ({INPUT} [N,3,{size},{size}])"
            )
        graph_outputs = {o.name for o in session.get_outputs()}
        missing = [o for o in meta.outputs if o not in graph_outputs]
        if missing:
            raise ExportError(f"{self.path}: its graph lacks the outputs its metadata lists ({', '.join(missing)})")

    def _check_checkpoint(self, meta: ExportMetadata) -> None:
        checkpoint = self.checkpoint or self.path.parent / meta.checkpoint_name
        if self.checkpoint is None and not checkpoint.is_file():
            return  # an export deployed alone: its metadata is all it needs
        try:
            digest = file_sha256(checkpoint)
        except OSError as exc:
            raise ExportError(
                f"cannot read checkpoint {checkpoint} to check {self.path}: {exc.strerror or exc}"
            ) from None
        if digest != meta.checkpoint_sha256:
            raise ExportError(
                f"{self.path} was exported from another {meta.checkpoint_name} than {checkpoint} "
                f"(SHA-256 {meta.checkpoint_sha256[:12]}... vs {digest[:12]}...); export it again with "
                f"`landmarks export --checkpoint {checkpoint}`"
            )
