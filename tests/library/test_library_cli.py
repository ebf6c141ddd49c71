"""`landmarks library scan | stats | export` through the console entry point."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from landmarks.cli import main


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["landmarks", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_scan_stats_export(
    library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "i.sqlite"
    code, out, err = _run(monkeypatch, capsys, "library", "scan", library, "--db", db, "-q")
    assert code == 0 and "7 photos" in out and "new" in out and "warning: broken.jpg: not an image" in err
    code, out, _ = _run(monkeypatch, capsys, "library", "scan", library, "--db", db, "-q")
    assert code == 0 and re.search(r"unchanged\s+7\n", out) and "new" not in out

    code, out, _ = _run(monkeypatch, capsys, "library", "stats", library, "--db", db)
    assert code == 0 and "7 photos (1 unreadable), 0 missing" in out
    assert "located by: gps 5, landmark 0, estimate 0, none 1" in out

    geojson, table = tmp_path / "out" / "map.geojson", tmp_path / "out" / "photos.csv"
    code, out, _ = _run(monkeypatch, capsys, "library", "export", library, "--db", db, "--geojson", geojson,
                        "--csv", table)  # fmt: skip
    assert code == 0 and "5 located photos" in out and "6 photos" in out
    assert len(json.loads(geojson.read_text())["features"]) == 5
    assert len(table.read_text().splitlines()) == 7


def test_no_recursive_and_the_default_index(
    library: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(monkeypatch, capsys, "library", "scan", library, "--no-recursive", "-q")
    assert code == 0 and "3 photos" in out
    code, out, _ = _run(monkeypatch, capsys, "library", "stats", library)
    assert code == 0 and "3 photos" in out


def test_errors_are_one_line(
    library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(monkeypatch, capsys, "library", "stats", library)
    assert code == 1 and err.count("\n") == 1 and "run `landmarks library scan" in err
    code, _, err = _run(monkeypatch, capsys, "library", "export", library)
    assert code == 2 and "--geojson FILE and/or --csv FILE" in err
    (tmp_path / "bad.sqlite").write_bytes(b"not a database at all" * 100)
    code, _, err = _run(monkeypatch, capsys, "library", "scan", library, "--db", tmp_path / "bad.sqlite", "-q")
    assert code == 1 and err.count("\n") == 1 and "damaged or not a landmarks index" in err
