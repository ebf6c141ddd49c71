"""torch vs ONNX Runtime fp32 vs int8, side by side in one run, on the same photos and the same machine.

For each `--checkpoint` (a trained `best.pt`), copied with its exports into a temporary folder
(nothing is written beside it): fp32 is exported there, int8 too (calibrated on 300 of its val
photos, or `--int8-export FILE` made before by `landmarks export --int8`). Then, per backend:

  single    warm single-photo `predict` of proxy44 test JPEGs (512 px long side): decode included
  cli       `landmarks predict photo.jpg` start to answer (a fresh interpreter each time)
  batch     `predict_many` over proxy44 test (photos/s, top-1 against the folders, agreement with torch)
  network   the network alone on one batch of 16 (photos/s), and what share of the CPU's arithmetic
            peak that is (multiply-accumulates counted on the torch model)
  threads   ONNX Runtime alone: photos/s of (intra-op threads x batch x runs side by side) = 2x1x1,
            2x8x1, 1x1x2, 1x8x2: what `serve`'s thread split and (not) batching requests rest on
  geotag    `geotag` of `--geotag-photos` 12-MP JPEGs (photos/s; geotag_speed.py makes them)
  api       `landmarks serve` under `--clients` clients for `--duration` s (load_test.py): requests/s,
            p50/p95, errors, and the server's peak RSS

    cd benchmarks && nice -n 10 ../.venv/bin/python backend_speed.py --checkpoint ../runs/library-mix/best.pt
    (small sizes to check it: --repeats 10 --cli-runs 1 --batch-photos 64 --geotag-photos 20 --duration 5)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import PROXY44, REPO

SECTIONS = ("single", "cli", "batch", "network", "threads", "geotag", "api")
FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")
MACS_PER_CYCLE = {"fp32 avx512": 32, "fp32 avx2": 16, "int8 avx512_vnni": 128, "int8 amx": 1024}
"""Multiply-accumulates per cycle per core: 2 FMA ports x lanes (fp32), x4 for VNNI's u8*s8 dot products;
AMX's TMUL does a 16x64 by 64x16 int8 tile product (16 384 MACs) in 16 cycles."""


# ---------------------------------------------------------------------------------------------- the CPU
def cpu_capability() -> dict[str, Any]:
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "")
    mhz = [float(line.split(":", 1)[1]) for line in info.splitlines() if line.startswith("cpu MHz")]
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout if shutil.which("lscpu") else ""
    max_mhz = next((float(line.split(":")[1]) for line in lscpu.splitlines() if line.startswith("CPU max MHz")), None)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ghz = (max_mhz or (max(mhz) if mhz else 0.0)) / 1000
    peaks = {}
    for name, per_cycle in MACS_PER_CYCLE.items():
        needs = {"fp32 avx512": "avx512f", "fp32 avx2": "fma", "int8 avx512_vnni": "avx512_vnni"}
        if flags and (needs.get(name) in flags or (name == "int8 amx" and "amx_int8" in flags)):
            peaks[name] = round(cores * ghz * per_cycle, 1)  # GMAC/s
    return {
        "model": model or platform.processor(),
        "cores": cores,
        "ghz": round(ghz, 2),
        "ghz_from": "lscpu max" if max_mhz else "cpuinfo now",
        "flags": [f for f in FLAGS if f in flags],
        "peak_gmacs": peaks,
    }


