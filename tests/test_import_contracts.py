"""The package's import structure: import-linter's contracts hold, and no module imports itself in a circle.

The contracts (layers, a pure core, a wire without I/O, textual and rich only
where they belong) are declared in pyproject.toml under ``[tool.importlinter]``
and checked by running ``lint-imports``. Circles are found here, over the
``import`` statements themselves (also those inside functions, which a lazy
import would otherwise hide), because a circle between two modules of the same
layer breaks no layer contract and still makes each module impossible to
understand, test or move without the other.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "raftviz"


def test_import_linter_contracts_hold() -> None:
    lint_imports = str(Path(sys.executable).parent / "lint-imports")
    if not Path(lint_imports).exists():
        lint_imports = shutil.which("lint-imports") or lint_imports
    if not Path(lint_imports).exists():
        pytest.skip("import-linter is not installed (it is in the test extra)")
    result = subprocess.run(
        [lint_imports, "--no-cache", "--no-logo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_layer_has_a_contract() -> None:
    """A new top-level package or module must be placed in the layers contract, not silently left out."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers")["layers"]
    top_level = sorted(
        f"raftviz.{path.stem}"
        for path in PACKAGE.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").exists()
    )
    assert sorted(layers) == top_level


# ---------------------------------------------------------------------- circles


def module_names() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    return {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The raftviz modules ``module`` imports, wherever the import statement is."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            # ``from raftviz.wire import control`` imports the module raftviz.wire.control.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            # ``import raftviz.lab.lab`` names the module itself; anything else, its nearest known parent.
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != module:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    known = set(modules)
    return {name: imports_of(name, path, known) for name, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_cycle_finder_finds_a_planted_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"d"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_relative_and_submodule_imports_resolve(tmp_path: Path) -> None:
    source = tmp_path / "__init__.py"
    source.write_text("from . import control\nfrom .validate import WireError\nimport raftviz.core.kv\n")
    known = {"raftviz.wire", "raftviz.wire.control", "raftviz.wire.validate", "raftviz.core"}
    known.add("raftviz.core.kv")
    assert imports_of("raftviz.wire", source, known) == {
        "raftviz.wire.control",
        "raftviz.wire.validate",
        "raftviz.core.kv",
    }


def test_no_import_circles_among_raftviz_modules() -> None:
    assert circles(import_graph()) == []
