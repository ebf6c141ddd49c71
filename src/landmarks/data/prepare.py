"""Discover, validate and split a `train/<class>/ test/<class>/` photo folder, once.

`prepare_dataset` is the single entry point training calls. It decodes every photo once (into the
decoded-image cache), so bad files are found here and listed in `skipped.csv` rather than crashing an
epoch; it sets aside copies of one photo that would leak across the split or carry two labels
(`data/duplicates.py`), splits `train/` into train/val per class with a fixed seed (copies of a photo
on one side), and measures the train split's channel mean and std. Everything it writes lives in the
cache directory, never in the data folder, under a folder keyed by the dataset's path; the manifest
records the file list's fingerprint (paths, sizes, modification times), so a rerun on an unchanged
folder only lists it and reads JSON.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from landmarks import __version__
from landmarks.data.cache import DEFAULT_SIZE, DecodedImageStore
from landmarks.data.duplicates import DuplicateCounts, resolve_duplicates
from landmarks.data.images import IMAGE_EXTENSIONS, SkippedFile, is_image_file
from landmarks.data.layout import find_dataset_root
from landmarks.data.layout import is_ignored as _is_ignored
from landmarks.errors import DatasetError
from landmarks.settings import cache_dir

if TYPE_CHECKING:
    from rich.table import Table

    from landmarks.catalog import Landmark

__all__ = [
    "DuplicateCounts",
    "PreparedDataset",
    "Sample",
    "SkippedFile",
    "find_dataset_root",
    "prepare_dataset",
    "scan_dataset",
    "stratified_split",
    "summary_table",
    "val_count",
]

MANIFEST_FORMAT = 2
"""2: duplicate photos grouped and set aside (older manifests split copies apart, so they are rebuilt)."""
MANIFEST_NAME = "manifest.json"
SKIPPED_NAME = "skipped.csv"
SAMPLES_PLOT = "samples.png"
HISTOGRAM_PLOT = "rgb_histograms.png"
SPLITS = ("train", "test")


@dataclass(frozen=True)
class Sample:
    """One photo and its class index (into `PreparedDataset.classes`)."""

    path: Path
    label: int


@dataclass(repr=False)
class PreparedDataset:
    """A validated, split dataset and where its cached artefacts live."""

    root: Path
    classes: list[str]
    landmarks: list[Landmark]
    train: list[Sample]
    val: list[Sample]
    test: list[Sample]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    cache_dir: Path
    skipped: list[SkippedFile]
    images_dir: Path
    image_size: int = DEFAULT_SIZE
    val_fraction: float = 0.2
    seed: int = 0
    fingerprint: str = ""
    reused: bool = False
    """True when this came from an earlier run's manifest (nothing was decoded again)."""
    digests: dict[Path, str] = field(default_factory=dict, repr=False)
    duplicates: DuplicateCounts = field(default_factory=DuplicateCounts)
    """Copies of one photo set aside (test copies in train/, conflicting labels) or kept together."""
    histograms: np.ndarray | None = field(default=None, repr=False)
    """Train-split pixel counts, shape [3, 256] (R, G, B x uint8 value)."""
    _stores: dict[int, DecodedImageStore] = field(default_factory=dict, repr=False, compare=False)

    def __repr__(self) -> str:
        return (
            f"PreparedDataset(root={str(self.root)!r}, classes={self.num_classes}, train={len(self.train)}, "
            f"val={len(self.val)}, test={len(self.test)}, skipped={len(self.skipped)}, reused={self.reused})"
        )

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def manifest_path(self) -> Path:
        return self.cache_dir / MANIFEST_NAME

    @property
    def skipped_csv(self) -> Path:
        return self.cache_dir / SKIPPED_NAME

    @property
    def samples_plot(self) -> Path:
        return self.cache_dir / SAMPLES_PLOT

    @property
    def histogram_plot(self) -> Path:
        return self.cache_dir / HISTOGRAM_PLOT

    def store(self, size: int | None = None) -> DecodedImageStore:
        """The decoded-image store at `size` (default: the prepared size), one per size and dataset,
        so training and evaluation share the tensors already in memory. At another size than the
        prepared one, call `.warm(paths)` first to decode in parallel rather than one by one."""
        size = size or self.image_size
        if size not in self._stores:
            self._stores[size] = DecodedImageStore(self.images_dir, size, digests=self.digests)
        return self._stores[size]


