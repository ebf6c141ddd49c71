"""`POST /api/v1/admin/landmarks`: add a landmark to the model's gallery from photos sent over HTTP.

It changes what the server answers for everyone, so it exists only when the server was started with an
admin token (`serve --admin-token`, `LANDMARKS_SERVE_ADMIN_TOKEN`), and a request must carry that token
(`Authorization: Bearer TOKEN`): anything else is a 401 before one byte of the body is read or kept.
The photos go through the same upload limits as `/api/v1/predict` (size while streaming, deadline and
rate, pixel cap from the header); photos that cannot be read are skipped and named in the answer.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from pydantic import BaseModel, Field

from landmarks.catalog import Landmark
from landmarks.data.images import check_pixels
from landmarks.errors import DecompressionBombError, GalleryError, LandmarksError
from landmarks.retrieval.gallery import make_landmark
from landmarks.serve.limiter import Overloaded
from landmarks.serve.schemas import ApiError, ErrorBody, LandmarkOut
from landmarks.serve.upload import check_headers, drain_refused, read_upload

PHOTOS_FIELD = "photos"
ADMIN_PATH = "/api/v1/admin/landmarks"


class AddedLandmark(BaseModel):
    landmark: LandmarkOut
    photos: int = Field(description="photos the landmark was added from")
    skipped: list[str] = Field(default_factory=list, description="photos that could not be read, and why")
    gallery_landmarks: int = Field(description="landmarks in the gallery now")


ADMIN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [PHOTOS_FIELD, "name", "latitude", "longitude"],
                    "properties": {
                        PHOTOS_FIELD: {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "name": {"type": "string"},
                        "latitude": {"type": "number", "minimum": -90, "maximum": 90},
                        "longitude": {"type": "number", "minimum": -180, "maximum": 180},
                        "radius_km": {"type": "number", "exclusiveMinimum": 0},
                        "city": {"type": "string"},
                        "country": {"type": "string"},
                    },
                }
            }
        },
    }
}


def authorised(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(given.strip().encode(), token.encode())


def landmark_of(fields: dict[str, str]) -> Landmark:
    """The form fields as a gallery landmark; 422 naming the field that is missing or wrong."""

    def number(key: str, required: bool) -> float | None:
        raw = fields.get(key, "").strip()
        if not raw:
            if required:
                raise ApiError(422, "missing_field", f"the form field '{key}' is required")
            return None
        try:
            return float(raw)
        except ValueError:
            raise ApiError(422, "bad_field", f"the form field '{key}' is not a number: '{raw}'") from None

    name = fields.get("name", "").strip()
    if not name:
        raise ApiError(422, "missing_field", "the form field 'name' is required")
    lat, lon = number("latitude", True), number("longitude", True)
    assert lat is not None and lon is not None
    try:
        return make_landmark(name, lat, lon, number("radius_km", False), fields.get("city"), fields.get("country"))
    except GalleryError as exc:
        raise ApiError(422, "bad_landmark", str(exc)) from None


def _add(model: Any, landmark: Landmark, files: Sequence[tuple[str, bytes]], max_pixels: int) -> tuple[Any, list]:
    """In a worker thread: the pixel cap of every photo from its header, then embed and store."""
    for name, data in files:
        try:
            check_pixels(data, max_pixels, "upload limit")
        except DecompressionBombError as exc:
            raise ApiError(422, "decompression_bomb", f"{name}: {exc}") from None
        except LandmarksError:
            pass  # unreadable: skipped (and named) by the gallery
    return model.add_landmark(landmark, files)


def register_admin(app: FastAPI, state: Any, settings: Any) -> None:
    """Add the admin endpoint to `app` (the caller does so only when there is a token)."""
    token = settings.admin_token.get_secret_value()

    @app.post(
        ADMIN_PATH,
        response_model=AddedLandmark,
        status_code=201,
        responses={401: {"model": ErrorBody}, 413: {"model": ErrorBody}, 422: {"model": ErrorBody}},
        openapi_extra=ADMIN_BODY,
        summary="Add a landmark to the gallery from photos (admin token)",
        tags=["admin"],
    )
    async def add_landmark(request: Request) -> AddedLandmark:
        """Photos in the multipart field `photos` (repeated), with `name`, `latitude`, `longitude` and
        optionally `radius_km`, `city`, `country`; `Authorization: Bearer TOKEN`."""
        model = state.ready()
        try:
            if not authorised(request, token):
                raise ApiError(401, "unauthorised", "a valid admin token is needed", {"WWW-Authenticate": "Bearer"})
            boundary = check_headers(request, settings.gallery_max_body_bytes)
        except ApiError as exc:
            await drain_refused(request, exc, state.limiter, settings)
            raise
        try:
            async with state.limiter.receive():
                upload = await read_upload(
                    request,
                    boundary,
                    settings,
                    file_field=PHOTOS_FIELD,
                    max_files=settings.gallery_max_photos,
                    max_body_bytes=settings.gallery_max_body_bytes,
                )
        except Overloaded:
            raise ApiError(503, "busy", "the server is busy; try again shortly", {"Retry-After": "1"}) from None
        landmark = landmark_of(upload.fields)
        try:
            async with state.limiter.admit():
                gallery, skipped = await state.limiter.run(
                    _add, model, landmark, upload.files, settings.max_upload_pixels
                )
        except Overloaded:
            raise ApiError(503, "busy", "the server is busy; try again shortly", {"Retry-After": "1"}) from None
        except GalleryError as exc:
            raise ApiError(422, "bad_landmark", str(exc)) from None
        state.set_predictor(model)  # the catalog now lists the new landmark
        entry = gallery.entries[-1]
        out = LandmarkOut(**entry.landmark.to_dict(), class_index=len(model.landmarks) - 1, source="gallery")
        return AddedLandmark(landmark=out, photos=len(entry.photos), skipped=skipped, gallery_landmarks=len(gallery))
