"""The house: import-linter's contracts hold, can fail, and deferred imports say why."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
        "sys.exit(lint_imports_command())", "--no-cache"]


def lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(LINT, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def scratch_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "house"
    shutil.copytree(ROOT / "gittrack", copy / "gittrack",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def test_the_contracts_hold() -> None:
    proc = lint(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Contracts: 4 kept, 0 broken." in proc.stdout


def test_an_upward_import_breaks_the_layers_contract(tmp_path: Path) -> None:
    copy = scratch_copy(tmp_path)
    names = copy / "gittrack" / "core" / "names.py"
    names.write_text(names.read_text() + "\n\ndef _upward() -> None:\n"
                     "    from gittrack.registry import resolver  # lazy: a deliberate violation\n")
    proc = lint(copy)
    assert proc.returncode == 1, proc.stdout
    assert "gittrack.core is not allowed to import gittrack.registry" in proc.stdout
    assert "gittrack.core.names -> gittrack.registry.resolver" in proc.stdout


def test_a_cycle_between_siblings_breaks_the_acyclic_contract(tmp_path: Path) -> None:
    copy = scratch_copy(tmp_path)
    store = copy / "gittrack" / "core" / "errors.py"
    store.write_text(store.read_text() + "\nfrom gittrack.core import names  # noqa: E402\n")
    proc = lint(copy)
    assert proc.returncode == 1, proc.stdout
    assert "No cycles are allowed in gittrack.core" in proc.stdout


def deferred_imports() -> list[tuple[str, int, str]]:
    """Every import of a gittrack module inside a function: (file, line, source lines)."""
    found = []
    for path in sorted((ROOT / "gittrack").rglob("*.py")):
        text = path.read_text()
        lines = text.splitlines()
        for fn in ast.walk(ast.parse(text)):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom):
                    mods = [node.module or ""] if node.level == 0 else ["gittrack"]
                elif isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                else:
                    continue
                if any(m == "gittrack" or m.startswith("gittrack.") for m in mods):
                    source = "\n".join(lines[node.lineno - 1:node.end_lineno])
                    found.append((str(path.relative_to(ROOT)), node.lineno, source))
    return found


def test_every_deferred_gittrack_import_gives_its_reason() -> None:
    found = deferred_imports()
    assert found, "the scan found no deferred import at all; it is broken"
    unexplained = [f"{f}:{n}: {s}" for f, n, s in found if "# lazy: " not in s]
    assert not unexplained, "deferred imports without '# lazy: <reason>':\n" + "\n".join(unexplained)


@pytest.mark.parametrize("layer", ["core", "tracking", "artifacts", "query", "registry", "sharing"])
def test_each_layer_is_a_documented_room(layer: str) -> None:
    init = ROOT / "gittrack" / layer / "__init__.py"
    assert ast.get_docstring(ast.parse(init.read_text())), f"gittrack/{layer}/__init__.py has no docstring"
    assert f"gittrack/{layer}/" in (ROOT / "docs" / "architecture.md").read_text()
