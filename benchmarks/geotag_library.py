"""Geotag a library end to end through its index: first run, rerun of the unchanged library, rerun with new photos.

The library is `library_scan.build_library`'s: copies of `--templates` proxy44 test photos with varied
EXIF (cameras, time zones, one in three with GPS), each copy its own content. Each run is what
`landmarks geotag DIR` does: recover + scan + predict what the index lacks + propose + accept + apply
(EXIF GPS written atomically, journaled in the index and a CSV report), timed as a whole and by step.

Predictors:
  --checkpoint CKPT  the real model (loaded once, its load timed apart; a rerun that needs no
                     prediction never loads it in the CLI either)
  --stand-in         answers each photo with its template's true landmark at once (no model): the
                     index, exiftool and disk costs alone, at sizes the real model is too slow for here

Run:  PYTHONPATH=src:benchmarks .venv/bin/python benchmarks/geotag_library.py --photos 2000 \
          --checkpoint runs/library-mix/best.pt
      PYTHONPATH=src:benchmarks .venv/bin/python benchmarks/geotag_library.py --photos 10000 --stand-in
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import PROXY44
from landmarks.errors import LandmarksError
from landmarks.geotag.apply import apply_proposals
from landmarks.geotag.metadata import WriteMode
from landmarks.geotag.plan import PlanOptions, plan_library
from landmarks.inference.types import Guess, Prediction
from landmarks.library.db import open_library
from landmarks.library.records import proposals, set_proposal_status
from library_scan import build_library


class StandIn:
    """Answers with the true landmark of the template each copy was made from, confidently."""

    threshold = 0.5

    def __init__(self, templates: int) -> None:
        from landmarks.catalog import catalog_for

        sources = sorted((PROXY44 / "test").rglob("*.jpg"), key=lambda p: p.stat().st_size)[:templates]
        classes = sorted({p.parent.name for p in sources})
        by_folder = {lm.folder: lm for lm in catalog_for(classes, PROXY44)}
        self._landmarks = [by_folder[p.parent.name] for p in sources]

    def predict_many(
        self, images: Sequence[Path], k: int = 3, batch_size: int = 16
    ) -> list[Prediction | LandmarksError]:
        out: list[Prediction | LandmarksError] = []
        for image in images:
            landmark = self._landmarks[int(Path(image).stem.split("_")[1]) % len(self._landmarks)]
            guess = Guess.of(landmark, rank=1, class_index=0, probability=0.97)
            out.append(Prediction(source=str(image), top=[guess], unknown=False, score=0.97, threshold=0.5))
        return out


def one_run(root: Path, db_path: Path, predictor: Any, model_id: str, report: Path, write: WriteMode) -> dict[str, Any]:
    """One `geotag DIR` run; seconds by step and what it did."""
    t0 = time.perf_counter()
    with open_library(root, db_path) as db:
        plan = plan_library(db, predictor, model_id=model_id, options=PlanOptions(batch_size=32))
        t_plan = time.perf_counter()
        opened = [p.id for p in proposals(db, status="proposed", kind="landmark")]
        if opened:
            set_proposal_status(db, opened, "accepted")
        result = apply_proposals(db, write=write, report=report)
    t1 = time.perf_counter()
    return {
        "seconds": round(t1 - t0, 2), "plan_s": round(t_plan - t0, 2), "apply_s": round(t1 - t_plan, 2),
        "scan_s": plan.scan.timings.get("total"), "predicted": plan.predicted, "proposed": len(plan.proposed),
        "written": result.written, "counts": dict(result.counts),
    }  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", type=int, default=2000)
    p.add_argument("--templates", type=int, default=40)
    p.add_argument("--new", type=int, default=100, help="photos added before the third run")
    p.add_argument("--checkpoint", type=Path, default=None)
    p.add_argument("--stand-in", action="store_true", help="no model: the true landmark of each template")
    p.add_argument("--write", choices=[m.value for m in WriteMode], default="exif")
    p.add_argument("--tmp", type=Path, default=None)
    args = p.parse_args()
    if (args.checkpoint is None) == (not args.stand_in):
        raise SystemExit("give --checkpoint CKPT or --stand-in")
    with tempfile.TemporaryDirectory(prefix="landmarks-geotag-library-bench-", dir=args.tmp) as tmp:
        root, db_path = Path(tmp) / "library", Path(tmp) / "index.sqlite"
        root.mkdir()
        build_library(root, args.photos + args.new, args.templates)
        extra = sorted(root.rglob("*.jpg"))[-args.new :] if args.new else []
        hidden = [path.rename(path.with_name("." + path.name)) for path in extra]  # the scan skips hidden files
        load_s = 0.0
        if args.stand_in:
            predictor: Any = StandIn(args.templates)
            model_id = "stand-in"
        else:
            from landmarks.geotag.plan import model_id_of
            from landmarks.inference.predictor import Predictor

            t = time.perf_counter()
            predictor, model_id = Predictor.load(args.checkpoint), model_id_of(args.checkpoint)
            load_s = time.perf_counter() - t
        write = WriteMode(args.write)
        first = one_run(root, db_path, predictor, model_id, Path(tmp) / "r1.csv", write)
        rerun = one_run(root, db_path, predictor, model_id, Path(tmp) / "r2.csv", write)
        for path, original in zip(hidden, extra, strict=True):
            path.rename(original)
        added = one_run(root, db_path, predictor, model_id, Path(tmp) / "r3.csv", write)
    figures = {
        "benchmark": "geotag_library", "photos": args.photos, "new": args.new, "templates": args.templates,
        "predictor": "stand-in" if args.stand_in else str(args.checkpoint), "write": args.write,
        "model_load_s": round(load_s, 2), "first": first, "rerun": rerun, "with_new": added,
        "first_photos_per_s": round(args.photos / first["seconds"], 1), "cpus": os.cpu_count(),
        "loadavg": os.getloadavg()[0], "python": platform.python_version(),
    }  # fmt: skip
    print(
        f"{args.photos} photos: first run {first['seconds']:.1f} s ({figures['first_photos_per_s']} photos/s, "
        f"{first['written']} written), rerun unchanged {rerun['seconds']:.2f} s, rerun with {args.new} new "
        f"{added['seconds']:.2f} s"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
