"""The landmarks a model can name: the 50 targets shipped with the package, and per-dataset catalogs.

Coordinates only ever come from a catalog file, never from guesswork: a class that no catalog knows
gets a display name derived from its folder and no location, so nothing downstream can geotag a photo
with an invented place.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from landmarks.errors import DatasetError

__all__ = [
    "BUILTIN_CSV",
    "DATASET_CATALOG",
    "Landmark",
    "builtin_catalog",
    "catalog_for",
    "class_id_of",
    "display_name",
    "great_circle_km",
    "parse_catalog",
    "read_catalog",
]

BUILTIN_CSV = "landmarks50.csv"
"""The 50 target landmarks, shipped as package data next to this module."""
DATASET_CATALOG = "catalog.csv"
"""A dataset's own catalog, beside its `train/` and `test/` folders."""

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG)

_NUMBERED = re.compile(r"^(\d+)\.(.+)$")
# Lower-case words kept lower-case inside a derived name ("great_wall_of_china" -> "Great Wall of China").
_SMALL_WORDS = frozenset(
    {"a", "an", "and", "at", "da", "de", "del", "des", "di", "du", "in", "la", "le", "of", "on", "the", "von"}
)


@dataclass(frozen=True)
class Landmark:
    """One class: its folder, a display name and, where a catalog gives one, where it stands."""

    folder: str
    """The class folder name: `16.Eiffel_Tower` or `taj_mahal`."""
    class_id: int | None
    """The folder's number (16 for `16.Eiffel_Tower`); None for plain names."""
    name: str
    """A name for people: `Eiffel Tower`."""
    latitude: float | None = None
    longitude: float | None = None
    radius_km: float | None = None
    """How far from (latitude, longitude) photos of the landmark are usually taken."""
    city: str | None = None
    country: str | None = None

    def __post_init__(self) -> None:
        # Validate here, once, so every way of making a Landmark (CSV, checkpoint dict) is checked.
        if not self.folder:
            raise ValueError("a landmark needs a folder name")
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("latitude and longitude must be given together")
        for label, value, limit in (("latitude", self.latitude, 90), ("longitude", self.longitude, 180)):
            if value is not None and not (math.isfinite(value) and -limit <= value <= limit):
                raise ValueError(f"{label} {value} is outside [-{limit}, {limit}]")
        if self.radius_km is not None and not (math.isfinite(self.radius_km) and self.radius_km > 0):
            raise ValueError(f"radius_km {self.radius_km} is not a positive distance")

    @property
    def has_location(self) -> bool:
        """Whether this landmark may be used to geotag a photo."""
        return self.latitude is not None and self.longitude is not None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values, as checkpoints store them (loadable with `weights_only=True`)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Landmark:
        """Read what `to_dict` wrote. Unknown keys are ignored and missing optional ones read as None,
        so checkpoints written by other versions of the package still load."""
        folder = data.get("folder")
        if not isinstance(folder, str) or not folder:
            raise ValueError(f"a landmark entry needs a 'folder' name, got {dict(data)!r}")
        class_id = data["class_id"] if "class_id" in data else class_id_of(folder)
        return cls(
            folder=folder,
            class_id=None if class_id is None else int(class_id),
            name=str(data.get("name") or display_name(folder)),
            latitude=_optional_float(data.get("latitude")),
            longitude=_optional_float(data.get("longitude")),
            radius_km=_optional_float(data.get("radius_km")),
            city=data.get("city") or None,
            country=data.get("country") or None,
        )


def class_id_of(folder: str) -> int | None:
    """The number of a `NN.Name` folder (`16.Eiffel_Tower` -> 16); None for a plain name."""
    match = _NUMBERED.match(folder)
    return int(match.group(1)) if match else None


def display_name(folder: str) -> str:
    """A readable name derived from a folder name, for classes no catalog describes.

    `12.Kantanagar_Temple` -> `Kantanagar Temple`, `humayun_s_tomb` -> `Humayun's Tomb`,
    `great_wall_of_china` -> `Great Wall of China`. Words that already carry capitals are kept as
    they are (`Monumento_a_la_Revolucion`).
    """
    match = _NUMBERED.match(folder)
    stem = match.group(2) if match else folder
    words: list[str] = []
    for word in re.split(r"[_\s]+", stem):
        if not word:
            continue
        if word.lower() == "s" and words:  # an apostrophe the folder name could not hold
            words[-1] += "'s"
            continue
        if word.islower() and (not words or word not in _SMALL_WORDS):
            word = word[0].upper() + word[1:]
        words.append(word)
    return " ".join(words) or folder


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance between two WGS84 points, in km (spherical Earth: well under 1% error)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlmb = phi2 - phi1, math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def parse_catalog(text: str, source: str) -> dict[str, Landmark]:
    """Landmarks from catalog CSV text, keyed by folder; `source` names the file in error messages.

    Columns: `class` (or `folder`), `name`, `latitude`, `longitude`, and optionally `radius_km`,
    `city`, `country`, `class_id`; other columns are ignored. Lines starting with `#` are comments.
    Blank cells read as absent: a blank name is derived from the folder, blank coordinates mean the
    landmark has no location. Raises `DatasetError` naming the file and line of the first bad row.
    """
    # Blank out comment lines instead of dropping them, so csv's line numbers match the file's.
    lines = ["\n" if line.lstrip().startswith("#") else line for line in text.splitlines(keepends=True)]
    reader = csv.reader(lines)
    try:
        return _parse_rows(reader, source)
    except csv.Error as err:
        raise DatasetError(f"{source}, line {reader.line_num}: not valid CSV: {err}") from None


