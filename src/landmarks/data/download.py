"""Fetch (or import) the landmark dataset and unpack it safely.

The official archive is ~720 MB on a slow public bucket, so the transfer resumes where it stopped
(HTTP Range) and is checked against Content-Length and, when given, SHA-256. Extraction refuses
unsafe members (absolute paths, `..`, links) before writing anything, and happens in a staging
folder beside the destination that is renamed into place only when complete: a crash never leaves
a half-extracted dataset that a later run would mistake for the real one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import stat
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import httpx
from tqdm.auto import tqdm

from landmarks.data.layout import find_dataset_root
from landmarks.errors import DatasetError, DownloadError
from landmarks.settings import cache_dir

DEFAULT_URL = "https://udacity-dlnfd.s3-us-west-1.amazonaws.com/datasets/landmark_images.zip"
_SKIPPED_MEMBERS = ("__MACOSX/",)  # macOS resource forks: never part of a dataset


def default_dest() -> Path:
    """Where downloaded datasets live: the cache directory's `datasets/` folder."""
    return cache_dir() / "datasets"


def ensure_dataset(
    url: str = DEFAULT_URL,
    dest: Path | None = None,
    sha256: str | None = None,
    source: Path | None = None,
    *,
    progress: bool = True,
    attempts: int = 4,
    timeout: float = 30.0,
) -> Path:
    """The root (with `train/` and `test/`) of the dataset, downloading or importing it if needed.

    A dataset already in `dest` is returned at once, without touching the network. With `source`
    (a zip or a folder), that copy is imported instead of downloading.
    """
    dest = Path(dest).expanduser() if dest is not None else default_dest()
    dest.mkdir(parents=True, exist_ok=True)
    expected = _normalise_sha256(sha256)
    name = archive_name(url)
    target = dest / name
    if source is not None:  # stands in for the download: same place, so later runs find it
        return import_dataset(Path(source), target, sha256=expected, progress=progress)

    existing = _existing_dataset(target)
    if existing is not None:
        return existing
    archive = dest / f"{name}.zip"
    if archive.is_file():  # downloaded by an earlier run that stopped before extracting
        if expected:
            _verify_sha256(archive, expected, remove=True)
    else:
        download(url, archive, sha256=expected, progress=progress, attempts=attempts, timeout=timeout)
    try:
        root = extract_zip(archive, target, progress=progress)
    except DownloadError as exc:
        archive.unlink(missing_ok=True)  # a corrupt download: the next run must fetch it afresh
        raise DownloadError(f"{exc} (the downloaded file was removed)") from None
    archive.unlink()  # the extracted folder is what we keep; the zip would only double the disk use
    return root


def archive_name(url: str) -> str:
    """The dataset's folder name, from the URL's file name (`landmark_images`)."""
    stem = PurePosixPath(urlparse(url).path).name.removesuffix(".zip")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "dataset"


def _existing_dataset(target: Path) -> Path | None:
    if not target.exists():
        return None
    try:
        return find_dataset_root(target, max_depth=1)
    except DatasetError:
        raise DownloadError(
            f"{target} exists but is not a dataset (no train/ and test/ inside); remove it and run again"
        ) from None


