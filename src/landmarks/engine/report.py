"""Evaluation reports: the numbers of a split and the files a person reads after training.

`compute_report` turns a split's log-probabilities into top-k accuracy, per-class accuracy, calibration
(ECE, NLL, reliability bins), the confusion matrix and the most confident mistakes. The calibration
figures and confidences are those of the temperature-scaled probabilities, the ones users are shown; `write_report`
saves them as `report.json` (machine-readable), `report.md` (a summary) and three figures, so a
training run can be judged, and its failures seen, without re-running anything.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassCalibrationError,
    MulticlassConfusionMatrix,
)

from landmarks.catalog import display_name

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from PIL import Image

__all__ = ["REPORT_FILES", "EvaluationReport", "compute_report", "write_report"]

log = logging.getLogger(__name__)

REPORT_FILES = {
    "json": "report.json",
    "markdown": "report.md",
    "confusion_matrix": "confusion_matrix.png",
    "mistakes": "mistakes.png",
    "reliability": "reliability.png",
}
"""What `write_report` writes into its folder, by the key it returns each path under."""

_THUMBNAIL = 320  # px, longest side of a photo in the mistakes grid


@dataclass
class EvaluationReport:
    """What a model did on one split. Plain values only, so it goes to JSON and back unchanged."""

    top1: float
    top3: float
    top5: float
    """Top-k accuracies in [0, 1]; with fewer than k classes, k is the number of classes."""
    per_class: list[dict[str, Any]]
    """One dict per class, in class order: class, name, n (samples), accuracy (None when n == 0)."""
    ece: float
    """Expected calibration error (L1, equal-width confidence bins), in [0, 1], of the probabilities after
    temperature scaling (what users see)."""
    n: int
    nll: float
    """Mean negative log-likelihood of the true class, in nats."""
    confusion: list[list[int]]
    """Counts: row = true class, column = predicted class."""
    worst_mistakes: list[dict[str, Any]]
    """The most confident wrong predictions, most confident first: index, path (None without paths),
    true, predicted (display names), true_class, predicted_class (folders), confidence."""
    classes: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    reliability: list[dict[str, Any]] = field(default_factory=list)
    """Confidence bins (calibrated): lower, upper, count, accuracy and mean confidence (None for an empty bin)."""
    temperature: float = 1.0
    """The temperature the log-probabilities were divided by before ECE, NLL, bins and confidences."""
    ece_uncalibrated: float | None = None
    """ECE before temperature scaling, for comparison."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (checkpoints and `report.json` store this)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationReport:
        """Read what `to_dict` wrote; unknown keys (from other versions) are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


def compute_report(
    log_probs: torch.Tensor,
    targets: torch.Tensor,
    classes: Sequence[str],
    *,
    temperature: float,
    names: Sequence[str] | None = None,
    paths: Sequence[Path] | None = None,
    n_bins: int = 15,
    n_mistakes: int = 16,
) -> EvaluationReport:
    """The report of one split from its log-probabilities `[N, C]` and true labels `[N]`.

    `temperature` is the model's calibration (the checkpoint's): probabilities are softmax(log_probs / T),
    as inference computes them; pass 1.0 only for a model that has none. `log_probs` are re-normalised
    with log-softmax (a no-op for log-probabilities), so raw logits work too. `names` default to names
    derived from the class folders; `paths` (one per sample, in order) let the mistakes be shown as photos.
    """
    if log_probs.ndim != 2 or log_probs.shape[1] != len(classes):
        raise ValueError(
            f"log_probs must be [N, {len(classes)}] for {len(classes)} classes, got {list(log_probs.shape)}"
        )
    n, num_classes = log_probs.shape
    if num_classes < 2:
        raise ValueError("a report needs at least two classes")
    if n == 0:
        raise ValueError("a report needs at least one sample")
    if targets.shape != (n,):
        raise ValueError(f"targets must be [{n}], got {list(targets.shape)}")
    names = [display_name(c) for c in classes] if names is None else list(names)
    if len(names) != num_classes:
        raise ValueError(f"{len(names)} names for {num_classes} classes")
    if paths is not None and len(paths) != n:
        raise ValueError(f"{len(paths)} paths for {n} samples")
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")

    raw = log_probs.detach().to("cpu", torch.float32)
    log_probs = torch.log_softmax(raw / temperature, dim=1)
    targets = targets.detach().to("cpu", torch.long)
    if int(targets.min()) < 0 or int(targets.max()) >= num_classes:
        raise ValueError(f"targets must lie in [0, {num_classes - 1}]")
    probs = log_probs.exp()
    calibration_error = MulticlassCalibrationError(num_classes=num_classes, n_bins=n_bins, norm="l1")

    def top_k(k: int) -> float:
        metric = MulticlassAccuracy(num_classes=num_classes, top_k=min(k, num_classes), average="micro")
        return float(metric(probs, targets))

    ece = calibration_error(probs, targets)
    ece_uncalibrated = calibration_error(torch.softmax(raw, dim=1), targets)
    confusion = MulticlassConfusionMatrix(num_classes=num_classes)(probs, targets).long()
    support, hits = confusion.sum(dim=1), confusion.diagonal()
    per_class = [
        {
            "class": folder,
            "name": name,
            "n": int(support[i]),
            "accuracy": float(hits[i] / support[i]) if support[i] else None,
        }
        for i, (folder, name) in enumerate(zip(classes, names, strict=True))
    ]

    confidence, predicted = probs.max(dim=1)
    correct = predicted.eq(targets)
    wrong = torch.nonzero(~correct).flatten()
    worst = wrong[torch.argsort(confidence[wrong], descending=True, stable=True)][:n_mistakes]
    mistakes = [
        {
            "index": int(i),
            "path": None if paths is None else str(paths[i]),
            "true": names[int(targets[i])],
            "predicted": names[int(predicted[i])],
            "true_class": classes[int(targets[i])],
            "predicted_class": classes[int(predicted[i])],
            "confidence": float(confidence[i]),
        }
        for i in worst.tolist()
    ]

    return EvaluationReport(
        top1=top_k(1),
        top3=top_k(3),
        top5=top_k(5),
        per_class=per_class,
        ece=float(ece),
        n=n,
        nll=float(torch.nn.functional.nll_loss(log_probs, targets)),
        confusion=confusion.tolist(),
        worst_mistakes=mistakes,
        classes=list(classes),
        names=names,
        reliability=_reliability_bins(confidence, correct, n_bins),
        temperature=float(temperature),
        ece_uncalibrated=float(ece_uncalibrated),
    )


def write_report(
    report: EvaluationReport,
    out_dir: Path,
    *,
    title: str,
    images_loader: Callable[[Path], Image.Image] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Write `report.json`, `report.md` and the three figures into `out_dir`; returns their paths.

    `extra` (e.g. checkpoint and training details) goes into both the JSON and the summary.
    `images_loader` opens a mistake's photo (default: PIL with the EXIF orientation applied); a photo
    that cannot be opened is left out of the mistakes grid.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {key: out_dir / name for key, name in REPORT_FILES.items()}
    _save(_confusion_figure(report), files["confusion_matrix"])
    _save(_reliability_figure(report), files["reliability"])
    _save(_mistakes_figure(report, images_loader or _open_photo), files["mistakes"])
    document = {
        "title": title,
        "report": report.to_dict(),
        "extra": extra or {},
        "files": {key: path.name for key, path in files.items()},
    }
    files["json"].write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    files["markdown"].write_text(_markdown(report, title, extra or {}), encoding="utf-8")
    return files


def _reliability_bins(confidence: torch.Tensor, correct: torch.Tensor, n_bins: int) -> list[dict[str, Any]]:
    """Equal-width bins as torchmetrics' calibration error forms them, for the reliability diagram.

    torchmetrics keeps a confidence of exactly 1.0 in a bin of its own; here it joins the top bin so
    the diagram has `n_bins` bars.
    """
    edges = torch.linspace(0, 1, n_bins + 1, dtype=confidence.dtype)
    index = (torch.bucketize(confidence, edges, right=True) - 1).clamp(0, n_bins - 1)
    counts = torch.bincount(index, minlength=n_bins)
    hit_sums = torch.bincount(index, weights=correct.to(confidence.dtype), minlength=n_bins)
    confidence_sums = torch.bincount(index, weights=confidence, minlength=n_bins)
    bins = []
    for b in range(n_bins):
        count = int(counts[b])
        bins.append(
            {
                "lower": round(float(edges[b]), 6),
                "upper": round(float(edges[b + 1]), 6),
                "count": count,
                "accuracy": float(hit_sums[b] / count) if count else None,
                "confidence": float(confidence_sums[b] / count) if count else None,
            }
        )
    return bins


def _open_photo(path: Path) -> Image.Image:
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        return ImageOps.exif_transpose(image).convert("RGB")


def _new_figure(width: float, height: float) -> Figure:
    """A figure drawn by Agg directly: no pyplot, so no global backend or figure state is touched."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path) -> None:
    figure.savefig(path, dpi=110)


