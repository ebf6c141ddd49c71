"""A geotag run killed with SIGKILL in the middle of writing loses nothing, and its report undoes it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from geotag_helpers import EIFFEL, jpeg_scan_data, location_of, make_photo, sha256

from landmarks.geotag.metadata import is_temp_file
from landmarks.geotag.undo import undo

_RUN = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from geotag_helpers import EIFFEL, FakePredictor
from landmarks.geotag.batch import GeotagOptions, geotag
photos = sorted(Path(sys.argv[1]).glob("*.jpg"))
geotag(photos, FakePredictor({p.name: (EIFFEL, 0.9) for p in photos}), Path(sys.argv[2]),
       options=GeotagOptions(chunk_size=8))
"""


def _replaced(folder: Path, inodes: dict[str, int]) -> bool:
    return any(os.stat(folder / name).st_ino != ino for name, ino in inodes.items())


def _kill_while_writing(folder: Path, report: Path) -> bool:
    """Start a geotag run of 2 batches; SIGKILL it (and its exiftool) once the first batch has replaced
    its photos and the second is being written (a temporary exists).

    True when the kill landed there: some photos replaced, a temporary left behind."""
    inodes = {p.name: os.stat(p).st_ino for p in folder.iterdir()}
    proc = subprocess.Popen(
        [sys.executable, "-c", _RUN, str(folder), str(report), str(Path(__file__).parent)],
        start_new_session=True,  # its own process group: the kill takes exiftool down too
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if any(is_temp_file(Path(name)) for name in os.listdir(folder)) and _replaced(folder, inodes):
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.0005)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
    assert proc.returncode in (0, -signal.SIGKILL), err.decode(errors="replace")
    killed = proc.returncode == -signal.SIGKILL
    return killed and _replaced(folder, inodes) and any(is_temp_file(p) for p in folder.iterdir())


def test_sigkill_mid_write_leaves_originals_intact(tmp_path: Path) -> None:
    master = make_photo(tmp_path / "master.jpg", size=(1600, 1200))  # ~1.5 MB: a write takes a while
    original_sha, original_scan = sha256(master), jpeg_scan_data(master)
    for attempt in range(3):
        folder = tmp_path / f"run{attempt}"
        folder.mkdir()
        photos = [folder / f"{i:02d}.jpg" for i in range(16)]
        for photo in photos:
            shutil.copy2(master, photo)
        report = tmp_path / f"report{attempt}.csv"
        if _kill_while_writing(folder, report):
            break
    else:
        pytest.fail("the run was never caught in the middle of a write")

    written = 0
    for photo in photos:
        if sha256(photo) == original_sha:
            continue
        # not the original: then it must be the complete geotagged file, never a half-written one
        written += 1
        assert location_of(photo) == (pytest.approx(EIFFEL[1], abs=1e-5), pytest.approx(EIFFEL[2], abs=1e-5))
        assert jpeg_scan_data(photo) == original_scan
    for temp in (p for p in folder.iterdir() if is_temp_file(p)):
        original = folder / temp.name[1:].split(".landmarks-")[0]
        assert sha256(original) == original_sha, f"{original.name} changed although its write was cut short"
    assert 0 < written < len(photos)

    # the report was journaled before each write: undo finds and restores whatever did get written
    summary = undo(report)
    assert [sha256(p) for p in photos] == [original_sha] * len(photos)
    assert summary.ok  # written lines restored, lines the kill cut off are "not written"
    assert set(summary.counts) <= {"restored", "skipped: not written"}
    assert summary.temporaries_removed  # the kill's leftovers are gone, by the undo
    assert not [p for p in folder.iterdir() if is_temp_file(p)]
