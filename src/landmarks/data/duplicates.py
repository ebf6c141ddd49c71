"""Copies of one photo (same content digest) in several places of a dataset folder.

Why: the split is by file, so a photo copied into `train/` and `test/` would be trained on and then
"recognised" on test, and a photo filed under two classes teaches both. The SHA-256 that prepare
computes for the decoded-image cache names each photo's content, so grouping by it closes both leaks:
- the same photo under two or more classes: its label is unknown, every copy is left out;
- a `train/` copy of a `test/` photo: left out of train and val, so the test split stays unseen;
- copies inside one class: kept, and the split keeps them on one side (`stratified_split`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from landmarks.data.images import SkippedFile

__all__ = ["Deduplicated", "DuplicateCounts", "resolve_duplicates"]

_NAMED = 3  # copies named in a skip reason; more are counted


@dataclass(frozen=True)
class DuplicateCounts:
    """How many files prepare set aside or grouped because their content repeats."""

    test_copies_in_train: int = 0
    """`train/` files left out because the same photo is in `test/` (same class)."""
    conflicting_labels: int = 0
    """Files left out because the same photo is filed under several classes."""
    grouped_copies: int = 0
    """Extra copies inside one class, kept together on one side of the split."""

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DuplicateCounts:
        return cls(**{key: int(data[key]) for key in ("test_copies_in_train", "conflicting_labels", "grouped_copies")})


@dataclass
class Deduplicated:
    """The class folders' photos minus the copies left out, and why each was."""

    train: dict[str, list[Path]]
    test: dict[str, list[Path]]
    skipped: list[SkippedFile]
    counts: DuplicateCounts


def resolve_duplicates(
    root: Path,
    train: Mapping[str, Sequence[Path]],
    test: Mapping[str, Sequence[Path]],
    digests: Mapping[Path, str],
) -> Deduplicated:
    """Leave out conflicting and test-leaking copies; every path given must have a digest."""
    places: dict[str, list[tuple[str, str, Path]]] = defaultdict(list)
    for split, classes in (("train", train), ("test", test)):
        for name, paths in classes.items():
            for path in paths:
                places[digests[path]].append((split, name, path))

    left_out: dict[Path, str] = {}
    conflicting = test_copies = grouped = 0
    for copies in places.values():
        if len(copies) < 2:
            continue
        names = sorted({name for _, name, _ in copies})
        if len(names) > 1:
            where = _list([path for _, _, path in copies], root)
            for _, _, path in copies:
                left_out[path] = f"conflicting labels: the same photo is filed under {', '.join(names)} ({where})"
            conflicting += len(copies)
            continue
        in_test = [path for split, _, path in copies if split == "test"]
        in_train = [path for split, _, path in copies if split == "train"]
        if in_test and in_train:
            reason = f"copy of the test photo {_list(in_test, root)}: left out of train and val"
            left_out.update(dict.fromkeys(in_train, reason))
            test_copies += len(in_train)
            grouped += len(in_test) - 1
        else:
            grouped += len(copies) - 1

    def kept(classes: Mapping[str, Sequence[Path]]) -> dict[str, list[Path]]:
        return {name: [p for p in paths if p not in left_out] for name, paths in classes.items()}

    return Deduplicated(
        train=kept(train),
        test=kept(test),
        skipped=[SkippedFile(path, reason) for path, reason in left_out.items()],
        counts=DuplicateCounts(test_copies, conflicting, grouped),
    )


def _list(paths: Sequence[Path], root: Path) -> str:
    names = [p.relative_to(root).as_posix() if p.is_relative_to(root) else str(p) for p in sorted(paths)]
    more = f" and {len(names) - _NAMED} more" if len(names) > _NAMED else ""
    return ", ".join(names[:_NAMED]) + more
