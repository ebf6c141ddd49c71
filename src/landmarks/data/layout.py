"""Where a dataset is on disk: the folder holding `train/` and `test/`, and which entries are never classes.

Shared by `download` (to check an archive unpacked into a dataset) and `prepare` (to scan it).
"""

from __future__ import annotations

from pathlib import Path

from landmarks.errors import DatasetError

IGNORED_FOLDERS = frozenset({"__MACOSX"})  # zip tools' resource forks, never classes


def find_dataset_root(path: Path, max_depth: int = 3) -> Path:
    """The folder holding `train/` and `test/`: `path` itself or one below it (a zip's `landmark_images/`)."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise DatasetError(f"{path}: no such folder")
    level = [path]
    for _ in range(max_depth + 1):
        found = [p for p in level if (p / "train").is_dir() and (p / "test").is_dir()]
        if len(found) > 1:
            names = ", ".join(str(p) for p in found)
            raise DatasetError(f"{path} holds several datasets ({names}); pass one of them")
        if found:
            return found[0].absolute()
        level = [c for p in level for c in sorted(p.iterdir()) if c.is_dir() and not is_ignored(c.name)]
    for present, absent in (("train", "test"), ("test", "train")):
        if (path / present).is_dir():
            raise DatasetError(f"{path} has a {present}/ folder but no {absent}/ folder beside it")
    raise DatasetError(
        f"{path} is not a dataset folder: expected train/<class>/ and test/<class>/ inside it "
        "(run `landmarks data download` to fetch the official dataset)"
    )


def is_ignored(name: str) -> bool:
    return name.startswith(".") or name in IGNORED_FOLDERS
