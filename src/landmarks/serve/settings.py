"""Limits and defaults of the HTTP service, read from `LANDMARKS_SERVE_*` environment variables."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MB = 1024 * 1024


class ServeSettings(BaseSettings):
    """What the service accepts and how much work it takes on at once.

    The defaults suit a small CPU machine: one upload holds at most `max_upload_bytes` in memory, and
    at most `max_concurrency + max_queue` uploads are admitted at a time, which bounds memory too.
    """

    model_config = SettingsConfigDict(env_prefix="LANDMARKS_SERVE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    max_upload_bytes: int = Field(20 * MB, ge=1)
    """Largest photo accepted (counted while the body streams in, so chunked uploads too): else 413."""
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

    @model_validator(mode="after")
    def _default_k_within_max(self) -> ServeSettings:
        if self.default_k > self.max_k:
            raise ValueError(f"default_k ({self.default_k}) must not exceed max_k ({self.max_k})")
        return self
