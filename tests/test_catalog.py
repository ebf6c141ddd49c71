"""The landmark catalog: the shipped 50 targets, dataset catalogs, derived names, bad files."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from landmarks.catalog import (
    Landmark,
    builtin_catalog,
    catalog_for,
    class_id_of,
    display_name,
    great_circle_km,
    read_catalog,
)
from landmarks.errors import DatasetError

# The class folders of the target dataset, exactly as its archive names them.
TARGET_FOLDERS = [
    "00.Haleakala_National_Park", "01.Mount_Rainier_National_Park", "02.Ljubljana_Castle", "03.Dead_Sea",
    "04.Wroclaws_Dwarves", "05.London_Olympic_Stadium", "06.Niagara_Falls", "07.Stonehenge",
    "08.Grand_Canyon", "09.Golden_Gate_Bridge", "10.Edinburgh_Castle", "11.Mount_Rushmore_National_Memorial",
    "12.Kantanagar_Temple", "13.Yellowstone_National_Park", "14.Terminal_Tower", "15.Central_Park",
    "16.Eiffel_Tower", "17.Changdeokgung", "18.Delicate_Arch", "19.Vienna_City_Hall", "20.Matterhorn",
    "21.Taj_Mahal", "22.Moscow_Raceway", "23.Externsteine", "24.Soreq_Cave", "25.Banff_National_Park",
    "26.Pont_du_Gard", "27.Seattle_Japanese_Garden", "28.Sydney_Harbour_Bridge", "29.Petronas_Towers",
    "30.Brooklyn_Bridge", "31.Washington_Monument", "32.Hanging_Temple", "33.Sydney_Opera_House",
    "34.Great_Barrier_Reef", "35.Monumento_a_la_Revolucion", "36.Badlands_National_Park", "37.Atomium",
    "38.Forth_Bridge", "39.Gateway_of_India", "40.Stockholm_City_Hall", "41.Machu_Picchu",
    "42.Death_Valley_National_Park", "43.Gullfoss_Falls", "44.Trevi_Fountain", "45.Temple_of_Heaven",
    "46.Great_Wall_of_China", "47.Prague_Astronomical_Clock", "48.Whitby_Abbey",
    "49.Temple_of_Olympian_Zeus",
]  # fmt: skip

# proxy44 class -> the target folder of the same landmark.
SHARED_WITH_PROXY44 = {
    "taj_mahal": "21.Taj_Mahal",
    "machu_picchu": "41.Machu_Picchu",
    "eiffel_tower": "16.Eiffel_Tower",
    "stonehenge": "07.Stonehenge",
    "great_wall_of_china": "46.Great_Wall_of_China",
    "gateway_of_india": "39.Gateway_of_India",
}


def test_builtin_lists_the_50_target_folders_in_class_order() -> None:
    catalog = builtin_catalog()
    assert list(catalog) == TARGET_FOLDERS
    assert [landmark.class_id for landmark in catalog.values()] == list(range(50))
    assert all(folder == landmark.folder for folder, landmark in catalog.items())


def test_builtin_rows_are_complete_and_in_range() -> None:
    for landmark in builtin_catalog().values():
        assert landmark.name and landmark.city and landmark.country, landmark
        assert landmark.latitude is not None and -90 <= landmark.latitude <= 90, landmark
        assert landmark.longitude is not None and -180 <= landmark.longitude <= 180, landmark
        assert landmark.radius_km is not None and 0 < landmark.radius_km <= 1500, landmark
        # 4 decimals, as the file promises (about 11 m).
        assert round(landmark.latitude, 4) == landmark.latitude
        assert round(landmark.longitude, 4) == landmark.longitude


@pytest.mark.parametrize(
    ("country", "lat_sign", "lon_sign"),
    [("United States", 1, -1), ("Canada", 1, -1), ("Australia", -1, 1), ("Peru", -1, -1), ("China", 1, 1)],
)
def test_builtin_coordinates_lie_in_the_right_hemispheres(country: str, lat_sign: int, lon_sign: int) -> None:
    """West and south are negative: a dropped minus sign puts a landmark on the wrong continent."""
    rows = [lm for lm in builtin_catalog().values() if lm.country == country]
    assert rows, country
    for landmark in rows:
        assert math.copysign(1, landmark.latitude) == lat_sign, landmark
        assert math.copysign(1, landmark.longitude) == lon_sign, landmark


def test_builtin_agrees_with_proxy44_on_the_shared_landmarks(proxy44: Path) -> None:
    theirs = read_catalog(proxy44 / "catalog.csv")
    ours = builtin_catalog()
    for proxy_class, folder in SHARED_WITH_PROXY44.items():
        mine, other = ours[folder], theirs[proxy_class]
        distance = great_circle_km(mine.latitude, mine.longitude, other.latitude, other.longitude)
        # Sources place a landmark's point differently; within its own radius is the same place.
        assert distance <= max(mine.radius_km, 2.0), (folder, distance)
        assert mine.country == other.country, folder


def test_udacity_sample_folders_all_resolve_to_located_landmarks(udacity_sample: Path) -> None:
    classes = sorted(p.name for p in (udacity_sample / "test").iterdir() if p.is_dir())
    landmarks = catalog_for(classes, udacity_sample)
    assert [lm.folder for lm in landmarks] == classes
    assert all(lm.has_location and lm.class_id == class_id_of(lm.folder) for lm in landmarks)
    assert landmarks[classes.index("16.Eiffel_Tower")].name == "Eiffel Tower"


@pytest.mark.parametrize(
    ("folder", "class_id", "name"),
    [
        ("12.Kantanagar_Temple", 12, "Kantanagar Temple"),
        ("00.Haleakala_National_Park", 0, "Haleakala National Park"),
        ("35.Monumento_a_la_Revolucion", 35, "Monumento a la Revolucion"),
        ("humayun_s_tomb", None, "Humayun's Tomb"),
        ("great_wall_of_china", None, "Great Wall of China"),
        ("the_alhambra", None, "The Alhambra"),
        ("Sun  temple__konark", None, "Sun Temple Konark"),
        ("7.x", 7, "X"),
    ],
)
def test_names_derived_from_folders(folder: str, class_id: int | None, name: str) -> None:
    assert class_id_of(folder) == class_id
    assert display_name(folder) == name


def test_dataset_catalog_takes_precedence_then_builtin_then_derived(tmp_path: Path) -> None:
    (tmp_path / "catalog.csv").write_text(
        "# a dataset's own catalog\n"
        "class,name,latitude,longitude,city,country,radius_km\n"
        "16.Eiffel_Tower,La tour Eiffel,48.8582,2.2944,Paris,France,\n"
        "my_tower,My Tower,10.5,-20.25,Someplace,Nowhere,0.5\n"
        "no_place_known,,,,,,\n",
        encoding="utf-8",
    )
    classes = ["16.Eiffel_Tower", "09.Golden_Gate_Bridge", "my_tower", "no_place_known", "humayun_s_tomb"]
    eiffel, golden_gate, mine, unknown, derived = catalog_for(classes, tmp_path)

    assert eiffel == Landmark("16.Eiffel_Tower", 16, "La tour Eiffel", 48.8582, 2.2944, None, "Paris", "France")
    assert golden_gate == builtin_catalog()["09.Golden_Gate_Bridge"]
    assert mine == Landmark("my_tower", None, "My Tower", 10.5, -20.25, 0.5, "Someplace", "Nowhere")
    # Listed but blank: the name is derived and no location is made up.
    assert unknown == Landmark("no_place_known", None, "No Place Known")
    assert derived == Landmark("humayun_s_tomb", None, "Humayun's Tomb")
    assert not unknown.has_location and not derived.has_location


def test_without_a_dataset_catalog_builtin_rows_are_found_by_name(tmp_path: Path) -> None:
    eiffel, unknown = catalog_for(["eiffel_tower", "Some_Unknown_Place"], tmp_path)
    builtin = builtin_catalog()["16.Eiffel_Tower"]
    assert (eiffel.folder, eiffel.class_id, eiffel.name) == ("eiffel_tower", None, "Eiffel Tower")
    assert (eiffel.latitude, eiffel.longitude, eiffel.radius_km) == (
        builtin.latitude,
        builtin.longitude,
        builtin.radius_km,
    )
    assert unknown == Landmark("Some_Unknown_Place", None, "Some Unknown Place")
    assert catalog_for([]) == []


HEADER = "class,name,latitude,longitude,city,country\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("a,A,95.0,10,c,d\n", r"line 3 \(a\): latitude 95.0 is outside \[-90, 90\]"),
        ("a,A,10,-181,c,d\n", r"line 3 \(a\): longitude -181.0 is outside \[-180, 180\]"),
        ("a,A,north,10,c,d\n", r"line 3 \(a\): latitude 'north' is not a number"),
        ("a,A,10,,c,d\n", r"line 3 \(a\): latitude and longitude must be given together"),
        ("a,A,10,10,c,d\na,B,1,1,c,d\n", r"line 4: 'a' is listed twice"),
        (",A,10,10,c,d\n", r"line 3: the 'class' cell is empty"),
        ("a,A,10,10,c,d,extra\n", r"line 3: 7 cells, but the header has 6 columns"),
    ],
)
def test_bad_rows_are_reported_with_file_and_line(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "catalog.csv"
    path.write_text("# comment lines count\n" + HEADER + body, encoding="utf-8")
    with pytest.raises(DatasetError, match=message) as caught:
        catalog_for(["a"], tmp_path)
    assert str(path) in str(caught.value)


def test_a_missing_column_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_text("class,name,lat,lon\na,A,1,2\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"lacks the column\(s\) latitude, longitude"):
        read_catalog(path)


def test_a_class_id_that_contradicts_its_folder_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_text("class_id,folder,name,latitude,longitude\n3,16.Eiffel_Tower,E,1,2\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"line 2 \(16.Eiffel_Tower\): class_id 3 does not match"):
        read_catalog(path)


def test_landmarks_round_trip_through_plain_dicts() -> None:
    for landmark in builtin_catalog().values():
        data = landmark.to_dict()
        assert all(isinstance(v, str | int | float | type(None)) for v in data.values())
        assert Landmark.from_dict(data) == landmark
    # Older or newer checkpoints: missing optional keys read as absent, unknown keys are ignored.
    minimal = Landmark.from_dict({"folder": "12.Kantanagar_Temple", "colour": "red"})
    assert minimal == Landmark("12.Kantanagar_Temple", 12, "Kantanagar Temple")
    with pytest.raises(ValueError, match="folder"):
        Landmark.from_dict({"name": "Nameless"})
    with pytest.raises(ValueError, match="latitude"):
        Landmark.from_dict({"folder": "x", "latitude": 91.0, "longitude": 0.0})


def test_great_circle_distance() -> None:
    assert great_circle_km(0, 0, 0, 1) == pytest.approx(111.195, abs=0.001)
    assert great_circle_km(0, 0, 90, 0) == pytest.approx(math.pi / 2 * 6371.0088)
    assert great_circle_km(10, 179.5, 10, -179.5) == pytest.approx(great_circle_km(10, 0, 10, 1))
