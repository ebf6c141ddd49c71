"""`--tags`: keywords and place names are added beside the GPS, never duplicated, and undone exactly.

Read back with the exiftool binary.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from geotag_helpers import EIFFEL, FakePredictor, exiftool_json, exiftool_run, make_photo

from landmarks.catalog.countries import country_code
from landmarks.geotag.batch import GeotagOptions, geotag
from landmarks.geotag.metadata import WriteMode
from landmarks.geotag.places import add_places
from landmarks.geotag.undo import undo

WAT = ("Wat Phra Kaew", 13.7516, 100.4927, 0.2, "Bangkok", "Thailand")
HALEAKALA = ("Haleakalā National Park", 20.7204, -156.1552, 10.0, "Maui", "United States")


def _geotag(photo: Path, report: Path, landmark: tuple = EIFFEL, **options: object) -> str:
    predictor = FakePredictor({photo.name: (landmark, 0.9)})
    summary = geotag([photo], predictor, report, options=GeotagOptions(**options))  # type: ignore[arg-type]
    return str(summary.results[0].action)


def _keywords(path: Path) -> dict[str, object]:
    tags = exiftool_json(path)
    keys = ("XMP-dc:Subject", "XMP-lr:HierarchicalSubject", "IPTC:Keywords", "XMP-photoshop:City",
            "XMP-photoshop:Country", "XMP-iptcCore:Location", "XMP-iptcCore:CountryCode")  # fmt: skip
    return {k: tags.get(k) for k in keys}


def test_tags_are_added_to_the_existing_keywords_and_undo_removes_exactly_them(rich_jpeg: Path, tmp_path: Path) -> None:
    before = exiftool_json(rich_jpeg)
    assert _geotag(rich_jpeg, tmp_path / "a.csv", tags=True) == "written"
    got = _keywords(rich_jpeg)
    assert got == {
        "XMP-dc:Subject": ["holiday", "Eiffel Tower", "Paris", "France"],
        "XMP-lr:HierarchicalSubject": ["Places|France|Paris|Eiffel Tower"],
        "IPTC:Keywords": ["travel", "Eiffel Tower", "Paris", "France"],
        "XMP-photoshop:City": "Paris",
        "XMP-photoshop:Country": "France",
        "XMP-iptcCore:Location": "Eiffel Tower",
        "XMP-iptcCore:CountryCode": "FR",
    }
    after = exiftool_json(rich_jpeg)
    for key in ("IFD0:Artist", "XMP-dc:Title", "XMP-xmp:Rating", "IPTC:City", "IFD0:Make"):
        assert after[key] == before[key]

    # a rerun over the same photo (forced) adds nothing twice
    assert _geotag(rich_jpeg, tmp_path / "b.csv", tags=True, overwrite_gps=True) == "written"
    assert _keywords(rich_jpeg) == got

    # the user adds a keyword and renames the city after our write: undo keeps both
    exiftool_run("-overwrite_original", "-XMP-dc:Subject+=family", "-XMP-photoshop:City=Paris 7e", str(rich_jpeg))
    assert undo(tmp_path / "b.csv").ok and undo(tmp_path / "a.csv").ok
    restored = _keywords(rich_jpeg)
    assert restored["XMP-dc:Subject"] == ["holiday", "family"]
    assert restored["IPTC:Keywords"] == "travel"
    assert restored["XMP-lr:HierarchicalSubject"] is None and restored["XMP-iptcCore:CountryCode"] is None
    assert restored["XMP-photoshop:City"] == "Paris 7e" and restored["XMP-photoshop:Country"] is None
    assert exiftool_json(rich_jpeg).get("Composite:GPSLatitude") is None


def test_sidecars_get_tags_by_default_and_a_created_one_is_removed_by_undo(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "wat.jpg")
    assert _geotag(photo, tmp_path / "a.csv", WAT, write=WriteMode.XMP) == "written"
    sidecar = tmp_path / "wat.jpg.xmp"
    got = _keywords(sidecar)
    assert got["XMP-dc:Subject"] == ["Wat Phra Kaew", "Bangkok", "Thailand"]
    assert got["XMP-iptcCore:CountryCode"] == "TH" and got["IPTC:Keywords"] is None  # no IPTC in XMP
    assert undo(tmp_path / "a.csv").counts == {"removed sidecar": 1}
    assert not sidecar.exists()


def test_a_created_sidecar_with_the_users_keywords_added_since_is_kept(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "wat.jpg")
    assert _geotag(photo, tmp_path / "a.csv", WAT, write=WriteMode.XMP) == "written"
    sidecar = tmp_path / "wat.jpg.xmp"
    exiftool_run("-overwrite_original", "-XMP-dc:Subject+=temple", str(sidecar))
    assert undo(tmp_path / "a.csv").counts == {"restored": 1}
    assert _keywords(sidecar)["XMP-dc:Subject"] == ["temple"]
    assert exiftool_json(sidecar).get("XMP-exif:GPSLatitude") is None


def test_non_ascii_names_go_into_iptc_only_when_it_declares_utf8(tmp_path: Path) -> None:
    plain = make_photo(tmp_path / "plain.jpg", seed=1)
    utf8 = make_photo(tmp_path / "utf8.jpg", seed=2)
    exiftool_run("-overwrite_original", "-IPTC:CodedCharacterSet=UTF8", "-IPTC:Keywords=hike", str(utf8))
    for photo, report in ((plain, "a.csv"), (utf8, "b.csv")):
        assert _geotag(photo, tmp_path / report, HALEAKALA, tags=True) == "written"
    assert _keywords(plain)["IPTC:Keywords"] == ["Maui", "United States"]
    assert _keywords(utf8)["IPTC:Keywords"] == ["hike", "Haleakalā National Park", "Maui", "United States"]
    assert _keywords(plain)["XMP-dc:Subject"] == ["Haleakalā National Park", "Maui", "United States"]


def test_keywords_are_matched_without_letter_case_and_fields_already_set_are_kept() -> None:
    current = {"XMP-dc:Subject": ["paris", "Trip"], "XMP-photoshop:City": "Lutetia"}
    tags, added = add_places(current, "Eiffel Tower", "Paris", "France", iptc=False)
    assert tags["XMP-dc:Subject"] == ["paris", "Trip", "Eiffel Tower", "France"]
    assert "XMP-photoshop:City" not in tags and "IPTC:Keywords" not in tags
    assert added["XMP-dc:Subject"] == ["Eiffel Tower", "France"]


@pytest.mark.parametrize(
    ("name", "code"), [("France", "FR"), ("united kingdom", "GB"), ("Canada / United States", None)]
)
def test_country_codes(name: str, code: str | None) -> None:
    assert country_code(name) == code
