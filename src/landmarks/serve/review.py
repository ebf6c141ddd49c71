"""The review view of a photo library: `/review` and `/api/v1/library/...` (`landmarks serve --library`).

Proposals (planned locations) are read from the library index and shown with their evidence;
accepting, rejecting and applying change the index and then the photos, so every request goes
through `ReviewGuard` (token, host and origin rules: see `landmarks.serve.guard`), bodies are read
under a size cap, photos are named by index id and read through `confine` (never leaving the root,
never through a symlink), and thumbnails are re-encoded from decoded pixels.

The index is opened per request: read-only for reads (they never wait for a run), writable with the
library lock for a change, released at once, so `landmarks geotag` runs alongside the server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field, ValidationError

from landmarks.data.images import check_pixels
from landmarks.errors import BadImageError, LandmarksError, LibraryError
from landmarks.library.db import LibraryDB, open_library
from landmarks.library.records import set_proposal_status
from landmarks.serve.confine import NotInLibraryError, OutsideRootError, TooLargeError, read_confined
from landmarks.serve.guard import ReviewGuard
from landmarks.serve.review_apply import Action, JobState, WriteJob, Writer
from landmarks.serve.review_data import (
    LocatedList,
    Order,
    ProposalList,
    StatusFilter,
    accept_above,
    list_located,
    list_proposals,
    proposal_counts,
)
from landmarks.serve.schemas import ApiError
from landmarks.serve.settings import ServeSettings
from landmarks.serve.thumbs import thumbnail_jpeg
from landmarks.serve.upload import body_chunks

STATIC_DIR = Path(__file__).parent / "static"
THUMB_SIDES = (240, 1024)
"""The thumbnail sizes served: the grid's and the enlarged view's (long side, pixels)."""


@dataclass
class ReviewLibrary:
    """The library the review view works on, and how it writes."""

    root: Path
    db: Path | None = None
    applier: Writer | None = None
    """Writes accepted proposals (`review_apply.geotag_applier`); None: the view only decides."""
    undoer: Writer | None = None
    """Takes written ones back (`review_apply.geotag_undoer`); None: no undo from the page."""
    lock_timeout_s: float = 2.0
    job: WriteJob = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.job = WriteJob(self.applier, self.undoer)

    def reader(self) -> LibraryDB:
        return open_library(self.root, self.db, readonly=True)

    def writer(self) -> LibraryDB:
        return open_library(self.root, self.db, lock_timeout=self.lock_timeout_s)


class Decision(BaseModel):
    ids: list[int] = Field(min_length=1, description="the proposals to decide on")
    status: Literal["accepted", "rejected", "proposed"] = Field(description="proposed takes a decision back")


class AcceptAbove(BaseModel):
    min_confidence: float = Field(ge=0.0, le=1.0)
    kind: Literal["landmark", "estimate"] | None = None


class JobRequest(BaseModel):
    ids: list[int] | None = Field(None, description="the proposals to apply (or undo); all that can be when absent")


class Changed(BaseModel):
    changed: list[int]
    counts: dict[str, int]


PATH_ERRORS: tuple[tuple[type[LandmarksError], int, str], ...] = (
    (OutsideRootError, 403, "outside_library"),
    (NotInLibraryError, 404, "not_found"),
    (TooLargeError, 413, "too_large"),
    (BadImageError, 422, "bad_image"),
)


def _api_error(exc: LandmarksError) -> ApiError:
    for cls, status, code in PATH_ERRORS:
        if isinstance(exc, cls):
            return ApiError(status, code, str(exc))
    if isinstance(exc, LibraryError):
        return ApiError(409, "library_busy_or_refused", str(exc))
    return ApiError(400, "refused", str(exc))


async def _run(fn: Callable[..., Any], *args: Any) -> Any:
    """Index and file work off the event loop; its errors as API answers."""
    try:
        return await anyio.to_thread.run_sync(fn, *args)
    except LandmarksError as exc:
        raise _api_error(exc) from None


async def read_body(request: Request, model: type[BaseModel], settings: ServeSettings) -> Any:
    """A JSON body of at most `review_max_body_bytes` (counted as it arrives), validated as `model`,
    else 413 / 422; read under the same deadlines as uploads (else 408)."""
    max_bytes = settings.review_max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, "too_large", f"a review request is at most {max_bytes} bytes")
    body = bytearray()
    async for chunk in body_chunks(request, settings):  # under the upload deadlines: a stalled body is a 408
        body += chunk
        if len(body) > max_bytes:
            raise ApiError(413, "too_large", f"a review request is at most {max_bytes} bytes")
    try:
        return model.model_validate_json(bytes(body))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(422, "bad_request", f"{where}: {first['msg']}") from None


def thumbnail(root: Path, path: str, side: int, settings: ServeSettings) -> bytes:
    """A JPEG of the photo's decoded pixels (no byte or tag of the file itself), read inside the root."""
    data = read_confined(root, path, settings.review_max_photo_bytes)
    check_pixels(data, settings.review_max_photo_pixels, "review limit")
    return thumbnail_jpeg(data, side)


