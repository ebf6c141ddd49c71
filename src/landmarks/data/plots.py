"""The two pictures `landmarks data prepare` draws: a labelled grid of training photos, and the train
split's colour histograms before and after normalisation (a quick look that labels and statistics
are sane). No display is needed: Pillow for the grid, matplotlib's Agg canvas for the histograms.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from landmarks.data.prepare import PreparedDataset, Sample

CHANNELS = (("red", "tab:red"), ("green", "tab:green"), ("blue", "tab:blue"))


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def pick_samples(train: Sequence[Sample], max_images: int = 24, seed: int = 0) -> list[Sample]:
    """Up to `max_images` training photos, one class after another, so the grid shows many classes."""
    rng = random.Random(seed)
    by_class: dict[int, list[Sample]] = {}
    for sample in train:
        by_class.setdefault(sample.label, []).append(sample)
    for samples in by_class.values():
        rng.shuffle(samples)
    labels = sorted(by_class)
    rng.shuffle(labels)
    picked: list[Sample] = []
    for round_index in range(max(map(len, by_class.values()), default=0)):
        for label in labels:
            if len(picked) == max_images:
                return picked
            if round_index < len(by_class[label]):
                picked.append(by_class[label][round_index])
    return picked


def _fit_caption(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont, width: int) -> str:
    """The caption, shortened with an ellipsis until it fits the cell."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def draw_samples(
    prepared: PreparedDataset, path: Path, max_images: int = 24, columns: int = 6, cell: int = 200
) -> Path:
    """A grid of training photos (centre squares), each captioned with its landmark's name.

    Composed with Pillow rather than matplotlib: two dozen image axes cost seconds to lay out.
    """
    samples = pick_samples(prepared.train, max_images, prepared.seed)
    store = prepared.store()
    rows = max(1, math.ceil(len(samples) / columns))
    caption, margin, title_height = 22, 6, 34
    pitch_x, pitch_y = cell + margin, cell + caption + margin
    canvas = Image.new("RGB", (margin + columns * pitch_x, title_height + rows * pitch_y), "white")
    draw = ImageDraw.Draw(canvas)
    title_font, caption_font = ImageFont.load_default(size=18), ImageFont.load_default(size=13)
    title = f"Training photos: {len(samples)} of {len(prepared.train)} in the train split"
    draw.text((margin, 8), title, fill="black", font=title_font)
    for index, sample in enumerate(samples):
        photo = Image.fromarray(store.load(sample.path).permute(1, 2, 0).numpy())
        thumbnail = ImageOps.fit(photo, (cell, cell), Image.Resampling.BILINEAR)
        left = margin + (index % columns) * pitch_x
        top = title_height + (index // columns) * pitch_y
        canvas.paste(thumbnail, (left, top))
        name = prepared.landmarks[sample.label].name if prepared.landmarks else prepared.classes[sample.label]
        text = _fit_caption(draw, name, caption_font, cell)
        draw.text((left, top + cell + 4), text, fill="black", font=caption_font)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, "PNG")
    return path


def draw_rgb_histograms(histograms: np.ndarray, mean: Sequence[float], std: Sequence[float], path: Path) -> Path:
    """Per-channel pixel distributions in [0, 1] and after (x - mean) / std, from [3, 256] counts."""
    values = np.arange(256) / 255.0
    figure = _new_figure(11, 4)
    before, after = figure.subplots(1, 2)
    for channel, (name, colour) in enumerate(CHANNELS):
        density = histograms[channel] / max(1, histograms[channel].sum())
        label = f"{name}: mean {mean[channel]:.3f}, std {std[channel]:.3f}"
        before.plot(values, density, color=colour, label=label, linewidth=1.2)
        after.plot((values - mean[channel]) / std[channel], density, color=colour, label=name, linewidth=1.2)
    before.set(title="Train split, before normalisation", xlabel="pixel value", ylabel="fraction of pixels")
    after.set(title="After (x - mean) / std", xlabel="normalised value", ylabel="fraction of pixels")
    after.axvline(0, color="grey", linewidth=0.8, linestyle="--")
    before.legend(fontsize=8)
    after.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path
