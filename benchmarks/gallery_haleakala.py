"""The real target data: add Haleakala (udacity_sample class 00) to the proxy44 model from 5 photos.

proxy44 has no Haleakala; `../shared/data/udacity_sample` has 100 train / 25 test photos of it. Five
train photos (seed 0) are added to a gallery of the proxy44 default model (`library_mix.py --out
runs/library-mix`), through `Predictor.add_landmark`, as `landmarks gallery add` does; then the 25 test
photos are answered. Prints how many it names (top-1), how many of those pass the stored threshold
(would be geotagged), and what the model said without the gallery. A gallery must not turn everyday
photos into landmarks either: the held-out half of `everyday` and `not_landmarks` are answered with
and without it (how many pass the threshold, how many of those as the added landmark).

    .venv/bin/python benchmarks/gallery_haleakala.py --checkpoint runs/library-mix/best.pt
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
from collections import Counter
from pathlib import Path

from _common import EVERYDAY, NOT_LANDMARKS, REPO, negative_halves

UDACITY = REPO.parent / "shared" / "data" / "udacity_sample" / "landmark_images"
CLASS = "00.Haleakala_National_Park"


def main() -> None:
    from landmarks.catalog import builtin_catalog
    from landmarks.inference.predictor import Predictor
    from landmarks.retrieval.gallery import make_landmark

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=REPO / "runs" / "library-mix" / "best.pt")
    p.add_argument("--shots", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    train = sorted((UDACITY / "train" / CLASS).glob("*.jpg"))
    test = sorted((UDACITY / "test" / CLASS).glob("*.jpg"))
    shots = random.Random(args.seed).sample(train, args.shots)
    ref = builtin_catalog()[CLASS]
    with tempfile.TemporaryDirectory(prefix="landmarks-haleakala-") as tmp:
        os.environ["LANDMARKS_CACHE"] = str(Path(tmp) / "cache")  # the whitening cache: not the user's
        _, held_out = negative_halves(EVERYDAY, Path(tmp) / "fit", seed=0)
        negatives = held_out + sorted(NOT_LANDMARKS.glob("*.jpg"))
        predictor = Predictor.load(args.checkpoint, gallery=Path(tmp) / "g.gallery.npz")
        before = predictor.predict_many(test, k=1)
        neg_before = predictor.predict_many(negatives, k=1)
        landmark = make_landmark(ref.name, ref.latitude, ref.longitude, ref.radius_km, ref.city, ref.country)
        predictor.add_landmark(landmark, [(str(f), f.read_bytes()) for f in shots])
        after = predictor.predict_many(test, k=3)
        neg_after = predictor.predict_many(negatives, k=1)
    named = [a for a in after if a.best.name == ref.name]
    print(
        json.dumps(
            {
                "benchmark": "gallery_haleakala",
                "shots": [f.name for f in shots],
                "test_photos": len(test),
                "named_top1": len(named),
                "named_and_above_threshold": sum(not a.unknown for a in named),
                "in_top3": sum(any(g.name == ref.name for g in a.top) for a in after),
                "other_answers_above_threshold": sum(not a.unknown and a.best.name != ref.name for a in after),
                "without_gallery_above_threshold": sum(not b.unknown for b in before),
                "without_gallery_top1": Counter(b.best.name for b in before).most_common(3),
                "negatives": len(negatives),
                "negatives_above_threshold_without_gallery": sum(not n.unknown for n in neg_before),
                "negatives_above_threshold_with_gallery": sum(not n.unknown for n in neg_after),
                "negatives_above_threshold_as_the_added": sum(
                    not n.unknown and n.best.name == ref.name for n in neg_after
                ),
                "negatives_named_the_added_top1": sum(n.best.name == ref.name for n in neg_after),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
