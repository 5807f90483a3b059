"""Dependencies point one way (webui → maild → store, maild → rules), and `maild pipe` starts light.

An AST walk over every module finds every import, including the ones inside functions;
the pipe's fast path is checked both statically and in a fresh interpreter.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("maild", "store", "rules", "webui")
HEAVY = ("peewee", "playhouse", "mailparser", "jinja2", "psycopg", "aiosmtpd")

# What each package may import from the others (itself is always allowed).
ALLOWED = {
    "store": set(),
    "rules": set(),
    "maild": {"store", "rules"},
    "webui": {"maild", "store", "rules"},
}


def modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (REPO / package).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, *, top_level_only: bool = False) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import in `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found = []
    for node in _walk(tree, top_level_only):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            # `from store import models` names a module, too.
            found += [(node.lineno, f"{name}.{alias.name}") for alias in node.names]
    return found


def _walk(tree: ast.AST, top_level_only: bool):
    """Every node, or (top_level_only) every node not inside a function body."""
    if not top_level_only:
        yield from ast.walk(tree)
        return
    pending = list(ast.iter_child_nodes(tree))
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        yield node
        pending.extend(ast.iter_child_nodes(node))


def top(name: str) -> str:
    return name.partition(".")[0]


def test_every_package_is_found():
    names = {module_name(p) for p in modules()}
    assert set(PACKAGES) <= names
    assert "maild.cli" in names
    assert "store.accept" in names


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_imports_point_one_way(path):
    own = top(module_name(path))
    forbidden = set(PACKAGES) - ALLOWED[own] - {own}
    wrong = [f"line {line}: {name}" for line, name in imported(path) if top(name) in forbidden]
    assert not wrong, f"{path.relative_to(REPO)} ({own}) must not import {sorted(forbidden)}"


@pytest.mark.parametrize(
    "path", sorted((REPO / "maild").rglob("*.py")), ids=lambda p: str(p.relative_to(REPO))
)
def test_maild_imports_webui_only_in_the_command_line(path):
    if path == REPO / "maild" / "cli.py":
        return
    assert not [name for _, name in imported(path) if top(name) == "webui"]


@pytest.mark.parametrize(
    "path", sorted((REPO / "rules").rglob("*.py")), ids=lambda p: str(p.relative_to(REPO))
)
def test_rules_use_only_the_standard_library(path):
    outside = [
        name
        for _, name in imported(path)
        if top(name) not in sys.stdlib_module_names and top(name) not in ("rules", "__future__")
    ]
    assert not outside


@pytest.mark.parametrize("module", ["maild/pipe.py", "store/accept.py", "maild/cli.py"])
def test_fast_path_modules_import_no_heavy_library_at_module_level(module):
    heavy = [
        f"line {line}: {name}"
        for line, name in imported(REPO / module, top_level_only=True)
        if top(name) in HEAVY
    ]
    assert not heavy


def test_pipe_fast_path_loads_no_heavy_library_in_a_fresh_interpreter():
    code = (
        "import json, sys\n"
        "import maild.cli, maild.pipe, maild.config, store.accept\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert "maild.pipe" in loaded
    assert not [name for name in loaded if top(name) in HEAVY]
