"""What `predict` and `geotag` accept on the command line: expansion, symlink loops, every input reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from helpers import synthetic_photo
from landmarks.cli import app
from landmarks.cli.inputs import expand_inputs
from landmarks.data.images import IMAGE_EXTENSIONS, load_rgb
from landmarks.errors import UnsupportedFormatError

runner = CliRunner()


def _photo(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    synthetic_photo(seed % 4, seed, (80, 64)).save(path)
    return path


@pytest.fixture
def looped(tmp_path: Path) -> Path:
    """A tree whose folder symlinks point back up it (loop -> tree, a/up -> ..)."""
    tree = tmp_path / "tree"
    _photo(tree / "top.jpg", 1)
    _photo(tree / "a" / "deep.jpg", 2)
    (tree / "loop").symlink_to(tree, target_is_directory=True)
    (tree / "a" / "up").symlink_to("..", target_is_directory=True)
    return tree


EXPAND = """
import sys
from landmarks.cli.inputs import expand_inputs
photos, problems = expand_inputs([sys.argv[1]], recursive=True)
print(len(photos))
"""


@pytest.mark.parametrize("pattern", ["**/*.jpg", "loop/**/*.jpg", "**", "a/**/*.jpg"])
def test_a_recursive_glob_does_not_follow_folder_symlinks_into_loops(looped: Path, pattern: str) -> None:
    # in a child process: the unfixed expansion never ends (and grows without bound)
    src = Path(__file__).resolve().parents[2] / "src"
    proc = subprocess.run(
        [sys.executable, "-c", EXPAND, str(looped / pattern)],
        capture_output=True,
        text=True,
        timeout=20,
        env={**os.environ, "PYTHONPATH": str(src)},
        check=True,
    )
    expected = {"**/*.jpg": 2, "loop/**/*.jpg": 2, "**": 2, "a/**/*.jpg": 1}[pattern]  # a named link is entered
    assert int(proc.stdout) == expected


def test_glob_rules_are_kept(tmp_path: Path) -> None:
    top, nested = _photo(tmp_path / "A.JPG", 1), _photo(tmp_path / "sub" / "deeper" / "b.png", 2)
    _photo(tmp_path / ".hidden" / "c.jpg", 3)
    _photo(tmp_path / "sub" / ".d.jpg", 4)
    photos, problems = expand_inputs([str(tmp_path / "**" / "*.[pP][nN][gG]")], recursive=True)
    assert photos == [nested] and problems == []
    photos, _ = expand_inputs([str(tmp_path / "**")], recursive=True)
    assert photos == [top, nested]  # hidden folders and files are left out, as glob does
    photos, _ = expand_inputs([str(tmp_path / "sub" / "**" / "*.png")], recursive=True)
    assert photos == [nested]


def test_gif_is_one_of_the_formats_we_read_everywhere(tmp_path: Path) -> None:
    gif = tmp_path / "anim.gif"
    Image.new("P", (64, 48), 3).save(gif)
    photos, problems = expand_inputs([tmp_path])
    assert photos == [gif] and problems == []  # folder scans pick it up
    assert load_rgb(gif).size == (64, 48)  # and it is read
    assert ".gif" in IMAGE_EXTENSIONS
    (tmp_path / "notes.gif").write_text("not an image")
    with pytest.raises(UnsupportedFormatError) as caught:
        load_rgb(tmp_path / "notes.gif")
    assert all(ext in str(caught.value) for ext in IMAGE_EXTENSIONS)  # the message lists the same set


def test_predict_json_lists_every_input_and_exits_3(tiny_checkpoint: Path, tmp_path: Path) -> None:
    good = _photo(tmp_path / "good.jpg", 1)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a jpeg")
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = tmp_path / "missing.jpg"
    args = [str(missing), str(good), str(broken), str(empty), str(tmp_path / "*.webp")]
    res = runner.invoke(app, ["predict", *args, "--checkpoint", str(tiny_checkpoint), "--json"])
    assert res.exit_code == 3, res.output
    records = json.loads(res.stdout[res.stdout.index("[") :])
    assert [Path(r["source"]).name for r in records] == ["missing.jpg", "good.jpg", "broken.jpg", "empty", "*.webp"]
    assert "top" in records[1] and "error" not in records[1]
    errors = {Path(r["source"]).name: r["error"] for r in records if "error" in r}
    assert "no such file" in errors["missing.jpg"]
    assert "no photos" in errors["empty"] and "no photos match" in errors["*.webp"]
    assert errors["broken.jpg"]

    ok = runner.invoke(app, ["predict", str(good), "--checkpoint", str(tiny_checkpoint), "--json"])
    assert ok.exit_code == 0


def test_predict_help_documents_the_exit_status() -> None:
    res = runner.invoke(app, ["predict", "--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    assert res.exit_code == 0
    assert "Exit status" in res.output and "3 when any input failed" in res.output
