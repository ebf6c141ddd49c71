"""Evaluation reports: numbers checked against a hand-worked case, and the files they are written to."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from PIL import Image

from landmarks.engine.report import REPORT_FILES, EvaluationReport, compute_report, write_report

# Six samples, four classes (class D has no sample). Each row sums to 1; no ties among a row's values.
#
#   sample  true  probabilities (A, B, C, D)   predicted  confidence  correct  true class in top 3
#   0       A     .70  .15  .10  .05            A          .70         yes      yes
#   1       A     .65  .20  .10  .05            A          .65         yes      yes
#   2       B     .04  .75  .15  .06            B          .75         yes      yes
#   3       B     .50  .05  .30  .15            A          .50         no       no  (B is the lowest)
#   4       C     .10  .05  .30  .55            D          .55         no       yes (C is 2nd)
#   5       C     .10  .85  .02  .03            B          .85         no       no  (C is the lowest)
HAND_PROBS = [
    [0.70, 0.15, 0.10, 0.05],
    [0.65, 0.20, 0.10, 0.05],
    [0.04, 0.75, 0.15, 0.06],
    [0.50, 0.05, 0.30, 0.15],
    [0.10, 0.05, 0.30, 0.55],
    [0.10, 0.85, 0.02, 0.03],
]
HAND_TARGETS = [0, 0, 1, 1, 2, 2]
CLASSES = ["00.Alpha_Tower", "01.Beta_Bridge", "02.Gamma_Gate", "03.Delta_Dome"]


def hand_report(**kwargs) -> EvaluationReport:
    kwargs.setdefault("temperature", 1.0)
    return compute_report(torch.tensor(HAND_PROBS).log(), torch.tensor(HAND_TARGETS), CLASSES, **kwargs)


def test_numbers_match_the_hand_worked_case() -> None:
    report = hand_report(n_bins=5)
    assert report.n == 6
    assert report.top1 == pytest.approx(3 / 6)  # samples 0, 1, 2
    assert report.top3 == pytest.approx(4 / 6)  # all but samples 3 and 5
    assert report.top5 == pytest.approx(1.0)  # 4 classes: top-5 is top-4, always right
    # Per class: A 2/2, B 1/2 (sample 2), C 0/2, D has no samples.
    assert [(c["class"], c["name"], c["n"], c["accuracy"]) for c in report.per_class] == [
        ("00.Alpha_Tower", "Alpha Tower", 2, 1.0),
        ("01.Beta_Bridge", "Beta Bridge", 2, 0.5),
        ("02.Gamma_Gate", "Gamma Gate", 2, 0.0),
        ("03.Delta_Dome", "Delta Dome", 0, None),
    ]
    # Rows = true class, columns = predicted: A->A twice; B->A (3), B->B (2); C->D (4), C->B (5).
    assert report.confusion == [[2, 0, 0, 0], [1, 1, 0, 0], [0, 1, 0, 1], [0, 0, 0, 0]]
    # 5 bins of width .2: [.4,.6) holds samples 3, 4 (accuracy 0, mean confidence .525);
    # [.6,.8) holds 0, 1, 2 (accuracy 1, confidence .70); [.8,1] holds 5 (accuracy 0, confidence .85).
    # ECE = 2/6 * .525 + 3/6 * .30 + 1/6 * .85 = .175 + .15 + .141667 = .466667
    assert report.ece == pytest.approx(0.175 + 0.15 + 0.85 / 6, abs=1e-6)
    assert [b["count"] for b in report.reliability] == [0, 0, 2, 3, 1]
    assert [b["accuracy"] for b in report.reliability] == [None, None, 0.0, 1.0, 0.0]
    assert [b["confidence"] for b in report.reliability][2:] == pytest.approx([0.525, 0.70, 0.85])
    # NLL: mean of -log p(true class) = -log of .70, .65, .75, .05, .30, .02, averaged.
    expected_nll = -sum(math.log(p) for p in (0.70, 0.65, 0.75, 0.05, 0.30, 0.02)) / 6
    assert report.nll == pytest.approx(expected_nll, rel=1e-5)
    # Mistakes, most confident first: 5 (.85), 4 (.55), 3 (.50).
    assert [(m["index"], m["true"], m["predicted"]) for m in report.worst_mistakes] == [
        (5, "Gamma Gate", "Beta Bridge"),
        (4, "Gamma Gate", "Delta Dome"),
        (3, "Beta Bridge", "Alpha Tower"),
    ]
    assert [m["confidence"] for m in report.worst_mistakes] == pytest.approx([0.85, 0.55, 0.50])
    assert report.worst_mistakes[1]["predicted_class"] == "03.Delta_Dome"


def test_names_paths_and_mistake_limit_are_used() -> None:
    paths = [Path(f"/photos/{i}.jpg") for i in range(6)]
    report = hand_report(names=["A", "B", "C", "D"], paths=paths, n_mistakes=2)
    assert [(m["path"], m["true"], m["predicted"]) for m in report.worst_mistakes] == [
        (str(paths[5]), "C", "B"),
        (str(paths[4]), "C", "D"),
    ]


def test_logits_give_the_same_report_as_log_probabilities() -> None:
    logits = torch.randn(40, 5, generator=torch.Generator().manual_seed(1)) * 3
    targets = torch.arange(40) % 5
    classes = [f"c{i}" for i in range(5)]
    from_logits = compute_report(logits + 7.0, targets, classes, temperature=1.0)
    from_log_probs = compute_report(torch.log_softmax(logits, dim=1), targets, classes, temperature=1.0)
    assert from_logits.nll == pytest.approx(from_log_probs.nll, rel=1e-5)
    assert from_logits.confusion == from_log_probs.confusion
    assert from_logits.ece == pytest.approx(from_log_probs.ece, abs=1e-6)


def test_reliability_bins_reproduce_torchmetrics_ece() -> None:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(500, 10, generator=generator) * 2.5
    targets = torch.randint(0, 10, (500,), generator=generator)
    report = compute_report(logits, targets, [f"c{i}" for i in range(10)], n_bins=15, temperature=1.0)
    bins = [b for b in report.reliability if b["count"]]
    recomputed = sum(b["count"] / report.n * abs(b["accuracy"] - b["confidence"]) for b in bins)
    assert len(report.reliability) == 15
    assert sum(b["count"] for b in report.reliability) == 500
    assert recomputed == pytest.approx(report.ece, abs=1e-5)
    assert sum(b["count"] * b["accuracy"] for b in bins) / report.n == pytest.approx(report.top1, abs=1e-6)


def test_mistakes_are_the_most_confident_wrong_predictions() -> None:
    generator = torch.Generator().manual_seed(2)
    log_probs = torch.log_softmax(torch.randn(300, 8, generator=generator) * 2, dim=1)
    targets = torch.randint(0, 8, (300,), generator=generator)
    report = compute_report(log_probs, targets, [f"c{i}" for i in range(8)], n_mistakes=10, temperature=1.0)
    confidence, predicted = log_probs.exp().max(dim=1)
    wrong = sorted((float(confidence[i]) for i in range(300) if predicted[i] != targets[i]), reverse=True)
    shown = [m["confidence"] for m in report.worst_mistakes]
    assert shown == pytest.approx(wrong[:10])
    assert all(predicted[m["index"]] != targets[m["index"]] for m in report.worst_mistakes)
    assert report.top1 == pytest.approx(1 - len(wrong) / 300)


def test_calibration_figures_describe_the_temperature_scaled_probabilities() -> None:
    """ECE, NLL, the reliability bins and the mistakes' confidences are those of softmax(log_probs / T),
    what users are shown; the uncalibrated ECE is kept beside it."""
    generator = torch.Generator().manual_seed(4)
    targets = torch.randint(0, 6, (400,), generator=generator)
    signal = torch.randn(400, 6, generator=generator) + 1.5 * torch.nn.functional.one_hot(targets, 6)
    logits = signal * 4  # an over-confident model: about 60 % right, far surer than that
    classes = [f"c{i}" for i in range(6)]
    raw = compute_report(logits, targets, classes, temperature=1.0)
    scaled = compute_report(logits, targets, classes, temperature=2.5)
    expected = compute_report(logits / 2.5, targets, classes, temperature=1.0)

    assert scaled.temperature == 2.5 and raw.temperature == 1.0
    assert scaled.ece == pytest.approx(expected.ece, abs=1e-6)
    assert scaled.nll == pytest.approx(expected.nll, rel=1e-6)
    assert scaled.reliability == expected.reliability
    assert [m["confidence"] for m in scaled.worst_mistakes] == pytest.approx(
        [m["confidence"] for m in expected.worst_mistakes]
    )
    assert scaled.ece_uncalibrated == pytest.approx(raw.ece, abs=1e-6)
    assert scaled.ece < raw.ece - 0.1  # the scaling this data needs really changes the figure
    assert (scaled.top1, scaled.top3, scaled.confusion) == (raw.top1, raw.top3, raw.confusion)


def test_temperature_must_be_positive() -> None:
    with pytest.raises(ValueError, match="temperature"):
        hand_report(temperature=0.0)


@pytest.mark.parametrize(
    ("log_probs", "targets", "message"),
    [
        (torch.zeros(4, 3), torch.zeros(4, dtype=torch.long), r"\[N, 4\]"),
        (torch.zeros(4, 4), torch.zeros(3, dtype=torch.long), r"targets must be \[4\]"),
        (torch.zeros(4, 4), torch.tensor([0, 1, 2, 4]), r"targets must lie in \[0, 3\]"),
        (torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), "at least one sample"),
    ],
)
def test_bad_inputs_are_refused(log_probs: torch.Tensor, targets: torch.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compute_report(log_probs, targets, CLASSES, temperature=1.0)


def _photos(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"photo_{i}.jpg"
        Image.new("RGB", (120, 90), (40 * i % 256, 90, 160)).save(path)
        paths.append(path)
    return paths


def _size(png: Path) -> tuple[int, int]:
    with Image.open(png) as image:
        return image.size


def test_write_report_files(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos", 6)
    report = hand_report(paths=photos)
    extra = {"checkpoint": tmp_path / "model.pt", "epochs": 3}
    files = write_report(report, tmp_path / "out", title="Hand-worked split", extra=extra)

    assert {key: path.name for key, path in files.items()} == REPORT_FILES
    document = json.loads(files["json"].read_text(encoding="utf-8"))
    assert document["title"] == "Hand-worked split"
    assert document["extra"] == {"checkpoint": str(tmp_path / "model.pt"), "epochs": 3}
    assert EvaluationReport.from_dict(document["report"]) == report

    for key in ("confusion_matrix", "reliability", "mistakes"):
        with Image.open(files[key]) as image:
            image.verify()
        with Image.open(files[key]) as image:
            assert image.format == "PNG"
            assert min(image.size) >= 300 and max(image.size) <= 4000, (key, image.size)

    markdown = files["markdown"].read_text(encoding="utf-8")
    assert markdown.startswith("# Hand-worked split\n")
    assert "| top-1 accuracy | 50.00% |" in markdown
    assert "| top-3 accuracy | 66.67% |" in markdown
    assert "| temperature (applied before the calibration figures) | 1.00 |" in markdown
    for name in REPORT_FILES.values():
        if name.endswith(".png"):
            assert f"]({name})" in markdown
    # Per-class table worst first, the class without samples last.
    order = [markdown.index(f"| {folder} |") for folder in ("02.Gamma_Gate", "01.Beta_Bridge", "00.Alpha_Tower")]
    assert order == sorted(order) and order[-1] < markdown.index("| 03.Delta_Dome |")
    assert '"epochs": 3' in markdown


def test_confusion_matrix_is_large_enough_for_50_classes(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(3)
    classes = [f"{i:02d}.Landmark_Number_{i}" for i in range(50)]
    report = compute_report(torch.randn(100, 50, generator=generator), torch.arange(100) % 50, classes, temperature=1.0)
    files = write_report(report, tmp_path, title="50 classes")
    with Image.open(files["confusion_matrix"]) as image:
        # About 30 px per class at least, so 50 tick labels stay legible.
        assert min(image.size) >= 50 * 30, image.size


def test_unreadable_photos_are_left_out_of_the_mistakes_grid(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos", 6)
    photos[4].write_bytes(b"not a jpeg")  # a mistake's photo that is corrupt
    photos[3].unlink()  # and one that is gone
    report = hand_report(paths=photos)
    files = write_report(report, tmp_path / "default", title="t")
    one_tile = _size(files["mistakes"])  # only sample 5 is readable

    opened: list[Path] = []

    def loader(path: Path) -> Image.Image:
        opened.append(path)
        if path == photos[5]:
            raise RuntimeError("this loader fails too")
        return Image.new("L", (50, 80), 128)  # any mode: the grid converts to RGB

    custom = write_report(report, tmp_path / "custom", title="t", images_loader=loader)
    two_tiles = _size(custom["mistakes"])
    assert opened == [photos[5], photos[4], photos[3]]  # every mistake tried, most confident first
    assert two_tiles[0] > one_tile[0]  # the grid is one column wider with two readable photos


def test_mistakes_figure_without_paths_or_mistakes(tmp_path: Path) -> None:
    no_paths = write_report(hand_report(), tmp_path / "a", title="t")
    perfect = compute_report(torch.eye(3) * 5, torch.arange(3), ["a", "b", "c"], temperature=1.0)
    assert perfect.worst_mistakes == [] and perfect.top1 == 1.0
    no_mistakes = write_report(perfect, tmp_path / "b", title="t")
    for files in (no_paths, no_mistakes):
        with Image.open(files["mistakes"]) as image:
            assert image.format == "PNG"
    assert "## Most confident mistakes" not in no_mistakes["markdown"].read_text(encoding="utf-8")
