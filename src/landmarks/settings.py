"""Process-wide settings, read from the environment (pydantic-settings, as in Immich's ML service)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """`LANDMARKS_*` environment variables; CLI options override them per call."""

    model_config = SettingsConfigDict(env_prefix="LANDMARKS_", extra="ignore")

    cache: Path = Field(default_factory=lambda: Path.home() / ".cache" / "landmarks")
    """Manifests, statistics, decoded-image and feature caches, the last trained model."""
    data: Path | None = None
    """A local `train/ test/` photo folder to use instead of downloading the official dataset."""
    checkpoint: Path | None = None
    """The checkpoint `predict`, `geotag` and `serve` use when none is given."""
    gallery: Path | None = None
    """The gallery of user-added landmarks; default: beside the checkpoint (`best.gallery.npz`)."""
    num_threads: int | None = None
    """Intra-op threads of torch and of ONNX Runtime; default: their own choice (all cores)."""


def get_settings() -> Settings:
    """Read afresh on each call, so a changed environment (tests, long-lived servers) is seen."""
    return Settings()


def cache_dir(override: Path | None = None) -> Path:
    """The cache directory, created if missing."""
    path = (override or get_settings().cache).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
