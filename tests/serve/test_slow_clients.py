"""Clients that are slow, idle or impatient, against a real uvicorn on loopback."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from serve_helpers import FakePredictor, live_server, photo_bytes

from landmarks.catalog import Landmark
from landmarks.serve.app import create_app
from landmarks.serve.settings import ServeSettings

MB = 1024 * 1024
PREDICT = "/api/v1/predict"
SLOW_CLIENTS = 32


def _stalled_upload(host: str, port: int) -> socket.socket:
    """Headers announcing a 5000-byte body, 5 bytes of it, then nothing."""
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(
        b"POST /api/v1/predict HTTP/1.1\r\nHost: test\r\nContent-Length: 5000\r\n"
        b"Content-Type: multipart/form-data; boundary=zz\r\n\r\n--zz\r\n"
    )
    return sock


def _status(sock: socket.socket) -> int | None:
    """The status the server answered on `sock`, or None if it closed without one."""
    data = b""
    while b"\r\n" not in data:
        piece = sock.recv(4096)
        if not piece:
            return None
        data += piece
    return int(data.split()[1])


@pytest.fixture
def slow_server(small_catalog: list[Landmark]) -> Iterator[str]:
    # the real limits but a short idle time-out, so the stalled bodies are dropped within the test
    settings = ServeSettings(body_idle_timeout_s=3.0, max_concurrency=1, max_queue=2)
    with live_server(create_app(FakePredictor(small_catalog), settings)) as url:
        yield url


def test_stalled_uploads_neither_block_others_nor_stay_for_ever(slow_server: str) -> None:
    url = urlsplit(slow_server)
    assert url.hostname is not None and url.port is not None
    stalled = [_stalled_upload(url.hostname, url.port) for _ in range(SLOW_CLIENTS)]
    try:
        time.sleep(0.3)  # let the server take them all in
        with httpx.Client(base_url=slow_server, timeout=10) as client:
            start = time.monotonic()
            r = client.post(PREDICT, files={"file": ("p.jpg", photo_bytes(), "image/jpeg")})
            took = time.monotonic() - start
            health = client.get("/healthz").json()
        assert r.status_code == 200, r.text
        assert took < 2.0
        assert health["admitted"] == 0  # a body still coming holds no place in the model's line
        statuses = [_status(sock) for sock in stalled]  # each socket waits up to its 10 s time-out
    finally:
        for sock in stalled:
            sock.close()
    assert statuses == [408] * SLOW_CLIENTS


def test_a_trickling_upload_is_dropped(small_catalog: list[Landmark]) -> None:
    """One byte every 0.2 s never trips the idle time-out; the minimum rate catches it."""
    settings = ServeSettings(body_idle_timeout_s=5.0, body_grace_s=0.5, body_min_rate=1000)
    with live_server(create_app(FakePredictor(small_catalog), settings)) as base:
        url = urlsplit(base)
        assert url.hostname is not None and url.port is not None
        with _stalled_upload(url.hostname, url.port) as sock:
            status = None
            for _ in range(50):  # 10 s at most
                try:
                    sock.sendall(b"x")
                except OSError:
                    break
                time.sleep(0.2)
                sock.setblocking(False)
                try:
                    peeked = sock.recv(64, socket.MSG_PEEK)
                except BlockingIOError:
                    peeked = b""
                finally:
                    sock.setblocking(True)
                if peeked:
                    status = int(peeked.split()[1])
                    break
    assert status == 408


def _multipart(data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def test_urllib_reads_the_413_of_a_30_mb_upload(small_catalog: list[Landmark]) -> None:
    """urllib sends the whole body before it reads: the server must not reset it half-way."""
    body, content_type = _multipart(b"\xff\xd8" + b"\0" * (30 * MB))
    with live_server(create_app(FakePredictor(small_catalog), ServeSettings())) as base:
        for _ in range(3):
            request = urllib.request.Request(base + PREDICT, data=body, headers={"Content-Type": content_type})
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(request, timeout=30)
            assert caught.value.code == 413
            assert b"too_large" in caught.value.read()


def test_bodies_read_at_once_are_bounded_too(small_catalog: list[Landmark]) -> None:
    """Past `max_receiving` bodies arriving at once, a new upload gets 503 at once, not a wait."""
    settings = ServeSettings(max_receiving=2, body_idle_timeout_s=5.0)
    with live_server(create_app(FakePredictor(small_catalog), settings)) as base:
        url = urlsplit(base)
        assert url.hostname is not None and url.port is not None
        stalled = [_stalled_upload(url.hostname, url.port) for _ in range(2)]
        try:
            time.sleep(0.3)
            with httpx.Client(base_url=base, timeout=10) as client:
                refused = client.post(PREDICT, files={"file": ("p.jpg", photo_bytes(), "image/jpeg")})
        finally:
            for sock in stalled:
                sock.close()
        with httpx.Client(base_url=base, timeout=10) as client:
            for _ in range(50):  # the server notices the closed sockets within moments
                ok = client.post(PREDICT, files={"file": ("p.jpg", photo_bytes(), "image/jpeg")})
                if ok.status_code == 200:
                    break
                time.sleep(0.1)
    assert refused.status_code == 503
    assert "2 uploads arriving" in refused.json()["detail"]
    assert ok.status_code == 200


def test_urllib_reads_an_early_refusal_too(small_catalog: list[Landmark]) -> None:
    """A bad `k` in the query is refused from the URL alone; the client still reads the 422."""
    body, content_type = _multipart(photo_bytes(size=(1200, 900)) + b"\0" * (4 * MB))
    with live_server(create_app(FakePredictor(small_catalog), ServeSettings())) as base:
        request = urllib.request.Request(base + PREDICT + "?k=0", data=body, headers={"Content-Type": content_type})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 422
    assert b"bad_k" in caught.value.read()
