"""The HTTP API through FastAPI's TestClient: the happy path, every limit, and where uploads go."""

from __future__ import annotations

import asyncio
import os
import struct
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, UploadFile
from fastapi.testclient import TestClient
from serve_helpers import FakePredictor, photo_bytes

from landmarks.catalog import Landmark
from landmarks.serve.app import create_app
from landmarks.serve.settings import ServeSettings

MB = 1024 * 1024
PREDICT = "/api/v1/predict"


def post_photo(client: TestClient, photo: bytes, name: str = "photo.jpg", **kwargs: object) -> httpx.Response:
    return client.post(PREDICT, files={"file": (name, photo, "image/jpeg")}, **kwargs)  # type: ignore[arg-type]


def asgi_client(app: FastAPI) -> httpx.AsyncClient:
    """In-process async client: concurrent requests without sockets or threads of our own."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
def fake(small_catalog: list[Landmark]) -> FakePredictor:
    return FakePredictor(small_catalog, threshold=0.2)


@pytest.fixture
def client(fake: FakePredictor) -> Iterator[TestClient]:
    with TestClient(create_app(fake, ServeSettings())) as client:
        yield client


# ---------------------------------------------------------------------------------------------- happy path


def test_predict_returns_the_predictors_top_k_with_coordinates(client: TestClient, fake: FakePredictor) -> None:
    photo = photo_bytes(seed=3)
    r = post_photo(client, photo, name="paris.jpg")
    assert r.status_code == 200, r.text
    body = r.json()
    expected = fake.predict(photo, k=3, source="paris.jpg")
    assert body["k"] == 3
    assert body["source"] == "paris.jpg"
    assert body["unknown"] == expected.unknown
    assert body["score"] == pytest.approx(expected.score)
    assert body["threshold"] == pytest.approx(expected.threshold)
    assert body["elapsed_ms"] >= 0
    assert [g["class_index"] for g in body["top"]] == [g.class_index for g in expected.top]
    assert [g["rank"] for g in body["top"]] == [1, 2, 3]
    probabilities = [g["probability"] for g in body["top"]]
    assert probabilities == sorted(probabilities, reverse=True)
    for guess in body["top"]:
        landmark = fake.landmarks[guess["class_index"]]
        assert (guess["name"], guess["folder"], guess["class_id"]) == (
            landmark.name,
            landmark.folder,
            landmark.class_id,
        )
        assert (guess["latitude"], guess["longitude"]) == (landmark.latitude, landmark.longitude)


def test_different_photos_get_different_answers(client: TestClient) -> None:
    answers = {tuple(g["class_index"] for g in post_photo(client, photo_bytes(seed=s)).json()["top"]) for s in range(6)}
    assert len(answers) > 1


def test_old_path_answers_like_v1(client: TestClient) -> None:
    photo = photo_bytes(seed=5)
    v1 = post_photo(client, photo).json()
    old = client.post("/api/predict", files={"file": ("photo.jpg", photo, "image/jpeg")}).json()
    v1.pop("elapsed_ms"), old.pop("elapsed_ms")
    assert old == v1


@pytest.mark.parametrize(("how", "expected"), [("form", 5), ("query", 2), ("both", 4), ("neither", 3)])
def test_k_from_form_or_query(client: TestClient, how: str, expected: int) -> None:
    data = {"k": "5" if how == "form" else "4"} if how in ("form", "both") else {}
    params = {"k": "2"} if how in ("query", "both") else {}
    r = post_photo(client, photo_bytes(), data=data, params=params)
    assert r.status_code == 200, r.text
    assert r.json()["k"] == expected
    assert len(r.json()["top"]) == expected


def test_k_above_the_number_of_classes_is_capped(client: TestClient, fake: FakePredictor) -> None:
    r = post_photo(client, photo_bytes(), data={"k": "9"})  # max_k is 10, the model knows 5
    assert r.status_code == 200
    assert r.json()["k"] == len(fake.classes) == len(r.json()["top"])


def test_landmarks_lists_the_catalog_in_class_order(client: TestClient, small_catalog: list[Landmark]) -> None:
    body = client.get("/api/v1/landmarks").json()
    assert body["count"] == len(small_catalog)
    assert [lm["class_index"] for lm in body["landmarks"]] == list(range(len(small_catalog)))
    assert [lm["folder"] for lm in body["landmarks"]] == [lm.folder for lm in small_catalog]
    mystery = body["landmarks"][-1]
    assert (mystery["latitude"], mystery["longitude"]) == (None, None)  # never invented


def test_info_and_health(client: TestClient, small_catalog: list[Landmark]) -> None:
    info = client.get("/api/v1/info").json()
    assert info["classes"] == len(small_catalog)
    assert info["max_k"] == len(small_catalog)  # capped by the model
    assert info["max_upload_bytes"] == 20 * MB
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert health.json()["capacity"] == 2 + 16


def test_factory_is_called_once_at_startup(small_catalog: list[Landmark]) -> None:
    calls: list[int] = []

    def factory() -> FakePredictor:
        calls.append(1)
        return FakePredictor(small_catalog)

    app = create_app(factory, ServeSettings())
    assert calls == []  # nothing loads before start-up
    with TestClient(app) as client:
        assert calls == [1]
        for seed in range(3):
            assert post_photo(client, photo_bytes(seed=seed)).status_code == 200
        assert client.get("/healthz").json()["model_loaded"] is True
    assert calls == [1]


def test_docs_and_openapi(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/api/v1/predict"]["post"]["requestBody"]["content"]
    assert "file" in body["multipart/form-data"]["schema"]["properties"]
    assert {"/api/v1/landmarks", "/healthz"} <= set(spec["paths"])


def test_docs_need_no_internet(client: TestClient) -> None:
    pytest.importorskip("fastapi_offline", reason="fastapi-offline ships Swagger UI's assets")
    docs = client.get("/docs").text
    assert "cdn." not in docs
    for asset in ("/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css"):
        assert asset in docs
        assert client.get(asset).status_code == 200


def test_page_and_its_assets_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/static/app.js", "/static/style.css", "/static/world.svg", "/static/favicon.svg"):
        assert asset in page.text or asset == "/static/world.svg"
        r = client.get(asset)
        assert r.status_code == 200, asset
        assert len(r.content) > 100
    assert client.get("/static/world.svg").headers["content-type"].startswith("image/svg+xml")


def test_head_requests_answer_like_get(client: TestClient) -> None:
    """Health checkers and load balancers send HEAD."""
    for path in ("/", "/healthz"):
        r = client.head(path)
        assert r.status_code == 200, path
        assert r.content == b""
        assert r.headers["content-type"] == client.get(path).headers["content-type"]


# -------------------------------------------------------------------------------------------- size limits


def test_uploads_have_their_own_pixel_cap(fake: FakePredictor) -> None:
    """A photo well within the loader's 90 Mpx is refused from its header when over the upload cap."""
    photo = photo_bytes(size=(400, 300))
    with TestClient(create_app(fake, ServeSettings(max_upload_pixels=400 * 300 - 1))) as client:
        r = post_photo(client, photo)
    assert r.status_code == 422
    assert r.json()["code"] == "decompression_bomb"
    assert "400x300" in r.json()["detail"] and "upload limit" in r.json()["detail"]
    assert fake.calls == 0
    with TestClient(create_app(fake, ServeSettings(max_upload_pixels=400 * 300))) as client:
        assert post_photo(client, photo).status_code == 200


