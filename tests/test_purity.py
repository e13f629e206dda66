"""The sans-I/O boundary (design §1.1): pure modules import no I/O, clocks or concurrency.

Checked with ``ast`` (nothing is imported): every module under ``feedgate/protocol/`` and every
module of every venue folder except its ``__init__.py`` and ``options.py``, found by globbing, so a
new venue is covered without touching this file. ``feedgate`` modules they import are followed, so
a pure module cannot reach asyncio through a helper either.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "feedgate"
FORBIDDEN = frozenset(
    {"asyncio", "socket", "websockets", "redis", "time", "aiohttp", "selectors", "threading"}
)
NOT_PURE = {"__init__.py", "options.py"}


def pure_modules() -> list[Path]:
    modules = sorted((PACKAGE / "protocol").glob("*.py"))
    for venue in sorted(PACKAGE.glob("venues/*/")):
        if not venue.is_dir() or venue.name.startswith("_") or not (venue / "__init__.py").exists():
            continue
        modules += sorted(p for p in venue.glob("*.py") if p.name not in NOT_PURE)
    return modules


def imported_names(tree: ast.AST, module: str) -> list[tuple[str, int]]:
    """Absolute names of everything ``tree`` imports, anywhere in the module, with line numbers.

    ``module`` (dotted) resolves relative imports. ``importlib.import_module("x")`` and
    ``__import__("x")`` with a literal name count as imports too.
    """
    names: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: -node.level]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names.append((prefix, node.lineno))
            names += [(f"{prefix}.{alias.name}", node.lineno) for alias in node.names]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if called in {"import_module", "__import__"} and isinstance(first, ast.Constant):
                names.append((str(first.value), node.lineno))
    return names


def dotted(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def feedgate_file(name: str, src: Path = SRC) -> Path | None:
    """The source file of a ``feedgate`` module name (None for names that are not modules)."""
    base = src.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def violations(start: Path, src: Path = SRC) -> list[str]:
    """Forbidden imports in ``start`` or in any ``feedgate`` module it reaches."""
    found: list[str] = []
    seen: set[Path] = set()
    todo: list[tuple[Path, tuple[str, ...]]] = [(start, ())]
    while todo:
        path, chain = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        module = dotted(path, src)
        for name, line in imported_names(ast.parse(path.read_text(), str(path)), module):
            root = name.split(".")[0]
            where = " -> ".join((*chain, f"{module}:{line}"))
            if root in FORBIDDEN:
                found.append(f"{where} imports {name}")
            elif root == "feedgate":
                parts = name.split(".")
                for end in range(1, len(parts) + 1):  # packages run their __init__ too
                    target = feedgate_file(".".join(parts[:end]), src)
                    if target is not None:
                        todo.append((target, (*chain, module)))
    return found


MODULES = pure_modules()


def test_discovery_finds_the_pure_layer_and_every_venue() -> None:
    names = {dotted(p) for p in MODULES}
    assert {"feedgate.protocol.book", "feedgate.protocol.base", "feedgate.protocol.plan"} <= names
    assert {"feedgate.venues.binance.protocol", "feedgate.venues.binance.wire"} <= names
    venues = {p.name for p in PACKAGE.glob("venues/*/") if (p / "__init__.py").exists()}
    assert venues <= {p.parent.name for p in MODULES if p.parent.parent.name == "venues"}
    assert not any(p.name in NOT_PURE and p.parent.parent.name == "venues" for p in MODULES)


@pytest.mark.parametrize("path", MODULES, ids=[dotted(p) for p in MODULES])
def test_module_is_pure(path: Path) -> None:
    assert violations(path) == []


@pytest.mark.parametrize(
    "source",
    [
        "import time",
        "import asyncio.subprocess",
        "import socket as s",
        "from redis.asyncio import Redis",
        "from websockets import connect",
        "def f():\n    import threading\n    return threading",
        "class C:\n    def m(self):\n        from selectors import DefaultSelector",
        "import importlib\nimportlib.import_module('aiohttp')",
        "__import__('time')",
    ],
    ids=[
        "time",
        "submodule",
        "alias",
        "from",
        "from-ws",
        "in-function",
        "in-method",
        "import_module",
        "__import__",
    ],
)
def test_the_checker_catches_forbidden_imports(source: str) -> None:
    names = {n.split(".")[0] for n, _ in imported_names(ast.parse(source), "feedgate.x")}
    assert names & FORBIDDEN


def test_the_checker_follows_feedgate_imports(tmp_path: Path) -> None:
    package = tmp_path / "feedgate"
    (package / "protocol").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "protocol" / "__init__.py").write_text("")
    (package / "protocol" / "pure.py").write_text("from ..helpers import clock\n")
    (package / "helpers").mkdir()
    (package / "helpers" / "__init__.py").write_text("")
    (package / "helpers" / "clock.py").write_text("import json\n\n\ndef now():\n    import time\n")
    found = violations(package / "protocol" / "pure.py", tmp_path)
    assert found == [
        "feedgate.protocol.pure -> feedgate.helpers.clock:5 imports time"
    ]  # fmt: skip
    (package / "helpers" / "clock.py").write_text("import json\n")
    assert violations(package / "protocol" / "pure.py", tmp_path) == []


def test_allowed_imports_pass() -> None:
    source = "import random\nfrom dataclasses import dataclass\nimport orjson\nfrom . import wire"
    names = {n.split(".")[0] for n, _ in imported_names(ast.parse(source), "feedgate.venues.x.y")}
    assert not names & FORBIDDEN