@dataclass
class DatasetScan:
    """What is in a data folder, before any photo is opened."""

    root: Path
    train: dict[str, list[Path]]
    test: dict[str, list[Path]]
    skipped: list[SkippedFile]
    fingerprint: str


def scan_dataset(root: Path) -> DatasetScan:
    """List class folders and photo files; anything else becomes a SkippedFile. Reads no pixels.

    The fingerprint hashes every file's relative path, size and mtime: cheap to recompute, and it
    changes whenever a photo is added, removed, replaced or edited.
    """
    root = Path(root)
    skipped: list[SkippedFile] = []
    stat_lines: list[str] = []
    splits: dict[str, dict[str, list[Path]]] = {}
    for split in SPLITS:
        split_dir = root / split
        if not split_dir.is_dir():
            raise DatasetError(f"{root} has no {split}/ folder: expected train/<class>/ and test/<class>/")
        classes: dict[str, list[Path]] = {}
        for entry in sorted(split_dir.iterdir()):
            stat_lines.append(_stat_line(root, entry))
            if not entry.is_dir():
                skipped.append(SkippedFile(entry, _stray_reason(entry, f"not inside a class folder of {split}/")))
            elif _is_ignored(entry.name):
                skipped.append(SkippedFile(entry, "hidden or system folder, not a class"))
            else:
                photos = _class_photos(root, entry, skipped, stat_lines)
                if photos:
                    classes[entry.name] = photos
                else:
                    skipped.append(SkippedFile(entry, "empty class folder: no photos in it"))
        splits[split] = classes
    if not splits["train"]:
        raise DatasetError(f"{root / 'train'} has no class folder with photos in it")
    fingerprint = hashlib.sha256("\n".join(sorted(stat_lines)).encode()).hexdigest()
    return DatasetScan(root, splits["train"], splits["test"], skipped, fingerprint)


def _class_photos(root: Path, folder: Path, skipped: list[SkippedFile], stat_lines: list[str]) -> list[Path]:
    """Photo files anywhere under one class folder (sorted); stray files go to `skipped`."""
    photos: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):  # no link following: no loops
        hidden = [d for d in dirnames if _is_ignored(d)]
        for name in hidden:
            skipped.append(SkippedFile(Path(dirpath) / name, "hidden or system folder"))
        dirnames[:] = sorted(d for d in dirnames if not _is_ignored(d))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            stat_lines.append(_stat_line(root, path))
            if is_image_file(path):
                photos.append(path)
            else:
                skipped.append(SkippedFile(path, _stray_reason(path, "")))
    return sorted(photos)


def _stray_reason(path: Path, where: str) -> str:
    if path.name.startswith("."):
        reason = "hidden or system file (e.g. .DS_Store), not a photo"
    elif path.suffix.lower() not in IMAGE_EXTENSIONS:
        suffix = path.suffix or "no extension"
        reason = f"not a photo file ({suffix}; we read {', '.join(sorted(IMAGE_EXTENSIONS))})"
    else:
        reason = "photo"
    return f"{reason} {where}".strip() if where else reason


def _stat_line(root: Path, path: Path) -> str:
    if path.is_dir():  # a folder's mtime moves with any temporary file; its name is what matters
        return f"{path.relative_to(root).as_posix()}/"
    try:
        info = path.stat()
        return f"{path.relative_to(root).as_posix()}\t{info.st_size}\t{info.st_mtime_ns}"
    except OSError:  # a dangling link: still part of what the folder holds
        return f"{path.relative_to(root).as_posix()}\t-\t-"


def val_count(n: int, val_fraction: float) -> int:
    """round(val_fraction x n), halves rounded up, leaving at least one training photo per class."""
    if n <= 1:
        return 0
    return min(n - 1, math.floor(n * val_fraction + 0.5))


