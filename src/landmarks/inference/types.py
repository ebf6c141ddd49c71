"""What a prediction looks like to callers: the CLI, the geotagger and the HTTP API share these."""

from __future__ import annotations

import dataclasses

from pydantic import BaseModel, Field
from pydantic.dataclasses import dataclass

from landmarks.catalog import Landmark


@dataclass(frozen=True, kw_only=True)
class Guess(Landmark):
    """One of the top-k landmarks for a photo: the catalog's record of it, plus how it ranked.

    A pydantic dataclass extending `Landmark`, so the record's fields (folder, name, coordinates, ...)
    are declared once, in the catalog, and JSON keeps them flat beside `rank` and `probability`.
    """

    rank: int = Field(description="1 for the most likely landmark")
    class_index: int = Field(description="index of the class in the model's output")
    probability: float = Field(ge=0.0, le=1.0, description="calibrated probability")

    @classmethod
    def of(cls, landmark: Landmark, *, rank: int, class_index: int, probability: float) -> Guess:
        return cls(**landmark.to_dict(), rank=rank, class_index=class_index, probability=probability)

    @property
    def landmark(self) -> Landmark:
        """The plain catalog record."""
        return Landmark(**{f.name: getattr(self, f.name) for f in dataclasses.fields(Landmark)})


class Neighbour(BaseModel):
    """A training photo close to this one: evidence a user can look at."""

    index: int = Field(description="row of the photo in the model's retrieval index")
    path: str = Field(description="the training photo, relative to the dataset the model was trained on")
    class_index: int
    name: str = Field(description="display name of the photo's landmark")
    similarity: float = Field(description="cosine similarity of the two photos' embeddings")
    inliers: int | None = Field(default=None, description="geometric inliers with this photo (with --verify)")


class Prediction(BaseModel):
    """The answer for one photo: the top-k guesses and whether it is one of our landmarks at all."""

    source: str = Field(description="file name or upload name the prediction is for")
    top: list[Guess]
    unknown: bool = Field(description="true when the photo is not confidently one of our landmarks")
    score: float = Field(description="the confidence the unknown decision was made on (see `decision`)")
    threshold: float = Field(description="scores below this are answered as unknown")
    decision: str = Field(default="max_softmax", description="the score: fused, max_softmax or knn")
    knn_similarity: float | None = Field(default=None, description="similarity to the k-th nearest training photo")
    landmark_likeness: float | None = Field(
        default=None,
        description="how much the photo looks like a landmark photo rather than one of no landmark (the gate the "
        "score was multiplied by; absent when fitted without negatives)",
    )
    neighbours: list[Neighbour] = Field(default_factory=list, description="the nearest training photos")
    verified: bool = Field(default=False, description="true when re-ranked by geometric verification")
    fitted_without_negatives: bool = Field(
        default=False, description="true when the unknown decision never saw photos of no landmark"
    )

    @property
    def best(self) -> Guess:
        return self.top[0]
