"""What the HTTP API answers, as pydantic models (they also make the OpenAPI schema at `/docs`)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic.dataclasses import dataclass

from landmarks.catalog import Landmark
from landmarks.inference.types import Prediction


class ApiError(Exception):
    """An answer other than 2xx, with a message a person can act on and a stable machine code."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


class ErrorBody(BaseModel):
    """Every error answer has this shape, so clients (and the page) need one code path."""

    detail: str = Field(description="what went wrong, in words a person can act on")
    code: str = Field(description="stable machine-readable reason, e.g. `too_large`, `unsupported_format`")


class PredictResponse(Prediction):
    """A `Prediction` plus what the service did to produce it."""

    k: int = Field(description="the number of guesses asked for (capped at the number of classes)")
    elapsed_ms: float = Field(description="time spent decoding and classifying, queueing excluded")


@dataclass(frozen=True, kw_only=True)
class LandmarkOut(Landmark):
    """One class the model knows (the catalog's record), with where it is when the catalog knows that."""

    class_index: int
    source: str = Field(default="model", description="`model` (a class it was trained on) or `gallery` (added)")


class CatalogResponse(BaseModel):
    count: int
    landmarks: list[LandmarkOut]


class InfoResponse(BaseModel):
    """What the page needs to set up its controls before the first upload."""

    version: str
    classes: int
    threshold: float
    default_k: int
    max_k: int
    max_upload_bytes: int


class HealthResponse(BaseModel):
    status: str = Field(description="`ok` once the model is loaded")
    version: str
    model_loaded: bool
    admitted: int = Field(description="requests admitted now: running or waiting for a worker")
    running: int = Field(description="inferences running now")
    capacity: int = Field(description="most requests admitted at once; beyond it the answer is 503")
