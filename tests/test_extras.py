"""Every extra that an install hint names exists in the package that should declare it."""

from __future__ import annotations

import ast
import shutil
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bad_extras(root: Path) -> list[str]:
    """List every call naming (package=..., extra=...) literals that no pyproject declares."""
    extras: dict[str, set[str]] = {}
    for pyproject in (root / "packages").glob("*/pyproject.toml"):
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        extras[project["name"]] = set(project.get("optional-dependencies", {}))
    problems: list[str] = []
    for path in sorted((root / "packages").glob("*/src/**/*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            kwargs = {k.arg: k.value for k in node.keywords}
            package, extra = kwargs.get("package"), kwargs.get("extra")
            if (
                isinstance(package, ast.Constant)
                and isinstance(extra, ast.Constant)
                and str(extra.value) not in extras.get(str(package.value), set())
            ):
                problems.append(f"{path.name}: {package.value}[{extra.value}]")
    return problems


def test_every_named_extra_exists() -> None:
    assert bad_extras(ROOT) == []


def test_a_hint_naming_a_missing_extra_is_caught(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(
        ROOT / "packages", copy / "packages", ignore=shutil.ignore_patterns("__pycache__", "tests")
    )
    module = copy / "packages/memfun-runtime/src/memfun_runtime/bad_hint.py"
    module.write_text(
        "from memfun_core._extras import import_extra\n"
        'import_extra("x", package="memfun-runtime", extra="postgres", feature="y")\n',
        encoding="utf-8",
    )
    assert bad_extras(copy) == ["bad_hint.py: memfun-runtime[postgres]"]