def _short(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _confusion_figure(report: EvaluationReport) -> Figure:
    import numpy as np

    counts = np.asarray(report.confusion, dtype=float)
    num_classes = counts.shape[0]
    support = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, support, out=np.zeros_like(counts), where=support > 0)
    side = min(max(6.0, 0.3 * num_classes + 3.5), 24.0)  # 50 classes: 18.5 in, each cell ~0.3 in
    figure = _new_figure(side + 1.5, side)
    axes = figure.add_subplot()
    image = axes.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    font = 9 if num_classes <= 20 else 7 if num_classes <= 40 else 6
    labels = [_short(name) for name in report.names or report.classes]
    axes.set_xticks(range(num_classes), labels, rotation=90, fontsize=font)
    axes.set_yticks(range(num_classes), labels, fontsize=font)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"Confusion matrix, normalised per true class (n={report.n}, top-1 {report.top1:.1%})")
    if num_classes <= 20:
        for (row, col), rate in np.ndenumerate(rates):
            if counts[row, col]:
                colour = "white" if rate > 0.5 else "black"
                axes.text(col, row, f"{rate:.2f}", ha="center", va="center", fontsize=font - 1, color=colour)
    figure.colorbar(image, ax=axes, shrink=0.6, label="fraction of the true class's samples")
    return figure