class CountingApp:
    """ASGI wrapper that counts the body messages the app pulled, to see what was read."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.body_messages = 0

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        async def counted() -> dict:
            message = await receive()
            if message["type"] == "http.request":
                self.body_messages += 1
            return message

        await self.app(scope, counted, send)


def test_over_the_default_limit_is_413_before_reading(fake: FakePredictor) -> None:
    """Refused on Content-Length alone; a body over `drain_bytes` is not read at all, and the
    connection is closed after the answer."""
    app = CountingApp(create_app(fake, ServeSettings(drain_bytes=MB)))
    with TestClient(app) as client:
        r = post_photo(client, b"\xff\xd8" + b"\0" * (20 * MB + 100_000))
    assert r.status_code == 413
    assert r.json()["code"] == "too_large"
    assert "20 MB" in r.json()["detail"]
    assert r.headers["connection"] == "close"
    assert app.body_messages == 0
    assert fake.calls == 0


def test_a_refused_body_within_drain_bytes_is_read_before_the_answer(fake: FakePredictor) -> None:
    app = CountingApp(create_app(fake, ServeSettings(max_upload_bytes=MB, drain_bytes=4 * MB)))
    with TestClient(app) as client:
        r = post_photo(client, b"\xff\xd8" + b"\0" * (2 * MB))
    assert r.status_code == 413
    assert app.body_messages >= 1
    assert "connection" not in r.headers
    assert fake.calls == 0


def test_the_limit_is_on_the_photo_itself(small_catalog: list[Landmark]) -> None:
    """A file of exactly the limit passes; one byte more does not."""
    fake = FakePredictor(small_catalog)
    photo = photo_bytes(size=(64, 48))
    limit = len(photo) + 1000
    padded = photo + b"\0" * (limit - len(photo))  # JPEG readers ignore bytes after the image
    with TestClient(create_app(fake, ServeSettings(max_upload_bytes=limit))) as client:
        assert post_photo(client, padded).status_code == 200
        over = post_photo(client, padded + b"\0")
    assert over.status_code == 413
    assert fake.calls == 1


def test_chunked_upload_without_length_is_counted_while_streaming(fake: FakePredictor) -> None:
    limit = 256 * 1024
    app = CountingApp(create_app(fake, ServeSettings(max_upload_bytes=limit)))
    boundary = "b0undary"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n\r\n'.encode()

    def body() -> Iterator[bytes]:
        yield head
        for _ in range(64):  # 4 MB in 64 KB chunks
            yield b"\xab" * (64 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    with TestClient(app) as client:
        r = client.post(PREDICT, content=body(), headers={"content-type": f"multipart/form-data; boundary={boundary}"})
        assert r.request.headers.get("content-length") is None
        assert r.request.headers["transfer-encoding"] == "chunked"
    assert r.status_code == 413
    assert "256 KB" in r.json()["detail"]
    assert app.body_messages >= 1
    assert fake.calls == 0


# ------------------------------------------------------------------------------------------ format errors


def bomb_png(width: int = 10_000, height: int = 10_000) -> bytes:
    """A valid, small PNG whose pixel count is over the 90 Mpx limit (1-bit, all zeros)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\0" * (1 + (width + 7) // 8)
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(row * height, 9))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("name", "data", "status", "code", "words"),
    [
        ("notes.txt", b"just some text, not a photo\n" * 20, 415, "unsupported_format", "format"),
        (
            "scan.pdf",
            b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n",
            415,
            "unsupported_format",
            "format",
        ),
        ("half.jpg", photo_bytes(size=(400, 300))[:3000], 422, "bad_image", "truncated"),
        ("bomb.png", bomb_png(), 422, "decompression_bomb", "limit"),
        ("empty.jpg", b"", 422, "empty_file", "empty"),
    ],
)
def test_unusable_files(
    client: TestClient, fake: FakePredictor, name: str, data: bytes, status: int, code: str, words: str
) -> None:
    r = post_photo(client, data, name=name)
    assert r.status_code == status, r.text
    assert r.json()["code"] == code
    assert words in r.json()["detail"]
    # what the header already rules out never reaches the predictor; its decoder refused the rest
    assert fake.calls == (1 if code == "bad_image" else 0)


