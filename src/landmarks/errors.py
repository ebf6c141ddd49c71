"""Errors a user can act on.

Anything raised as a `LandmarksError` is printed by the CLI as one line (no traceback) and turned
into a non-zero exit code; the HTTP API maps the image errors to 4xx answers.
"""

from __future__ import annotations


class LandmarksError(Exception):
    """A problem the user can fix: bad input, missing data or weights, a wrong checkpoint."""

    exit_code = 1


class BadImageError(LandmarksError):
    """A file that cannot be used as a photo: corrupt, truncated, not an image, too small."""


class UnsupportedFormatError(BadImageError):
    """A file in a format we do not read (e.g. a PDF or a text file)."""


class DecompressionBombError(BadImageError):
    """An image whose pixel count is over the safety limit."""


class DatasetError(LandmarksError):
    """A data folder that does not have the expected `train/<class>/`, `test/<class>/` layout."""


class DownloadError(LandmarksError):
    """The dataset could not be fetched or verified."""


class CheckpointError(LandmarksError):
    """A checkpoint that is missing, truncated, foreign or from an incompatible version."""


class WeightsNotFoundError(LandmarksError):
    """Pretrained weights that are not available offline."""


class LibraryError(LandmarksError):
    """A library index that cannot be used: locked by another run, damaged, foreign or missing."""


class ExportError(LandmarksError):
    """An ONNX export that is missing, truncated, foreign, or made from another checkpoint; or no onnxruntime."""


class GalleryError(LandmarksError):
    """A gallery of user-added landmarks that cannot be used or changed: damaged, foreign, made by another
    model, or an addition that would break it (no readable photo, a name or photo already there)."""
