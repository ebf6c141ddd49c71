"""How the unknown decision was chosen: cross-validation on val and the fitting negatives only, never test.

A trained model's calibration photos (its held-out half of val) and the fitting half of
../shared/data/everyday (the negatives it was trained with) are split into 5 folds; each variant of the
decision is fitted on four (probe, gate, fused weights, exactly as `landmarks train` fits them) and
scores the fifth. Pooled over the folds: right-vs-negative AUROC, the share of landmark photos answered
right at precision 0.99 and at <= 1 % of negatives answered. Variants: which top probability the fused
score reads (`answer` after the kNN vote, or the `classifier`'s own), with no landmark probe, the probe as
a third input of the fused model, or the probe as a gate (the default), and the probe's L2.

    PYTHONPATH=src:benchmarks .venv/bin/python benchmarks/decision_choice.py --checkpoint runs/library-mix/best.pt
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from _common import EVERYDAY, PROXY44, negative_halves, outputs

FOLDS = 5


def figures(score: np.ndarray, right: np.ndarray, negative: np.ndarray) -> dict[str, float]:
    from landmarks.engine.open_set import auroc

    known = ~negative
    at_1pct = at_p99 = 0.0
    for t in np.unique(score):
        answered = score >= t
        kept = float((answered & right)[known].mean())
        if answered[negative].mean() <= 0.01:
            at_1pct = max(at_1pct, kept)
        if (answered & right).sum() >= 0.99 * answered.sum():
            at_p99 = max(at_p99, kept)
    return {
        "auroc_right_vs_negative": round(auroc(score[right], score[negative]), 4),
        "right_at_precision_0.99": round(at_p99, 4),
        "right_at_1pct_negatives": round(at_1pct, 4),
    }


def main() -> None:
    from landmarks.engine.landmark_probe import fit_gate, fit_probe, out_of_fold_logits
    from landmarks.engine.logistic import fit_logistic
    from landmarks.inference.predictor import Predictor
    from landmarks.retrieval.decision import DecisionRule, decide, decision_features, probe_logit

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, required=True, help="a model trained with the fitting half")
    p.add_argument("--data", type=Path, default=PROXY44)
    p.add_argument("--l2", type=float, nargs="+", default=[1e-2, 1e-3, 3e-4, 1e-4])
    args = p.parse_args()

    predictor = Predictor.load(args.checkpoint)
    index, classes = predictor.known.index, predictor.classes
    cal = [args.data / r for r in predictor.checkpoint.calibration.details["calibration_photos"]]
    truth = np.array([classes.index(path.parent.name) for path in cal])
    with tempfile.TemporaryDirectory() as tmp:
        fit_dir, _ = negative_halves(EVERYDAY, Path(tmp) / "fit", 0)
        negatives = sorted(path.resolve() for path in fit_dir.iterdir())
    (cal_p, cal_e), (neg_p, neg_e) = outputs(predictor, cal), outputs(predictor, negatives)
    positives = index.embeddings.astype(np.float32)
    rule = predictor.rule

    def evidence(kind: str, probs: np.ndarray, emb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r = DecisionRule(knn_k=rule.knn_k, vote_weight=rule.vote_weight, evidence_probability=kind)  # type: ignore[arg-type]
        d = decide(r, probs, emb, index)
        assert d.evidence is not None and d.knn_similarity is not None
        return d.evidence, d.knn_similarity, d.probs.argmax(axis=1)

    rng = np.random.default_rng(0)
    cal_fold, neg_fold = rng.permutation(len(cal)) % FOLDS, rng.permutation(len(negatives)) % FOLDS
    right = np.zeros(len(cal) + len(negatives), bool)
    negative = np.r_[np.zeros(len(cal), bool), np.ones(len(negatives), bool)]
    results: dict[str, dict[str, float]] = {}
    for kind in ("answer", "classifier"):
        cal_x, cal_knn, cal_top = evidence(kind, cal_p, cal_e)
        neg_x, neg_knn, _ = evidence(kind, neg_p, neg_e)
        right[: len(cal)] = cal_top == truth
        for form in ("no probe", "probe fused", "probe gate"):
            for l2 in args.l2 if form != "no probe" else [None]:
                scores = np.zeros(len(right))
                for f in range(FOLDS):
                    ct, nt = cal_fold != f, neg_fold != f
                    feats = [decision_features(np.r_[cal_x[ct], neg_x[nt]], np.r_[cal_knn[ct], neg_knn[nt]])]
                    test_feats = [decision_features(np.r_[cal_x[~ct], neg_x[~nt]], np.r_[cal_knn[~ct], neg_knn[~nt]])]
                    if l2 is not None:  # as training fits it: negatives' logits out of fold, one group each
                        w = fit_probe(positives, neg_e[nt], l2)
                        groups = [str(i) for i in np.flatnonzero(nt)]
                        train_logit = np.r_[
                            probe_logit(w, cal_e[ct]), out_of_fold_logits(positives, neg_e[nt], groups, l2=l2)
                        ]
                        test_logit = probe_logit(w, np.concatenate([cal_e[~ct], neg_e[~nt]]))
                    y = np.r_[right[: len(cal)][ct], np.zeros(nt.sum(), bool)]
                    neg_t = np.r_[np.zeros(ct.sum(), bool), np.ones(nt.sum(), bool)]
                    weight = np.where(neg_t, max(1.0, (~neg_t).sum() / neg_t.sum()), 1.0)
                    x, xt = feats[0], test_feats[0]
                    if form == "probe fused":
                        x = np.column_stack([x[:, :2], train_logit, x[:, 2:]])
                        xt = np.column_stack([xt[:, :2], test_logit, xt[:, 2:]])
                    z = xt @ np.array(fit_logistic(x, y.astype(float), weight=weight))
                    fused = -np.logaddexp(0, -z)
                    if form == "probe gate":
                        a, b = fit_gate(train_logit[~neg_t], train_logit[neg_t])
                        fused = fused - np.logaddexp(0, -(a * test_logit + b))
                    where = np.r_[np.flatnonzero(~ct), len(cal) + np.flatnonzero(~nt)]
                    scores[where] = fused
                label = f"{kind} / {form}" + (f" / L2 {l2:g}" if l2 is not None else "")
                results[label] = figures(scores, right, negative)
                print(label, results[label], flush=True)
    print(json.dumps({"calibration_photos": len(cal), "negatives": len(negatives), "variants": results}, indent=1))


if __name__ == "__main__":
    main()
