"""The import graph of `src/landmarks` points one way (docs/ARCHITECTURE.md): no upward import, no cycle.

Every import counts, at module level, inside functions or under TYPE_CHECKING: an import hidden in a
function is still an arrow in the graph.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "landmarks"

LAYERS: dict[str, int] = {
    "settings": 0,
    "errors": 0,
    "atomic": 0,
    "state": 0,
    "catalog": 0,
    "data": 1,
    "models": 1,
    "runtime_onnx": 1,
    "retrieval": 1,
    "engine": 2,
    "export": 2,
    "inference": 3,
    "geotag": 4,
    "library": 4,
    "serve": 4,
    "batch": 4,
    "cli": 5,
    "__main__": 5,
}
"""Lower numbers are lower layers; a module may import its own layer's package and the layers below."""

FACADE = "landmarks"
"""The root package: `__version__` for everyone, and `landmarks.predict`, a lazy door into inference."""


def unit_of(module: str) -> str:
    """`landmarks.engine.train` -> `engine`; the root package -> `landmarks`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else FACADE


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, source: str | None = None) -> list[tuple[str, int]]:
    """(imported module, line) for every import statement in the file (or `source` as if it were that
    file), wherever it sits."""
    text = path.read_text(encoding="utf-8") if source is None else source
    tree = ast.parse(text, filename=str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target == FACADE:  # `from landmarks import engine` names a subpackage, `__version__` the facade
                found += [(_submodule(a.name), node.lineno) for a in node.names]
            else:
                found.append((target, node.lineno))
    return [(name, line) for name, line in found if name == FACADE or name.startswith(f"{FACADE}.")]


def _submodule(name: str) -> str:
    return f"{FACADE}.{name}" if (SRC / name).is_dir() or (SRC / f"{name}.py").is_file() else FACADE


def graph() -> list[tuple[str, str, str]]:
    """(importing unit, imported unit, where) for every import between two different units."""
    edges = []
    for path in sorted(SRC.rglob("*.py")):
        source = module_name(path)
        for target, line in imports_of(path):
            a, b = unit_of(source), unit_of(target)
            if a != b:
                edges.append((a, b, f"{path.relative_to(SRC.parent)}:{line} imports {target}"))
    return edges


def test_every_unit_has_a_layer() -> None:
    units = {module_name(p).split(".")[1] for p in SRC.rglob("*.py") if module_name(p) != FACADE}
    assert units <= set(LAYERS), f"add {sorted(units - set(LAYERS))} to LAYERS and docs/ARCHITECTURE.md"


def upward(edges: list[tuple[str, str, str]]) -> list[str]:
    """The edges that point up a layer; the facade may only open `inference` (for `landmarks.predict`)."""
    bad = []
    for a, b, where in edges:
        if a == FACADE:
            if b != "inference":
                bad.append(where)
        elif b != FACADE and LAYERS[b] > LAYERS[a]:
            bad.append(where)
    return bad


def cycles(edges: list[tuple[str, str, str]]) -> list[str]:
    """Pairs of units that reach each other through the import graph."""
    nexts: dict[str, set[str]] = {}
    for a, b, _ in edges:
        if FACADE not in (a, b):
            nexts.setdefault(a, set()).add(b)

    def reaches(start: str, goal: str) -> bool:
        seen, todo = {start}, [start]
        while todo:
            for nxt in nexts.get(todo.pop(), ()):
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    return sorted({" <-> ".join(sorted((a, b))) for a in nexts for b in nexts[a] if reaches(b, a)})


def test_no_layer_imports_a_higher_one() -> None:
    bad = upward(graph())
    assert not bad, "imports that point up a layer:\n" + "\n".join(bad)


def test_no_cycle_between_units() -> None:
    found = cycles(graph())
    assert not found, f"import cycles between packages: {found}"


def test_the_rules_catch_what_they_forbid() -> None:
    """The cycle this repository once had: engine -> inference (calibration), inference -> engine (trainer)."""
    edges = [("engine", "inference", "e"), ("inference", "engine", "i"), ("data", "models", "d")]
    assert upward(edges) == ["e"]
    assert cycles(edges) == ["engine <-> inference"]
    assert cycles([("data", "models", ""), ("models", "catalog", "")]) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from landmarks.engine.train import fit\n", ["landmarks.engine.train"]),
        ("def f():\n    from landmarks.cli import app\n", ["landmarks.cli"]),
        ("import typing\nif typing.TYPE_CHECKING:\n    import landmarks.serve.app\n", ["landmarks.serve.app"]),
        ("from . import checkpoint\n", ["landmarks.engine"]),
        ("from landmarks import __version__\n", ["landmarks"]),
    ],
)
def test_the_checker_sees_every_kind_of_import(source: str, expected: list[str]) -> None:
    probe = SRC / "engine" / "probe.py"  # never written: the source is parsed as if it sat there
    assert [name for name, _ in imports_of(probe, source)] == expected
