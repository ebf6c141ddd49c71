"""The retrieval cache's entries: keys over every byte, quiet atomic writes, damaged entries read as missing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from landmarks.retrieval import cache_files
from landmarks.retrieval.cache_files import digest, read_arrays, write_arrays, write_quietly


def test_digest_hashes_header_and_every_byte_whatever_the_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    a = np.arange(1000, dtype=np.float16).reshape(50, 20)
    b = np.arange(7, dtype=np.int64)
    whole = hashlib.sha256(b"v1:" + a.tobytes() + b.tobytes()).hexdigest()[:32]
    assert digest("v1:", a, b) == whole
    monkeypatch.setattr(cache_files, "CHUNK", 7)  # odd chunks, not a multiple of any item size
    assert digest("v1:", a, b) == whole
    assert digest("v1:", a.T, b) != whole  # C order of what is given, not of the buffer
    assert digest("v2:", a, b) != whole


def test_entries_round_trip_and_damaged_ones_read_as_missing(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "entry.npz"
    write_arrays(path, rows=np.ones((2, 3), np.float32), labels=np.arange(2))
    rows, labels = read_arrays(path, "rows", "labels")  # type: ignore[misc]
    assert rows.shape == (2, 3) and labels.tolist() == [0, 1]
    assert read_arrays(path, "rows", "missing") is None
    assert read_arrays(tmp_path / "absent.npz", "rows") is None
    path.write_bytes(path.read_bytes()[:40])  # truncated
    assert read_arrays(path, "rows") is None


def test_a_cache_folder_that_cannot_take_the_entry_is_not_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"a file where the cache folder should be")
    write_quietly(blocker / "entry.bin", b"x")  # mkdir fails (as on a read-only or full disk): no error
    assert blocker.read_bytes().startswith(b"a file")
    write_arrays(blocker / "entry.npz", rows=np.zeros(3))
    assert read_arrays(blocker / "entry.npz", "rows") is None
