"""Helpers for the service tests: a stand-in predictor, photo bytes and a live uvicorn server.

`FakePredictor` has the real predictor's surface and none of its weight: it decodes with Pillow and
raises the same error classes the real image loader does, and scores a photo with a fixed random
linear map of a tiny thumbnail, so different photos get different (but repeatable) top-k lists.
Hooks let a test hold inference (to fill the queue) or look around while it runs (temp directory).
"""

from __future__ import annotations

import io
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import uvicorn
from fastapi import FastAPI
from PIL import Image, UnidentifiedImageError

from landmarks.catalog import Landmark
from landmarks.errors import BadImageError, DecompressionBombError, UnsupportedFormatError
from landmarks.inference.types import Guess, Prediction

MAX_PIXELS = 90_000_000  # the real loader's limit (landmarks.data.images.MAX_PIXELS)


def decode(data: bytes) -> Image.Image:
    """Bytes to an RGB image, failing the way the real loader does."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise UnsupportedFormatError("<uploaded bytes>: not an image format we read") from None
    except Image.DecompressionBombError as exc:
        raise DecompressionBombError(f"<uploaded bytes>: {exc}") from None
    if image.width * image.height > MAX_PIXELS:
        raise DecompressionBombError(
            f"<uploaded bytes>: {image.width}x{image.height} pixels is over the 90 Mpx safety limit"
        )
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise BadImageError(f"<uploaded bytes>: corrupt or truncated image ({exc})") from None
    return image.convert("RGB")


class FakePredictor:
    """`Predictor`'s attributes and `predict`, deterministic, with test hooks."""

    def __init__(
        self,
        landmarks: Sequence[Landmark],
        threshold: float = 0.2,
        *,
        gate: threading.Event | None = None,
        during_predict: Callable[[], None] | None = None,
        seed: int = 0,
    ) -> None:
        self.landmarks = list(landmarks)
        self.classes = [lm.folder for lm in self.landmarks]
        self.threshold = threshold
        self.gate = gate
        self.during_predict = during_predict
        self.calls = 0
        self._lock = threading.Lock()
        # 4x4 RGB thumbnail -> one logit per class; scale 8 makes the top guess stand out.
        self._weights = np.random.default_rng(seed).normal(0.0, 8.0, (len(self.landmarks), 48))

    def probabilities(self, image: Image.Image) -> np.ndarray:
        thumb = np.asarray(image.resize((4, 4), Image.Resampling.BILINEAR), dtype=np.float64) / 255.0
        features = thumb.reshape(-1) - thumb.mean()
        logits = self._weights @ features
        exp = np.exp(logits - logits.max())
        return exp / exp.sum()

    def predict(self, image: bytes | Image.Image, k: int = 3, source: str | None = None) -> Prediction:
        with self._lock:
            self.calls += 1
        if self.during_predict is not None:
            self.during_predict()
        if self.gate is not None and not self.gate.wait(timeout=30):
            raise TimeoutError("the test never opened the gate")
        pil = image if isinstance(image, Image.Image) else decode(image)
        probs = self.probabilities(pil)
        order = np.argsort(-probs, kind="stable")[:k]
        top = [
            Guess(
                rank=rank,
                class_index=int(i),
                class_id=self.landmarks[i].class_id,
                folder=self.landmarks[i].folder,
                name=self.landmarks[i].name,
                probability=float(probs[i]),
                latitude=self.landmarks[i].latitude,
                longitude=self.landmarks[i].longitude,
                radius_km=self.landmarks[i].radius_km,
                city=self.landmarks[i].city,
                country=self.landmarks[i].country,
            )
            for rank, i in enumerate(order, start=1)
        ]
        score = top[0].probability
        return Prediction(
            source=source or "<bytes>",
            top=top,
            unknown=score < self.threshold,
            score=score,
            threshold=self.threshold,
        )


def photo_bytes(seed: int = 0, size: tuple[int, int] = (160, 120), fmt: str = "JPEG", **save: int) -> bytes:
    """A real encoded photo: smooth colour gradients plus noise, different for each seed."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(40, 215, 3).astype(np.float32)
    tilt = rng.uniform(-0.6, 0.6, (2, 3)).astype(np.float32)
    img = base + xx[..., None] * tilt[0] + yy[..., None] * tilt[1] + rng.normal(0, 10, (h, w, 3))
    buf = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB").save(buf, fmt, **save)
    return buf.getvalue()


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """Run `app` under a real uvicorn on a free loopback port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