def test_image_errors_name_the_upload(client: TestClient) -> None:
    r = post_photo(client, b"plain text", name="holiday.txt")
    assert r.json()["detail"].startswith("holiday.txt: ")


@pytest.mark.parametrize("k", ["0", "-1", "11", "abc", "2.5", "3x"])
def test_bad_k_is_422(client: TestClient, fake: FakePredictor, k: str) -> None:
    for r in (
        post_photo(client, photo_bytes(), data={"k": k}),
        post_photo(client, photo_bytes(), params={"k": k}),
    ):
        assert r.status_code == 422, (k, r.text)
        assert r.json()["code"] == "bad_k"
        assert "from 1 to 10" in r.json()["detail"]
    assert fake.calls == 0


def test_blank_k_means_the_default(client: TestClient) -> None:
    for r in (
        post_photo(client, photo_bytes(), data={"k": " "}),
        post_photo(client, photo_bytes(), params={"k": ""}),
    ):
        assert r.status_code == 200
        assert r.json()["k"] == 3


def test_request_shape_errors(client: TestClient) -> None:
    not_multipart = client.post(PREDICT, json={"file": "photo.jpg"})
    assert not_multipart.status_code == 415
    assert not_multipart.json()["code"] == "not_multipart"

    wrong_field = client.post(PREDICT, files={"image": ("photo.jpg", photo_bytes(), "image/jpeg")})
    assert wrong_field.status_code == 422
    assert wrong_field.json()["code"] == "missing_file"
    assert "'image'" in wrong_field.json()["detail"]

    two = client.post(
        PREDICT,
        files=[("file", ("a.jpg", photo_bytes(), "image/jpeg")), ("file", ("b.jpg", b"x", "image/jpeg"))],
    )
    assert two.status_code == 422
    assert two.json()["code"] == "too_many_files"

    cut = client.post(
        PREDICT,
        content=b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\nabc',
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert cut.status_code == 422
    assert cut.json()["code"] == "bad_multipart"


# ------------------------------------------------------------------------------------ concurrency and queue


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


def test_full_queue_is_503_with_retry_after(small_catalog: list[Landmark]) -> None:
    gate = threading.Event()
    fake = FakePredictor(small_catalog, gate=gate)
    app = create_app(fake, ServeSettings(max_concurrency=1, max_queue=1, retry_after_s=7))
    limiter = app.state.service.limiter
    photo = photo_bytes()

    async def scenario() -> tuple[httpx.Response, dict, httpx.Response, httpx.Response]:
        async with asgi_client(app) as client:

            async def post() -> httpx.Response:
                return await client.post(PREDICT, files={"file": ("p.jpg", photo, "image/jpeg")})

            try:
                first = asyncio.create_task(post())
                second = asyncio.create_task(post())
                await _until(lambda: fake.calls == 1 and limiter.admitted == 2)  # one runs, one waits
                third = await post()
                health = (await client.get("/healthz")).json()  # the event loop is free meanwhile
            finally:
                gate.set()
            return third, health, await first, await second

    third, health, first, second = asyncio.run(scenario())
    assert third.status_code == 503
    assert third.headers["retry-after"] == "7"
    assert third.json()["code"] == "busy"
    assert (health["admitted"], health["running"], health["capacity"]) == (2, 1, 2)
    assert first.status_code == second.status_code == 200
    assert fake.calls == 2  # the refused request never reached the model
    assert limiter.admitted == 0


def test_concurrency_is_bounded(small_catalog: list[Landmark]) -> None:
    """Eight requests at once with two workers: never more than two inferences in flight."""
    active, peak, lock = [0], [0], threading.Lock()
    release = threading.Event()

    def during() -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        release.wait(0.05)
        with lock:
            active[0] -= 1

    fake = FakePredictor(small_catalog, during_predict=during)
    app = create_app(fake, ServeSettings(max_concurrency=2, max_queue=6))
    photo = photo_bytes()

    async def scenario() -> list[httpx.Response]:
        async with asgi_client(app) as client:
            return await asyncio.gather(
                *(client.post(PREDICT, files={"file": ("p.jpg", photo, "image/jpeg")}) for _ in range(8))
            )

    responses = asyncio.run(scenario())
    assert [r.status_code for r in responses] == [200] * 8
    assert peak[0] == 2


# ------------------------------------------------------------------------------------------ nothing on disk


def temp_files(directory: Path) -> list[str]:
    """Files in `directory` plus files this process holds open there (unlinked temp files included)."""
    found = [str(p) for p in directory.rglob("*")]
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(str(directory)):
            found.append(target)
    return found


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh directory that `tempfile` (and so Starlette's spooling) uses for this test."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setenv("TMPDIR", str(directory))
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def big_photo() -> bytes:
    data = photo_bytes(size=(1600, 1200), fmt="BMP")
    assert len(data) > 5 * MB  # far over Starlette's 1 MB in-memory spool
    return data


def test_uploads_never_touch_disk(small_catalog: list[Landmark], temp_dir: Path) -> None:
    seen: list[list[str]] = []
    fake = FakePredictor(small_catalog, during_predict=lambda: seen.append(temp_files(temp_dir)))
    with TestClient(create_app(fake)) as client:
        assert post_photo(client, big_photo(), name="big.bmp").status_code == 200
        assert post_photo(client, b"\0" * (21 * MB)).status_code == 413
    assert seen == [[]]  # nothing there while the model ran
    assert temp_files(temp_dir) == []


def test_the_disk_check_catches_spooled_uploads(temp_dir: Path) -> None:
    """The check above is not vacuous: FastAPI's usual UploadFile does land in the temp dir."""
    seen: list[list[str]] = []
    app = FastAPI()

    @app.post("/upload")
    async def upload(file: UploadFile) -> dict:
        seen.append(temp_files(temp_dir))
        return {"size": len(await file.read())}

    with TestClient(app) as client:
        assert client.post("/upload", files={"file": ("big.bmp", big_photo(), "image/bmp")}).status_code == 200
    assert len(seen) == 1
    assert seen[0] != []
