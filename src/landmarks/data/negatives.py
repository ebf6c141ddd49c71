"""Negatives: photos that show none of our landmarks, to teach and measure the "none of ours" answer.

The real dataset ships none, so by default the ImageNet sample gallery (one photo for each of the
1000 ImageNet classes) is fetched the way the dataset is: resumed, size-checked, safely extracted into
a staging folder and renamed into the cache only when it holds enough readable photos. Each photo gets
a `group` (its semantic class) so that benchmarks can split negatives by class, never fitting and
evaluating on the same kind of photo.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from landmarks.data.decode import file_digest
from landmarks.data.download import archive_name, download, extract_zip, import_folder
from landmarks.data.images import MIN_SIDE, SkippedFile, is_image_file, load_rgb
from landmarks.errors import BadImageError, DatasetError, DownloadError
from landmarks.settings import cache_dir

log = logging.getLogger(__name__)

NEGATIVES_URL = "https://github.com/EliSchwartz/imagenet-sample-images/archive/refs/heads/master.zip"
MIN_ARCHIVE_PHOTOS = 900
"""A download with fewer readable photos than this is truncated or the wrong archive (the gallery has 1000)."""
ENV_VAR = "LANDMARKS_NEGATIVES"
OFFLINE_HINT = "landmarks data negatives --from PATH"
_WORDNET_ID = re.compile(r"^(n\d{8})(?:_|$)")


@dataclass(frozen=True)
class NegativePhoto:
    """One photo of no landmark of ours: where it is, its content digest, and its semantic class."""

    path: Path
    digest: str
    group: str


def negatives_dir(cache: Path | None = None) -> Path:
    """Where fetched negatives live: the cache's `negatives/` folder."""
    return cache_dir(cache) / "negatives"


def source_name(url: str) -> str:
    """The folder name for an archive: the repository for a GitHub archive URL, else the file's stem."""
    parts = PurePosixPath(urlparse(url).path).parts
    if "archive" in parts and parts.index("archive") >= 2:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", parts[parts.index("archive") - 1]).strip("._") or "negatives"
    return archive_name(url)


def ensure_negatives(
    url: str = NEGATIVES_URL,
    *,
    source: Path | None = None,
    cache: Path | None = None,
    progress: bool = True,
    timeout: float = 30.0,
) -> Path:
    """The folder of fetched negative photos, downloading (or importing `source`) when not there yet.

    A folder already in the cache is returned as it is (no network, `source` not read). Raises DownloadError
    (one line) when offline with no copy, or when the archive is truncated or not the gallery; a
    rejected download is removed so that the next run fetches it afresh.
    """
    dest = negatives_dir(cache)
    target = dest / source_name(url)
    if target.is_dir():
        if _count_named_photos(target) >= MIN_ARCHIVE_PHOTOS:
            return target
        raise DownloadError(
            f"{target} exists but holds fewer than {MIN_ARCHIVE_PHOTOS} photos; remove it and run again"
        )
    if source is not None:
        return import_negatives(Path(source), target, progress=progress)
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / f"{target.name}.zip"
    if not archive.is_file():  # else: downloaded by an earlier run that stopped before extracting
        download(url, archive, progress=progress, timeout=timeout, offline_hint=OFFLINE_HINT)
    try:
        extract_zip(archive, target, progress=progress, find_root=_verified_photo_folder)
    except DownloadError as exc:
        archive.unlink(missing_ok=True)
        raise DownloadError(f"{exc} (the downloaded file was removed)") from None
    archive.unlink()
    return target


def import_negatives(source: Path, target: Path, *, progress: bool = True) -> Path:
    """Bring a local copy of the gallery (its zip, or a folder of its photos) in as `target`.

    The same check as a download applies; the source is never modified (a folder is hard-linked
    file by file where possible, copied otherwise).
    """
    source = source.expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    if not source.exists():
        raise DownloadError(f"{source}: no such file or folder to import")
    if source.is_file():
        return extract_zip(source, target, progress=progress, find_root=_verified_photo_folder)
    return import_folder(_verified_photo_folder(source), target)


def _count_named_photos(folder: Path) -> int:
    return sum(1 for path in folder.iterdir() if path.is_file() and is_image_file(path))


def _verified_photo_folder(tree: Path) -> Path:
    """The folder in `tree` holding the most photos, if at least MIN_ARCHIVE_PHOTOS of them decode."""
    folders = [tree, *(path for path in sorted(tree.rglob("*")) if path.is_dir())]
    best = max(folders, key=_count_named_photos)
    readable = sum(1 for path in sorted(best.iterdir()) if is_image_file(path) and _readable(path) is None)
    if readable < MIN_ARCHIVE_PHOTOS:
        raise DownloadError(
            f"holds {readable} readable photos, not the {MIN_ARCHIVE_PHOTOS}+ of the ImageNet sample gallery "
            "(truncated or the wrong archive?)"
        )
    return best


def _readable(path: Path) -> str | None:
    """Why the photo cannot be used, or None when it decodes (draft mode: cheap for JPEGs)."""
    try:
        load_rgb(path, min_side=MIN_SIDE)
    except BadImageError as exc:
        return str(exc).removeprefix(f"{path}: ")
    return None


