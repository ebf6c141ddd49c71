"""Keywords and place names beside the coordinates (`--tags`): what photo managers search by.

Written: XMP dc:subject (landmark, city, country), lr:hierarchicalSubject (`Places|Country|City|
Landmark`), IPTC Keywords where the format has IPTC (JPEG, TIFF), and photoshop:City,
photoshop:Country, Iptc4xmpCore:Location and Iptc4xmpCore:CountryCode. digiKam, Lightroom,
darktable and Immich read these.

Keywords are *added*: every existing one is kept, and one already there (in any letter case) is not
added again, so a rerun adds nothing. A place field that already has a value is left alone. What
was added is recorded (`added`), and undo removes exactly that: a keyword the user added since
stays, and a place field the user changed since is not cleared.

IPTC without a declared UTF-8 character set is Latin-1 to its readers, so a keyword that is not
ASCII goes into IPTC only when the file's IPTC says UTF-8 (it is always in XMP).
"""

from __future__ import annotations

from typing import Any

from landmarks.catalog.countries import country_code

LIST_TAGS = ("XMP-dc:Subject", "XMP-lr:HierarchicalSubject", "IPTC:Keywords")
SCALAR_TAGS = ("XMP-photoshop:City", "XMP-photoshop:Country", "XMP-iptcCore:Location", "XMP-iptcCore:CountryCode")
PLACE_TAGS = LIST_TAGS + SCALAR_TAGS
IPTC_CHARSET = "IPTC:CodedCharacterSet"
IPTC_TYPES = frozenset({"JPEG", "TIFF"})
"""Formats exiftool writes IPTC into (and that readers look for it in)."""
_UTF8 = {"UTF8", "\x1b%G"}


def as_list(value: Any) -> list[str]:
    """exiftool JSON gives one keyword as a string, several as a list."""
    if value is None or value == "":
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def wanted(landmark: str, city: str | None, country: str | None) -> dict[str, Any]:
    """The values `--tags` writes for one landmark (lists for keywords, strings for place fields)."""
    words = [w for w in (landmark, city, country) if w]
    path = "|".join(["Places", *(p for p in (country, city) if p), landmark])
    values: dict[str, Any] = {
        "XMP-dc:Subject": words,
        "XMP-lr:HierarchicalSubject": [path],
        "IPTC:Keywords": words,
        "XMP-photoshop:City": city,
        "XMP-photoshop:Country": country,
        "XMP-iptcCore:Location": landmark,
        "XMP-iptcCore:CountryCode": country_code(country),
    }
    return {k: v for k, v in values.items() if v}


def add_places(
    current: dict[str, Any], landmark: str, city: str | None, country: str | None, *, iptc: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(tags to write, what they add) for a file whose place tags are `current` (exiftool JSON)."""
    utf8 = str(current.get(IPTC_CHARSET) or "") in _UTF8
    tags: dict[str, Any] = {}
    added: dict[str, Any] = {}
    for key, value in wanted(landmark, city, country).items():
        if key in LIST_TAGS:
            if key.startswith("IPTC:") and not iptc:
                continue
            have = as_list(current.get(key))
            folded = {h.casefold() for h in have}
            new = [
                v for v in value if v.casefold() not in folded and (utf8 or not key.startswith("IPTC:") or v.isascii())
            ]
            if new:
                tags[key], added[key] = have + new, new
        elif not current.get(key):
            tags[key] = added[key] = value
    return tags, added


def remove_places(current: dict[str, Any], added: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """(tags to write, tags to delete) that take `added` back out of a file's `current` place tags."""
    tags: dict[str, Any] = {}
    clear: list[str] = []
    for key, value in added.items():
        if key in LIST_TAGS:
            have = as_list(current.get(key))
            ours = {v.casefold() for v in as_list(value)}
            keep = [h for h in have if h.casefold() not in ours]
            if keep != have:
                clear.append(key)
                if keep:
                    tags[key] = keep
        elif key in SCALAR_TAGS and current.get(key) == value:
            clear.append(key)
    return tags, tuple(clear)


def check_added(added: Any) -> str | None:
    """Why a recorded `added` (from a report anyone can edit) is not one a write of ours made."""
    if not isinstance(added, dict):
        return "its added tags are not a set of tags"
    foreign = sorted(str(k) for k in added if k not in PLACE_TAGS)
    if foreign:
        return f"it would remove {', '.join(foreign)}, which geotag never adds"
    return None
