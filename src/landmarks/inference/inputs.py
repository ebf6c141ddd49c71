"""Expand what a user typed (files, folders, globs) into the photos to process, in a stable order."""

from __future__ import annotations

import glob
from collections.abc import Iterable
from pathlib import Path

from landmarks.data.images import is_image_file


def expand_inputs(inputs: Iterable[str | Path], *, recursive: bool = False) -> tuple[list[Path], list[str]]:
    """(photos, problems): folders give their photos (all levels with `recursive`), globs expand,
    a named file is taken as it is (a bad one is reported when it is read). Duplicates are dropped."""
    photos: list[Path] = []
    problems: list[str] = []
    for raw in inputs:
        text = str(raw)
        path = Path(text).expanduser()
        if path.is_dir():
            walker = path.rglob("*") if recursive else path.iterdir()
            found = sorted(p for p in walker if p.is_file() and is_image_file(p))
            if not found:
                problems.append(
                    f"{path}: no photos in this folder" + ("" if recursive else " (try --recursive)")
                )
            photos.extend(found)
        elif path.exists():
            photos.append(path)
        elif glob.has_magic(text):
            matches = sorted(Path(m) for m in glob.glob(text, recursive=recursive))
            found = [m for m in matches if m.is_file() and is_image_file(m)]
            if not found:
                problems.append(f"{text}: no photos match")
            photos.extend(found)
        else:
            problems.append(f"{path}: no such file or folder")
    return list(dict.fromkeys(photos)), problems