def stratified_split(
    files_by_class: Mapping[str, Sequence[Path]],
    labels: Mapping[str, int],
    val_fraction: float,
    seed: int,
    *,
    digests: Mapping[Path, str] | None = None,
) -> tuple[list[Sample], list[Sample]]:
    """Per class, a seeded shuffle gives about val_count(n) photos to val and the rest to train.

    With `digests`, files of the same content form one group and the shuffle moves whole groups, so
    all copies of a photo land on one side (val takes groups until it holds val_count(n) photos, and
    never a class's last group); without copies this is the plain per-file split. Each class has its
    own generator (seeded by seed and class name), so adding or removing a class or a photo elsewhere
    leaves a class's split unchanged.
    """
    train: list[Sample] = []
    val: list[Sample] = []
    for name in sorted(files_by_class, key=labels.__getitem__):
        files = sorted(files_by_class[name])
        groups: dict[str, list[Path]] = {}
        for path in files:
            groups.setdefault(digests[path] if digests else str(path), []).append(path)
        ordered = list(groups.values())  # in the order of each group's first file
        random.Random(f"{seed}:{name}").shuffle(ordered)
        k = val_count(len(files), val_fraction)
        cut = taken = 0
        while taken < k and cut < len(ordered) - 1:
            taken += len(ordered[cut])
            cut += 1
        label = labels[name]
        val += [Sample(p, label) for p in sorted(p for group in ordered[:cut] for p in group)]
        train += [Sample(p, label) for p in sorted(p for group in ordered[cut:] for p in group)]
    return train, val


def channel_statistics(
    store: DecodedImageStore, paths: Sequence[Path], progress: bool = True
) -> tuple[tuple[float, float, float], tuple[float, float, float], np.ndarray]:
    """Mean, std (in [0, 1] units, over all pixels) and [3, 256] value histograms of cached photos."""
    histograms = np.zeros((3, 256), dtype=np.int64)
    for path in tqdm(paths, desc="Measuring colour statistics", unit="img", disable=not progress):
        pixels = store.load(path).numpy()
        for channel in range(3):  # numpy's bincount: ~50x faster than torch.bincount here
            histograms[channel] += np.bincount(pixels[channel].reshape(-1), minlength=256)
    mean, std = statistics_from_histograms(histograms)
    return mean, std, histograms


def statistics_from_histograms(histograms: np.ndarray) -> tuple[tuple[float, float, float], ...]:
    """Exact per-channel mean and std of uint8 pixels, in [0, 1] units, from their value counts."""
    values = np.arange(256, dtype=np.float64) / 255.0
    total = histograms.sum(axis=1).astype(np.float64)
    if (total == 0).any():
        raise DatasetError("no pixels to measure: the train split is empty")
    mean = (histograms * values).sum(axis=1) / total
    variance = (histograms * values**2).sum(axis=1) / total - mean**2
    # A single-colour channel has std 0; 1/255 keeps normalisation finite and changes nothing else.
    std = np.maximum(np.sqrt(np.maximum(variance, 0.0)), 1 / 255)
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)  # type: ignore[return-value]


def dataset_cache_dir(root: Path, cache: Path | None = None) -> Path:
    """This dataset's folder in the cache directory: named after the folder, keyed by its full path."""
    key = hashlib.sha256(str(root).encode()).hexdigest()[:12]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", root.name).strip("._") or "dataset"
    return cache_dir(cache) / "prepared" / f"{slug}-{key}"


