"""Top-k landmarks for any photo, with calibrated probabilities, coordinates and an honest "unknown".

`Predictor` follows the InferenceModel pattern of Immich's ML service: construction is cheap, the
model loads once (lazily, thread-safe) and is reused for every call; photos are decoded once, in
parallel threads (Pillow releases the GIL), and run through the network in batches. The network runs
on a backend (`backends.py`): the ONNX export beside the checkpoint when there is one (no torch
imported), else torch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from landmarks.catalog import Landmark
from landmarks.data.images import load_rgb
from landmarks.errors import CheckpointError, LandmarksError
from landmarks.inference.backends import Backend, open_backend
from landmarks.inference.gallery import Known
from landmarks.inference.gallery import add_landmark as add_to_gallery
from landmarks.inference.resolve import resolve_checkpoint
from landmarks.inference.types import Guess, Neighbour, Prediction
from landmarks.inference.verify import GeometricVerifier
from landmarks.retrieval.combined import decide_with_gallery
from landmarks.retrieval.decision import DECISION_SCORES, Decided, DecisionRule
from landmarks.retrieval.gallery import Gallery, default_gallery_path, gallery_id_of, load_gallery

ImageInput = Path | str | bytes | Image.Image

NEIGHBOURS_SHOWN = 5
"""Nearest training photos listed with each prediction (and verified, with `verify`)."""

VERIFIED_INLIERS = 10
"""Geometric inliers with a training photo that make its landmark the answer (with `verify`)."""


class Predictor:
    """A loaded model plus its preprocessing, calibration and catalog."""

    def __init__(
        self,
        checkpoint: Path | str,
        device: str | None = None,
        score: str | None = None,
        verify: bool = False,
        backend: str = "auto",
        threads: int | None = None,
        gallery: Path | str | None = None,
    ) -> None:
        """`checkpoint`: a `.pt` checkpoint or an `.onnx` export. `backend`: auto, torch or onnx (backends.py).
        `threads`: intra-op threads per inference (default: LANDMARKS_NUM_THREADS, else one per core).
        `gallery`: the gallery file of user-added landmarks (default: beside the checkpoint; retrieval/gallery.py)."""
        self.checkpoint_path = Path(checkpoint)
        self.gallery_path = default_gallery_path(self.checkpoint_path, gallery)
        """The gallery of user-added landmarks answered from too (need not exist: then none)."""
        self._known: Known | None = None
        self._known_stamp: tuple[int, int] | None = None
        """The gallery file's (mtime, size) when `_known` was read from it."""
        self._score = score
        self._verifier: GeometricVerifier | None = GeometricVerifier() if verify else None
        self._device = device
        self._backend_choice = backend
        self._threads = threads
        self._lock = threading.Lock()
        self._loaded: Backend | None = None

    @classmethod
    def load(
        cls,
        checkpoint: Path | str | None = None,
        device: str | None = None,
        score: str | None = None,
        verify: bool = False,
        backend: str = "auto",
        threads: int | None = None,
        gallery: Path | str | None = None,
    ) -> Predictor:
        """Resolve and load the checkpoint and its gallery now (errors surface here, not at the first photo).

        `verify`: re-rank by geometric verification against the nearest training photos (OpenCV SIFT +
        RANSAC; the `verify` extra): slower, and off by default (README: what it gains and costs)."""
        predictor = cls(
            resolve_checkpoint(checkpoint),
            device,
            score=score,
            verify=verify,
            backend=backend,
            threads=threads,
            gallery=gallery,
        )
        predictor._ensure_loaded()
        _ = predictor.known  # a foreign or damaged gallery fails here
        rule = predictor.rule  # an unknown `score` name fails here, not at the first photo
        if rule.needs_index and predictor.checkpoint.index is None:
            raise CheckpointError(f"{predictor.checkpoint_path} has no retrieval index for the {rule.score!r} decision")
        return predictor

    def _ensure_loaded(self) -> Backend:
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    self._loaded = open_backend(self.checkpoint_path, self._backend_choice, self._device, self._threads)
        return self._loaded

    # ------------------------------------------------------------------ what callers read
    @property
    def backend(self) -> Backend:
        """What runs the network (`.name`: torch, onnx fp32, onnx int8) and the file it came from (`.path`)."""
        return self._ensure_loaded()

    @property
    def checkpoint(self) -> Any:
        """The model's record (a `Checkpoint`, or a `ModelRecord` read from an export): classes, landmarks,
        calibration, index, extra, model."""
        return self._ensure_loaded().record

    @property
    def classes(self) -> list[str]:
        """The model's classes, then the gallery's landmarks (their keys)."""
        return self.known.classes

    @property
    def landmarks(self) -> list[Landmark]:
        """Every landmark answered: the model's, then the gallery's."""
        return self.known.landmarks

    @functools.cached_property
    def fingerprint(self) -> dict[str, Any]:
        """The identity of this model's embeddings, which a gallery must match (the backend knows it: a
        checkpoint hashes its backbone, an export carries the hash it was made with)."""
        return self._ensure_loaded().fingerprint()

    @property
    def known(self) -> Known:
        """The model's landmarks and the gallery's, with one index over both. The gallery file is read again
        whenever it changed (a `stat` per call), so a server sees a landmark that `gallery add` wrote."""
        stamp = _stamp(self.gallery_path)
        if self._known is None or stamp != self._known_stamp:
            self._ensure_loaded()  # takes the same (non-reentrant) lock: before, not inside
            with self._lock:
                if self._known is None or stamp != self._known_stamp:
                    self._known, self._known_stamp = self._read_known(), stamp
        assert self._known is not None
        return self._known

    @property
    def gallery(self) -> Gallery:
        return self.known.gallery

    @property
    def gallery_id(self) -> str:
        """The digest of the gallery file answered from (empty without one), as records keep it."""
        return self.known.gallery_id

    def reload_gallery(self) -> Known:
        """Read the gallery file again now (after a landmark was added or removed); in-flight calls finish on
        the old one, since they hold their own reference."""
        stamp = _stamp(self.gallery_path)
        known = self._read_known()
        self._known, self._known_stamp = known, stamp
        return known

    def add_landmark(self, landmark: Landmark, photos: Sequence[tuple[str, bytes]]) -> tuple[Gallery, list[str]]:
        """Add `landmark` from (name, bytes) photos to this model's gallery file and answer from it at once;
        returns the gallery and the photos skipped as unreadable (GalleryError: nothing changed)."""
        grown, skipped = add_to_gallery(self, self.gallery_path, landmark, photos)
        self.reload_gallery()
        return grown, skipped

    def _read_known(self) -> Known:
        record = self._ensure_loaded().record
        if not self.gallery_path.exists():  # no gallery: no need to hash the weights for a fingerprint
            return Known(record, Gallery({}))
        gallery_id = gallery_id_of(self.gallery_path)
        return Known(record, load_gallery(self.gallery_path, self.fingerprint), gallery_id)

    @property
    def score(self) -> str:
        """The unknown score in use: the checkpoint's, unless another fitted one was asked for."""
        return self._score or self.checkpoint.calibration.score

    @functools.cached_property
    def rule(self) -> DecisionRule:
        """The decision rule of `score` (fitted at training time; see engine/calibration.py); read once."""
        cal = self.checkpoint.calibration
        if self.score == cal.score:
            return cal.rule()
        alternatives = cal.details.get("alternatives", {})
        if self.score not in DECISION_SCORES or self.score not in alternatives:
            raise CheckpointError(f"{self.checkpoint_path} has no decision fitted for the {self.score!r} score")
        return DecisionRule.from_dict(alternatives[self.score])

    @property
    def threshold(self) -> float:
        return self.rule.threshold

    @functools.cached_property
    def fitted_without_negatives(self) -> bool:
        negatives = self.checkpoint.calibration.details.get("negatives", {})
        return bool(negatives.get("fitted_without_negatives", True))

    def training_photo(self, index: int) -> Path | None:
        """The file of row `index` of the retrieval index, when the training photos are at hand: confined to
        the dataset folder the model was trained on (a link or `..` leading out of it gives None)."""
        ckpt = self.checkpoint
        root = ckpt.extra.get("dataset", {}).get("root")
        if ckpt.index is None or root is None or not 0 <= index < len(ckpt.index):
            return None
        base = Path(root).resolve()
        path = (base / ckpt.index.ids[index]).resolve()
        if not path.is_relative_to(base) or not path.is_file():
            return None
        return path

    @property
    def image_size(self) -> int:
        return self.checkpoint.model.image_size

    @property
    def decode_min_side(self) -> int:
        """Shorter side the eval transform needs: JPEG draft mode may decode down to this."""
        cfg = self.checkpoint.model
        return round(cfg.image_size / cfg.crop_pct)

    # ------------------------------------------------------------------ prediction
    def predict(self, image: ImageInput, k: int = 3, source: str | None = None) -> Prediction:
        """Top-k for one photo. Raises BadImageError (and subclasses) for a photo that cannot be read."""
        result = self.predict_many([image], k=k, sources=[source] if source else None)[0]
        if isinstance(result, LandmarksError):
            raise result
        return result

    def predict_many(
        self,
        images: Sequence[ImageInput],
        k: int = 3,
        batch_size: int = 16,
        sources: Sequence[str] | None = None,
    ) -> list[Prediction | LandmarksError]:
        """One entry per input, in order: a Prediction, or the error that made that photo unusable."""
        backend = self._ensure_loaded()
        k = self._check_k(k)
        names = list(sources) if sources is not None else [_describe(img) for img in images]
        results: list[Prediction | LandmarksError | None] = [None] * len(images)
        # One photo is decoded inline: a thread pool costs more than it saves (measured: ~10 ms a call).
        pool = ThreadPoolExecutor(max_workers=2) if len(images) > 1 else None
        mapper = pool.map if pool is not None else map
        with pool or contextlib.nullcontext():
            for start in range(0, len(images), batch_size):
                chunk = list(range(start, min(start + batch_size, len(images))))
                decoded = list(mapper(lambda i: self._decode(images[i], backend), chunk))
                good = [(i, d) for i, d in zip(chunk, decoded, strict=True) if not isinstance(d, LandmarksError)]
                for i, d in zip(chunk, decoded, strict=True):
                    if isinstance(d, LandmarksError):
                        results[i] = d
                if good:
                    known = self.known  # one gallery for the whole batch, even if it is reloaded meanwhile
                    scored = self._scored(backend.run([tensor for _, (_, tensor) in good]), known)
                    for row, (i, (pil, _)) in enumerate(good):
                        prediction = self._to_prediction(scored, row, k, names[i], known)
                        results[i] = self._verified(prediction, pil) if self._verifier else prediction
        return [r for r in results if r is not None]

    def probabilities(self, prepared: Sequence[Any]) -> np.ndarray:
        """The probabilities shown [N, C] (float32) for photos already prepared by the backend
        (`predictor.backend.prepare(image)`)."""
        return self._scored(self._ensure_loaded().run(list(prepared))).probs.astype(np.float32)

    def _scored(self, outputs: tuple[np.ndarray, np.ndarray | None], known: Known | None = None) -> Decided:
        """The network's calibrated probabilities and embeddings of a batch, through the decision: the
        probabilities shown (the model's classes, then the gallery's landmarks), the nearest training and
        gallery photos and the decision's confidence."""
        known = known or self.known
        probs, embeddings = outputs
        return decide_with_gallery(
            self.rule, probs, embeddings, known.index, known.gallery_classes, known.prototypes, shown=NEIGHBOURS_SHOWN
        )

    def embed_many(self, images: Sequence[ImageInput], batch_size: int = 16) -> list[np.ndarray | LandmarksError]:
        """The retrieval embedding of each photo (what the index holds), or the error that made it unusable."""
        backend = self._ensure_loaded()
        out: list[np.ndarray | LandmarksError] = []
        for start in range(0, len(images), batch_size):
            decoded = [self._decode(image, backend) for image in images[start : start + batch_size]]
            good = [d[1] for d in decoded if not isinstance(d, LandmarksError)]
            embeddings = backend.run(good)[1] if good else None
            if good and embeddings is None:
                raise CheckpointError(f"{self.checkpoint_path} has no retrieval embeddings to add photos with")
            rows = iter(embeddings if embeddings is not None else [])
            out += [d if isinstance(d, LandmarksError) else next(rows) for d in decoded]
        return out

    def _decode(self, image: ImageInput, backend: Backend) -> tuple[Image.Image, Any] | LandmarksError:
        try:
            pil = load_rgb(image, min_side=self.decode_min_side)
            return pil, backend.prepare(pil)
        except LandmarksError as exc:
            return exc

    def _verified(self, prediction: Prediction, image: Image.Image) -> Prediction:
        """Count geometric inliers against the nearest training photos at hand; when one has at least
        VERIFIED_INLIERS, its landmark moves to rank 1 (the study behind this rule: README)."""
        assert self._verifier is not None
        found = [(n, self.training_photo(n.index)) for n in prediction.neighbours]
        candidates = [(n, path) for n, path in found if path is not None]
        if not candidates:
            return prediction
        counts = self._verifier.verify(image, [(n.class_index, path) for n, path in candidates])
        inliers = {n.index: c for (n, _), c in zip(candidates, counts, strict=True)}
        neighbours = [n.model_copy(update={"inliers": inliers.get(n.index)}) for n in prediction.neighbours]
        best, most = max(zip(candidates, counts, strict=True), key=lambda pair: pair[1])
        top = list(prediction.top)
        if most >= VERIFIED_INLIERS and top[0].class_index != best[0].class_index:
            moved = [g for g in top if g.class_index == best[0].class_index]
            if moved:
                top = moved + [g for g in top if g.class_index != best[0].class_index]
                top = [dataclasses.replace(g, rank=r) for r, g in enumerate(top, start=1)]
        return prediction.model_copy(update={"top": top, "neighbours": neighbours, "verified": True})

    def _check_k(self, k: int) -> int:
        n = len(self.classes)
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= n:
            raise ValueError(f"k must be a whole number from 1 to {n} (the model knows {n} landmarks), not {k!r}")
        return k

    def _to_prediction(self, scored: Decided, row: int, k: int, source: str, known: Known) -> Prediction:
        top_i = np.argsort(-scored.probs[row], kind="stable")[:k]
        top_p = scored.probs[row][top_i]
        guesses = []
        for rank, (p, i) in enumerate(zip(top_p.tolist(), top_i.tolist(), strict=True), start=1):
            probability = min(1.0, max(0.0, float(p)))
            guesses.append(Guess.of(known.landmarks[i], rank=rank, class_index=i, probability=probability))
        neighbours = []
        if scored.neighbours is not None and known.index is not None:
            for j, sim in zip(scored.neighbours.index[row], scored.neighbours.similarity[row], strict=True):
                if j < 0:  # FAISS pads a short answer with -1
                    continue
                label = int(known.index.labels[j])
                neighbours.append(
                    Neighbour(
                        index=int(j),
                        path=known.index.ids[j],
                        class_index=label,
                        name=known.landmarks[label].name,
                        similarity=round(float(sim), 4),
                    )
                )
        rule = self.rule
        score = float(scored.confidence[row])
        likeness = None
        if scored.landmark_logit is not None and rule.landmark_gate is not None:
            likeness = round(float(rule.landmark_likeness(scored.landmark_logit[row : row + 1])[0]), 4)
        return Prediction(
            source=source,
            top=guesses,
            unknown=score < rule.threshold,
            score=score,
            threshold=rule.threshold,
            decision=rule.score,
            knn_similarity=None if scored.knn_similarity is None else round(float(scored.knn_similarity[row]), 4),
            landmark_likeness=likeness,
            neighbours=neighbours[:NEIGHBOURS_SHOWN],
            fitted_without_negatives=self.fitted_without_negatives,
        )


def _describe(image: ImageInput) -> str:
    if isinstance(image, (str, Path)):
        return str(image)
    if isinstance(image, Image.Image):
        return getattr(image, "filename", "") or "<image>"
    return "<bytes>"


_default: dict[tuple[Path, Path], Predictor] = {}
_default_lock = threading.Lock()


def predict(image: ImageInput, k: int = 3, checkpoint: Path | str | None = None) -> Prediction:
    """`landmarks.predict(path, k)`: the checkpoint is resolved as in `resolve_checkpoint` and loaded once
    (its gallery is read again whenever its file changed: `Predictor.known`)."""
    path = resolve_checkpoint(checkpoint).resolve()
    gallery = default_gallery_path(path).resolve()  # LANDMARKS_GALLERY may name another one at each call
    with _default_lock:
        predictor = _default.get((path, gallery))
        if predictor is None:
            predictor = _default[(path, gallery)] = Predictor.load(path, gallery=gallery)
    return predictor.predict(image, k=k)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size
