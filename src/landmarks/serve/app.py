"""The HTTP service: a FastAPI app around one loaded predictor, plus the page at `/`.

`create_app` takes either a loaded predictor or a factory that loads one; the factory runs once at
start-up (lifespan), off the event loop. Tests pass a small fake with the same methods; the
`serve` command passes the real `Predictor`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import anyio.to_thread
from fastapi import FastAPI, Query, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from landmarks import __version__
from landmarks.data.images import check_pixels
from landmarks.errors import BadImageError, DecompressionBombError, LandmarksError, UnsupportedFormatError
from landmarks.inference.types import Prediction
from landmarks.serve.admin import register_admin
from landmarks.serve.guard import ReviewGuard, is_loopback
from landmarks.serve.limiter import InferenceLimiter, Overloaded
from landmarks.serve.review import ReviewLibrary, review_router
from landmarks.serve.schemas import (
    ApiError,
    CatalogResponse,
    ErrorBody,
    HealthResponse,
    InfoResponse,
    LandmarkOut,
    PredictResponse,
)
from landmarks.serve.settings import ServeSettings
from landmarks.serve.thumbs import thumbnail_jpeg
from landmarks.serve.upload import FILE_FIELD, Upload, check_headers, drain_refused, read_upload

if TYPE_CHECKING:
    from landmarks.catalog import Landmark

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"

PAGE_HEADERS = {
    # The page needs nothing from elsewhere; saying so keeps it that way (and keeps uploads local).
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

BYTES_NAME = "<uploaded bytes>"
"""How `landmarks.data.images` names an in-memory photo in its error messages."""

THUMBNAIL_SIDE = 160
"""Long side of the neighbour thumbnails, in pixels."""


# Most specific first: UnsupportedFormatError and DecompressionBombError are BadImageErrors.
IMAGE_ERRORS: tuple[tuple[type[LandmarksError], int, str], ...] = (
    (UnsupportedFormatError, 415, "unsupported_format"),
    (DecompressionBombError, 422, "decompression_bomb"),
    (BadImageError, 422, "bad_image"),
)


class PredictorLike(Protocol):
    """What the service needs of a predictor (`landmarks.inference.predictor.Predictor` has it)."""

    classes: list[str]
    landmarks: Sequence[Landmark]
    threshold: float

    def predict(self, image: Any, k: int = 3, source: str | None = None) -> Prediction: ...

    def training_photo(self, index: int) -> Path | None: ...


PredictorFactory = Callable[[], PredictorLike]


@dataclass
class ServiceState:
    settings: ServeSettings
    limiter: InferenceLimiter
    predictor: PredictorLike | None = None
    catalog: list[LandmarkOut] = field(default_factory=list)

    def ready(self) -> PredictorLike:
        if self.predictor is None:
            raise ApiError(503, "loading", "the model is not loaded yet", {"Retry-After": "5"})
        return self.predictor

    def set_predictor(self, predictor: PredictorLike) -> None:
        self.predictor = predictor
        landmarks = list(predictor.landmarks)
        known = getattr(predictor, "known", None)  # the model's classes come first, then the gallery's
        trained = known.trained if known is not None else len(landmarks)
        self.catalog = [
            LandmarkOut(**lm.to_dict(), class_index=i, source="model" if i < trained else "gallery")
            for i, lm in enumerate(landmarks)
        ]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    408: {"model": ErrorBody, "description": "the upload stalled or came too slowly; the connection is closed"},
    413: {"model": ErrorBody, "description": "the photo is over the size limit"},
    415: {"model": ErrorBody, "description": "not multipart/form-data, or an image format we do not read"},
    422: {"model": ErrorBody, "description": "corrupt image, decompression bomb, no `file`, or a bad `k`"},
    503: {"model": ErrorBody, "description": "every upload or inference slot is taken; retry after `Retry-After` s"},
}

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILE_FIELD],
                    "properties": {
                        FILE_FIELD: {"type": "string", "format": "binary", "description": "the photo"},
                        "k": {"type": "integer", "minimum": 1, "description": "number of guesses"},
                    },
                }
            }
        },
    }
}


def parse_k(raw: str, max_k: int) -> int:
    """A whole number in 1..max_k, or a 422 that says what is allowed."""
    try:
        k = int(raw.strip())
    except ValueError:
        k = 0
    if not 1 <= k <= max_k:
        raise ApiError(422, "bad_k", f"k must be a whole number from 1 to {max_k}, got '{raw}'")
    return k


def _timed(fn: Callable[..., Prediction], *args: Any, **kwargs: Any) -> tuple[Prediction, float]:
    """Run in the worker thread, so the time excludes waiting for a worker."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def _predict_upload(model: PredictorLike, upload: Upload, k: int, max_pixels: int) -> Prediction:
    """In the worker thread: refuse a photo over the upload pixel cap from its header, then predict."""
    check_pixels(upload.data, max_pixels, "upload limit")
    return model.predict(upload.data, k=k, source=upload.filename)


