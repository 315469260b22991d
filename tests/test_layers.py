"""docs/architecture.md, "The layers": imports only go down the list of layers.

Two kinds of check. Dynamically, each layer is imported in a fresh interpreter
and ``sys.modules`` must not contain what that layer may not use. Statically,
the source of each layer is parsed and every ``import`` (also inside functions,
where a lazy import would slip past the dynamic check) is held against the
layer's rules; the core must also not use the ``random`` module's global state
or any clock.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "raftviz"

#: Layers in order, top to bottom (the TUI shows lessons, so lessons sit below it);
#: the same order as the layers contract in pyproject.toml (tests/test_import_contracts.py).
LAYER_ORDER = ["cli", "tui", "share", "lessons", "lab", "node", "wire", "core"]
LAYER_PREFIX = {
    "core": "raftviz.core",
    "wire": "raftviz.wire",
    "node": "raftviz.node",
    "lab": "raftviz.lab",
    "tui": "raftviz.tui",
    "share": "raftviz.share",
    "lessons": "raftviz.lessons",
    "cli": "raftviz.cli",
}


def modules_of(layer: str) -> list[str]:
    """Every module of a layer, found on disk (new modules are covered as they appear)."""
    prefix = LAYER_PREFIX[layer]
    rel = Path(*prefix.split("."))
    package_dir = ROOT / rel
    if package_dir.is_dir():
        return sorted(
            ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            for path in package_dir.rglob("*.py")
        )
    if (ROOT / rel).with_suffix(".py").exists():
        return [prefix]
    return []


def files_of(layer: str) -> list[Path]:
    rel = Path(*LAYER_PREFIX[layer].split("."))
    if (ROOT / rel).is_dir():
        return sorted((ROOT / rel).rglob("*.py"))
    single = (ROOT / rel).with_suffix(".py")
    return [single] if single.exists() else []


def loaded_after_importing(modules: list[str]) -> set[str]:
    """Top-level names in sys.modules after importing ``modules`` in a fresh interpreter."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    ("modules", "forbidden"),
    [
        (
            ["raftviz.core.raft", "raftviz.core.kv", "raftviz.core.log"],
            {"socket", "asyncio", "textual", "msgpack", "subprocess"},
        ),
        (modules_of("core"), {"socket", "asyncio", "textual", "msgpack", "subprocess"}),
        (modules_of("wire"), {"textual", "asyncio"}),
        (modules_of("node"), {"textual"}),
        (modules_of("lab"), {"textual"}),
        (modules_of("share"), {"textual"}),
    ],
    ids=["core-raft-kv-log", "core-all", "wire", "node", "lab", "share"],
)
def test_layer_does_not_load_forbidden_modules(modules: list[str], forbidden: set[str]) -> None:
    assert modules, "no modules found for this layer"
    loaded = loaded_after_importing(modules)
    present = sorted(name for name in loaded if name.split(".")[0] in forbidden)
    assert present == [], f"importing {modules} loads {present}"


# ---------------------------------------------------------------------- static checks


def imported_names(tree: ast.AST, module: str) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import statement anywhere in the tree."""
    package = module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if node.level > 1:
                    base = base[: -(node.level - 1)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            # ``from raftviz import wire`` imports the module raftviz.wire.
            found.extend((node.lineno, f"{name}.{alias.name}") for alias in node.names)
    return found


#: What each layer may not import (besides the layers above it), per docs/architecture.md.
STATIC_FORBIDDEN = {
    "core": {
        "socket",
        "asyncio",
        "textual",
        "msgpack",
        "subprocess",
        "select",
        "selectors",
        "threading",
        "time",
        "datetime",
        "os",
        "io",
        "pathlib",
        "tempfile",
        "secrets",
    },
    "wire": {"textual", "asyncio"},
    "node": {"textual"},
    "lab": {"textual"},
    "lessons": {"textual"},
    "share": {"textual"},
}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


@pytest.mark.parametrize("layer", ["core", "wire", "node", "lab", "lessons", "share", "tui"])
def test_imports_only_go_down_the_layers(layer: str) -> None:
    above = LAYER_ORDER[: LAYER_ORDER.index(layer)]
    forbidden_layers = [LAYER_PREFIX[a] for a in above]
    problems = []
    for path in files_of(layer):
        module = module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, name in imported_names(tree, module):
            top = name.split(".")[0]
            if top in STATIC_FORBIDDEN.get(layer, set()):
                problems.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
            for prefix in forbidden_layers:
                if name == prefix or name.startswith(prefix + "."):
                    problems.append(f"{path.relative_to(ROOT)}:{line} imports {name} from a layer above")
    assert problems == []


def test_core_uses_only_injected_seeded_randomness_and_no_clock() -> None:
    """The core may name ``random.Random`` (the type it is given), nothing else of ``random``."""
    problems = []
    for path in files_of("core"):
        rel = path.relative_to(ROOT)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "random":
                bad = [a.name for a in node.names if a.name != "Random"]
                if bad:
                    problems.append(f"{rel}:{node.lineno} imports {bad} from random")
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if node.value.id == "random" and node.attr != "Random":
                    problems.append(f"{rel}:{node.lineno} uses random.{node.attr} (global random state)")
                if node.value.id in ("time", "datetime"):
                    problems.append(f"{rel}:{node.lineno} reads a clock: {node.value.id}.{node.attr}")
            elif isinstance(node, ast.Call):
                func = node.func
                named_random = (isinstance(func, ast.Attribute) and func.attr == "Random") or (
                    isinstance(func, ast.Name) and func.id == "Random"
                )
                if named_random and not node.args and not node.keywords:
                    problems.append(f"{rel}:{node.lineno} builds an unseeded Random()")
    assert problems == []


def test_core_source_text_has_no_global_random_or_clock_calls() -> None:
    """A plain text scan as a second line of defence (catches aliasing the AST check might miss)."""
    pattern = re.compile(
        r"\brandom\.(rand|choice|seed|shuffle|sample|uniform|random|gauss|getrandbits)"
        r"|\b(time|datetime)\.[A-Za-z_]|\bdatetime\b|\bmonotonic\(|\bperf_counter\("
    )
    problems = []
    for path in files_of("core"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            match = pattern.search(code)
            if match:
                problems.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)!r} in {line.strip()!r}")
    assert problems == []