def prepare_dataset(
    data_root: Path,
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    cache: Path | None = None,
    progress: bool = True,
    image_size: int = DEFAULT_SIZE,
    plots: bool = True,
) -> PreparedDataset:
    """Validate, split and measure a dataset, or reload that work from the cache when nothing changed.

    Raises DatasetError for a folder without the `train/<class>/ test/<class>/` layout. Unusable
    files never raise: they are left out and listed in `skipped.csv`.
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    root = find_dataset_root(Path(data_root)).resolve()
    scan = scan_dataset(root)
    folder = dataset_cache_dir(root, cache)
    images_dir = cache_dir(cache) / "images"
    prepared = _load_manifest(folder, scan, val_fraction, seed, image_size, images_dir)
    if prepared is not None:
        # Cheap check (stat only) that the decoded images are still there; re-decodes any that are not.
        prepared.store().warm([s.path for s in (*prepared.train, *prepared.val, *prepared.test)], progress)
    else:
        prepared = _prepare_afresh(scan, folder, val_fraction, seed, image_size, images_dir, progress)
        _write_manifest(prepared)
        _write_skipped(prepared)
    if plots:
        _draw_missing_plots(prepared)
    return prepared


def _prepare_afresh(
    scan: DatasetScan,
    folder: Path,
    val_fraction: float,
    seed: int,
    image_size: int,
    images_dir: Path,
    progress: bool,
) -> PreparedDataset:
    from landmarks.catalog import catalog_for

    store = DecodedImageStore(images_dir, image_size)
    candidates = [p for files in (*scan.train.values(), *scan.test.values()) for p in files]
    bad = store.warm(candidates, progress)
    bad_paths = {s.path for s in bad}
    skipped = [*scan.skipped, *bad]

    digests = store.known_digests()
    unique = resolve_duplicates(
        scan.root,
        {c: [p for p in files if p not in bad_paths] for c, files in scan.train.items()},
        {c: [p for p in files if p not in bad_paths] for c, files in scan.test.items()},
        digests,
    )
    skipped += unique.skipped
    usable_train = unique.train
    classes = sorted(c for c, files in usable_train.items() if files)
    for name in sorted(set(usable_train) - set(classes)):
        skipped.append(SkippedFile(scan.root / "train" / name, "class folder has no usable photos"))
    if not classes:
        raise DatasetError(f"{scan.root / 'train'} has no usable photos (see the skipped files above)")
    labels = {name: i for i, name in enumerate(classes)}
    train, val = stratified_split({c: usable_train[c] for c in classes}, labels, val_fraction, seed, digests=digests)

    test: list[Sample] = []
    for name, usable in sorted(unique.test.items()):
        if name in labels:
            test += [Sample(p, labels[name]) for p in usable]
        else:
            reason = f"class {name!r} is in test/ but has no usable photos in train/"
            skipped += [SkippedFile(p, reason) for p in usable]

    mean, std, histograms = channel_statistics(store, [s.path for s in train], progress)
    prepared = PreparedDataset(
        root=scan.root,
        classes=classes,
        landmarks=catalog_for(classes, scan.root),
        train=train,
        val=val,
        test=test,
        mean=mean,
        std=std,
        cache_dir=folder,
        skipped=sorted(skipped, key=lambda s: str(s.path)),
        images_dir=images_dir,
        image_size=image_size,
        val_fraction=val_fraction,
        seed=seed,
        fingerprint=scan.fingerprint,
        digests=digests,
        duplicates=unique.counts,
        histograms=histograms,
    )
    prepared._stores[image_size] = store  # keep the train tensors measured above in memory
    return prepared


def _write_manifest(prepared: PreparedDataset) -> None:
    root = prepared.root
    files = [
        {"path": s.path.relative_to(root).as_posix(), "split": split, "label": s.label,
         "sha256": prepared.digests[s.path]}
        for split, samples in (("train", prepared.train), ("val", prepared.val), ("test", prepared.test))
        for s in samples
    ]  # fmt: skip
    manifest = {
        "format": MANIFEST_FORMAT,
        "package_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "root": str(root),
        "fingerprint": prepared.fingerprint,
        "val_fraction": prepared.val_fraction,
        "seed": prepared.seed,
        "image_size": prepared.image_size,
        "classes": prepared.classes,
        "counts": {"train": len(prepared.train), "val": len(prepared.val), "test": len(prepared.test)},
        "mean": list(prepared.mean),
        "std": list(prepared.std),
        "histograms": prepared.histograms.tolist() if prepared.histograms is not None else None,
        "skipped": [{"path": str(s.path), "reason": s.reason} for s in prepared.skipped],
        "duplicates": prepared.duplicates.to_dict(),
        "files": files,
    }
    _write_text_atomically(prepared.manifest_path, json.dumps(manifest, indent=1))


def _write_skipped(prepared: PreparedDataset) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["path", "reason"])
    writer.writerows([str(s.path), s.reason] for s in prepared.skipped)
    _write_text_atomically(prepared.skipped_csv, buffer.getvalue())


def _write_text_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _load_manifest(
    folder: Path, scan: DatasetScan, val_fraction: float, seed: int, image_size: int, images_dir: Path
) -> PreparedDataset | None:
    """The earlier run's result if it was made from the same files with the same settings, else None."""
    from landmarks.catalog import catalog_for

    path = folder / MANIFEST_NAME
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    wanted = {
        "format": MANIFEST_FORMAT,
        "fingerprint": scan.fingerprint,
        "val_fraction": val_fraction,
        "seed": seed,
        "image_size": image_size,
        "root": str(scan.root),
    }
    if any(manifest.get(key) != value for key, value in wanted.items()):
        return None
    try:
        splits: dict[str, list[Sample]] = {"train": [], "val": [], "test": []}
        digests: dict[Path, str] = {}
        for row in manifest["files"]:
            sample_path = scan.root / row["path"]
            splits[row["split"]].append(Sample(sample_path, int(row["label"])))
            digests[sample_path] = row["sha256"]
        classes = [str(c) for c in manifest["classes"]]
        histograms = np.asarray(manifest["histograms"], dtype=np.int64) if manifest["histograms"] else None
        return PreparedDataset(
            root=scan.root,
            classes=classes,
            landmarks=catalog_for(classes, scan.root),
            train=splits["train"],
            val=splits["val"],
            test=splits["test"],
            mean=tuple(manifest["mean"]),  # type: ignore[arg-type]
            std=tuple(manifest["std"]),  # type: ignore[arg-type]
            cache_dir=folder,
            skipped=[SkippedFile(Path(s["path"]), s["reason"]) for s in manifest["skipped"]],
            images_dir=images_dir,
            image_size=image_size,
            val_fraction=val_fraction,
            seed=seed,
            fingerprint=scan.fingerprint,
            reused=True,
            digests=digests,
            duplicates=DuplicateCounts.from_dict(manifest["duplicates"]),
            histograms=histograms,
        )
    except (KeyError, TypeError, ValueError):
        return None  # a manifest from a broken run: prepare again