def _parse_rows(reader: Any, source: str) -> dict[str, Landmark]:
    fields = next(([cell.strip() for cell in row] for row in reader if row), [])
    key = "folder" if "folder" in fields else "class"
    missing = [c for c in (key, "name", "latitude", "longitude") if c not in fields]
    if missing:
        raise DatasetError(
            f"{source}: the header lacks the column(s) {', '.join(missing)} (found: {', '.join(fields) or 'no header'})"
        )
    catalog: dict[str, Landmark] = {}
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        where = f"{source}, line {reader.line_num}"
        if len(cells) > len(fields):
            raise DatasetError(f"{where}: {len(cells)} cells, but the header has {len(fields)} columns")
        row = dict(zip(fields, cells, strict=False))
        folder = _cell(row, key)
        if folder is None:
            raise DatasetError(f"{where}: the {key!r} cell is empty")
        if folder in catalog:
            raise DatasetError(f"{where}: {folder!r} is listed twice")
        try:
            declared_id = _number(row, "class_id")
            if declared_id is not None and declared_id != class_id_of(folder):
                raise ValueError(f"class_id {_cell(row, 'class_id')} does not match the folder's number")
            catalog[folder] = Landmark(
                folder=folder,
                class_id=class_id_of(folder),
                name=_cell(row, "name") or display_name(folder),
                latitude=_number(row, "latitude"),
                longitude=_number(row, "longitude"),
                radius_km=_number(row, "radius_km"),
                city=_cell(row, "city"),
                country=_cell(row, "country"),
            )
        except ValueError as err:
            raise DatasetError(f"{where} ({folder}): {err}") from None
    return catalog


def read_catalog(path: Path) -> dict[str, Landmark]:
    """A catalog CSV file (a dataset's `catalog.csv`), keyed by folder; see `parse_catalog`."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(f"cannot read the landmark catalog {path}: {err}") from None
    return parse_catalog(text, source=str(path))


def builtin_catalog() -> dict[str, Landmark]:
    """The 50 target landmarks, keyed by folder, in class order (a fresh dict: callers may edit it)."""
    return {landmark.folder: landmark for landmark in _builtin_landmarks()}


def catalog_for(classes: Sequence[str], data_root: Path | None = None) -> list[Landmark]:
    """One Landmark per class folder, in order.

    Each class is looked up, in turn, in the dataset's own `catalog.csv` (under `data_root`), in the
    builtin 50 (by folder name, or by the same name written differently: `eiffel_tower` finds
    `16.Eiffel_Tower`), and otherwise gets a name derived from its folder and no coordinates.
    """
    own: dict[str, Landmark] = {}
    if data_root is not None and (Path(data_root) / DATASET_CATALOG).is_file():
        own = read_catalog(Path(data_root) / DATASET_CATALOG)
    builtin = builtin_catalog()
    builtin_by_key = {_match_key(folder): landmark for folder, landmark in builtin.items()}
    landmarks: list[Landmark] = []
    for folder in classes:
        landmark = own.get(folder) or builtin.get(folder)
        if landmark is None and (same := builtin_by_key.get(_match_key(folder))) is not None:
            landmark = dataclasses.replace(same, folder=folder, class_id=class_id_of(folder))
        if landmark is None:
            landmark = Landmark(folder=folder, class_id=class_id_of(folder), name=display_name(folder))
        landmarks.append(landmark)
    return landmarks


@lru_cache(maxsize=1)
def _builtin_landmarks() -> tuple[Landmark, ...]:
    text = resources.files(__name__).joinpath(BUILTIN_CSV).read_text(encoding="utf-8")
    return tuple(parse_catalog(text, source=f"landmarks/catalog/{BUILTIN_CSV}").values())


def _match_key(folder: str) -> str:
    """Folder names that differ only in number prefix, case and punctuation name the same landmark."""
    match = _NUMBERED.match(folder)
    stem = match.group(2) if match else folder
    return re.sub(r"[^0-9a-z]", "", stem.lower())


def _cell(row: Mapping[str, str | None], column: str) -> str | None:
    value = (row.get(column) or "").strip()
    return value or None


def _number(row: Mapping[str, str | None], column: str) -> float | None:
    value = _cell(row, column)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{column} {value!r} is not a number") from None


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
