"""The core in pipelines/core is pure (STYLE 2): no broker, store or metrics import, and no clock."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "pipelines" / "core"
MODULES = sorted(CORE.rglob("*.py"))
FORBIDDEN_IMPORTS = frozenset({"faust", "aiokafka", "kafka", "clickhouse_connect", "chdb", "prometheus_client"})
# Calls that read the clock, as the dotted name they are written with.
CLOCK_CALLS = frozenset(
    {
        "datetime.now",
        "datetime.utcnow",
        "datetime.today",
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.datetime.today",
        "date.today",
        "datetime.date.today",
        "time.time",
        "time.time_ns",
        "time.monotonic",
        "time.monotonic_ns",
        "time.perf_counter",
        "time.perf_counter_ns",
        "time.localtime",
        "time.gmtime",
    }
)
CLOCK_FUNCTIONS_OF_TIME = frozenset(name.split(".")[-1] for name in CLOCK_CALLS if name.startswith("time."))


def dotted(node: ast.expr) -> str | None:
    """Return `a.b.c` for a chain of names and attributes, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def imported_roots(tree: ast.AST) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def clock_reads(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and (name := dotted(node.func)) in CLOCK_CALLS:
            found.append(f"line {node.lineno}: {name}()")
        elif isinstance(node, ast.ImportFrom) and node.module == "time":
            clocks = [a.name for a in node.names if a.name in CLOCK_FUNCTIONS_OF_TIME]
            found.extend(f"line {node.lineno}: from time import {name}" for name in clocks)
    return found


def test_the_core_has_modules() -> None:
    names = {p.stem for p in MODULES}
    assert {"model", "validate", "lifecycle", "lead", "identity", "codec", "steps", "funnel", "rows"} <= names


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(CORE)) for p in MODULES])
def test_a_core_module_imports_no_infrastructure(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    assert imported_roots(tree) & FORBIDDEN_IMPORTS == set()


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(CORE)) for p in MODULES])
def test_a_core_module_does_not_read_the_clock(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    assert clock_reads(tree) == []


def test_the_checks_see_what_they_look_for() -> None:
    tree = ast.parse(
        "import faust\nfrom kafka.admin import X\nimport datetime\nfrom time import monotonic\n"
        "a = datetime.datetime.now()\nb = date.today()\nc = time.time()\n"
    )
    assert imported_roots(tree) & FORBIDDEN_IMPORTS == {"faust", "kafka"}
    assert len(clock_reads(tree)) == 4


def test_importing_the_core_loads_no_infrastructure_at_all() -> None:
    # Also catches what core modules pull in through the modules they import.
    modules = ", ".join(f"pipelines.core.{p.stem}" for p in MODULES if p.stem != "__init__")
    code = (
        f"import sys, importlib\nfor m in '{modules}'.split(', '): importlib.import_module(m)\n"
        f"print(sorted({{n.split('.')[0] for n in sys.modules}} & set({sorted(FORBIDDEN_IMPORTS)!r})))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
