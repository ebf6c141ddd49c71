"""Geometric verification: how many local features of a photo agree, under one geometry, with a reference.

Why: a global embedding can put a dock, a menu or a carton next to a landmark; two photos of the same
building share dozens of local features that a single projective transformation maps onto each other,
while unrelated photos share almost none (the Google Landmark Recognition winners re-ranked and
rejected distractors this way). OpenCV is an optional extra (`pip install 'landmarks[verify]'`) and is
imported only when a verifier is built.

Choices, measured by `benchmarks/geometric_verification.py` on proxy44: SIFT rather than ORB (ORB is
cheaper, but its inlier counts separate right answers from negatives less well, and re-ranking by them
loses right answers); a MAGSAC++ homography (`cv2.USAC_MAGSAC`) rather than a fundamental matrix by
default: the point-to-point model is stricter than the point-to-line one, so random matches rarely
agree with it, which matters most when inliers re-rank candidates (facades seen from nearby are close
enough to a plane). `geometry="fundamental"` stays available for wide-baseline 3-D scenes.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from landmarks.data.images import load_rgb
from landmarks.errors import LandmarksError

Detector = Literal["sift", "orb"]
Geometry = Literal["homography", "fundamental"]


@dataclass(frozen=True)
class LocalFeatures:
    """Keypoint positions (N x 2, float32, in the resized image) and their descriptors (N x D)."""

    points: np.ndarray
    descriptors: np.ndarray

    def __len__(self) -> int:
        return len(self.points)


def _import_cv2() -> Any:
    try:
        import cv2
    except ImportError:
        raise LandmarksError(
            "geometric verification needs OpenCV: pip install 'landmarks[verify]' (opencv-python-headless)"
        ) from None
    return cv2


class GeometricVerifier:
    """Counts RANSAC inliers between a query photo and reference photos (descriptors cached, LRU).

    `max_side` bounds the long side of the grey image features are found in (cost and memory);
    `cache_size` bounds how many reference photos' features stay in memory.
    """

    def __init__(
        self,
        *,
        detector: Detector = "sift",
        geometry: Geometry = "homography",
        max_side: int = 512,
        max_features: int = 1000,
        ratio: float = 0.8,
        ransac_threshold: float = 4.0,
        cache_size: int = 256,
        seed: int = 0,
    ) -> None:
        if detector not in ("sift", "orb"):
            raise ValueError(f"detector must be 'sift' or 'orb', got {detector!r}")
        if geometry not in ("homography", "fundamental"):
            raise ValueError(f"geometry must be 'homography' or 'fundamental', got {geometry!r}")
        if max_side < 32 or max_features < 8 or not 0 < ratio < 1 or cache_size < 0:
            raise ValueError("need max_side >= 32, max_features >= 8, 0 < ratio < 1 and cache_size >= 0")
        self._cv2 = _import_cv2()
        self.detector, self.geometry = detector, geometry
        self.max_side, self.ratio, self.threshold = max_side, ratio, ransac_threshold
        self.cache_size, self.seed = cache_size, seed
        cv2 = self._cv2
        if detector == "sift":
            self._extractor = cv2.SIFT_create(max_features, 3, 0.04, 10, 1.6, cv2.CV_8U)  # uint8: 4x less cache
            self._matcher = cv2.BFMatcher(cv2.NORM_L2)
        else:
            self._extractor = cv2.ORB_create(nfeatures=max_features)
            self._matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
        self._cache: OrderedDict[tuple[str, int, int], LocalFeatures] = OrderedDict()
        self.cache_hits = self.cache_misses = 0

    def features(self, image: Image.Image) -> LocalFeatures:
        """Local features of an RGB (or any-mode) image, on its grey version with a bounded long side."""
        grey = image.convert("L")
        scale = self.max_side / max(grey.size)
        if scale < 1:
            grey = grey.resize((max(1, round(grey.width * scale)), max(1, round(grey.height * scale))), Image.LANCZOS)
        keypoints, descriptors = self._extractor.detectAndCompute(np.asarray(grey), None)
        if descriptors is None or not keypoints:
            return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 0), np.uint8))
        points = np.array([kp.pt for kp in keypoints], dtype=np.float32)
        return LocalFeatures(points, descriptors)

    def reference_features(self, path: Path) -> LocalFeatures:
        """Features of a reference photo, decoded with `load_rgb`; cached by path, size and mtime."""
        stat = os.stat(path)
        key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            self.cache_hits += 1
            return hit
        self.cache_misses += 1
        found = self.features(load_rgb(path))
        if self.cache_size:
            self._cache[key] = found
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return found

    def clear_cache(self) -> None:
        self._cache.clear()

    def count_inliers(self, query: LocalFeatures, reference: LocalFeatures) -> int:
        """Ratio-test matches that agree with one RANSAC geometry; 0 when too few to fit one."""
        cv2 = self._cv2
        needed = 4 if self.geometry == "homography" else 8
        if len(query) < needed or len(reference) < 2:
            return 0
        q_desc, r_desc = query.descriptors, reference.descriptors
        if self.detector == "sift":
            q_desc, r_desc = q_desc.astype(np.float32), r_desc.astype(np.float32)
        pairs = self._matcher.knnMatch(q_desc, r_desc, k=2)
        good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < self.ratio * p[1].distance]
        good = list({m.trainIdx: m for m in sorted(good, key=lambda m: m.distance, reverse=True)}.values())
        if len(good) < needed:
            return 0
        src = query.points[[m.queryIdx for m in good]]
        dst = reference.points[[m.trainIdx for m in good]]
        cv2.setRNGSeed(self.seed)
        try:
            if self.geometry == "homography":
                _, mask = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, self.threshold, maxIters=2000, confidence=0.999)
            else:
                _, mask = cv2.findFundamentalMat(src, dst, cv2.USAC_MAGSAC, self.threshold, 0.999, 2000)
        except cv2.error:
            return 0
        return 0 if mask is None else int(mask.sum())

    def inliers(self, query_image: Image.Image, reference_path: Path) -> int:
        return self.count_inliers(self.features(query_image), self.reference_features(reference_path))

    def verify(self, query_image: Image.Image, candidates: Sequence[tuple[int, Path]]) -> list[int]:
        """Inlier counts, one per (label, reference photo) candidate, in the candidates' order.

        The label is carried for the caller's re-ranking and not used here; the query's features are
        computed once for all candidates.
        """
        query = self.features(query_image)
        return [self.count_inliers(query, self.reference_features(path)) for _, path in candidates]
