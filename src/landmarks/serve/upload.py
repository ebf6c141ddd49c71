"""Read a multipart upload into memory as it streams in, counting bytes and time, never touching disk.

Starlette's own form parsing spools files over 1 MB to a temporary file and only learns the size
afterwards. Here python-multipart's streaming parser is fed the body chunk by chunk, the photo is
kept in a bytearray, and the size limit is enforced as the bytes arrive, so a 1 GB upload (chunked,
with no Content-Length to refuse it by) costs at most the limit in memory before the 413.

Every body is read under a deadline, an idle time-out and a minimum rate (`ServeSettings.body_*`),
so a client that sends headers and then nothing, or a byte now and then, gets a 408 instead of
holding a place for ever.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from landmarks.serve.limiter import InferenceLimiter, Overloaded
from landmarks.serve.schemas import ApiError
from landmarks.serve.settings import ServeSettings

FILE_FIELD = "file"
FIELD_MAX_BYTES = 1024
"""Largest value of a non-file field (`k`); the only other fields we read are tiny."""
OVERHEAD_BYTES = 64 * 1024
"""Body bytes allowed beyond the file limit, for boundaries, part headers and small fields."""


@dataclass
class Upload:
    filename: str
    data: bytes
    fields: dict[str, str] = field(default_factory=dict)
    files: list[tuple[str, bytes]] = field(default_factory=list)
    """Every file sent in the file field, in order (the first is `filename`, `data`)."""


def format_size(n: int) -> str:
    """Bytes as a person reads them ('20 MB', '512 KB'), in binary units like the limit."""
    for unit, size in (("MB", 1024 * 1024), ("KB", 1024)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"


def too_large(limit: int, size: str | None = None) -> ApiError:
    what = f"the upload is {size}; " if size else "the upload is larger than the limit: "
    return ApiError(413, "too_large", f"{what}photos up to {format_size(limit)} are accepted")


def timed_out(message: str) -> ApiError:
    """A 408 that closes the connection (the rest of the body may never come)."""
    return ApiError(408, "timeout", message, {"Connection": "close"})


async def body_chunks(request: Request, settings: ServeSettings) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive; ApiError 408 for a body that stalls or trickles.

    Reads the ASGI `receive` channel directly so each wait can be bounded.
    """
    start = time.monotonic()
    deadline = start + settings.body_timeout_s
    received = 0
    while True:
        now = time.monotonic()
        wait = min(settings.body_idle_timeout_s, deadline - now)
        message = None
        if wait > 0:
            with anyio.move_on_after(wait):
                message = await request.receive()
        if message is None:
            if time.monotonic() >= deadline:
                raise timed_out(f"the upload did not arrive within {settings.body_timeout_s:g} s")
            raise timed_out(f"the upload stalled: nothing arrived for {settings.body_idle_timeout_s:g} s")
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        received += len(chunk)
        elapsed = time.monotonic() - start
        if elapsed > settings.body_grace_s and received < settings.body_min_rate * elapsed:
            rate = format_size(int(settings.body_min_rate))
            raise timed_out(f"the upload is too slow ({received} bytes in {elapsed:.0f} s; at least {rate}/s needed)")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


def declared_length(request: Request) -> int | None:
    declared = request.headers.get("content-length")
    if declared is None:
        return None
    try:
        return int(declared)
    except ValueError:
        raise ApiError(400, "bad_request", "Content-Length is not a number") from None


async def drain(request: Request, settings: ServeSettings) -> bool:
    """Read and drop a refused body, if it is small enough to be worth it; True when all of it was read.

    A server that answers and closes while the client is still sending makes the client's kernel see
    a reset, and clients that read only after sending everything (Python's urllib) report that
    instead of our answer. nginx reads on for a while ("lingering close"); here bodies declared up to
    `drain_bytes` are read, under the usual deadline and rate. A client waiting for `100 Continue`
    has sent nothing, so there is nothing to drain.
    """
    length = declared_length(request)
    if length is None or length > settings.drain_bytes or "100-continue" in request.headers.get("expect", "").lower():
        return False
    try:
        async for _ in body_chunks(request, settings):
            pass
    except (ApiError, ClientDisconnect):
        return False
    return True


def check_headers(request: Request, max_file_bytes: int) -> bytes:
    """Refuse what the headers already tell us is wrong, before one byte of body is read.

    Returns the multipart boundary.
    """
    content_type = request.headers.get("content-type", "")
    mime, options = parse_options_header(content_type)
    if mime != b"multipart/form-data":
        raise ApiError(
            415,
            "not_multipart",
            f"send the photo as multipart/form-data in the field '{FILE_FIELD}' "
            f"(got Content-Type '{content_type or 'none'}')",
        )
    boundary = options.get(b"boundary")
    if not boundary:
        raise ApiError(422, "bad_multipart", "the multipart Content-Type has no boundary")
    length = declared_length(request)
    if length is not None and length > max_file_bytes + OVERHEAD_BYTES:
        raise too_large(max_file_bytes, format_size(length))
    return boundary