def model_macs(checkpoint: Path) -> float:
    """Multiply-accumulates of one photo through the network (every Conv2d and Linear), counted by hooks
    on the torch model the export was traced from."""
    import torch

    from landmarks.engine.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    model = ckpt.build_model().float().eval()
    total = 0

    def count(module: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            total += output[0].numel() * (module.in_channels // module.groups) * int(np.prod(module.kernel_size))
        elif isinstance(module, torch.nn.Linear):
            total += module.in_features * module.out_features

    hooks = [
        m.register_forward_hook(count) for m in model.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)
    ]
    size = ckpt.model.image_size
    with torch.inference_mode():
        model.forward_head(model.forward_features(torch.zeros(1, 3, size, size)))  # the embedding: no MACs
    for hook in hooks:
        hook.remove()
    return float(total)


# -------------------------------------------------------------------------------------------- backends
def prepare_models(checkpoint: Path, work: Path, int8_export: Path | None) -> dict[str, Path]:
    """Copies and exports in `work`: {"torch": best.pt, "onnx fp32": best.onnx, "onnx int8": best.int8.onnx}."""
    from landmarks.export.onnx_export import export_onnx
    from landmarks.export.photos import validation_photos

    work.mkdir(parents=True)
    pt = Path(shutil.copy2(checkpoint, work / "best.pt"))
    t = time.perf_counter()
    fp32 = export_onnx(pt)
    print(f"  exported fp32 in {time.perf_counter() - t:.0f} s", flush=True)
    if int8_export is not None:
        int8 = Path(shutil.copy2(int8_export, work / "best.int8.onnx"))
    else:
        t = time.perf_counter()
        int8 = export_onnx(pt, int8=True, calibration_photos=validation_photos(pt, limit=300, progress=False))
        print(f"  exported int8 in {time.perf_counter() - t:.0f} s (300 val photos)", flush=True)
    return {"torch": pt, "onnx fp32": fp32, "onnx int8": int8}


def backend_args(name: str, path: Path) -> list[str]:
    return ["--checkpoint", str(path)] + (["--backend", "torch"] if name == "torch" else [])


def load(name: str, path: Path) -> Any:
    from landmarks.inference.predictor import Predictor

    return Predictor.load(path, backend="torch" if name == "torch" else "onnx")


def single(predictor: Any, photos: list[Path]) -> dict[str, float]:
    for photo in photos[:5]:  # warm-up: first calls allocate and pick kernels
        predictor.predict(photo, k=3)
    latencies = []
    for photo in photos:
        t = time.perf_counter()
        predictor.predict(photo, k=3)
        latencies.append((time.perf_counter() - t) * 1000)
    latencies.sort()
    return {
        "median_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
    }


def cli(name: str, path: Path, photo: Path, runs: int, env: dict[str, str]) -> dict[str, float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "landmarks", "predict", str(photo), *backend_args(name, path)],
            check=True,
            capture_output=True,
            cwd=REPO,
            env=env,
        )
        times.append(time.perf_counter() - t)
    return {"median_s": round(statistics.median(times), 2), "runs": runs}


def batch(predictor: Any, photos: list[Path]) -> tuple[dict[str, float], list[str]]:
    predictor.predict_many(photos[:16], k=1)  # warm-up
    t = time.perf_counter()
    answers = predictor.predict_many(photos, k=1, batch_size=16)
    elapsed = time.perf_counter() - t
    top = [a.best.folder if hasattr(a, "best") else "" for a in answers]
    right = sum(folder == photo.parent.name for folder, photo in zip(top, photos, strict=True))
    return {"photos_per_s": round(len(photos) / elapsed, 1), "top1": round(right / len(photos), 4)}, top


def network(predictor: Any, photos: list[Path], macs: float, peaks: dict[str, float]) -> dict[str, Any]:
    from landmarks.data.images import load_rgb

    backend = predictor.backend
    prepared = [backend.prepare(load_rgb(p, min_side=predictor.decode_min_side)) for p in photos[:16]]
    backend.run(prepared)  # warm-up
    runs, t = 0, time.perf_counter()
    while runs < 3 or time.perf_counter() - t < 5:
        backend.run(prepared)
        runs += 1
    rate = runs * len(prepared) / (time.perf_counter() - t)
    gmacs = rate * macs / 1e9
    return {
        "photos_per_s": round(rate, 1),
        "gmacs_per_s": round(gmacs, 1),
        "share_of_peak": {name: round(gmacs / peak, 4) for name, peak in peaks.items() if peak},
    }