def _normalise_sha256(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    value = sha256.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise DownloadError(f"--sha256 must be 64 hexadecimal digits, got {sha256!r}")
    return value


def download(
    url: str,
    target: Path,
    *,
    sha256: str | None = None,
    progress: bool = True,
    attempts: int = 4,
    timeout: float = 30.0,
    offline_hint: str = "landmarks data download --from PATH",
) -> Path:
    """Stream `url` to `target` through `target.part`, resuming after a cut connection.

    The `.part` file survives a failed run, so the next run resumes it too. Raises DownloadError
    naming the URL (and `--from`) when the server cannot be reached or the data does not check out.
    """
    partial = target.with_name(target.name + ".part")
    client = httpx.Client(
        follow_redirects=True,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
        headers={"Accept-Encoding": "identity"},  # Content-Length must count the bytes we store
    )
    with client:
        for attempt in range(1, attempts + 1):
            try:
                _transfer(client, url, partial, progress)
                break
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                raise DownloadError(_offline_message(url, exc, offline_hint)) from None
            except (httpx.TransportError, _IncompleteTransfer) as exc:
                if attempt == attempts:
                    size = partial.stat().st_size if partial.exists() else 0
                    raise DownloadError(
                        f"the download of {url} kept breaking off ({_reason(exc)}); {size} bytes are kept "
                        f"in {partial} and the next run resumes from there"
                    ) from None
                time.sleep(min(0.5 * attempt, 5.0))
    if sha256:
        _verify_sha256(partial, sha256, remove=True)
    os.replace(partial, target)
    return target


class _IncompleteTransfer(Exception):
    """The body ended before Content-Length bytes arrived."""


def _transfer(client: httpx.Client, url: str, partial: Path, progress: bool) -> None:
    offset = partial.stat().st_size if partial.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with client.stream("GET", url, headers=headers) as response:
        if response.status_code == 416 and offset:
            total = _content_range_total(response.headers.get("Content-Range", ""))
            if total == offset:
                return  # an earlier run got every byte; it stopped just before renaming
            partial.unlink()  # the file on the server changed: start again
            raise _IncompleteTransfer("the server's file changed since the partial download")
        if response.status_code >= 400:
            raise DownloadError(f"cannot download {url}: HTTP {response.status_code} {response.reason_phrase}")
        if response.status_code == 206:
            start, total = _content_range(response.headers.get("Content-Range", ""))
            if start != offset:
                raise DownloadError(f"{url}: the server resumed at byte {start}, not {offset}")
            mode = "ab"
        else:  # 200: the server ignored Range (or there was nothing to resume)
            offset, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None and length.isdigit() else None
        bar = tqdm(
            total=total,
            initial=offset,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=f"Downloading {PurePosixPath(urlparse(url).path).name}",
            disable=not progress,
        )
        with bar, open(partial, mode) as handle:
            for chunk in response.iter_raw():  # as it arrives: a cut keeps every byte received
                handle.write(chunk)
                bar.update(len(chunk))
    size = partial.stat().st_size
    if total is not None and size != total:
        raise _IncompleteTransfer(f"got {size} of {total} bytes")


def _content_range(header: str) -> tuple[int, int | None]:
    match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", header.strip())
    if not match:
        raise DownloadError(f"the server answered a range request with a bad Content-Range {header!r}")
    total = match.group(3)
    return int(match.group(1)), (int(total) if total != "*" else None)


def _content_range_total(header: str) -> int | None:
    match = re.fullmatch(r"bytes \*/(\d+)", header.strip())
    return int(match.group(1)) if match else None


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _offline_message(url: str, exc: BaseException, hint: str) -> str:
    return (
        f"cannot reach {url} ({_reason(exc)}); check the network, or import a copy you already have "
        f"with `{hint}` (the zip or its extracted folder)"
    )


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, streamed."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _verify_sha256(path: Path, expected: str, *, remove: bool) -> None:
    actual = sha256_of(path)
    if actual != expected:
        if remove:
            path.unlink(missing_ok=True)
        note = "; the file was removed" if remove else ""
        raise DownloadError(f"{path}: SHA-256 is {actual}, expected {expected}{note}")


def unsafe_member_reason(member: zipfile.ZipInfo) -> str | None:
    """Why extracting this member could write outside the destination, or None if it is safe."""
    name = member.filename.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if ".." in PurePosixPath(name).parts:
        return "path with '..'"
    kind = stat.S_IFMT(member.external_attr >> 16)  # 0 when the archiver recorded no file type
    if kind == stat.S_IFLNK:
        return "symbolic link"
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "not a regular file or folder"
    return None


def extract_zip(
    archive: Path, target: Path, *, progress: bool = True, find_root: Callable[[Path], Path] | None = None
) -> Path:
    """Extract the dataset in `archive` so that `target` is its root (holding train/ and test/).

    Every member is checked before anything is written; extraction goes to a staging folder beside
    `target` that is renamed into place at the end, and removed on any failure. `find_root` picks the
    root in the extracted tree for other archives (raising DownloadError when it is not there).
    """
    try:
        bundle = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DownloadError(f"{archive} is not a complete zip archive (truncated or corrupt?): {exc}") from None
    with bundle:
        members = [m for m in bundle.infolist() if not m.filename.startswith(_SKIPPED_MEMBERS)]
        for member in members:
            why = unsafe_member_reason(member)
            if why:
                raise DownloadError(
                    f"{archive}: refusing unsafe member {member.filename!r} ({why}); nothing was extracted"
                )
        needed = sum(m.file_size for m in members)
        free = shutil.disk_usage(target.parent).free
        if needed > free:
            raise DownloadError(f"{archive} needs {needed / 1e9:.1f} GB to extract, {free / 1e9:.1f} GB are free")
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".extracting", dir=target.parent))
        try:
            for member in tqdm(members, desc=f"Extracting {archive.name}", unit="file", disable=not progress):
                bundle.extract(member, staging)
            try:
                root = find_root(staging) if find_root is not None else find_dataset_root(staging)
            except DatasetError:
                raise DownloadError(f"{archive} holds no dataset (no folder with train/ and test/ inside)") from None
            os.replace(root, target)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise DownloadError(f"{archive} is corrupt or truncated ({_reason(exc)}); nothing was kept") from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def import_dataset(source: Path, target: Path, *, sha256: str | None = None, progress: bool = True) -> Path:
    """Bring an existing zip or extracted folder in as `target` (the `--from` of `landmarks data download`).

    A folder is linked file by file where the file system allows (no extra disk), copied otherwise.
    The source itself is never modified. An existing dataset at `target` is returned as it is.
    """
    source = source.expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    if not source.exists():
        raise DownloadError(f"{source}: no such file or folder to import")
    if source.is_dir() and sha256:
        raise DownloadError("--sha256 checks a zip archive; it cannot be used with a folder")
    existing = _existing_dataset(target)
    if existing is not None:
        return existing
    if source.is_file():
        if sha256:
            _verify_sha256(source, sha256, remove=False)
        return extract_zip(source, target, progress=progress)
    return import_folder(find_dataset_root(source), target)


def import_folder(folder: Path, target: Path) -> Path:
    """Copy (hard-linking where possible) `folder` to `target` through a staging folder beside it, renamed
    into place only when complete: a crash never leaves half a copy under the final name."""
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".importing", dir=target.parent))
    try:
        copied = shutil.copytree(folder, staging / "copy", copy_function=_link_or_copy)
        os.replace(copied, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _link_or_copy(src: str, dst: str) -> None:
    """Hard-link (instant, no extra space) when on the same file system, else copy."""
    with contextlib.suppress(OSError):
        os.link(src, dst)
        return
    shutil.copy2(src, dst)
