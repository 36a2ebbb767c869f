"""The package's layout rules (#17): imports go downward only (core -> services -> commands -> CLI), and no two
modules, functions or classes share the names that once meant two different things."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "segbench"
LAYERS = {
    0: ("_checks", "_docs", "counts", "reduction", "registry", "errors", "losses", "metrics", "models", "__init__",
        "__main__"),
    1: ("files", "data", "stats", "scoring", "trivial", "distributed", "formatting", "schedule"),
    2: ("compare", "evaluate", "inspect", "report"),
    3: ("sweep",),  # a study made of commands: runs compare's experiments, builds on the report (#23)
    4: ("cli",),
}
LAYER = {top: level for level, tops in LAYERS.items() for top in tops}


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts)


def _top(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def _imported_tops(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        if isinstance(node, ast.ImportFrom) and node.module == "segbench":
            names = [f"segbench.{a.name}" for a in node.names]
        found |= {n.split(".")[1] for n in names if n.startswith("segbench.")}
    return found


def test_every_module_has_a_layer_and_imports_go_downward_only() -> None:
    # e.g. a metric module importing segbench.scoring, or compare importing the report, would fail here
    upward = []
    for path in _modules():
        top = _top(path)
        assert top in LAYER, f"{path.relative_to(SRC)}: give its package a layer in this test"
        if top in ("__init__", "__main__"):
            continue  # the package root re-exports, __main__ runs the CLI
        for imported in _imported_tops(ast.parse(path.read_text())):
            sideways = LAYER[top] == 2 and LAYER.get(imported) == 2  # one command never imports another
            if imported != top and (LAYER.get(imported, 0) > LAYER[top] or sideways):
                upward.append(f"{path.relative_to(SRC)} imports segbench.{imported}")
    assert upward == []


def test_no_two_modules_named_alike_where_names_drifted() -> None:
    names = Counter(p.name for p in _modules())
    assert [n for n in ("io.py", "labels.py", "results.py") if names[n] > 0] == []
    defined: Counter[str] = Counter()
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in ("to_labels", "RunData", "slug"):
                defined[node.name] += 1
    assert defined == Counter({"to_labels": 1, "RunData": 1, "slug": 1})
