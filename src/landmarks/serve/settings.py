"""Limits and defaults of the HTTP service, read from `LANDMARKS_SERVE_*` environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MB = 1024 * 1024


class ServeSettings(BaseSettings):
    """What the service accepts and how much work it takes on at once.

    The defaults suit a small CPU machine: one upload holds at most `max_upload_bytes` in memory; at
    most `max_receiving` bodies are read at once and `max_concurrency + max_queue` read ones wait for
    the model, which bounds memory (README: "Memory"). Bodies are read under a deadline and a minimum
    rate before a request may queue for the model, so idle or trickling clients cannot hold its slots.
    """

    model_config = SettingsConfigDict(env_prefix="LANDMARKS_SERVE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    max_upload_bytes: int = Field(20 * MB, ge=1)
    """Largest photo accepted (counted while the body streams in, so chunked uploads too): else 413."""
    max_upload_pixels: int = Field(40_000_000, ge=1)
    """Largest photo accepted, in pixels (local files may have up to `data.images.MAX_PIXELS`): else 422."""
    max_receiving: int = Field(64, ge=1)
    """Request bodies read at once, before they queue for the model; one more is answered 503."""
    body_timeout_s: float = Field(60.0, gt=0)
    """The whole body must arrive within this many seconds of the request: else 408."""
    body_idle_timeout_s: float = Field(10.0, gt=0)
    """Longest wait for the next piece of a body: else 408."""
    body_min_rate: int = Field(16 * 1024, ge=0)
    """Bytes per second a body must average once `body_grace_s` have passed: else 408."""
    body_grace_s: float = Field(5.0, ge=0)
    """Time a body may take before `body_min_rate` applies."""
    drain_bytes: int = Field(64 * MB, ge=0)
    """A refused body (413) of at most this declared size is read and dropped before the answer, so
    clients that send the whole body before reading (Python's urllib) read the 413 instead of a reset."""
    max_concurrency: int = Field(2, ge=1)
    """Inferences running at once, each in a worker thread off the event loop."""
    max_queue: int = Field(16, ge=0)
    """Requests admitted beyond those running; one more is answered 503 with Retry-After."""
    retry_after_s: int = Field(1, ge=0)
    """The Retry-After a 503 suggests."""
    default_k: int = Field(3, ge=1)
    """Guesses returned when a request does not ask for a number."""
    max_k: int = Field(10, ge=1)
    """Most guesses a request may ask for; more is a 422."""

    token: SecretStr | None = None
    """The review view's token (`Authorization: Bearer ...`): needed off loopback, optional on it."""
    review_max_body_bytes: int = Field(256 * 1024, ge=1024)
    """Largest review request body (a list of proposal ids): else 413."""
    review_max_ids: int = Field(10_000, ge=1)
    """Most proposals one review request may name."""
    review_max_page: int = Field(1000, ge=1)
    """Most proposals or located photos one list answer holds (the page asks for more as needed)."""
    review_max_located: int = Field(20_000, ge=1)
    """Most photos the "located so far" map gets (dots on the page)."""
    review_max_photo_bytes: int = Field(200 * MB, ge=1)
    """Largest library file the review view reads to make a thumbnail: else 413."""
    review_max_photo_pixels: int = Field(90_000_000, ge=1)
    """Largest photo it decodes for a thumbnail, in pixels, checked from the header: else 422."""
    review_thumbnail_workers: int = Field(2, ge=1)
    """Thumbnails decoded at once (each holds one decoded photo in memory)."""
    admin_token: SecretStr | None = None
    """With a token, `POST /api/v1/admin/landmarks` (add a gallery landmark) exists, for requests that
    send `Authorization: Bearer TOKEN`; without one the endpoint does not exist."""
    gallery_max_photos: int = Field(20, ge=1)
    """Most photos one admin request may add a landmark from."""
    gallery_max_body_bytes: int = Field(100 * MB, ge=1)
    """Largest admin request body (each photo also within `max_upload_bytes`): else 413."""

    @model_validator(mode="after")
    def _default_k_within_max(self) -> ServeSettings:
        if self.default_k > self.max_k:
            raise ValueError(f"default_k ({self.default_k}) must not exceed max_k ({self.max_k})")
        return self
