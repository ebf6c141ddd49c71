"""Expand what a user typed (files, folders, globs) into the photos to process, in a stable order."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from pathlib import Path

from landmarks.data.images import is_image_file


def expand_inputs(inputs: Iterable[str | Path], recursive: bool = False) -> tuple[list[Path], list[str]]:
    """(photos, problems) for what a user typed: files, folders (descended with `recursive`), globs.

    Named files are taken whatever their suffix (a bad one is reported when read); folders and globs
    give the files with a photo suffix, hidden ones left out. Absolute paths, duplicates dropped.
    """
    photos: dict[Path, Path] = {}
    problems: list[str] = []

    def add(path: Path) -> None:
        photos.setdefault(path.resolve(), path.absolute())

    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            found = _folder_photos(path, recursive)
            if not found:
                problems.append(f"{path}: no photos in this folder" + ("" if recursive else " (try --recursive)"))
        elif path.exists():
            found = [path]
        elif glob.has_magic(str(item)):
            found = []
            for match in map(Path, sorted(glob.glob(str(path), recursive=recursive))):
                if match.is_dir():
                    found.extend(_folder_photos(match, recursive))
                elif match.is_file() and is_image_file(match):
                    found.append(match)
            if not found:
                problems.append(f"{item}: no photos match")
        else:
            problems.append(f"{path}: no such file or folder")
            found = []
        for photo in found:
            add(photo)
    return list(photos.values()), problems


def _folder_photos(folder: Path, recursive: bool) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        found.extend(Path(root) / name for name in sorted(files) if is_image_file(Path(name)))
    return found
