"""A library run killed with SIGKILL in the middle of writing resumes: nothing written twice, nothing lost.

The index and the CSV journal of the killed run agree on what may have been written, and an undo
from the index brings every photo back to its original bytes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from geotag_helpers import EIFFEL, FakePredictor, jpeg_scan_data, location_of, make_photo, sha256

from landmarks.geotag.apply import apply_proposals
from landmarks.geotag.library_undo import undo_library
from landmarks.geotag.metadata import is_temp_file
from landmarks.geotag.plan import plan_library
from landmarks.geotag.report import Action, read_report_lines
from landmarks.library.db import open_library
from landmarks.library.records import proposals, set_proposal_status, writes

_RUN = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[4])
from geotag_helpers import EIFFEL, FakePredictor
from landmarks.geotag.apply import apply_proposals
from landmarks.geotag.plan import plan_library
from landmarks.library.db import open_library
from landmarks.library.records import proposals, set_proposal_status
root = Path(sys.argv[1])
with open_library(root, Path(sys.argv[2])) as db:
    fake = FakePredictor({p.name: (EIFFEL, 0.9) for p in root.glob("*.jpg")})
    plan_library(db, fake, model_id="m")
    set_proposal_status(db, [p.id for p in proposals(db, status="proposed")], "accepted")
    apply_proposals(db, report=Path(sys.argv[3]), chunk_size=4)
"""


def _replaced(folder: Path, inodes: dict[str, int]) -> bool:
    return any(os.stat(folder / name).st_ino != ino for name, ino in inodes.items())


def _kill_while_writing(folder: Path, db: Path, report: Path) -> bool:
    """SIGKILL the run (and its exiftool) once some photos are replaced and a temporary exists."""
    inodes = {p.name: os.stat(p).st_ino for p in folder.iterdir()}
    proc = subprocess.Popen(
        [sys.executable, "-c", _RUN, str(folder), str(db), str(report), str(Path(__file__).parent)],
        start_new_session=True,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 90
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
    return proc.returncode == -signal.SIGKILL and _replaced(folder, inodes)


@pytest.mark.timeout(300)
def test_a_killed_library_run_resumes_without_writing_twice(tmp_path: Path) -> None:
    master = make_photo(tmp_path / "master.jpg", size=(1600, 1200))
    original_sha, original_scan = sha256(master), jpeg_scan_data(master)
    for attempt in range(3):
        folder, db_path = tmp_path / f"run{attempt}", tmp_path / f"index{attempt}.sqlite"
        folder.mkdir()
        photos = [folder / f"{i:02d}.jpg" for i in range(16)]
        for photo in photos:
            shutil.copy2(master, photo)
        report = tmp_path / f"report{attempt}.csv"
        if _kill_while_writing(folder, db_path, report):
            break
    else:
        pytest.fail("the run was never caught in the middle of a write")

    # what the killed run journaled: the index and its CSV name the same photos as possibly written
    with open_library(folder, db_path, readonly=True) as db:
        journaled = {w.target: w.status for w in writes(db)}
    assert "writing" in journaled.values()
    rows, bad = read_report_lines(report)
    assert not bad
    csv_written = {r.file.name for r in rows if r.action in (Action.WRITING, Action.WRITTEN)}
    assert csv_written == set(journaled)
    done_before = {name for name in journaled if sha256(folder / name) != original_sha}

    # the rerun settles the journal from the files, then writes only what was not written
    with open_library(folder, db_path) as db:
        fake = FakePredictor({p.name: (EIFFEL, 0.9) for p in photos})
        plan = plan_library(db, fake, model_id="m")
        assert plan.recovered >= 1 and fake.calls == []  # every prediction of the killed run was kept
        assert plan.proposed == []
        set_proposal_status(db, [p.id for p in proposals(db, status="proposed")], "accepted")
        result = apply_proposals(db, report=tmp_path / "rerun.csv")
        assert {i.path for i in result.items} == {p.name for p in photos} - done_before
        assert result.written == len(result.items)
        written = [w for w in writes(db) if w.status == "written"]
        assert sorted(w.target for w in written) == sorted(p.name for p in photos)  # each exactly once
        assert not writes(db, status="writing")
        assert {p.status for p in proposals(db)} == {"applied"}
    for photo in photos:
        assert location_of(photo) == (pytest.approx(EIFFEL[1], abs=1e-5), pytest.approx(EIFFEL[2], abs=1e-5))
        assert jpeg_scan_data(photo) == original_scan
    assert not [p for p in folder.iterdir() if is_temp_file(p)]

    with open_library(folder, db_path) as db:
        assert undo_library(db).ok
    assert [sha256(p) for p in photos] == [original_sha] * len(photos)
