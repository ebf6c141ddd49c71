"""The light install: a fresh virtual environment with only the core dependencies (no torch) runs
`landmarks predict` and `landmarks serve` on an ONNX export, and says which extra training needs.

pip installs from the package index it is configured with (as CI's does); where none answers, the
test is skipped. `LANDMARKS_SKIP_LIGHT_INSTALL=1` skips it too (it takes a minute or two).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from helpers import synthetic_photo

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.light_install, pytest.mark.timeout(600)]


def _pip_reaches_an_index() -> bool:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", "onnxruntime"], capture_output=True, text=True, timeout=120
    )
    return done.returncode == 0 and "onnxruntime" in done.stdout


@pytest.fixture(scope="module")
def light_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("LANDMARKS_SKIP_LIGHT_INSTALL") == "1":
        pytest.skip("LANDMARKS_SKIP_LIGHT_INSTALL=1")
    if not _pip_reaches_an_index():
        pytest.skip("pip reaches no package index with onnxruntime")
    root = tmp_path_factory.mktemp("light")
    source = root / "source"  # built from a copy: the build writes egg-info and build/ beside its sources
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=180)
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(source)],
        capture_output=True,
        text=True,
        timeout=480,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return venv


def _env(tmp: Path) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": str(tmp), "LANDMARKS_CACHE": str(tmp / "cache")}


def test_the_core_install_has_no_torch(light_venv: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [str(light_venv / "bin" / "python"), "-c", "import importlib.util as u; print(u.find_spec('torch'))"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
    )
    assert done.stdout.strip() == "None", done.stderr
    train = subprocess.run(
        [str(light_venv / "bin" / "landmarks"), "train", "--data", str(tmp_path), "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
    )
    assert train.returncode == 1 and "pip install 'landmarks[train]'" in train.stderr, train.stderr
    assert "Traceback" not in train.stderr


def test_predict_and_serve_run_on_an_export(light_venv: Path, tiny_checkpoint: Path, tmp_path: Path) -> None:
    from landmarks.export.onnx_export import export_onnx
    from landmarks.inference.predictor import Predictor

    export = export_onnx(tiny_checkpoint, tmp_path / "deploy" / "model.onnx")  # deployed alone
    photo = tmp_path / "photo.jpg"
    synthetic_photo(2, 31_337, (640, 480)).save(photo)
    want = Predictor.load(export).predict(photo).model_dump(mode="json")

    landmarks = str(light_venv / "bin" / "landmarks")
    done = subprocess.run(
        [landmarks, "predict", str(photo), "--checkpoint", str(export), "--json"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    [got] = json.loads(done.stdout)  # the same export, maybe another numpy/onnxruntime build: equal to rounding
    assert [g["folder"] for g in got["top"]] == [g["folder"] for g in want["top"]]
    assert got["unknown"] == want["unknown"] and abs(got["score"] - want["score"]) < 1e-4

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [landmarks, "serve", "--checkpoint", str(export), "--port", str(port), "--log-level", "warning"],
        env=_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        reply = httpx.post(f"{url}/api/v1/predict", files={"file": ("photo.jpg", photo.read_bytes())}, timeout=30)
        assert reply.status_code == 200, reply.text
        assert reply.json()["top"][0]["folder"] == want["top"][0]["folder"]
        assert httpx.get(f"{url}/", timeout=10).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
