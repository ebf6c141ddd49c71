"""Expand what a user typed (files, folders, globs) into the photos to process, in a stable order.

Command-line concern only: `predict` and `geotag` expand their arguments here and hand the library
the list. Nothing here follows a symbolic link to a folder while descending, so a link that points
back up the tree (`loop -> ..`) cannot make an expansion endless, with a folder or a `**` glob alike.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator
from fnmatch import fnmatchcase
from pathlib import Path

from landmarks.data.images import is_image_file


def expand_inputs(inputs: Iterable[str | Path], recursive: bool = False) -> tuple[list[Path], list[str]]:
    """(photos, problems) for what a user typed: files, folders (descended with `recursive`), globs.

    Named files are taken whatever their suffix (a bad one is reported when read); folders and globs
    give the files with a photo suffix, hidden ones left out. Absolute paths, duplicates dropped.
    """
    photos: dict[Path, Path] = {}
    problems: list[str] = []
    for _item, found, problem in expand_each(inputs, recursive):
        if problem:
            problems.append(problem)
        for photo in found:
            photos.setdefault(photo.resolve(), photo.absolute())
    return list(photos.values()), problems


def expand_each(inputs: Iterable[str | Path], recursive: bool = False) -> Iterator[tuple[str, list[Path], str]]:
    """(what was typed, the photos it names, the problem with it or "") for each input, in order."""
    for item in inputs:
        path = Path(item).expanduser()
        problem = ""
        if path.is_dir():
            found = _folder_photos(path, recursive)
            if not found:
                problem = f"{path}: no photos in this folder" + ("" if recursive else " (try --recursive)")
        elif path.exists():
            found = [path]
        elif glob.has_magic(str(item)):
            found = []
            for match in _glob(str(path), recursive):
                if match.is_dir():
                    found.extend(_folder_photos(match, recursive))
                elif match.is_file() and is_image_file(match):
                    found.append(match)
            if not found:
                problem = f"{item}: no photos match"
        else:
            found, problem = [], f"{path}: no such file or folder"
        yield str(item), found, problem


def _glob(pattern: str, recursive: bool) -> list[Path]:
    """What `glob.glob` matches, except that `**` (with `recursive`) never enters a folder symlink."""
    if not (recursive and "**" in pattern):
        return sorted(map(Path, glob.glob(pattern, recursive=recursive)))
    parts = Path(pattern).parts
    fixed = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    root = Path(*parts[:fixed]) if fixed else Path()
    wanted = parts[fixed:]
    matches: list[Path] = []
    for folder, dirs, files in os.walk(root or ".", followlinks=False):
        dirs.sort()
        rel = Path(folder).relative_to(root or ".").parts
        for name in [*dirs, *sorted(files)]:
            if _match(wanted, (*rel, name)):
                matches.append(root / Path(*rel, name))
    return sorted(matches)


def _match(pattern: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    """Glob rules on path segments: `**` is any number of segments; hidden names need a leading `.`."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_match(pattern[1:], parts[i:]) for i in range(len(parts) + 1) if not _hidden(parts[:i]))
    if not parts or (parts[0].startswith(".") and not pattern[0].startswith(".")):
        return False
    return fnmatchcase(parts[0], pattern[0]) and _match(pattern[1:], parts[1:])


def _hidden(parts: tuple[str, ...]) -> bool:
    return any(part.startswith(".") for part in parts)


def _folder_photos(folder: Path, recursive: bool) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        found.extend(Path(root) / name for name in sorted(files) if is_image_file(Path(name)))
    return found
