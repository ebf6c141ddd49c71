"""How does search hold up as a gallery grows? Query latency, memory and recall of exact vs FAISS search.

Synthetic embeddings shaped like backbone features: `--dim` wide (the default model's 2560), landmark
centres and photo-to-photo variation drawn with a power-law spectrum over a `--rank`-dimensional
subspace (CNN features have a fast-decaying spectrum) plus isotropic noise and a shared mean, scaled
so that two photos of one landmark have cosine about 0.7 and photos of different landmarks about 0.3.
`--photos` photos per landmark; queries are new photos of random landmarks. For each size, both exact
search and the FAISS backend (`retrieval/faiss_index.py`) answer the same queries one at a time; the
recall@1 of FAISS is the share of queries whose nearest row is exact search's. Memory is the process's
resident-set growth while the index is built (rows included). Latency is given as wall time and as
the process's CPU time per query (run with one thread, as below: on a shared CPU the CPU time is what
a query costs, the wall time what it took among the other work). The FAISS index is built once into a
temporary cache folder and then loaded from it, as a second process with the same gallery would.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/gallery_scale.py
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from landmarks.retrieval.faiss_index import FaissBackend
from landmarks.retrieval.index import EmbeddingIndex, normalise


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Synthetic:
    """Embeddings of `landmarks` x `photos` photos, made block by block (float16 out, bounded memory)."""

    def __init__(self, dim: int, rank: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.dim, self.rank = dim, rank
        self.basis = np.linalg.qr(rng.normal(size=(dim, rank)))[0].T.astype(np.float32)  # [rank, dim]
        self.spectrum = (1.0 / np.sqrt(np.arange(1, rank + 1))).astype(np.float32)
        self.spectrum /= np.linalg.norm(self.spectrum)
        self.mean = rng.normal(size=dim).astype(np.float32)
        self.mean /= np.linalg.norm(self.mean)
        # unit-norm parts: shared mean a, landmark b, photo variation c (in the subspace), isotropic noise e
        self.a, self.b, self.c, self.e = 0.55, 0.63, 0.42, 0.36

    def centres(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return (rng.normal(size=(n, self.rank)).astype(np.float32) * self.spectrum) @ self.basis

    def photos(self, centres: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = len(centres)
        variation = (rng.normal(size=(n, self.rank)).astype(np.float32) * self.spectrum) @ self.basis
        noise = rng.normal(size=(n, self.dim)).astype(np.float32) / np.sqrt(self.dim)
        x = self.a * self.mean + self.b * centres + self.c * variation + self.e * noise
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def prototype_search(index: EmbeddingIndex, size: int, queries: np.ndarray, k: int) -> dict[str, float]:
    """The other search of a gallery answer: whitened landmark prototypes, one per landmark (exact below
    `FAISS_MIN_ROWS` prototypes, FAISS above, as `Prototypes.nearest` chooses), computed once and then read
    back from a temporary cache folder. The whitening is learned from the first 3000 rows, standing in for
    a model's training photos."""
    from landmarks.retrieval.combined import PROTOTYPES_COMPARED, Prototypes
    from landmarks.retrieval.whitening import Whitening

    whitening = Whitening.fit(index.embeddings[:3000].astype(np.float32))
    cache = Path(tempfile.mkdtemp(prefix="gallery-scale-prototypes-"))
    started = time.process_time()
    Prototypes.cached(index, size, 0, whitening, cache)  # computed, and kept
    of_s = time.process_time() - started
    started = time.perf_counter()
    prototypes = Prototypes.cached(index, size, 0, whitening, cache)  # what the next process pays
    load_s = time.perf_counter() - started
    prototypes.index.cache_folder = cache
    started = time.process_time()
    prototypes.nearest(queries[:1])  # builds the FAISS index over the prototypes where there are enough
    build_s = time.process_time() - started
    truth = prototypes.index.exact_search(normalise(whitening(queries)), 1).index[:, 0]
    started = time.process_time()
    found = np.array([prototypes.nearest(q[None], PROTOTYPES_COMPARED)[1][0, 0] for q in queries])
    cpu_ms = (time.process_time() - started) / len(queries) * 1000
    for f in cache.iterdir():
        f.unlink()
    cache.rmdir()
    return {
        "prototypes_of_cpu_s": round(of_s, 1),
        "prototypes_load_from_cache_s": round(load_s, 2),
        "prototypes_approximate": bool(prototypes.index.approximate),
        "prototypes_build_cpu_s": round(build_s, 1),
        "prototypes_cpu_ms_per_query": round(cpu_ms, 3),
        "prototypes_recall_at_1_vs_exact": round(float((found == truth).mean()), 4),
    }


