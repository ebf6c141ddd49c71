"""Writing from the review view: apply accepted proposals, or undo written ones, as one background job.

A library of thousands of accepted photos takes minutes to write, longer than a request should
stay open, so `POST /api/v1/library/apply` (or `/undo`) starts a job and `GET /api/v1/library/job`
tells how far it got. The job holds the library lock from start to end (a `geotag` run waits, and no
decision changes under it) and checks that every photo is inside the root before the writer sees
it (see `confine`). The writers are `landmarks.geotag`'s: `apply_proposals` (digest-checked, atomic,
journaled in the index) and `undo_library` (restores exactly what the journal says was replaced).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from landmarks.errors import LandmarksError
from landmarks.geotag.apply import ApplyAction, apply_proposals
from landmarks.geotag.library_undo import undo_library
from landmarks.geotag.metadata import SidecarName, WriteMode
from landmarks.geotag.undo import UNDONE
from landmarks.library.db import LibraryDB, now
from landmarks.library.records import proposals
from landmarks.serve.confine import open_confined
from landmarks.serve.review_data import proposal_counts
from landmarks.serve.schemas import ApiError

Progress = Callable[[int], None]
"""Called with how many more proposals the writer has finished."""
Writer = Callable[[LibraryDB, Sequence[int], Progress], dict[str, Any]]
"""Writes (or undoes) these proposals in their photos; takes a writable index (the library lock held)
and answers a JSON-able summary, optionally with `reasons` (str(id) -> why one was not done)."""
Applier = Writer

Action = Literal["apply", "undo"]


@dataclass(frozen=True)
class Step:
    """What one action takes (a proposal status) and leaves (another), and who does it."""

    takes: str
    leaves: str
    writer: Writer | None


def geotag_applier(
    write: WriteMode = WriteMode.EXIF, sidecar_name: SidecarName = SidecarName.APPEND, tags: bool | None = None
) -> Writer:
    """`apply_proposals` on accepted proposals only; photos that have GPS now are left alone; `tags`
    (keywords and place names) as `geotag apply --tags` (default: on for sidecars)."""

    def apply(db: LibraryDB, ids: Sequence[int], progress: Progress) -> dict[str, Any]:
        result = apply_proposals(db, proposal_ids=list(ids), accepted_only=True, write=write,
                                 sidecar_name=sidecar_name, tags=tags, progress=progress)  # fmt: skip
        reasons = {
            str(item.proposal_id): f"{item.path}: {item.action}" + (f" ({item.detail})" if item.detail else "")
            for item in result.items
            if item.action != ApplyAction.WRITTEN
        }
        return {"counts": dict(result.counts), "reasons": reasons, "recovered": result.recovered}

    return apply


def geotag_undoer(db: LibraryDB, ids: Sequence[int], progress: Progress) -> dict[str, Any]:
    """`undo_library` on these applied proposals: each file back to what the journal says it was."""
    summary = undo_library(db, proposal_ids=list(ids))
    progress(len(ids))
    still = {}  # the proposals left applied, by their photo's file: what the failed results name
    for row in proposals(db, status="applied"):
        if (photo := db.photo(row.photo_id)) is not None:
            still[os.path.abspath(db.abspath(photo))] = row.id
    reasons = {
        str(still.get(os.path.abspath(r.file), "?")): f"{r.action}" + (f" ({r.detail})" if r.detail else "")
        for r in summary.results
        if r.action not in UNDONE
    }
    return {"counts": dict(summary.counts), "reasons": reasons}


class JobState(BaseModel):
    """Where the last write job is (`running` false and `started` null: none has run)."""

    action: Action | None = None
    running: bool = False
    started: str | None = None
    finished: str | None = None
    total: int = Field(0, description="proposals the job writes (in the right status, inside the root)")
    done: int = Field(0, description="proposals the writer has finished so far")
    succeeded: list[int] = Field(default_factory=list, description="proposals written (apply) or restored (undo)")
    refused: dict[str, str] = Field(default_factory=dict, description="proposal id -> why it was not done")
    error: str | None = Field(None, description="why the job stopped early, if it did")
    counts: dict[str, int] = Field(default_factory=dict, description="proposals per status once finished")


class WriteJob:
    """The review server's one write job at a time."""

    def __init__(self, applier: Writer | None, undoer: Writer | None = None) -> None:
        self.steps: dict[Action, Step] = {
            "apply": Step("accepted", "applied", applier),
            "undo": Step("applied", "undone", undoer),
        }
        self._lock = threading.Lock()
        self._state = JobState()
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> JobState:
        with self._lock:
            return self._state.model_copy(deep=True)

    def start(self, action: Action, db: LibraryDB, ids: Sequence[int] | None) -> JobState:
        """Check what to do (in the caller's thread), then do it in a new one; `db` is writable and the
        job closes it. Raises ApiError 409 when a job is running, 501 without a writer."""
        step = self.steps[action]
        try:
            if step.writer is None:
                raise ApiError(501, "unavailable", f"this server cannot {action} proposals")
            with self._lock:
                if self._state.running:
                    raise ApiError(409, "job_running", f"a {self._state.action} is running; wait for it to finish")
                self._state = JobState(action=action, running=True, started=now())
        except BaseException:
            db.close()
            raise
        try:
            ready, refused = self._select(db, ids, step.takes)
        except BaseException:
            db.close()
            with self._lock:
                self._state = JobState()
            raise
        with self._lock:
            self._state.total, self._state.refused = len(ready), refused
        self._thread = threading.Thread(target=self._run, args=(db, ready, step), name=f"review-{action}", daemon=True)
        self._thread.start()
        return self.state

    def wait(self, timeout: float | None = None) -> JobState:
        """The state once the job has finished (tests, and a server shutting down)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.state

    @staticmethod
    def _select(db: LibraryDB, ids: Sequence[int] | None, status: str) -> tuple[list[int], dict[str, str]]:
        """The proposals in `status` (all, or those among `ids`) whose photo opens inside the root."""
        eligible = {r.id: r for r in proposals(db, status=status)}
        wanted = list(eligible) if ids is None else list(dict.fromkeys(ids))
        ready, refused = [], {}
        for pid in wanted:
            row = eligible.get(pid)
            photo = db.photo(row.photo_id) if row is not None else None
            if row is None or photo is None:
                refused[str(pid)] = f"not an {status} proposal"
                continue
            try:
                os.close(open_confined(db.root, photo.path))
            except LandmarksError as exc:
                refused[str(pid)] = str(exc)
                continue
            ready.append(pid)
        return ready, refused

    def _run(self, db: LibraryDB, ready: list[int], step: Step) -> None:
        assert step.writer is not None

        def advance(n: int) -> None:
            with self._lock:
                self._state.done = min(self._state.done + n, self._state.total)

        reasons: dict[str, Any] = {}
        try:
            if ready:
                summary = step.writer(db, ready, advance)
                reasons = summary.get("reasons") if isinstance(summary.get("reasons"), dict) else {}
        except Exception as exc:  # the job's answer, not a crash of the server
            with self._lock:
                self._state.error = str(exc) if isinstance(exc, LandmarksError) else f"{type(exc).__name__}: {exc}"
        finally:
            try:  # what the index says was done, whatever the writer returned or raised
                done = {r.id for r in proposals(db, status=step.leaves)}
                counts = proposal_counts(db)
            except LandmarksError:
                done, counts = set(), {}
            db.close()
            with self._lock:
                for pid in ready:
                    if pid in done:
                        self._state.succeeded.append(pid)
                    elif self._state.error is None:
                        self._state.refused[str(pid)] = str(reasons.get(str(pid), "the writer did not do it"))
                self._state.done = self._state.total if self._state.error is None else self._state.done
                self._state.counts = counts
                self._state.running = False
                self._state.finished = now()
