"""`landmarks batch --engine ray` on a real local Ray cluster: same answers as the local engine, and the
faults the issue names (an actor killed, bad photos, the driver killed). Slow: about a minute and a half.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from batch_helpers import bad_photos
from ray_cluster import local_cluster

from landmarks.batch.parquet import STAGING, read_results
from landmarks.batch.run import run_batch

pytest.importorskip("ray")
pytestmark = [pytest.mark.ray, pytest.mark.integration, pytest.mark.timeout(400)]

SLOW_DRIVER = '''
import sys, os, time
from pathlib import Path
from landmarks.batch.parquet import ParquetResults
from landmarks.batch.recognise import ModelInfo, Recogniser
from landmarks.batch.ray_engine import run_ray
from landmarks.batch.sources import list_sources
from landmarks.inference.predictor import Predictor

photos_dir, out, checkpoint, address, log = sys.argv[1:6]

class SlowRecogniser(Recogniser):
    """Slow enough to be caught mid-run; logs its pid for each batch it answers."""
    def __call__(self, table):
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()}\\n")
        time.sleep(0.4)
        return super().__call__(table)

photos, _ = list_sources([photos_dir])
info = ModelInfo.of(Predictor.load(checkpoint), 3)
with ParquetResults(out) as sink:
    todo = sink.pending(photos, info.model_id, info.gallery_id)
    run_ray(todo, info, sink, actors=1, batch_size=2, address=address, progress=False, recogniser=SlowRecogniser,
            rows_per_file=1)
'''


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    with local_cluster(tmp_path_factory.mktemp("rayhome")) as running:
        yield running


@pytest.fixture(scope="module")
def real_photos(proxy44: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file list of 24 real proxy44 test photos (3 of each of 8 landmarks), plus a folder of bad ones."""
    root = tmp_path_factory.mktemp("real")
    classes = sorted(p for p in (proxy44 / "test").iterdir() if p.is_dir())[:8]
    chosen = [photo for folder in classes for photo in sorted(folder.glob("*.jpg"))[:3]]
    (root / "photos.txt").write_text("\n".join(map(str, chosen)) + "\n")
    bad_photos(root / "bad", chosen[0])
    return root


def _cli(args: list[str], env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "landmarks", "batch", *args, "--no-progress"], env=env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def test_both_engines_give_the_same_rows_and_bad_photos_get_error_rows(
    cluster: tuple[str, dict[str, str]], real_photos: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    address, env = cluster
    sources = [f"@{real_photos / 'photos.txt'}", str(real_photos / "bad")]
    local = run_batch(sources, str(tmp_path / "local"), checkpoint=tiny_checkpoint, progress=False)
    done = _cli([*sources, "--out", str(tmp_path / "ray"), "--checkpoint", str(tiny_checkpoint), "--engine", "ray",
                 "--ray-address", address, "--actors", "2", "--batch-size", "4"], env)  # fmt: skip
    assert done.returncode == 3, done.stderr[-3000:]  # 3: the bad photos' error rows
    assert "29 rows written (5 errors)" in done.stdout and local.written == 29
    ours = {r["path"]: r for r in read_results(tmp_path / "local", dedupe=False).to_pylist()}
    theirs = Counter(r["path"] for r in read_results(tmp_path / "ray", dedupe=False).to_pylist())
    assert set(theirs) == set(ours) and set(theirs.values()) == {1}
    for row in read_results(tmp_path / "ray").to_pylist():
        mine = ours[row["path"]]
        for key in ("digest", "model_id", "gallery_id", "decision", "landmark", "error", "score_kind"):
            assert row[key] == mine[key], (row["path"], key)
        assert [g["class_index"] for g in row["top_k"]] == [g["class_index"] for g in mine["top_k"]]
        for a, b in zip(row["top_k"], mine["top_k"], strict=True):
            assert a["probability"] == pytest.approx(b["probability"], abs=1e-5)
        if row["score"] is not None:
            assert row["score"] == pytest.approx(mine["score"], abs=1e-5)
    assert sum(r["decision"] == "error" for r in ours.values()) == 5


def _slow_driver(tmp_path: Path, photos: Path, out: Path, checkpoint: Path, address: str, env: dict[str, str]):
    script = tmp_path / "slow_driver.py"
    script.write_text(SLOW_DRIVER)
    log = tmp_path / "actor.log"
    args = [sys.executable, str(script), str(photos), str(out), str(checkpoint), address, str(log)]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True), log


def _wait(condition, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.fixture
def synthetic_photos(tiny_run: Path) -> Path:
    return tiny_run.parent / "data" / "test"  # 20 photos


def test_an_actor_killed_mid_run_costs_no_row(
    cluster: tuple[str, dict[str, str]], synthetic_photos: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    address, env = cluster
    out = tmp_path / "results"
    driver, log = _slow_driver(tmp_path, synthetic_photos, out, tiny_checkpoint, address, env)
    _wait(lambda: log.is_file() and len(log.read_text().split()) >= 2)
    victim = int(log.read_text().split()[0])
    os.kill(victim, signal.SIGKILL)
    output, _ = driver.communicate(timeout=240)
    assert driver.returncode == 0, output[-3000:]
    pids = set(map(int, log.read_text().split()))
    assert victim in pids and len(pids) >= 2, "the actor was not replaced"
    counts = Counter(r["path"] for r in read_results(out, dedupe=False).to_pylist())
    assert len(counts) == 20 and set(counts.values()) == {1}


def test_a_killed_driver_is_completed_by_a_rerun_without_duplicates(
    cluster: tuple[str, dict[str, str]], synthetic_photos: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    address, env = cluster
    out = tmp_path / "results"
    driver, _ = _slow_driver(tmp_path, synthetic_photos, out, tiny_checkpoint, address, env)
    _wait(lambda: any((out / STAGING).rglob("*.parquet")))
    driver.send_signal(signal.SIGKILL)
    driver.wait(30)
    time.sleep(3)  # Ray reaps the dead job's workers
    assert not any(p for p in out.glob("*.parquet")), "nothing is committed before the run ends"
    done = _cli([str(synthetic_photos), "--out", str(out), "--checkpoint", str(tiny_checkpoint), "--engine", "ray",
                 "--ray-address", address], env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    skipped = int(done.stdout.split(" already answered")[0].rsplit(", ", 1)[1])
    assert 0 < skipped < 20, done.stdout  # the parts the killed run finished were kept, the rest redone
    counts = Counter(r["path"] for r in read_results(out, dedupe=False).to_pylist())
    assert len(counts) == 20 and set(counts.values()) == {1}
    assert not (out / STAGING).exists()