def resolve_negative_dirs(
    data_root: Path,
    given: Sequence[Path],
    *,
    env: str | None = None,
    fetch: Callable[[], Path] | None,
) -> tuple[list[Path], str]:
    """Which negative folders to use, and a short description of where they came from.

    Precedence: `given` (`--negatives`, repeatable) > `env` (os.pathsep-separated; None reads
    LANDMARKS_NEGATIVES now, "" means unset) > `negatives/` beside `train/ test/` in `data_root`
    > `fetch()`. A DownloadError from `fetch` means no negatives: `([], "none: <reason>")`.
    """
    if given:
        return [Path(path).expanduser() for path in given], "--negatives"
    listed = os.environ.get(ENV_VAR, "") if env is None else env
    from_env = [Path(part).expanduser() for part in listed.split(os.pathsep) if part.strip()]
    if from_env:
        return from_env, ENV_VAR
    beside = Path(data_root) / "negatives"
    if beside.is_dir():
        return [beside], f"{Path(data_root).name}/negatives"
    if fetch is None:
        return [], "none: no --negatives, LANDMARKS_NEGATIVES or negatives/ folder, and no download"
    try:
        folder = fetch()
    except DownloadError as exc:
        return [], f"none: {exc}"
    return [folder], f"downloaded {folder.name}"


def photo_group(path: Path) -> str:
    """A stable id of the photo's semantic class: the WordNet id of ImageNet-style names, else folder/stem."""
    match = _WORDNET_ID.match(path.stem)
    return match.group(1) if match else f"{path.parent.name}/{path.stem}"


def scan_negatives(
    dirs: Sequence[Path], *, exclude_digests: Mapping[str, Path] = {}, recursive: bool = True
) -> tuple[list[NegativePhoto], list[SkippedFile]]:
    """The readable negatives in `dirs` (in folder order, sorted by path) and the files left out.

    Unreadable files and second copies of a file (same digest) are skipped, not fatal. Raises
    DatasetError for a missing folder, a folder without a readable photo, or a negative that is a
    file of `exclude_digests` (the training photos: digest -> path).
    """
    photos: list[NegativePhoto] = []
    skipped: list[SkippedFile] = []
    seen: dict[str, Path] = {}
    for folder in map(Path, dirs):
        if not folder.is_dir():
            raise DatasetError(f"negatives folder {folder} does not exist (or is not a folder)")
        found = 0
        for path in _photo_files(folder, recursive):
            reason = _readable(path)
            if reason is not None:
                skipped.append(SkippedFile(path, reason))
                continue
            digest = file_digest(path)
            if digest in exclude_digests:
                raise DatasetError(
                    f"negative {path} is the same file as training photo {exclude_digests[digest]}: "
                    "negatives must show none of the classes"
                )
            found += 1
            if digest in seen:
                skipped.append(SkippedFile(path, f"the same file as {seen[digest]}"))
                continue
            seen[digest] = path
            photos.append(NegativePhoto(path, digest, photo_group(path)))
        if not found:
            unreadable = sum(1 for item in skipped if item.path.is_relative_to(folder))
            raise DatasetError(f"negatives folder {folder} holds no readable photo ({unreadable} unreadable files)")
    return photos, skipped


def collect_negatives(
    dirs: Sequence[Path], *, exclude_digests: Mapping[str, Path] = {}, recursive: bool = True
) -> list[NegativePhoto]:
    """`scan_negatives` that logs the skipped files (a warning with their count) instead of returning them."""
    photos, skipped = scan_negatives(dirs, exclude_digests=exclude_digests, recursive=recursive)
    if skipped:
        shown = "; ".join(f"{item.path}: {item.reason}" for item in skipped[:5])
        more = f" (and {len(skipped) - 5} more)" if len(skipped) > 5 else ""
        log.warning("%d negative files skipped: %s%s", len(skipped), shown, more)
    return photos


def _photo_files(folder: Path, recursive: bool) -> list[Path]:
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        path
        for path in candidates
        if is_image_file(path)
        and path.is_file()
        and not any(part.startswith(".") or part == "__MACOSX" for part in path.relative_to(folder).parts[:-1])
    )


def split_negatives(
    photos: Sequence[NegativePhoto], fractions: dict[str, float], seed: int
) -> dict[str, list[NegativePhoto]]:
    """Split by group (no group in two parts), seeded and independent of the photos' order.

    Groups are ordered by a hash of (seed, group) and cut at the cumulative fractions of the group
    count; each part lists its photos sorted by path. Fractions must be >= 0 and sum to 1.
    """
    if (
        not fractions
        or any(value < 0 for value in fractions.values())
        or not math.isclose(sum(fractions.values()), 1.0, abs_tol=1e-6)
    ):
        raise ValueError(f"split fractions must be >= 0 and sum to 1, got {fractions}")
    groups = sorted({photo.group for photo in photos}, key=lambda group: group_rank(seed, group))
    part_of: dict[str, str] = {}
    start, cumulative = 0, 0.0
    names = list(fractions)
    for index, name in enumerate(names):
        cumulative += fractions[name]
        end = len(groups) if index == len(names) - 1 else round(cumulative * len(groups))
        part_of.update((group, name) for group in groups[start:end])
        start = end
    parts: dict[str, list[NegativePhoto]] = {name: [] for name in names}
    for photo in sorted(photos, key=lambda photo: (str(photo.path), photo.digest)):
        parts[part_of[photo.group]].append(photo)
    return parts


def group_rank(seed: int, group: str) -> tuple[str, str]:
    """Sort key of a group in a seeded order that does not depend on the photos' order."""
    return hashlib.sha256(f"{seed}\0{group}".encode()).hexdigest(), group