def thread_split(path: Path, seconds: float = 6.0) -> dict[str, float]:
    """photos/s of the export for each (threads, batch, concurrent runs), on a random batch."""
    import threading

    from landmarks.runtime_onnx.model import OnnxModel

    cores = os.cpu_count() or 1
    out = {}
    for threads, size, runners in ((cores, 1, 1), (cores, 8, 1), (1, 1, cores), (1, 8, cores)):
        model = OnnxModel(path, threads=threads).load()
        side = model.metadata.preprocessing.image_size
        x = np.random.default_rng(0).normal(size=(size, 3, side, side)).astype(np.float32)
        model.run(x)
        done, stop = [0] * runners, time.perf_counter() + seconds

        def loop(i: int, model: Any = model, x: np.ndarray = x, stop: float = stop, done: list = done) -> None:
            while time.perf_counter() < stop:
                model.run(x)
                done[i] += len(x)

        started = time.perf_counter()
        workers = [threading.Thread(target=loop, args=(i,)) for i in range(runners)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        out[f"threads {threads} x batch {size} x {runners} side by side"] = round(
            sum(done) / (time.perf_counter() - started), 1
        )
    return out


def geotag_rate(predictor: Any, sources: list[Path], work: Path, n: int) -> dict[str, float]:
    from geotag_speed import timed_run

    return {"photos_per_s": round(timed_run("geotag", sources, work, n, predictor, batch_size=16), 1)}


def api(name: str, path: Path, clients: int, duration: float, env: dict[str, str]) -> dict[str, Any]:
    from load_test import DEFAULT_IMAGES, free_port, load_images, peak_rss_mb, run_load, summarise, wait_healthy

    url = f"http://127.0.0.1:{free_port()}"
    log = Path(env["TMPDIR"]) / f"serve-{name.replace(' ', '-')}.log"
    command = [sys.executable, "-c", "from landmarks.cli import main; main()", "serve", "--host", "127.0.0.1"]
    command += ["--port", url.rsplit(":", 1)[1], "--log-level", "warning", *backend_args(name, path)]
    with log.open("wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_healthy(url, server, log)
        latencies, failures, measured = asyncio.run(
            run_load(url, load_images(DEFAULT_IMAGES), clients, duration, 3.0, 3, 100_000)
        )
        peak = peak_rss_mb(server.pid)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
    cuts = summarise(latencies)
    return {
        "requests_per_s": round(len(latencies) / measured, 1) if measured > 0 else 0.0,
        "p50_ms": cuts.get("p50"),
        "p95_ms": cuts.get("p95"),
        "errors": sum(failures.values()),
        "peak_rss_mb": peak,
    }


# ------------------------------------------------------------------------------------------------ main
def run_checkpoint(checkpoint: Path, args: argparse.Namespace, work: Path, cpu: dict[str, Any]) -> dict[str, Any]:
    sections = set(args.only or SECTIONS)
    print(f"== {checkpoint}", flush=True)
    models = prepare_models(checkpoint, work / "models", args.int8_export)
    test_photos = sorted((PROXY44 / "test").rglob("*.jpg"))
    single_photos = test_photos[:: max(1, len(test_photos) // args.repeats)][: args.repeats]
    batch_photos = test_photos[:: max(1, len(test_photos) // args.batch_photos)][: args.batch_photos]
    macs = model_macs(models["torch"]) if "network" in sections else 0.0
    env = {**os.environ, "LANDMARKS_CACHE": str(work / "cache"), "TMPDIR": str(work)}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    sources: list[Path] = []
    if "geotag" in sections:
        from geotag_speed import make_sources

        sources = make_sources(work / "sources", min(args.geotag_unique, args.geotag_photos))
    result: dict[str, Any] = {"checkpoint": str(checkpoint), "gmacs_per_photo": round(macs / 1e9, 3), "backends": {}}
    tops: dict[str, list[str]] = {}
    for name, path in models.items():
        row: dict[str, Any] = {}
        t = time.perf_counter()
        predictor = load(name, path)
        row["load_s"] = round(time.perf_counter() - t, 2)
        row["model"] = predictor.checkpoint.model.backbone or predictor.checkpoint.model.arch
        if "single" in sections:
            row["single"] = single(predictor, single_photos)
        if "cli" in sections:
            row["cli"] = cli(name, path, single_photos[0], args.cli_runs, env)
        if "batch" in sections:
            row["batch"], tops[name] = batch(predictor, batch_photos)
            for other in ("torch", "onnx fp32"):
                if other != name and other in tops:
                    same = [a == b for a, b in zip(tops[name], tops[other], strict=True)]
                    row["batch"][f"top1_agreement_with_{other.replace(' ', '_')}"] = round(float(np.mean(same)), 4)
        if "network" in sections:
            row["network"] = network(predictor, batch_photos, macs, cpu["peak_gmacs"])
        if "geotag" in sections:
            row["geotag"] = geotag_rate(
                predictor, sources, work / f"geotag-{name.replace(' ', '-')}", args.geotag_photos
            )
        if "api" in sections:
            del predictor  # the server is its own process; this one should not hold a second model meanwhile
            row["api"] = api(name, path, args.clients, args.duration, env)
        result["backends"][name] = row
        print(f"  {name}: {json.dumps(row)}", flush=True)
    return result


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| model | backend | single ms (median / p95) | CLI s | batch photos/s (top-1, agree) | network photos/s "
        "(share of peak) | geotag photos/s | API req/s (p95 ms, errors) | serve peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        for name, row in result["backends"].items():

            def get(section: str, *keys: str, row: dict = row) -> str:
                value: Any = row.get(section)
                for key in keys:
                    value = value.get(key) if isinstance(value, dict) else None
                return "-" if value is None else str(value)

            share = row.get("network", {}).get("share_of_peak", {})
            share_text = ", ".join(f"{v:.1%} of {k}" for k, v in share.items() if k.startswith(name.split()[-1])) or "-"
            lines.append(
                f"| {row['model']} | {name} | {get('single', 'median_ms')} / {get('single', 'p95_ms')} "
                f"| {get('cli', 'median_s')} | {get('batch', 'photos_per_s')} ({get('batch', 'top1')}, "
                f"{get('batch', 'top1_agreement_with_torch')}) | {get('network', 'photos_per_s')} ({share_text}) "
                f"| {get('geotag', 'photos_per_s')} | {get('api', 'requests_per_s')} ({get('api', 'p95_ms')}, "
                f"{get('api', 'errors')}) | {get('api', 'peak_rss_mb')} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, action="append", required=True, help="repeat for several models")
    parser.add_argument("--int8-export", type=Path, help="an int8 export of the (single) checkpoint to reuse")
    parser.add_argument("--only", choices=SECTIONS, action="append", help="run only these sections")
    parser.add_argument("--repeats", type=int, default=100, help="photos for the single-photo latency")
    parser.add_argument("--cli-runs", type=int, default=3)
    parser.add_argument("--batch-photos", type=int, default=1100, help="proxy44 test photos for batch throughput")
    parser.add_argument("--geotag-photos", type=int, default=500)
    parser.add_argument("--geotag-unique", type=int, default=25)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    if args.int8_export is not None and len(args.checkpoint) != 1:
        parser.error("--int8-export goes with one --checkpoint")

    cpu = cpu_capability()
    print(f"CPU: {json.dumps(cpu)}", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="backend-speed-") as tmp:
        for i, checkpoint in enumerate(args.checkpoint):
            results.append(run_checkpoint(checkpoint, args, Path(tmp) / str(i), cpu))
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