def _reliability_figure(report: EvaluationReport) -> Figure:
    figure = _new_figure(6.5, 7.5)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    filled = [b for b in report.reliability if b["count"]]
    lower = [b["lower"] for b in filled]
    width = [b["upper"] - b["lower"] for b in filled]
    accuracy = [b["accuracy"] for b in filled]
    confidence = [b["confidence"] for b in filled]
    top.bar(lower, accuracy, width, align="edge", color="tab:blue", edgecolor="black", label="accuracy")
    top.bar(
        lower,
        [c - a for c, a in zip(confidence, accuracy, strict=True)],
        width,
        bottom=accuracy,
        align="edge",
        facecolor="none",  # hatched outline: stays readable where accuracy exceeds confidence
        edgecolor="tab:red",
        hatch="//",
        label="gap to mean confidence",
    )
    top.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfect calibration")
    top.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy")
    top.set_title(
        f"Reliability diagram (temperature {report.temperature:.2f}): ECE {report.ece:.3f}\n"
        f"{len(report.reliability)} bins, n={report.n}"
    )
    top.legend(loc="upper left")

    counts = [b["count"] for b in filled]
    bottom.bar(lower, counts, width, align="edge", color="gray", edgecolor="black")
    mean_confidence = sum(c * k for c, k in zip(confidence, counts, strict=True)) / max(1, sum(counts))
    bottom.axvline(report.top1, color="tab:blue", label=f"accuracy {report.top1:.2f}")
    bottom.axvline(mean_confidence, color="tab:red", linestyle="--", label=f"mean confidence {mean_confidence:.2f}")
    bottom.set(xlabel="confidence (top-1 probability)", ylabel="samples")
    bottom.legend(loc="upper left", fontsize=8)
    return figure


