"""Download and import: resumed transfers, size and checksum checks, safe all-or-nothing extraction.

Every test serves a zip it builds itself from a local HTTP server bound to 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import io
import re
import socket
import stat
import sys
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from data_factories import make_dataset

from landmarks.data.download import ensure_dataset, extract_zip, import_dataset
from landmarks.errors import DownloadError

CLASSES = ["00.Haleakala_National_Park", "16.Eiffel_Tower"]


@dataclass
class ZipServer:
    """A one-file HTTP server with the failure modes a real download meets."""

    payload: bytes
    cut_first_responses: int = 0
    """Send the headers for the whole body, then hang up half-way, this many times."""
    honour_range: bool = True
    requests: list[str | None] = field(default_factory=list)
    url: str = ""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requested = self.headers.get("Range")
                server.requests.append(requested)
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", requested or "")
                if match and server.honour_range:
                    start = int(match.group(1))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(server.payload) - 1}/{len(server.payload)}")
                else:
                    self.send_response(200)
                body = server.payload[start:]
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", "application/zip")
                self.end_headers()
                if server.cut_first_responses > 0:
                    server.cut_first_responses -= 1
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        return Handler


@pytest.fixture
def serve() -> Iterator[callable]:
    """Start a ZipServer on 127.0.0.1 for the test; stopped at the end."""
    running: list[ThreadingHTTPServer] = []

    def start(payload: bytes, **options: object) -> ZipServer:
        spec = ZipServer(payload, **options)  # type: ignore[arg-type]
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), spec.handler())
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        running.append(httpd)
        spec.url = f"http://127.0.0.1:{httpd.server_address[1]}/datasets/landmark_images.zip"
        return spec

    yield start
    for httpd in running:
        httpd.shutdown()
        httpd.server_close()


def _zip_of_folder(folder: Path, prefix: str = "landmark_images") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                bundle.write(path, f"{prefix}/{path.relative_to(folder).as_posix()}")
    return buffer.getvalue()


@pytest.fixture
def dataset_zip(tmp_path: Path) -> tuple[bytes, Path]:
    """The zip of a small dataset in the official layout (landmark_images/train/..., .../test/...)."""
    source = make_dataset(tmp_path / "source", CLASSES, train_per_class=3, test_per_class=1)
    return _zip_of_folder(source), source


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


def test_a_cut_transfer_resumes_with_a_range_request(tmp_path: Path, serve: callable, dataset_zip) -> None:
    payload, source = dataset_zip
    server = serve(payload, cut_first_responses=1)
    digest = hashlib.sha256(payload).hexdigest()

    root = ensure_dataset(server.url, dest=tmp_path / "dest", sha256=digest, progress=False)

    assert server.requests == [None, f"bytes={len(payload) // 2}-"]
    assert root == tmp_path / "dest" / "landmark_images"
    assert _files(root) == _files(source)
    assert _leftovers(tmp_path / "dest") == ["landmark_images"]  # no .part, no zip, no staging folder


def test_an_interrupted_run_is_resumed_by_the_next_run(tmp_path: Path, serve: callable, dataset_zip) -> None:
    payload, source = dataset_zip
    server = serve(payload, cut_first_responses=1)
    dest = tmp_path / "dest"

    with pytest.raises(DownloadError, match="next run resumes"):
        ensure_dataset(server.url, dest=dest, progress=False, attempts=1)
    assert (dest / "landmark_images.zip.part").stat().st_size == len(payload) // 2

    root = ensure_dataset(server.url, dest=dest, progress=False, attempts=1)
    assert server.requests[-1] == f"bytes={len(payload) // 2}-"
    assert _files(root) == _files(source)


def test_a_server_that_ignores_range_restarts_cleanly(tmp_path: Path, serve: callable, dataset_zip) -> None:
    payload, source = dataset_zip
    server = serve(payload, cut_first_responses=1, honour_range=False)
    root = ensure_dataset(server.url, dest=tmp_path / "dest", progress=False)
    assert len(server.requests) == 2
    assert _files(root) == _files(source)


def test_a_body_shorter_than_content_length_is_an_error(tmp_path: Path, serve: callable, dataset_zip) -> None:
    payload, _ = dataset_zip
    server = serve(payload, cut_first_responses=10)
    with pytest.raises(DownloadError, match="kept breaking off") as caught:
        ensure_dataset(server.url, dest=tmp_path / "dest", progress=False, attempts=2)
    assert server.url in str(caught.value)
    assert not (tmp_path / "dest" / "landmark_images").exists()


def test_a_second_run_does_nothing_and_needs_no_network(tmp_path: Path, serve: callable, dataset_zip) -> None:
    payload, _ = dataset_zip
    server = serve(payload)
    first = ensure_dataset(server.url, dest=tmp_path / "dest", progress=False)
    closed = f"http://127.0.0.1:{_free_port()}/datasets/landmark_images.zip"  # nothing listens there
    assert ensure_dataset(closed, dest=tmp_path / "dest", progress=False) == first
    assert len(server.requests) == 1


def test_a_wrong_sha256_is_refused_and_removed(tmp_path: Path, serve: callable, dataset_zip) -> None:
    payload, _ = dataset_zip
    server = serve(payload)
    with pytest.raises(DownloadError, match="SHA-256"):
        ensure_dataset(server.url, dest=tmp_path / "dest", sha256="0" * 64, progress=False)
    assert _leftovers(tmp_path / "dest") == []
    with pytest.raises(DownloadError, match="64 hexadecimal"):
        ensure_dataset(server.url, dest=tmp_path / "dest", sha256="abc", progress=False)


def test_a_truncated_zip_is_refused_and_nothing_is_left(tmp_path: Path, serve: callable, dataset_zip) -> None:
    payload, _ = dataset_zip
    server = serve(payload[: len(payload) * 2 // 3])  # served whole: the archive itself is cut
    with pytest.raises(DownloadError, match="not a complete zip"):
        ensure_dataset(server.url, dest=tmp_path / "dest", progress=False)
    assert _leftovers(tmp_path / "dest") == []


def test_a_corrupt_member_mid_extraction_leaves_no_half_dataset(tmp_path: Path, dataset_zip) -> None:
    payload, _ = dataset_zip
    data = bytearray(payload)
    bundle = zipfile.ZipFile(io.BytesIO(payload))
    last = bundle.infolist()[-1]  # damage the last member: earlier ones are already extracted
    offset = last.header_offset + 30 + len(last.filename.encode()) + len(last.extra) + 5
    data[offset : offset + 20] = bytes(b ^ 0xFF for b in data[offset : offset + 20])
    archive = tmp_path / "landmark_images.zip"
    archive.write_bytes(bytes(data))
    dest = tmp_path / "dest"
    dest.mkdir()

    with pytest.raises(DownloadError, match="corrupt"):
        extract_zip(archive, dest / "landmark_images", progress=False)
    assert _leftovers(dest) == []


def _zip_with(member: zipfile.ZipInfo, content: bytes, base: bytes) -> bytes:
    buffer = io.BytesIO(base)
    with zipfile.ZipFile(buffer, "a") as bundle:
        bundle.writestr(member, content)
    return buffer.getvalue()


def _symlink_member(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    info.create_system = 3
    return info


@pytest.mark.parametrize(
    ("member", "why"),
    [
        (zipfile.ZipInfo("../evil.txt"), "'..'"),
        (zipfile.ZipInfo("landmark_images/../../evil.txt"), "'..'"),
        (zipfile.ZipInfo("/tmp/evil.txt"), "absolute"),
        (_symlink_member("landmark_images/train/link", "/etc/passwd"), "symbolic link"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink"],
)
def test_a_zip_slip_archive_is_refused_before_writing_anything(
    tmp_path: Path, serve: callable, dataset_zip, member: zipfile.ZipInfo, why: str
) -> None:
    payload, _ = dataset_zip
    server = serve(_zip_with(member, b"/etc/passwd", payload))
    dest = tmp_path / "deep" / "dest"

    with pytest.raises(DownloadError, match=f"unsafe member.*{re.escape(why)}"):
        ensure_dataset(server.url, dest=dest, progress=False)

    assert _leftovers(dest) == []
    assert not (tmp_path / "deep" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


def test_an_archive_without_a_dataset_is_refused(tmp_path: Path, serve: callable) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("photos/a.jpg", b"not really")
    server = serve(buffer.getvalue())
    with pytest.raises(DownloadError, match="no dataset"):
        ensure_dataset(server.url, dest=tmp_path / "dest", progress=False)
    assert _leftovers(tmp_path / "dest") == []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_offline_is_one_line_naming_the_url_and_from(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}/datasets/landmark_images.zip"
    with pytest.raises(DownloadError) as caught:
        ensure_dataset(url, dest=tmp_path / "dest", progress=False)
    message = str(caught.value)
    assert url in message and "--from" in message and "\n" not in message


def test_cli_offline_exits_non_zero_with_one_line_and_no_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from landmarks.cli import main

    url = f"http://127.0.0.1:{_free_port()}/landmark_images.zip"
    argv = ["landmarks", "data", "download", "--url", url, "--dest", str(tmp_path / "d"), "-q"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert url in err and "--from" in err and "Traceback" not in err


def test_import_from_a_zip_and_from_a_folder(tmp_path: Path, dataset_zip) -> None:
    payload, source = dataset_zip
    archive = tmp_path / "landmark_images.zip"
    archive.write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()

    from_zip = ensure_dataset(source=archive, dest=tmp_path / "a", sha256=digest, progress=False)
    assert _files(from_zip) == _files(source)
    assert archive.read_bytes() == payload  # the user's file is neither moved nor removed
    assert ensure_dataset(source=archive, dest=tmp_path / "a", progress=False) == from_zip

    before = _files(source)
    from_folder = import_dataset(source.parent, tmp_path / "b" / "landmark_images")  # one level down
    assert from_folder == tmp_path / "b" / "landmark_images"
    assert _files(from_folder) == before == _files(source)
    assert ensure_dataset(source=source, dest=tmp_path / "b") == from_folder  # already there
    closed = f"http://127.0.0.1:{_free_port()}/datasets/landmark_images.zip"
    assert ensure_dataset(closed, dest=tmp_path / "b") == from_folder  # later runs find the import


def test_import_of_something_that_is_not_there_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="no such file or folder"):
        ensure_dataset(source=tmp_path / "missing.zip", dest=tmp_path / "dest", progress=False)
