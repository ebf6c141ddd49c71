"""The service under a real uvicorn on loopback, and the `serve` command that starts it."""

from __future__ import annotations

import os
import select
import socket
from collections.abc import Iterator
from types import SimpleNamespace
from urllib.parse import urlsplit

import httpx
import pytest
from serve_helpers import FakePredictor, live_server, photo_bytes
from typer.testing import CliRunner

from landmarks.catalog import Landmark
from landmarks.errors import CheckpointError
from landmarks.serve.app import create_app
from landmarks.serve.settings import ServeSettings

PREDICT = "/api/v1/predict"
LIMIT = 256 * 1024
BOUNDARY = "zz-boundary"
PART_HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
    "Content-Type: image/jpeg\r\n\r\n"
).encode()
PART_TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()


@pytest.fixture
def server(small_catalog: list[Landmark]) -> Iterator[str]:
    app = create_app(FakePredictor(small_catalog), ServeSettings(max_upload_bytes=LIMIT))
    with live_server(app) as url:
        yield url


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)
    return int(lines[0].split()[1]), body


def test_chunked_upload_is_refused_while_it_streams(server: str) -> None:
    """No Content-Length: the 413 comes as soon as the limit is crossed, not after the whole body."""
    url = urlsplit(server)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/predict HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n"
            + f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\r\n".encode()
        )

        def chunk(data: bytes) -> None:
            sock.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n")

        chunk(PART_HEAD)
        sent, answered = 0, False
        while sent < 64 * LIMIT:  # 16 MB at most
            chunk(b"\xab" * 16384)
            sent += 16384
            if select.select([sock], [], [], 0.002)[0]:
                answered = True
                break
        assert answered, "the server read 16 MB without answering"
        status, body = _read_response(sock)
    assert status == 413
    assert b"too_large" in body
    assert LIMIT < sent < 4 * LIMIT


def test_connection_stays_usable_after_a_413(server: str) -> None:
    """uvicorn discards the rest of a refused body, so the client reads a clean answer and goes on."""

    def body() -> Iterator[bytes]:
        yield PART_HEAD
        for _ in range(40):  # 2.5 MB, ten times the limit
            yield b"\xab" * 65536
        yield PART_TAIL

    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    with httpx.Client(base_url=server, timeout=20) as client:
        chunked = client.post(PREDICT, content=body(), headers=headers)
        declared = client.post(PREDICT, content=b"".join(body()), headers=headers)
        ok = client.post(PREDICT, files={"file": ("p.jpg", photo_bytes(), "image/jpeg")})
        health = client.get("/healthz")
    assert (chunked.status_code, declared.status_code) == (413, 413)
    assert chunked.json()["code"] == declared.json()["code"] == "too_large"
    assert ok.status_code == 200
    assert len(ok.json()["top"]) == 3
    assert health.json()["admitted"] == 0


def test_serve_command_builds_the_app_from_options(
    monkeypatch: pytest.MonkeyPatch, small_catalog: list[Landmark]
) -> None:
    import uvicorn

    from landmarks.cli import app as cli
    from landmarks.inference import predictor as predictor_module

    fake = FakePredictor(small_catalog)
    fake.checkpoint_path = "model.pt"  # type: ignore[attr-defined]
    fake.backend = SimpleNamespace(name="onnx fp32", path="model.onnx")  # type: ignore[attr-defined]
    loaded: list[object] = []
    ran: dict = {}
    fake.gallery = []  # type: ignore[attr-defined]
    fake.gallery_path = "model.gallery.npz"  # type: ignore[attr-defined]

    def load(
        cls: type, ckpt: object, backend: str = "auto", threads: int | None = None, gallery: object = None
    ) -> FakePredictor:
        loaded.append((ckpt, backend, threads))
        return fake

    monkeypatch.setattr(predictor_module.Predictor, "load", classmethod(load))
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: ran.update(app=app, **kw))
    monkeypatch.setenv("LANDMARKS_SERVE_MAX_QUEUE", "3")

    args = ["serve", "--checkpoint", "model.pt", "--port", "8123", "--max-concurrency", "1", "--backend", "onnx"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    # one inference at a time (--max-concurrency 1): it may use every core
    assert [(str(p), b, t) for p, b, t in loaded] == [("model.pt", "onnx", os.cpu_count())]
    assert "model.onnx (onnx fp32; 0 from the gallery model.gallery.npz)" in result.output
    assert (ran["host"], ran["port"]) == ("127.0.0.1", 8123)
    limiter = ran["app"].state.service.limiter
    assert (limiter.max_concurrency, limiter.capacity) == (1, 1 + 3)  # option and environment both count
    assert ran["app"].state.service.predictor is fake


def test_serve_command_without_a_model_fails_before_listening(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from landmarks.cli import app as cli

    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: pytest.fail("uvicorn started without a model"))
    result = CliRunner().invoke(cli, ["serve", "--checkpoint", "/nonexistent/model.pt"])
    assert isinstance(result.exception, CheckpointError)