def _draw_missing_plots(prepared: PreparedDataset) -> None:
    from landmarks.data.plots import draw_rgb_histograms, draw_samples

    if not prepared.samples_plot.is_file():
        draw_samples(prepared, prepared.samples_plot)
    if not prepared.histogram_plot.is_file() and prepared.histograms is not None:
        draw_rgb_histograms(prepared.histograms, prepared.mean, prepared.std, prepared.histogram_plot)


def summary_table(prepared: PreparedDataset) -> Table:
    """The summary `landmarks data prepare` prints: classes, split sizes, statistics, skipped files."""
    from rich.table import Table

    table = Table(title=f"Dataset {prepared.root}", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("classes", str(prepared.num_classes))
    table.add_row("train / val / test", f"{len(prepared.train)} / {len(prepared.val)} / {len(prepared.test)}")
    table.add_row("val fraction, seed", f"{prepared.val_fraction:g}, {prepared.seed}")
    table.add_row("mean (R, G, B)", ", ".join(f"{v:.4f}" for v in prepared.mean))
    table.add_row("std (R, G, B)", ", ".join(f"{v:.4f}" for v in prepared.std))
    table.add_row("skipped files", str(len(prepared.skipped)))
    counts = prepared.duplicates
    table.add_row("train copies of test photos", f"{counts.test_copies_in_train} (left out of train and val)")
    table.add_row("conflicting labels", f"{counts.conflicting_labels} (one photo in several classes: left out)")
    table.add_row("repeated photos kept together", f"{counts.grouped_copies} (copies on one side of the split)")
    table.add_row("cache", str(prepared.cache_dir))
    return table