class _Collector:
    """python-multipart callbacks that keep the `file_field` parts (at most `max_files`) and small fields
    in memory, each file under `max_file_bytes`."""

    def __init__(self, max_file_bytes: int, file_field: str = FILE_FIELD, max_files: int = 1) -> None:
        self.max_file_bytes = max_file_bytes
        self.file_field = file_field
        self.max_files = max_files
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.data = bytearray()
        self.files: list[tuple[str, bytearray]] = []
        self.seen_fields: list[str] = []
        self.ended = False
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._part: str | None = None  # "file", "field" or "skip"
        self._name = ""
        self._value = bytearray()

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._header_name.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._part = None

    def _header_end(self) -> None:
        self._headers[bytes(self._header_name).lower()] = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        self.seen_fields.append(self._name)
        if self._name == self.file_field:
            if len(self.files) >= self.max_files:
                many = "one photo" if self.max_files == 1 else f"at most {self.max_files} photos"
                raise ApiError(422, "too_many_files", f"send {many} per request in '{self.file_field}'")
            self._part = "file"
            name = options.get(b"filename", b"").decode("utf-8", "replace") or "upload"
            self.data = bytearray()
            self.files.append((name, self.data))
            self.filename = self.filename or name
        elif b"filename" in options:
            self._part = "skip"  # some other file: not ours to keep
        else:
            self._part = "field"
            self._value.clear()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part == "file":
            if len(self.data) + (end - start) > self.max_file_bytes:
                raise too_large(self.max_file_bytes)
            self.data.extend(data[start:end])
        elif self._part == "field":
            if len(self._value) + (end - start) > FIELD_MAX_BYTES:
                raise ApiError(422, "field_too_large", f"the form field '{self._name}' is too long")
            self._value.extend(data[start:end])

    def _part_end(self) -> None:
        if self._part == "field":
            self.fields[self._name] = self._value.decode("utf-8", "replace")

    def _end(self) -> None:
        self.ended = True


async def read_upload(
    request: Request,
    boundary: bytes,
    settings: ServeSettings,
    *,
    file_field: str = FILE_FIELD,
    max_files: int = 1,
    max_body_bytes: int | None = None,
) -> Upload:
    """The photo(s) in `file_field` and the small fields beside them; ApiError for anything else.

    `boundary` comes from `check_headers`, which the caller runs first. Each file is held to
    `settings.max_upload_bytes`, the whole body to `max_body_bytes` (default: one file's limit).
    """
    max_file_bytes = settings.max_upload_bytes
    collector = _Collector(max_file_bytes, file_field, max_files)
    parser = MultipartParser(boundary, collector.callbacks())
    body_limit = (max_body_bytes or max_file_bytes) + OVERHEAD_BYTES
    received = 0
    try:
        async for chunk in body_chunks(request, settings):
            received += len(chunk)
            if received > body_limit:
                raise too_large(max_body_bytes or max_file_bytes)
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise ApiError(422, "bad_multipart", f"the multipart body is malformed: {exc}") from None
    except ClientDisconnect:
        raise ApiError(400, "disconnected", "the client went away before the upload was complete") from None
    if not collector.ended:
        raise ApiError(422, "bad_multipart", "the multipart body ended before its closing boundary")
    if collector.filename is None:
        got = ", ".join(f"'{name}'" for name in collector.seen_fields) or "none"
        message = f"no photo: send it in the multipart field '{file_field}' (fields sent: {got})"
        raise ApiError(422, "missing_file", message)
    files = [(name, bytes(data)) for name, data in collector.files]
    for name, data in files:
        if not data:
            raise ApiError(422, "empty_file", f"the uploaded file '{name}' is empty")
    return Upload(filename=files[0][0], data=files[0][1], fields=collector.fields, files=files)


async def drain_refused(
    request: Request, refused: ApiError, limiter: InferenceLimiter, settings: ServeSettings
) -> None:
    """Read a refused body (bounded, one of the limiter's receive slots) so the client sees the answer;
    else mark the answer to close the connection."""
    try:
        async with limiter.receive():
            drained = await drain(request, settings)
    except Overloaded:
        drained = False
    if not drained:
        refused.headers = {**refused.headers, "Connection": "close"}