def main() -> None:

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000], help="gallery landmarks")
    p.add_argument("--photos", type=int, default=5)
    p.add_argument("--dim", type=int, default=2560)
    p.add_argument("--rank", type=int, default=512)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--latency-queries", type=int, default=30, help="exact search timed one query at a time")
    p.add_argument("--k", type=int, default=10, help="neighbours asked for (the decision rule's vote_k)")
    p.add_argument("--probe-share", type=float, nargs="+", default=[0.3, 0.4, 0.5], help="share of IVF cells scanned")
    p.add_argument("--cells-per-sqrt", type=float, default=None, help="IVF cells per sqrt(rows) (default: 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--no-prototypes",
        action="store_true",
        help="skip the second search a gallery answer makes: the nearest landmark prototypes (retrieval/combined.py)",
    )
    args = p.parse_args()

    gen = Synthetic(args.dim, args.rank, args.seed)
    for size in args.sizes:
        rng = np.random.default_rng(args.seed + size)
        centres_seed = rng.integers(1 << 31)
        gc.collect()
        before = rss_mb()
        rows = np.empty((size * args.photos, args.dim), dtype=np.float16)
        block = 8192
        for start in range(0, size, block):
            c = gen.centres(min(block, size - start), np.random.default_rng([centres_seed, start]))
            for j in range(args.photos):
                rows[start * args.photos + j : (start + len(c)) * args.photos : args.photos] = gen.photos(c, rng)
        index = EmbeddingIndex(rows, np.repeat(np.arange(size), args.photos), [""] * len(rows))
        index.backend = "exact"
        rows_mb = rss_mb() - before
        picks = rng.integers(0, size, args.queries)
        queries = np.concatenate(
            [
                gen.photos(gen.centres(min(block, size - s), np.random.default_rng([centres_seed, s])), rng)[
                    (picks[(picks >= s) & (picks < s + block)] - s)
                ]
                for s in range(0, size, block)
            ]
        )
        truth_labels = np.concatenate([picks[(picks >= s) & (picks < s + block)] for s in range(0, size, block)])
        same = float(np.mean([float(rows[i * args.photos].astype(np.float32) @ rows[i * args.photos + 1]) for i in
                              range(min(size, 200))]))  # fmt: skip
        other = float(np.mean(rows[: 200 * args.photos : args.photos].astype(np.float32) @ queries[:50].T))

        timed = queries[: args.latency_queries]
        index.exact_search(timed[:1], args.k)  # warm (the float32 copy of a small index is made once)
        started, cpu = time.perf_counter(), time.process_time()
        for q in timed:
            index.exact_search(q[None], args.k)
        exact_ms = (time.perf_counter() - started) / len(timed) * 1000
        exact_cpu_ms = (time.process_time() - cpu) / len(timed) * 1000
        exact = index.exact_search(queries, args.k)  # the ground truth, in one batch
        exact_top = exact.index[:, 0]
        exact_mem = rss_mb() - before - rows_mb

        gc.collect()
        mem0 = rss_mb()
        cache = Path(tempfile.mkdtemp(prefix="gallery-scale-"))
        started, cpu = time.perf_counter(), time.process_time()
        cells = None if args.cells_per_sqrt is None else round(args.cells_per_sqrt * len(rows) ** 0.5)
        backend = FaissBackend(rows, cells=cells, cache=cache)
        build_s, build_cpu_s = time.perf_counter() - started, time.process_time() - cpu
        faiss_mb = rss_mb() - mem0
        started = time.perf_counter()
        loaded = FaissBackend(rows, cells=cells, cache=cache)  # what the next process with this gallery pays
        load_s = time.perf_counter() - started
        assert loaded.from_cache
        cache_mb = sum(f.stat().st_size for f in cache.iterdir()) / 2**20
        for f in cache.iterdir():
            f.unlink()
        cache.rmdir()
        by_probe = {}
        for share in args.probe_share:
            backend.nprobe = math.ceil(share * backend.cells)
            backend.search(queries[:5], args.k)  # warm
            started, cpu = time.perf_counter(), time.process_time()
            approx = [backend.search(q[None], args.k) for q in queries]
            ms = (time.perf_counter() - started) / len(queries) * 1000
            cpu_ms = (time.process_time() - cpu) / len(queries) * 1000
            top = np.array([a[1][0, 0] for a in approx])
            by_probe[share] = {
                "nprobe": backend.nprobe,
                "ms_per_query": round(ms, 3),
                "cpu_ms_per_query": round(cpu_ms, 3),
                "recall_at_1_vs_exact": round(float((top == exact_top).mean()), 4),
                "top1_landmark_right": round(float((top // args.photos == truth_labels).mean()), 4),
            }
        prototype_figures = {} if args.no_prototypes else prototype_search(index, size, queries, args.k)
        figures = {
            "gallery_landmarks": size,
            "rows": len(rows),
            "dim": args.dim,
            "cos_same_landmark": round(same, 3),
            "cos_other_landmark": round(other, 3),
            "rows_mb": round(rows_mb, 1),
            "exact_ms_per_query": round(exact_ms, 3),
            "exact_cpu_ms_per_query": round(exact_cpu_ms, 3),
            "exact_extra_mb": round(exact_mem, 1),
            "exact_top1_landmark_right": round(float((exact_top // args.photos == truth_labels).mean()), 4),
            "faiss_cells": backend.cells,
            "faiss_build_s": round(build_s, 1),
            "faiss_build_cpu_s": round(build_cpu_s, 1),
            "faiss_extra_mb": round(faiss_mb, 1),
            "faiss_cache_mb": round(cache_mb, 1),
            "faiss_load_from_cache_s": round(load_s, 2),
            "faiss": by_probe,
            **prototype_figures,
        }
        print(json.dumps(figures), flush=True)
        del index, rows, backend, loaded, exact
        gc.collect()


if __name__ == "__main__":
    main()
