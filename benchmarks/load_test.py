"""Bounded load test of `landmarks serve` on loopback: requests/s and latency percentiles.

Starts the service itself (`landmarks serve --checkpoint CKPT` on a free 127.0.0.1 port) or uses one
already running on loopback (`--url`), then keeps CLIENTS concurrent clients posting real photos to
`/api/v1/predict` for DURATION seconds after a short warm-up, and prints requests/s, p50/p95/p99
latency and every non-200 answer. Exits 1 if any request failed. Only loopback addresses are
accepted, and clients, duration and request count are all capped, so the test always ends.

    python benchmarks/load_test.py --checkpoint runs/tiny/model.pt --clients 8 --duration 30
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_IMAGES = REPO_ROOT.parent / "shared" / "data" / "proxy44" / "test"
MAX_CLIENTS = 64
MAX_DURATION_S = 300.0
MAX_IMAGES = 200


@dataclass
class Result:
    command: str
    url: str
    clients: int
    duration_s: float
    requests: int
    ok: int
    errors: dict[str, int]
    requests_per_s: float
    latency_ms: dict[str, float]
    images: int
    server: dict = field(default_factory=dict)


def loopback_only(url: str) -> str:
    """Refuse any target that is not this machine's loopback interface."""
    host = urlsplit(url).hostname or ""
    addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    if not addresses or not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        raise SystemExit(f"refusing {url}: the load test only targets loopback (127.0.0.0/8, ::1)")
    return url.rstrip("/")


def load_images(folder: Path) -> list[tuple[str, bytes]]:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"})
    if not files:
        raise SystemExit(f"no photos under {folder}")
    step = max(1, len(files) // MAX_IMAGES)  # spread over every class, not the first few
    return [(p.name, p.read_bytes()) for p in files[::step][:MAX_IMAGES]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(checkpoint: str | None, port: int, log: Path, backend: str | None = None) -> subprocess.Popen:
    """`landmarks serve` in a child process, its output in `log`."""
    args = [sys.executable, "-c", "from landmarks.cli import main; main()", "serve", "--host", "127.0.0.1"]
    args += ["--port", str(port), "--log-level", "warning"]
    if checkpoint:
        args += ["--checkpoint", checkpoint]
    if backend:
        args += ["--backend", backend]
    with log.open("wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident memory so far (VmHWM), in MB; None where /proc does not tell."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def wait_healthy(url: str, server: subprocess.Popen | None, log: Path | None, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log else ""
            raise SystemExit(f"the server exited with {server.returncode}:\n{tail}")
        try:
            r = httpx.get(url + "/healthz", timeout=2)
            if r.status_code == 200:
                return r.json()
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"{url} was not healthy after {timeout:.0f} s")


async def run_load(
    url: str, images: list[tuple[str, bytes]], clients: int, duration: float, warmup: float, k: int, cap: int
) -> tuple[list[float], Counter, float]:
    """CLIENTS loops posting photos until the deadline; latencies of the measured window only."""
    latencies: list[float] = []
    failures: Counter = Counter()
    sent = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        loop = asyncio.get_running_loop()
        start = loop.time()
        measure_from = start + warmup
        end = measure_from + duration

        async def one_client(index: int) -> None:
            nonlocal sent
            i = index
            while loop.time() < end and sent < cap:
                sent += 1
                name, data = images[i % len(images)]
                i += clients
                t0 = loop.time()
                try:
                    r = await client.post("/api/v1/predict", files={"file": (name, data)}, data={"k": str(k)})
                    outcome = "ok" if r.status_code == 200 else f"HTTP {r.status_code}"
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                t1 = loop.time()
                if outcome != "ok":
                    failures[outcome] += 1  # an error counts whenever it happens
                elif measure_from <= t1 <= end:  # throughput and latency: completions in the window
                    latencies.append(t1 - t0)

        await asyncio.gather(*(one_client(i) for i in range(clients)))
        measured = min(loop.time(), end) - measure_from
    return latencies, failures, measured


def summarise(latencies: list[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds."""
    if not latencies:
        return {}
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else latencies * 99
    out = {f"p{q}": cuts[q - 1] for q in (50, 95, 99)} | {"max": max(latencies)}
    return {name: round(value * 1000, 1) for name, value in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--checkpoint", help="model to serve (default: LANDMARKS_CHECKPOINT, else last trained)")
    target.add_argument("--url", help="an already running server on loopback, e.g. http://127.0.0.1:8000")
    parser.add_argument("--backend", choices=["auto", "torch", "onnx"], help="what the started server runs on")
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES, help="folder of photos to send")
    parser.add_argument("--clients", type=int, default=8, help=f"concurrent clients (at most {MAX_CLIENTS})")
    parser.add_argument("--duration", type=float, default=30.0, help=f"seconds measured (<= {MAX_DURATION_S:.0f})")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring")
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--max-requests", type=int, default=100_000, help="hard cap on requests sent")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    if not 1 <= args.clients <= MAX_CLIENTS:
        parser.error(f"--clients must be 1..{MAX_CLIENTS}")
    if not 0 < args.duration <= MAX_DURATION_S or not 0 <= args.warmup <= 60:
        parser.error(f"--duration must be in (0, {MAX_DURATION_S:.0f}] and --warmup in [0, 60]")

    images = load_images(args.images)
    server = log = None
    if args.url:
        url = loopback_only(args.url)
    else:
        url = f"http://127.0.0.1:{free_port()}"
        log = Path(os.environ.get("TMPDIR", "/tmp")) / f"landmarks-load-{os.getpid()}.log"
        server = start_server(args.checkpoint, int(urlsplit(url).port or 0), log, args.backend)
    try:
        health = wait_healthy(url, server, log)
        what = f"{args.clients} clients x {args.duration:.0f} s on {url} ({len(images)} photos)"
        print(f"load: {what}", file=sys.stderr)
        latencies, failures, measured = asyncio.run(
            run_load(url, images, args.clients, args.duration, args.warmup, args.k, args.max_requests)
        )
        peak = peak_rss_mb(server.pid) if server is not None else None
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
            if log is not None:
                log.unlink(missing_ok=True)

    ok = len(latencies)
    result = Result(
        command=shlex.join([Path(sys.executable).name, *sys.argv]),
        url=url,
        clients=args.clients,
        duration_s=round(measured, 2),
        requests=ok + sum(failures.values()),
        ok=ok,
        errors=dict(failures),
        requests_per_s=round(ok / measured, 2) if measured > 0 else 0.0,
        latency_ms=summarise(latencies),
        images=len(images),
        server={key: health[key] for key in ("version", "capacity") if key in health} | {"peak_rss_mb": peak},
    )
    print(json.dumps(asdict(result), indent=2))
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2) + "\n")
    if failures or not latencies:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