def _image_error(exc: LandmarksError, filename: str) -> ApiError:
    """The 4xx for an image the loader refused, its message naming the upload rather than 'bytes'."""
    for cls, status, code in IMAGE_ERRORS:
        if isinstance(exc, cls):
            return ApiError(status, code, str(exc).replace(BYTES_NAME, filename, 1))
    raise exc


def _offline_docs_dir() -> Path | None:
    """Swagger UI's assets from the `fastapi-offline` package, so `/docs` works without internet."""
    try:
        import fastapi_offline
    except ImportError:
        return None
    path = Path(fastapi_offline.__file__).parent / "static"
    return path if (path / "swagger-ui-bundle.js").is_file() else None


def create_app(
    predictor: PredictorLike | PredictorFactory,
    settings: ServeSettings | None = None,
    library: ReviewLibrary | None = None,
) -> FastAPI:
    """The service around `predictor` (loaded) or `predictor()` (loaded once, at start-up); with
    `library`, also its review view (`/review`), which off loopback refuses to exist without a token."""
    settings = settings or ServeSettings()
    token = settings.token.get_secret_value() if settings.token is not None else None
    if library is not None and token is None and not is_loopback(settings.host):
        raise LandmarksError(
            f"the review view can change photos: serving it on {settings.host} needs a token (LANDMARKS_SERVE_TOKEN)"
        )
    limiter = InferenceLimiter(settings.max_concurrency, settings.max_queue, settings.max_receiving)
    state = ServiceState(settings, limiter)
    factory: PredictorFactory | None = None
    if hasattr(predictor, "predict"):
        state.set_predictor(predictor)  # type: ignore[arg-type]
    else:
        factory = predictor  # type: ignore[assignment]

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if factory is not None and state.predictor is None:
            loaded = await anyio.to_thread.run_sync(factory)
            state.set_predictor(loaded)
            log.info("model loaded: %d classes", len(loaded.classes))
        yield

    docs_assets = _offline_docs_dir()
    app = FastAPI(
        title="Landmarks",
        version=__version__,
        summary="Recognise famous landmarks in photos and put them on the map.",
        lifespan=lifespan,
        docs_url=None if docs_assets else "/docs",
        redoc_url=None,
    )
    app.state.service = state

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        body = ErrorBody(detail=exc.message, code=exc.code).model_dump()
        return JSONResponse(body, status_code=exc.status, headers=exc.headers)

    @app.post(
        "/api/v1/predict",
        response_model=PredictResponse,
        responses=ERROR_RESPONSES,
        openapi_extra=UPLOAD_BODY,
        summary="Top-k landmarks for one photo",
        tags=["predict"],
    )
    @app.post("/api/predict", response_model=PredictResponse, include_in_schema=False)
    async def predict(
        request: Request,
        k: Annotated[str | None, Query(description="number of guesses; the form field `k` takes precedence")] = None,
    ) -> PredictResponse:
        """Upload a photo as multipart field `file`; get the top-k guesses and the unknown flag."""
        model = state.ready()

        def busy(what: str) -> ApiError:
            message = f"the server is busy ({what}); try again shortly"
            return ApiError(503, "busy", message, {"Retry-After": str(settings.retry_after_s)})

        # Whatever the headers already rule out is refused before the body is parsed (or kept).
        try:
            k_query = parse_k(k, settings.max_k) if k and k.strip() else None
            boundary = check_headers(request, settings.max_upload_bytes)
        except ApiError as exc:
            await drain_refused(request, exc, state.limiter, settings)
            raise
        # The body is read in full (under a deadline) before the request may queue for the model.
        try:
            async with state.limiter.receive():
                try:
                    upload = await read_upload(request, boundary, settings)
                except ApiError as exc:
                    if exc.status == 413:
                        exc.headers = {**exc.headers, "Connection": "close"}
                    raise
        except Overloaded:
            raise busy(f"{state.limiter.max_receiving} uploads arriving") from None
        k_form = upload.fields.get("k", "").strip()
        k_asked = parse_k(k_form, settings.max_k) if k_form else k_query or settings.default_k
        k_used = min(k_asked, len(model.classes))
        try:
            async with state.limiter.admit():
                prediction, seconds = await state.limiter.run(
                    _timed, _predict_upload, model, upload, k_used, settings.max_upload_pixels
                )
        except Overloaded:
            raise busy(f"{state.limiter.capacity} requests in progress") from None
        except LandmarksError as exc:
            raise _image_error(exc, upload.filename) from None
        return PredictResponse(**prediction.model_dump(), k=k_used, elapsed_ms=round(seconds * 1000, 1))

    @app.get(
        "/api/v1/neighbours/{index}.jpg",
        tags=["predict"],
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}}}, 404: {"model": ErrorBody}},
    )
    async def neighbour_thumbnail(index: int) -> Response:
        """A small JPEG of training photo `index` of the model's retrieval index (the `neighbours` of a
        prediction), re-encoded from its decoded pixels; 404 when the training photos are not at hand."""
        model = state.ready()
        finder = getattr(model, "training_photo", None)
        path = finder(index) if finder is not None else None
        if path is None:
            raise ApiError(404, "not_found", f"no training photo {index} here")
        try:
            body = await anyio.to_thread.run_sync(thumbnail_jpeg, path, THUMBNAIL_SIDE)
        except LandmarksError as exc:
            raise ApiError(404, "not_found", f"training photo {index} cannot be read: {exc}") from exc
        return Response(body, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    if settings.admin_token is not None:
        register_admin(app, state, settings)

    @app.get("/api/v1/landmarks", response_model=CatalogResponse, tags=["catalog"])
    async def landmarks() -> CatalogResponse:
        """Every landmark answered: the model's classes in order, then the gallery's (`source`)."""
        state.ready()
        return CatalogResponse(count=len(state.catalog), landmarks=state.catalog)

    @app.get("/api/v1/info", response_model=InfoResponse, tags=["catalog"])
    async def info() -> InfoResponse:
        """The limits and defaults the page sets its controls from."""
        model = state.ready()
        return InfoResponse(
            version=__version__,
            classes=len(model.classes),
            threshold=model.threshold,
            default_k=min(settings.default_k, len(model.classes)),
            max_k=min(settings.max_k, len(model.classes)),
            max_upload_bytes=settings.max_upload_bytes,
        )

    @app.head("/healthz", include_in_schema=False)  # what load balancers and health checkers send
    @app.get("/healthz", response_model=HealthResponse, tags=["health"])
    async def healthz() -> JSONResponse:
        """`ok` (200) once the model is loaded, `loading` (503) before; with the load right now."""
        loaded = state.predictor is not None
        body = HealthResponse(
            status="ok" if loaded else "loading",
            version=__version__,
            model_loaded=loaded,
            admitted=state.limiter.admitted,
            running=state.limiter.running,
            capacity=state.limiter.capacity,
        )
        return JSONResponse(body.model_dump(), status_code=200 if loaded else 503)

    @app.head("/", include_in_schema=False)
    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)

    if library is not None:
        app.include_router(review_router(library, settings, ReviewGuard(token), PAGE_HEADERS))

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    if docs_assets is not None:
        app.mount("/docs-assets", StaticFiles(directory=docs_assets), name="docs-assets")
        oauth_redirect = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

        @app.get("/docs", include_in_schema=False)
        async def docs() -> HTMLResponse:
            return get_swagger_ui_html(
                openapi_url=app.openapi_url or "/openapi.json",
                title=f"{app.title} API",
                oauth2_redirect_url=oauth_redirect,
                swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                swagger_css_url="/docs-assets/swagger-ui.css",
                swagger_favicon_url="/static/favicon.svg",
            )

        @app.get(oauth_redirect, include_in_schema=False)
        async def docs_redirect() -> HTMLResponse:
            return get_swagger_ui_oauth2_redirect_html()

    return app
