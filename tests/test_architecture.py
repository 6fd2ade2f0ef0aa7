"""The shape of the house (design.md): module sizes, no import cycles, no history in code or docs.

The layers themselves are checked by ``lint-imports`` in CI (contracts in pyproject.toml).
"""

from __future__ import annotations

import re
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "src" / "qshift").rglob("*.py"))
MAX_LINES = 500
HISTORY = re.compile(r"\b(session|issue)[ -]?#?\d+", re.IGNORECASE)


def test_no_module_is_over_500_lines():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in SOURCES}
    long = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_no_import_cycle_between_modules():
    graph = grimp.build_graph("qshift")
    seen: dict[str, int] = {}
    stack: list[str] = []
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        seen[module] = low[module] = len(seen)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in seen:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], seen[imported])
        if low[module] == seen[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in seen:
            visit(module)
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.parametrize("folder", ["src", "docs"])
def test_code_and_docs_describe_the_present(folder):
    files = [p for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".md", ".json", ".sh")]
    found = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in files for m in HISTORY.finditer(p.read_text())]
    assert not found, f"history belongs in git: {found[:10]}"
