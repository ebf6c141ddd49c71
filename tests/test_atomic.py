import os
from pathlib import Path

import pytest

from landmarks.atomic import atomic_open, atomic_write_bytes, atomic_write_text


def test_write_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write(b"half")
        raise RuntimeError("killed")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_two_open_writers_do_not_share_a_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    with atomic_open(target, "w") as first, atomic_open(target, "w") as second:
        first.write("first")
        second.write("second")
    assert target.read_text() == "first"  # the outer block closed last
    assert os.listdir(tmp_path) == ["out.txt"]


def test_read_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError), atomic_open(tmp_path / "x", "r"):
        pass
