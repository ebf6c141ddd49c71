"""A real Ray cluster on this machine for the batch tests: `ray start --head` on free loopback ports.

Everything Ray writes goes under the test's own folders: its session files (`--temp-dir`, kept short:
Ray's Unix sockets need short paths), and HOME (Ray keeps an auth token in `~/.ray`). Stopped by
signalling its own process group, never by `ray stop` (which would stop other clusters too).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ray_env(home: Path, temp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HOME=str(home),
        RAY_USAGE_STATS_ENABLED="0",
        RAY_TMPDIR=str(temp),
        PYTHONPATH=os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    env.pop("RAY_ADDRESS", None)
    return env


@contextlib.contextmanager
def local_cluster(home: Path, num_cpus: int = 2, timeout: float = 90.0) -> Iterator[tuple[str, dict[str, str]]]:
    """(address, environment for drivers) of a running head node; stopped and cleaned up afterwards."""
    temp = Path(tempfile.mkdtemp(prefix="lmray-", dir="/tmp"))
    env = ray_env(home, temp)
    port = free_port()
    workers = 20000 + (os.getpid() % 400) * 100
    ports = {name: free_port() for name in ("node-manager", "object-manager",
             "dashboard-agent-grpc", "dashboard-agent-listen", "metrics-export", "runtime-env-agent")}  # fmt: skip
    command = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block", "--node-ip-address",
               "127.0.0.1", "--port", str(port), "--num-cpus", str(num_cpus), "--temp-dir", str(temp),
               "--include-dashboard", "false", "--disable-usage-stats", "--min-worker-port", str(workers),
               "--max-worker-port", str(workers + 99)]  # fmt: skip
    command += [arg for name, value in ports.items() for arg in (f"--{name}-port", str(value))]
    log = open(home / "ray-start.log", "wb")  # noqa: SIM115 - closed below
    head = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while b"Ray runtime started" not in (home / "ray-start.log").read_bytes():
            if head.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start failed:\n{(home / 'ray-start.log').read_text(errors='replace')}")
            time.sleep(0.5)
        yield address, env
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGINT)
        try:
            head.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(head.pid, signal.SIGKILL)
            head.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)  # whatever of the group outlived its leader
        log.close()
        subprocess.run(["rm", "-rf", str(temp)], check=False)
