"""Writing accepted proposals from the review view: one job at a time, in the background, with progress.

A library of thousands of accepted photos takes minutes to write, longer than a request should
stay open, so `POST /api/v1/library/apply` starts a job and `GET` tells how far it got. The job holds
the library lock from start to end (a `geotag` run waits, and no decision changes under it) and checks
that every photo is inside the root before the writer sees it (see `confine`). The writer is
`landmarks.geotag.apply.apply_proposals` (`geotag_applier`): digest-checked, atomic, journaled in the
index, so `landmarks geotag undo DIR` takes the page's writes back.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, Field

from landmarks.errors import LandmarksError
from landmarks.geotag.apply import ApplyAction, apply_proposals
from landmarks.geotag.metadata import SidecarName, WriteMode
from landmarks.library.db import LibraryDB, now
from landmarks.library.records import proposals
from landmarks.serve.confine import open_confined
from landmarks.serve.review_data import proposal_counts
from landmarks.serve.schemas import ApiError

Progress = Callable[[int], None]
"""Called with how many more proposals the writer has finished."""
Applier = Callable[[LibraryDB, Sequence[int], Progress], dict[str, Any]]
"""Writes accepted proposals (ids) into their photos through the atomic writer and the undo journal;
takes a writable index (the library lock held) and answers a JSON-able summary, optionally with
`reasons` (str(id) -> why one was not written)."""


def geotag_applier(write: WriteMode = WriteMode.EXIF, sidecar_name: SidecarName = SidecarName.APPEND) -> Applier:
    """The real writer: `apply_proposals` on accepted proposals only, photos with GPS left alone."""

    def apply(db: LibraryDB, ids: Sequence[int], progress: Progress) -> dict[str, Any]:
        result = apply_proposals(db, proposal_ids=list(ids), accepted_only=True, write=write,
                                 sidecar_name=sidecar_name, progress=progress)  # fmt: skip
        reasons = {
            str(item.proposal_id): f"{item.path}: {item.action}" + (f" ({item.detail})" if item.detail else "")
            for item in result.items
            if item.action != ApplyAction.WRITTEN
        }
        return {"counts": dict(result.counts), "reasons": reasons, "recovered": result.recovered}

    return apply


class ApplyState(BaseModel):
    """Where the last apply job is (`running` false and `started` null: none has run)."""

    running: bool = False
    started: str | None = None
    finished: str | None = None
    total: int = Field(0, description="proposals the job writes (accepted, inside the root)")
    done: int = Field(0, description="proposals handed to the writer so far")
    applied: list[int] = Field(default_factory=list, description="proposals written into their photos")
    refused: dict[str, str] = Field(default_factory=dict, description="proposal id -> why it was not written")
    error: str | None = Field(None, description="why the job stopped early, if it did")
    counts: dict[str, int] = Field(default_factory=dict, description="proposals per status once finished")


class ApplyJob:
    """The review server's one apply job."""

    def __init__(self, applier: Applier | None) -> None:
        self.applier = applier
        self._lock = threading.Lock()
        self._state = ApplyState()
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> ApplyState:
        with self._lock:
            return self._state.model_copy(deep=True)

    def start(self, db: LibraryDB, ids: Sequence[int] | None) -> ApplyState:
        """Check what to write (in the caller's thread), then write it in a new one; `db` is writable
        and is closed by the job. Raises ApiError 409 when a job is running."""
        if self.applier is None:
            db.close()
            raise ApiError(501, "apply_unavailable", "this server has no writer for proposals")
        with self._lock:
            if self._state.running:
                db.close()
                raise ApiError(409, "apply_running", "an apply is already running; wait for it to finish")
            self._state = ApplyState(running=True, started=now())
        try:
            ready, refused = self._select(db, ids)
        except BaseException:
            db.close()
            with self._lock:
                self._state = ApplyState()
            raise
        with self._lock:
            self._state.total, self._state.refused = len(ready), refused
        self._thread = threading.Thread(target=self._run, args=(db, ready), name="review-apply", daemon=True)
        self._thread.start()
        return self.state

    def wait(self, timeout: float | None = None) -> ApplyState:
        """The state once the job has finished (tests, and a server shutting down)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.state

    @staticmethod
    def _select(db: LibraryDB, ids: Sequence[int] | None) -> tuple[list[int], dict[str, str]]:
        """The accepted proposals to write (all, or those among `ids`) whose photo opens inside the root."""
        accepted = {r.id: r for r in proposals(db, status="accepted")}
        wanted = list(accepted) if ids is None else list(dict.fromkeys(ids))
        ready, refused = [], {}
        for pid in wanted:
            row = accepted.get(pid)
            photo = db.photo(row.photo_id) if row is not None else None
            if row is None or photo is None:
                refused[str(pid)] = "not an accepted proposal"
                continue
            try:
                os.close(open_confined(db.root, photo.path))
            except LandmarksError as exc:
                refused[str(pid)] = str(exc)
                continue
            ready.append(pid)
        return ready, refused

    def _run(self, db: LibraryDB, ready: list[int]) -> None:
        assert self.applier is not None

        def advance(n: int) -> None:
            with self._lock:
                self._state.done = min(self._state.done + n, self._state.total)

        reasons: dict[str, Any] = {}
        try:
            if ready:
                summary = self.applier(db, ready, advance)
                reasons = summary.get("reasons") if isinstance(summary.get("reasons"), dict) else {}
        except Exception as exc:  # the job's answer, not a crash of the server
            with self._lock:
                self._state.error = str(exc) if isinstance(exc, LandmarksError) else f"{type(exc).__name__}: {exc}"
        finally:
            try:  # what the index says was written, whatever the writer returned or raised
                written = {r.id for r in proposals(db, status="applied")}
                counts = proposal_counts(db)
            except LandmarksError:
                written, counts = set(), {}
            db.close()
            with self._lock:
                for pid in ready:
                    if pid in written:
                        self._state.applied.append(pid)
                    elif self._state.error is None:
                        self._state.refused[str(pid)] = str(reasons.get(str(pid), "the writer did not write it"))
                self._state.done = self._state.total if self._state.error is None else self._state.done
                self._state.counts = counts
                self._state.running = False
                self._state.finished = now()
