"""What a run says as it goes: per-epoch statistics, `metrics.csv`, `training_curves.png`, console lines."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm.auto import tqdm

from landmarks.atomic import atomic_open, atomic_write_text


@dataclass
class EpochStats:
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    seconds: float
    images_per_s: float


def write_history(history: list[EpochStats], out: Path) -> None:
    """`metrics.csv` and `training_curves.png` in the run directory, rewritten (atomically) after each epoch."""
    if not history:
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(asdict(history[0])))
    writer.writeheader()
    writer.writerows(asdict(h) for h in history)
    atomic_write_text(out / "metrics.csv", buffer.getvalue())
    from matplotlib.figure import Figure  # lazy: matplotlib is slow to import and only needed here

    fig = Figure(figsize=(10, 4), dpi=110)
    ax_loss, ax_acc = fig.subplots(1, 2)
    epochs = [h.epoch for h in history]
    ax_loss.plot(epochs, [h.train_loss for h in history], label="train")
    ax_loss.plot(epochs, [h.val_loss for h in history], label="val")
    ax_loss.set(title="loss (NLL)", xlabel="epoch")
    ax_acc.plot(epochs, [h.train_acc for h in history], label="train")
    ax_acc.plot(epochs, [h.val_acc for h in history], label="val")
    ax_acc.set(title="top-1 accuracy", xlabel="epoch", ylim=(0, 1))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    with atomic_open(out / "training_curves.png", "wb") as handle:
        fig.savefig(handle, format="png")


def report_epoch(stats: EpochStats, progress: bool, improved: bool) -> None:
    echo(
        f"epoch {stats.epoch:3d}  train loss {stats.train_loss:.3f} acc {stats.train_acc:.3f}  "
        f"val loss {stats.val_loss:.3f} acc {stats.val_acc:.3f}{' *' if improved else ''}  "
        f"lr {stats.lr:.2e}  {stats.seconds:.0f}s  {stats.images_per_s:.0f} img/s",
        progress,
    )


def echo(message: str, progress: bool) -> None:
    if progress:
        tqdm.write(message)
