"""Does local-feature geometric verification of the kNN candidates pay, for buildings and for nature?

No training: frozen ImageNet EfficientNet-Lite0 embeddings (eval crop, L2-normalised pooled features)
of the proxy44 train split are the index; proxy44 val photos are the landmark queries, everyday +
not_landmarks the negatives. Each query's 5 nearest training photos (cosine) get their RANSAC inlier
counts from `GeometricVerifier` (SIFT and ORB, homography and fundamental matrix). Prints, per group of
classes (building-like / natural or landscape-dominated, by the kNN top-1 class): the max-inlier
distribution of right and wrong val answers and of negatives; AUROC right-val vs negatives of the
cosine, of the inliers and of a fusion cosine + a*log1p(inliers) with `a` chosen on a seeded half of
the queries and reported on the other half; val top-1 before/after re-ranking by inliers; ms per
query for 5 candidates (reference features cached / uncached). Saves `inliers.png` and
`figures.json` in --out.

    PYTHONPATH=src .venv/bin/python benchmarks/geometric_verification.py --out /tmp/gv --cache /tmp/gv/cache

Needs the `verify` extra. `--cache` keeps the prepared split and the embeddings for a re-run;
`--verify-every N` verifies every Nth query only, for a quicker run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torchmetrics.functional.classification import binary_auroc, binary_roc

from _common import PROXY44, REPO
from landmarks.data.images import is_image_file, load_rgb
from landmarks.data.prepare import prepare_dataset
from landmarks.data.transforms import EvalPreset
from landmarks.inference.verify import GeometricVerifier
from landmarks.models.backbones import build_backbone

SHARED = REPO.parent / "shared" / "data"
NEGATIVE_DIRS = (SHARED / "everyday", SHARED / "not_landmarks")
K = 5
CONFIGS = (("sift", "homography"), ("sift", "fundamental"), ("orb", "homography"), ("orb", "fundamental"))
DEFAULT = ("sift", "homography")

# By hand from catalog.csv. proxy44 has one purely natural landmark (angel_falls); the others here are
# scenes whose photos are mostly terrain or sky around a low or spread-out structure.
NATURAL = {
    "angel_falls": "waterfall",
    "machu_picchu": "ruins on a mountain ridge, mostly landscape",
    "great_wall_of_china": "wall along mountain ridges, mostly landscape",
    "stonehenge": "megaliths in open grassland",
}
BUILDING_LIKE = frozenset(
    {
        "ajanta_caves",
        "alai_darwaza",
        "alai_minar",
        "alhambra",
        "angkor_wat",
        "basilica_of_bom_jesus",
        "burj_khalifa",
        "candi_borobudur",
        "charar_e_sharif",
        "charminar",
        "chichen_itza",
        "christ_the_redeemer",
        "cologne_cathedral",
        "colosseum",
        "dome_of_the_rock",
        "eiffel_tower",
        "ellora_caves",
        "forbidden_city",
        "gateway_of_india",
        "gedung_sate",
        "golden_temple",
        "hagia_sophia",
        "hawa_mahal",
        "humayun_s_tomb",
        "india_gate",
        "iron_pillar",
        "jamali_kamali_tomb",
        "mysore_palace",
        "patung_gwk",
        "petra",
        "pyramids_of_giza",
        "qutub_minar",
        "statue_of_liberty",
        "sun_temple_konark",
        "suro_boyo",
        "taj_mahal",
        "tanjavur_temple",
        "tugu_jogja",
        "tugu_monas",
        "victoria_memorial",
    }
)
"""Buildings, monuments, statues and rock-cut facades."""
GROUPS = ("building", "natural")


def group_of(name: str) -> str:
    if name in NATURAL:
        return "natural"
    if name in BUILDING_LIKE:
        return "building"
    raise KeyError(f"class {name!r} is in neither NATURAL nor BUILDING_LIKE: classify it by hand")


@torch.no_grad()
def embed(paths: Sequence[Path], batch: int = 32) -> torch.Tensor:
    backbone, spec = build_backbone("efficientnet_lite0")
    backbone.eval()
    transform = EvalPreset(spec.input_size, spec.mean, spec.std, crop_pct=spec.crop_pct)
    out = []
    for i in range(0, len(paths), batch):
        x = torch.stack([transform(load_rgb(p)) for p in paths[i : i + batch]])
        out.append(torch.nn.functional.normalize(backbone(x), dim=1))
    return torch.cat(out)


def embeddings(path: Path, train: list[Path], queries: list[Path]) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and query embeddings, reused from `path` when it holds the same photo lists."""
    key = [str(p) for p in train], [str(p) for p in queries]
    if path.is_file():
        saved = torch.load(path, weights_only=True)
        if (saved["train"], saved["queries"]) == key:
            return saved["index"], saved["q_emb"]
    index, q_emb = embed(train), embed(queries)
    torch.save({"train": key[0], "queries": key[1], "index": index, "q_emb": q_emb}, path)
    return index, q_emb


def auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    scores = torch.tensor(np.concatenate([pos, neg]), dtype=torch.float64)
    target = torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))]).long()
    return float(binary_auroc(scores, target))


def tpr_at_fpr(pos: np.ndarray, neg: np.ndarray, fpr: float = 0.01) -> float:
    """Share of right answers kept at the threshold that lets at most `fpr` of the negatives through."""
    scores = torch.tensor(np.concatenate([pos, neg]), dtype=torch.float64)
    target = torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))]).long()
    f, t, _ = binary_roc(scores, target)
    return float(t[f <= fpr].max())


def quartiles(x: np.ndarray) -> str:
    if len(x) == 0:
        return "-"
    q = np.percentile(x, [10, 50, 90]).round().astype(int)
    return f"n={len(x):4d}  p10/med/p90 {q[0]:3d}/{q[1]:3d}/{q[2]:3d}  >=15: {np.mean(x >= 15):5.1%}"


def choose_fusion_weight(cos: np.ndarray, inl: np.ndarray, is_pos: np.ndarray) -> float:
    grid = [0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0]
    return max(grid, key=lambda a: auroc((cos + a * np.log1p(inl))[is_pos], (cos + a * np.log1p(inl))[~is_pos]))


def timing(queries: Sequence[Path], candidates: list[list[Path]], detector: str) -> dict[str, float]:
    """Median ms per query photo for `verify` on its 5 candidates, references uncached and cached."""
    verifier = GeometricVerifier(detector=detector)  # type: ignore[arg-type]
    cold, warm = [], []
    for q, cands in zip(queries, candidates, strict=True):
        image = load_rgb(q)
        pairs = [(0, p) for p in cands]
        verifier.clear_cache()
        t0 = time.perf_counter()
        verifier.verify(image, pairs)
        t1 = time.perf_counter()
        verifier.verify(image, pairs)
        t2 = time.perf_counter()
        cold.append((t1 - t0) * 1000)
        warm.append((t2 - t1) * 1000)
    return {"uncached_ms": round(statistics.median(cold), 1), "cached_ms": round(statistics.median(warm), 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=PROXY44)
    p.add_argument("--out", type=Path, default=None, help="where inliers.png and figures.json go (default: temp)")
    p.add_argument("--cache", type=Path, default=None, help="prepared split + embeddings (default: a temp folder)")
    p.add_argument("--limit", type=int, default=0, help="smoke test: only this many train and query photos")
    p.add_argument("--timing-queries", type=int, default=60)
    p.add_argument("--verify-every", type=int, default=1, help="verify every Nth query only (CPU budget)")
    p.add_argument(
        "--configs", default=",".join("+".join(c) for c in CONFIGS), help="detector+geometry, comma-separated"
    )
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)  # a shared 2-core machine: intra-op threads only spin-wait for each other
    out = args.out or Path(tempfile.mkdtemp(prefix="landmarks-gv-"))
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    cache = args.cache or Path(tempfile.mkdtemp(prefix="landmarks-gv-cache-"))
    prepared = prepare_dataset(args.data, cache=cache, progress=False, plots=False)
    classes = prepared.classes
    for c in classes:
        group_of(c)
    train_paths = [s.path for s in prepared.train]
    train_labels = np.array([s.label for s in prepared.train])
    val_paths = [s.path for s in prepared.val]
    val_labels = np.array([s.label for s in prepared.val])
    neg_paths = sorted(f for d in NEGATIVE_DIRS for f in d.iterdir() if is_image_file(f))
    if args.limit:
        train_paths, train_labels = (
            train_paths[:: len(train_paths) // args.limit],
            train_labels[:: len(train_paths) // args.limit],
        )
        val_paths, val_labels = val_paths[:: len(val_paths) // args.limit], val_labels[:: len(val_paths) // args.limit]
        neg_paths = neg_paths[:: len(neg_paths) // args.limit]
    queries = val_paths + neg_paths
    is_val = np.array([True] * len(val_paths) + [False] * len(neg_paths))
    print(f"train {len(train_paths)}  val {len(val_paths)}  negatives {len(neg_paths)}", flush=True)

    t0 = time.perf_counter()
    index, q_emb = embeddings(cache / "gv-embeddings.pt", train_paths, queries)
    embed_s = time.perf_counter() - t0
    labels = np.concatenate([val_labels, np.full(len(neg_paths), -1)])
    if args.verify_every > 1:  # every Nth query (val and negatives alike), to bound the CPU time
        q_emb, labels, is_val = q_emb[:: args.verify_every], labels[:: args.verify_every], is_val[:: args.verify_every]
        queries = queries[:: args.verify_every]
    sims, nn_idx = (q_emb @ index.T).topk(K, dim=1)
    sims, nn_idx = sims.numpy(), nn_idx.numpy()
    nn_labels = train_labels[nn_idx]
    print(f"embeddings: {len(train_paths)} train + {len(queries)} query photos, {embed_s:.0f} s", flush=True)

    # Inlier counts for every (query, candidate) pair and configuration; features found once per photo
    # and detector (kept in a dict here: every reference is needed again, an LRU would only add cost).
    configs = [tuple(c.split("+")) for c in args.configs.split(",")]
    if DEFAULT not in configs or any(c not in CONFIGS for c in configs):
        raise SystemExit(f"--configs: choose among {['+'.join(c) for c in CONFIGS]}, including {'+'.join(DEFAULT)}")
    refs_needed = sorted(set(nn_idx.ravel().tolist()))
    inliers: dict[tuple[str, str], np.ndarray] = {}
    t0 = time.perf_counter()
    for detector in dict.fromkeys(d for d, _ in configs):
        verifiers = {
            g: GeometricVerifier(detector=detector, geometry=g, cache_size=0) for d, g in configs if d == detector
        }
        base = next(iter(verifiers.values()))
        ref_feats = {i: base.reference_features(train_paths[i]) for i in refs_needed}
        for g in verifiers:
            inliers[(detector, g)] = np.zeros(nn_idx.shape, dtype=int)
        for qi, q in enumerate(queries):
            qf = base.features(load_rgb(q))
            for j, ri in enumerate(nn_idx[qi]):
                for g, v in verifiers.items():
                    inliers[(detector, g)][qi, j] = v.count_inliers(qf, ref_feats[ri])
        print(
            f"{detector}: {len(refs_needed)} references, {len(queries)} queries, {time.perf_counter() - t0:.0f} s",
            flush=True,
        )

    np.savez(out / "knn_inliers.npz", sims=sims, nn_idx=nn_idx, **{"+".join(k): v for k, v in inliers.items()})
    top1 = nn_labels[:, 0]
    groups = np.array([group_of(classes[c]) for c in top1])
    correct = is_val & (top1 == labels)
    wrong = is_val & ~correct
    neg = ~is_val
    cos = sims[:, 0]
    half = np.random.default_rng(args.seed).permutation(len(queries)) < len(queries) // 2  # fit half
    figures: dict = {"train": len(train_paths), "val": int(is_val.sum()), "negatives": int((~is_val).sum())}

    print("\n== max inliers over the 5 candidates (SIFT + homography), by the kNN top-1 class's group ==")
    for grp in GROUPS:
        m = groups == grp
        mx = inliers[DEFAULT].max(1)
        for name, sel in (("val right", correct), ("val wrong", wrong), ("negatives", neg)):
            print(f"{grp:9s} {name:10s} {quartiles(mx[m & sel])}")

    print("\n== AUROC right-val vs negatives (eval half) / right-val kept at 1 % negatives answered ==")
    print(f"{'config':22s} {'group':9s} {'cosine':>15s} {'max inliers':>15s} {'fusion':>15s}  a")
    auc_rows = []
    for cfg in configs:
        mx = inliers[cfg].max(1).astype(float)
        fit = half & (correct | neg)
        a = choose_fusion_weight(cos[fit], mx[fit], correct[fit])
        fused = cos + a * np.log1p(mx)
        for grp in ("all", *GROUPS):
            m = ~half & (correct | neg) & ((groups == grp) if grp != "all" else True)
            row = {"config": "+".join(cfg), "group": grp, "a": a}
            cells = []
            for label, s in (("cosine", cos), ("inliers", mx), ("fusion", fused)):
                pos_s, neg_s = s[m & correct], s[m & neg]
                row[f"auroc_{label}"] = round(auroc(pos_s, neg_s), 4)
                row[f"tpr1_{label}"] = round(tpr_at_fpr(pos_s, neg_s), 4)
                cells.append(f"{row[f'auroc_{label}']:.3f}/{row[f'tpr1_{label}']:.3f}")
            row["n_pos"], row["n_neg"] = int((m & correct).sum()), int((m & neg).sum())
            auc_rows.append(row)
            print(
                f"{'+'.join(cfg):22s} {grp:9s} {cells[0]:>15s} {cells[1]:>15s} {cells[2]:>15s}  {a}"
                f"  (n={row['n_pos']}+{row['n_neg']})"
            )
    figures["auroc"] = auc_rows

    print(
        "\n== val top-1: kNN vs re-ranked by inliers (class of the candidate with most inliers, "
        "only where it has >= t inliers) =="
    )
    val_true = labels[is_val]
    val_groups = np.array([group_of(classes[c]) for c in val_true])
    rerank_rows = []
    for cfg in configs:
        inl = inliers[cfg][is_val]
        best = nn_labels[is_val][np.arange(len(val_true)), inl.argmax(1)]  # argmax: first (nearest) on ties
        for t in (0, 10, 20):
            new = np.where(inl.max(1) >= max(t, 1), best, top1[is_val])
            row = {"config": "+".join(cfg), "min_inliers": t}
            for grp in ("all", *GROUPS):
                m = (val_groups == grp) if grp != "all" else np.ones(len(val_true), bool)
                row[f"{grp}_knn"] = round(float((top1[is_val][m] == val_true[m]).mean()), 4)
                row[f"{grp}_rerank"] = round(float((new[m] == val_true[m]).mean()), 4)
            rerank_rows.append(row)
            print(
                f"{'+'.join(cfg):22s} t={t:2d}  "
                + "  ".join(f"{grp}: {row[f'{grp}_knn']:.3f} -> {row[f'{grp}_rerank']:.3f}" for grp in ("all", *GROUPS))
            )
    figures["rerank"] = rerank_rows

    print("\n== ms per query photo, verify() of its 5 candidates (median; 2-core CPU shared with other work) ==")
    cands = [[train_paths[i] for i in row] for row in nn_idx]
    figures["timing"] = {}
    for detector in ("sift", "orb"):
        pick = np.linspace(0, len(queries) - 1, min(args.timing_queries, len(queries))).astype(int)
        figures["timing"][detector] = timing([queries[i] for i in pick], [cands[i] for i in pick], detector)
        print(f"{detector}: {figures['timing'][detector]}")
    figures["wall_s"] = round(time.perf_counter() - started)
    figures["embed_s"] = round(embed_s)

    plot(inliers[DEFAULT].max(1), groups, correct, wrong, neg, out / "inliers.png")
    (out / "figures.json").write_text(json.dumps(figures, indent=1))
    print(f"\nwall {figures['wall_s']} s; wrote {out / 'inliers.png'} and {out / 'figures.json'}")


def plot(
    mx: np.ndarray, groups: np.ndarray, correct: np.ndarray, wrong: np.ndarray, neg: np.ndarray, path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=False)
    bins = np.arange(0, np.log1p(max(mx.max(), 1)) + 0.25, 0.25)
    for ax, grp in zip(axes, GROUPS, strict=True):
        m = groups == grp
        for name, sel, colour in (
            ("val right", correct, "tab:green"),
            ("val wrong", wrong, "tab:orange"),
            ("negatives", neg, "tab:red"),
        ):
            x = np.log1p(mx[m & sel])
            if len(x):
                ax.hist(x, bins=bins, alpha=0.5, density=True, color=colour, label=f"{name} (n={len(x)})")
        ticks = [0, 4, 10, 20, 50, 100, 200]
        ax.set_xticks(np.log1p(ticks), [str(t) for t in ticks])
        ax.set_title(f"{grp} (kNN top-1 class)")
        ax.set_xlabel("max RANSAC inliers over the 5 nearest training photos (SIFT + homography)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
