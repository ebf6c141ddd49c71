"""Who may use the review view: the token rule and the checks that keep other web sites out.

The review view can change photos, so:

- Bound to a loopback address, it needs no token (only this machine can reach it) unless one is set
  (`LANDMARKS_SERVE_TOKEN`: other users of a shared machine reach loopback too). Bound to any other
  address it always needs one (`landmarks serve` makes one up and prints the URL that carries it).
- With a token, *every* library request (reads too: the photos are private) must carry it as
  `Authorization: Bearer TOKEN`. A header, never a cookie: browsers never attach it on their own, so
  another site cannot make a user's browser send it (CSRF); the header is the proof, so Host and
  Origin are not checked then (behind a TLS proxy they differ from what the server sees).
- Without a token (loopback), a web page elsewhere could still aim requests at 127.0.0.1. So the
  `Host` header must name a loopback address (a DNS-rebinding page sends its own host name), an
  `Origin` header, when sent, must be this server's own, and writes must be JSON (a cross-site form
  cannot send that without a CORS preflight, which this app never answers).
"""

from __future__ import annotations

import ipaddress
import secrets
from urllib.parse import urlsplit

from fastapi import Request

from landmarks.errors import LandmarksError
from landmarks.serve.schemas import ApiError

MIN_TOKEN = 16
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
JSON_TYPE = "application/json"


def is_loopback(host: str) -> bool:
    """Whether an address (or the host part of a Host header) can only be reached from this machine."""
    host = host.strip().strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    """A token for an off-loopback server: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def _host_of(netloc: str) -> str:
    """`[::1]:8000` -> `::1`, `127.0.0.1:8000` -> `127.0.0.1`."""
    return urlsplit(f"//{netloc}").hostname or ""


class ReviewGuard:
    """A FastAPI dependency: `Depends(guard)` on reads, `Depends(guard.write)` on writes."""

    def __init__(self, token: str | None) -> None:
        if token is not None and len(token) < MIN_TOKEN:
            message = f"LANDMARKS_SERVE_TOKEN must have at least {MIN_TOKEN} characters (a short one is guessed)"
            raise LandmarksError(message)
        self.token = token

    @property
    def needs_token(self) -> bool:
        return self.token is not None

    def __call__(self, request: Request) -> None:
        if self.token is None:
            self._check_origin(request)
            host = request.headers.get("host", "")
            if not is_loopback(_host_of(host)):
                message = f"Host {host!r} is not a loopback address; set a token to serve the library on it"
                raise ApiError(403, "forbidden_host", message)
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), self.token.encode()):
            raise ApiError(401, "token_required", "this library view needs its token (Authorization: Bearer ...)",
                           {"WWW-Authenticate": "Bearer"})  # fmt: skip

    def write(self, request: Request) -> None:
        self(request)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != JSON_TYPE:
            raise ApiError(415, "json_required", f"changes are sent as {JSON_TYPE}, not {content_type or 'nothing'}")

    @staticmethod
    def _check_origin(request: Request) -> None:
        origin = request.headers.get("origin")
        if origin is None:
            return  # not a cross-site browser request (curl, scripts, same-origin GETs)
        own = f"{request.url.scheme}://{request.headers.get('host', '')}".lower()
        if origin.lower() != own:
            raise ApiError(403, "cross_origin", f"requests from {origin} are not accepted")
