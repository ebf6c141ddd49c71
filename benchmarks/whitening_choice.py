"""How the gallery's whitened space was chosen: prototypes of new landmarks from a few photos, on train/ only.

The unknown-landmark protocol's split of proxy44 (`ood_proxy44.py`: 30 classes known, 14 held out), on
the eval-view backbone features that `library_mix.py` cached (`runs/bench-cache`, no model is run).
Every train/ photo goes, by a seeded coin, to the "bank" (80 %, as a model's train split) or to the
queries. The whitening is fitted on the known classes' bank photos (as a model's training photos);
each held-out class gets a prototype
from N of its bank photos, each known class one from all of its bank photos; the query photos are then
classified by their nearest prototype. Printed per space: top-1 on the held-out classes' queries among
their own prototypes only ("only") and among all 44 ("added"), the known classes' queries among all 44
("trained"); and the AUROC of the nearest bank photo's similarity, known vs held-out queries and
known queries vs everyday photos (the "none of ours" side, why the decision keeps the raw space).
Test photos are never read.

    PYTHONPATH=src .venv/bin/python benchmarks/whitening_choice.py
"""

from __future__ import annotations

import argparse
import itertools
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torchmetrics.functional.classification import binary_auroc

from _common import EVERYDAY, PROXY44, REPO
from ood_proxy44 import pick_unknown

Space = Callable[[np.ndarray], np.ndarray]


def features(cache: Path) -> dict[str, np.ndarray]:
    """digest -> eval-view feature of every photo the cache holds (one backbone's folder)."""
    folders = sorted((cache / "features").glob("*/eval.pt"))
    if not folders:
        raise SystemExit(f"no cached features under {cache}: run benchmarks/library_mix.py first")
    payload = torch.load(folders[0], weights_only=True)
    return dict(zip(payload["digests"], payload["features"].float().numpy(), strict=True))


def spaces(bank: np.ndarray) -> dict[str, Space]:
    from landmarks.retrieval.index import normalise
    from landmarks.retrieval.whitening import Whitening

    mean = normalise(bank).mean(axis=0)
    out: dict[str, Space] = {
        "raw": normalise,
        "centred": lambda x: normalise(normalise(x) - mean),
    }
    for dim, shrink in itertools.product((256, 512, 768), (0.0, 0.1, 0.3, 1.0)):
        out[f"whitened d={dim} shrink={shrink}"] = Whitening.fit(bank, dim=dim, shrink=shrink)
    return out


def nearest(space: Space, bank: np.ndarray, photos: np.ndarray) -> np.ndarray:
    """Each photo's similarity to its nearest bank photo, in `space`."""
    return (space(photos) @ bank.T).max(axis=1)


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    scores = torch.from_numpy(np.concatenate([positive, negative]))
    labels = torch.cat([torch.ones(len(positive)), torch.zeros(len(negative))]).long()
    return round(float(binary_auroc(scores, labels)), 4)


def main() -> None:
    from landmarks.data.decode import file_digest
    from landmarks.retrieval.index import normalise

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", type=Path, default=REPO / "runs" / "bench-cache")
    p.add_argument("--shots", type=int, nargs="+", default=[1, 5, 10])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bank", type=float, default=0.8, help="share of train/ photos in the bank")
    args = p.parse_args()

    cached = features(args.cache)
    classes = sorted(d.name for d in (PROXY44 / "train").iterdir() if d.is_dir())
    held = {classes.index(c) for c in pick_unknown(classes)}
    rows, labels = [], []
    for i, name in enumerate(classes):
        for photo in sorted((PROXY44 / "train" / name).iterdir()):
            digest = file_digest(photo)
            if digest in cached:
                rows.append(cached[digest])
                labels.append(i)
    x, y = np.stack(rows), np.array(labels)
    everyday = np.stack([cached[d] for d in map(file_digest, sorted(EVERYDAY.glob("*.jpg"))) if d in cached])
    in_bank = np.random.default_rng(args.seed).random(len(y)) < args.bank
    known_bank = in_bank & ~np.isin(y, list(held))
    query = ~in_bank
    held_query = query & np.isin(y, list(held))
    print(f"{len(y)} cached train/ photos ({int(in_bank.sum())} bank), {len(everyday)} everyday photos")

    for name, space in spaces(x[known_bank]).items():
        q = space(x[query])
        line = [name]
        for n in args.shots:
            rng = random.Random(args.seed)
            protos, ids = [], []
            for c in range(len(classes)):
                mine = list(np.flatnonzero(in_bank & (y == c)))
                pick = rng.sample(mine, min(n, len(mine))) if c in held else mine
                protos.append(normalise(space(x[pick]).mean(axis=0, keepdims=True))[0])
                ids.append(c)
            protos_a, ids_a = np.stack(protos), np.array(ids)
            sims = q @ protos_a.T
            pred = ids_a[sims.argmax(axis=1)]
            is_held = np.isin(ids_a, list(held))
            only = ids_a[is_held][(sims[:, is_held]).argmax(axis=1)]
            truth, held_rows = y[query], np.isin(y[query], list(held))
            line.append(
                f"{n}-shot only {np.mean(only[held_rows] == truth[held_rows]):.3f} "
                f"added {np.mean(pred[held_rows] == truth[held_rows]):.3f} "
                f"trained {np.mean(pred[~held_rows] == truth[~held_rows]):.3f}"
            )
        bank = space(x[known_bank])
        known_q = nearest(space, bank, x[query & ~np.isin(y, list(held))])
        line.append(f"kNN AUROC known vs held-out {auroc(known_q, nearest(space, bank, x[held_query]))}")
        line.append(f"known vs everyday {auroc(known_q, nearest(space, bank, everyday))}")
        print(" | ".join(line), flush=True)


if __name__ == "__main__":
    main()
