"""The package graph of ARCHITECTURE.md is enforced by import-linter (run by CI)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def run_lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports with the project's contracts on the sources found under ``tree``."""
    sources = [str(p) for p in sorted((tree / "packages").glob("*/src"))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sources)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def copy_tree(tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    copy.mkdir()
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    for src in (ROOT / "packages").glob("*/src"):
        shutil.copytree(
            src, copy / src.relative_to(ROOT), ignore=shutil.ignore_patterns("__pycache__")
        )
    return copy


def test_the_real_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = run_lint_imports(copy_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_forbidden_import_breaks_the_contract(tmp_path: Path) -> None:
    copy = copy_tree(tmp_path)
    errors_module = copy / "packages/memfun-core/src/memfun_core/errors.py"
    errors_module.write_text(
        errors_module.read_text(encoding="utf-8") + "\nimport memfun_runtime  # forbidden\n",
        encoding="utf-8",
    )
    result = run_lint_imports(copy)
    assert result.returncode != 0
    assert "memfun-core imports nothing of ours BROKEN" in result.stdout
    assert "memfun_core.errors -> memfun_runtime" in result.stdout


def test_tools_may_not_import_runtime(tmp_path: Path) -> None:
    copy = copy_tree(tmp_path)
    init = copy / "packages/memfun-tools/src/memfun_tools/__init__.py"
    init.write_text(
        init.read_text(encoding="utf-8") + "\nimport memfun_runtime\n", encoding="utf-8"
    )
    result = run_lint_imports(copy)
    assert result.returncode != 0
    assert "memfun-tools imports only core BROKEN" in result.stdout


def test_an_import_cycle_inside_the_runtime_breaks_the_contract(tmp_path: Path) -> None:
    copy = copy_tree(tmp_path)
    base = copy / "packages/memfun-runtime/src/memfun_runtime/agents/_base.py"
    base.write_text(  # the circle that was: _runtime -> agents._manager -> agents._base -> _runtime
        base.read_text(encoding="utf-8")
        + "\nfrom typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
        + "    from memfun_runtime._runtime import Runtime  # noqa: F401\n",
        encoding="utf-8",
    )
    result = run_lint_imports(copy)
    assert result.returncode != 0
    assert "memfun-runtime has no import cycles between sibling modules" in result.stdout
    assert "BROKEN" in result.stdout