def review_router(
    library: ReviewLibrary, settings: ServeSettings, guard: ReviewGuard, page_headers: dict[str, str]
) -> APIRouter:
    """The page at `/review` (sent with `page_headers`) and the library API, every API route behind `guard`."""
    router = APIRouter()
    thumbs = anyio.CapacityLimiter(settings.review_thumbnail_workers)
    page_size = settings.review_max_page

    @router.get("/review", include_in_schema=False)
    async def review_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "review.html", headers=page_headers)

    @router.get("/api/v1/library", tags=["library"], dependencies=[Depends(guard)])
    async def library_info() -> dict[str, Any]:
        """The library's root, proposal counts, and whether apply is available."""

        def read() -> dict[str, Any]:
            with library.reader() as db:
                return {
                    "root": str(db.root),
                    "counts": proposal_counts(db),
                    "can_apply": library.applier is not None,
                    "can_undo": library.undoer is not None,
                }

        return await _run(read)

    @router.get("/api/v1/library/proposals", response_model=ProposalList, tags=["library"],
                dependencies=[Depends(guard)])  # fmt: skip
    async def library_proposals(
        status: StatusFilter = "review",
        kind: Literal["landmark", "estimate"] | None = None,
        order: Order = "path",
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1)] = 200,
    ) -> ProposalList:
        """A page of proposals in photo-path order (`review`: not yet written; `open`: proposed or accepted)."""

        def read() -> ProposalList:
            with library.reader() as db:
                return list_proposals(
                    db, status=status, kind=kind, order=order, offset=offset, limit=min(limit, page_size)
                )

        return await _run(read)

    @router.get("/api/v1/library/located", response_model=LocatedList, tags=["library"],
                dependencies=[Depends(guard)])  # fmt: skip
    async def library_located(limit: Annotated[int | None, Query(ge=1)] = None) -> LocatedList:
        """Photos with a place: their own GPS, or a location applied from a proposal."""

        def read() -> LocatedList:
            with library.reader() as db:
                return list_located(db, min(limit or settings.review_max_located, settings.review_max_located))

        return await _run(read)

    @router.get("/api/v1/library/photos/{photo_id:int}.jpg", tags=["library"], response_class=Response,
                responses={200: {"content": {"image/jpeg": {}}}}, dependencies=[Depends(guard)])  # fmt: skip
    async def library_photo(photo_id: int, side: Annotated[int, Query()] = THUMB_SIDES[0]) -> Response:
        """A JPEG of photo `photo_id` (index id) made from its decoded pixels; `side` is 240 or 1024."""
        if side not in THUMB_SIDES:
            raise ApiError(422, "bad_side", f"side must be one of {THUMB_SIDES}")

        def read() -> bytes:
            with library.reader() as db:
                photo = db.photo(photo_id)
                root = db.root
            if photo is None or photo.status != "present":
                raise NotInLibraryError(f"no photo {photo_id} in this library")
            return thumbnail(root, photo.path, side, settings)

        async with thumbs:
            body = await _run(read)
        return Response(body, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=60"})

    @router.post("/api/v1/library/proposals/decide", response_model=Changed, tags=["library"],
                 dependencies=[Depends(guard.write)])  # fmt: skip
    async def decide(request: Request) -> Changed:
        """Accept or reject proposals (or take the decision back: `proposed`); all or none."""
        body: Decision = await read_body(request, Decision, settings)
        if len(body.ids) > settings.review_max_ids:
            raise ApiError(413, "too_many", f"at most {settings.review_max_ids} proposals at once")

        def write() -> Changed:
            with library.writer() as db:
                set_proposal_status(db, body.ids, body.status)
                return Changed(changed=list(dict.fromkeys(body.ids)), counts=proposal_counts(db))

        return await _run(write)

    @router.post("/api/v1/library/proposals/accept-above", response_model=Changed, tags=["library"],
                 dependencies=[Depends(guard.write)])  # fmt: skip
    async def accept_all_above(request: Request) -> Changed:
        """Accept every undecided proposal whose confidence is at least `min_confidence`."""
        body: AcceptAbove = await read_body(request, AcceptAbove, settings)

        def write() -> Changed:
            with library.writer() as db:
                ids = accept_above(db, body.min_confidence, body.kind)
                if ids:
                    set_proposal_status(db, ids, "accepted")
                return Changed(changed=ids, counts=proposal_counts(db))

        return await _run(write)

    async def start(request: Request, action: Action) -> JobState:
        body: JobRequest = await read_body(request, JobRequest, settings)
        if body.ids is not None and len(body.ids) > settings.review_max_ids:
            raise ApiError(413, "too_many", f"at most {settings.review_max_ids} proposals at once")
        if (running := library.job.state).running:  # before waiting for the library lock the job holds
            raise ApiError(409, "job_running", f"a {running.action} is running; wait for it to finish")
        return await _run(lambda: library.job.start(action, library.writer(), body.ids))

    @router.post("/api/v1/library/apply", response_model=JobState, status_code=202, tags=["library"],
                 dependencies=[Depends(guard.write)])  # fmt: skip
    async def apply(request: Request) -> JobState:
        """Start writing the accepted proposals (or the accepted ones among `ids`) into their photos;
        `GET /api/v1/library/job` for its progress. 409 while a job or a `geotag` run holds the library."""
        return await start(request, "apply")

    @router.post("/api/v1/library/undo", response_model=JobState, status_code=202, tags=["library"],
                 dependencies=[Depends(guard.write)])  # fmt: skip
    async def undo(request: Request) -> JobState:
        """Start taking written proposals (all applied ones, or those among `ids`) back out of their photos."""
        return await start(request, "undo")

    @router.get("/api/v1/library/job", response_model=JobState, tags=["library"], dependencies=[Depends(guard)])
    async def job_progress() -> JobState:
        """The running or last write job: how far it got, which were refused and why."""
        return library.job.state

    return router
