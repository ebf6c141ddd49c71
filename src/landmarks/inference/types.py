"""What a prediction looks like to callers: the CLI, the geotagger and the HTTP API share these."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Guess(BaseModel):
    """One of the top-k landmarks for a photo."""

    rank: int = Field(description="1 for the most likely landmark")
    class_index: int = Field(description="index of the class in the model's output")
    class_id: int | None = Field(description="the dataset's class number (`16` for `16.Eiffel_Tower`)")
    folder: str = Field(description="the class folder name, e.g. `16.Eiffel_Tower`")
    name: str = Field(description="display name, e.g. `Eiffel Tower`")
    probability: float = Field(ge=0.0, le=1.0, description="calibrated probability")
    latitude: float | None = None
    longitude: float | None = None
    radius_km: float | None = None
    city: str | None = None
    country: str | None = None

    @property
    def has_location(self) -> bool:
        return self.latitude is not None and self.longitude is not None


class Prediction(BaseModel):
    """The answer for one photo: the top-k guesses and whether it is one of our landmarks at all."""

    source: str = Field(description="file name or upload name the prediction is for")
    top: list[Guess]
    unknown: bool = Field(description="true when the photo is not confidently one of our landmarks")
    score: float = Field(description="the confidence score the unknown decision was made on")
    threshold: float = Field(description="scores below this are answered as unknown")

    @property
    def best(self) -> Guess:
        return self.top[0]