def _mistakes_figure(report: EvaluationReport, load: Callable[[Path], Image.Image]) -> Figure:
    import numpy as np

    tiles = []
    for mistake in report.worst_mistakes:
        if not mistake.get("path"):
            continue
        try:
            image = load(Path(mistake["path"])).convert("RGB")
        except Exception as err:  # any unreadable photo (or loader failure) just drops out of the grid
            log.debug("mistakes figure: skipping %s: %s", mistake["path"], err)
            continue
        image.thumbnail((_THUMBNAIL, _THUMBNAIL))
        tiles.append((image, mistake))
    if not tiles:
        figure = _new_figure(6, 2)
        reason = "no mistakes" if not report.worst_mistakes else "no readable photos of the mistakes"
        figure.text(0.5, 0.5, f"Most confident mistakes: {reason}", ha="center", va="center")
        return figure
    columns = min(4, len(tiles))
    rows = math.ceil(len(tiles) / columns)
    figure = _new_figure(3.2 * columns, 3.5 * rows + 0.4)
    for axes in figure.subplots(rows, columns, squeeze=False).flat:
        axes.axis("off")
    for axes, (image, mistake) in zip(figure.axes, tiles, strict=False):
        axes.imshow(np.asarray(image))
        axes.set_title(
            f"true: {_short(mistake['true'], 30)}\n"
            f"predicted: {_short(mistake['predicted'], 24)} (p={mistake['confidence']:.2f})",
            fontsize=8,
        )
    figure.suptitle("Most confident mistakes")
    return figure


def _markdown(report: EvaluationReport, title: str, extra: Mapping[str, Any]) -> str:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = [
        f"# {title}",
        "",
        "| metric | value |",
        "| --- | --- |",
        f"| samples | {report.n} |",
        f"| top-1 accuracy | {report.top1:.2%} |",
        f"| top-3 accuracy | {report.top3:.2%} |",
        f"| top-5 accuracy | {report.top5:.2%} |",
        f"| temperature (applied before the calibration figures) | {report.temperature:.2f} |",
        f"| expected calibration error ({len(report.reliability)} bins) | {report.ece:.4f} |",
        *(
            [f"| expected calibration error before temperature scaling | {report.ece_uncalibrated:.4f} |"]
            if report.ece_uncalibrated is not None
            else []
        ),
        f"| negative log-likelihood | {report.nll:.4f} |",
        "",
        "## Figures",
        "",
        f"- [Confusion matrix]({REPORT_FILES['confusion_matrix']}), normalised per true class",
        f"- [Reliability diagram]({REPORT_FILES['reliability']}): accuracy against confidence",
        f"- [Most confident mistakes]({REPORT_FILES['mistakes']})",
        "",
        f"![Reliability diagram]({REPORT_FILES['reliability']})",
        "",
        "## Per-class accuracy, worst first",
        "",
        "| class | name | n | accuracy |",
        "| --- | --- | ---: | ---: |",
    ]
    # Classes absent from the split have no accuracy: list them last.
    ranked = sorted(report.per_class, key=lambda c: (c["accuracy"] is None, c["accuracy"] or 0.0, c["class"]))
    for row in ranked:
        accuracy = "–" if row["accuracy"] is None else f"{row['accuracy']:.1%}"
        lines.append(f"| {cell(row['class'])} | {cell(row['name'])} | {row['n']} | {accuracy} |")
    if report.worst_mistakes:
        lines += [
            "",
            "## Most confident mistakes",
            "",
            "| photo | true | predicted | p |",
            "| --- | --- | --- | ---: |",
        ]
        for m in report.worst_mistakes:
            photo = f"`{cell(m['path'])}`" if m.get("path") else f"sample {m['index']}"
            lines.append(f"| {photo} | {cell(m['true'])} | {cell(m['predicted'])} | {m['confidence']:.2f} |")
    if extra:
        lines += ["", "## Details", "", "```json", json.dumps(extra, indent=2, default=str), "```"]
    return "\n".join(lines) + "\n"
