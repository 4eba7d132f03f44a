"""Each of the seven packages is a well-formed, independently versioned distribution."""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["core", "runtime", "skills", "tools", "agent", "optimizer", "cli"]
#: The package graph of ARCHITECTURE.md: who may depend on whom.
ALLOWED = {
    "core": set(),
    "runtime": {"core"},
    "skills": {"core", "runtime"},
    "tools": {"core"},
    "agent": {"core", "runtime", "skills", "tools"},
    "optimizer": {"core", "runtime", "skills", "agent"},
    "cli": {"core", "runtime", "skills", "tools", "agent", "optimizer"},
}


def project(name: str) -> dict[str, object]:
    path = ROOT / "packages" / f"memfun-{name}" / "pyproject.toml"
    return tomllib.loads(path.read_text(encoding="utf-8"))["project"]


def test_workspace_lists_every_member() -> None:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert root["tool"]["uv"]["workspace"]["members"] == ["packages/*"]
    sources = root["tool"]["uv"]["sources"]
    assert sources == {f"memfun-{n}": {"workspace": True} for n in NAMES}
    assert sorted(p.name for p in (ROOT / "packages").iterdir() if p.is_dir()) == sorted(
        f"memfun-{n}" for n in NAMES
    )


@pytest.mark.parametrize("name", NAMES)
def test_package_shape(name: str) -> None:
    meta = project(name)
    folder = ROOT / "packages" / f"memfun-{name}"
    module = f"memfun_{name}"
    assert (folder / "src" / module / "py.typed").is_file()
    assert (folder / "README.md").is_file()
    assert meta["requires-python"] == ">=3.11"
    assert re.fullmatch(r"\d+\.\d+\.\d+", str(meta["version"]))
    assert importlib.import_module(module).__version__ == meta["version"]
    siblings: set[str] = set()
    for dep in meta.get("dependencies", []):  # type: ignore[union-attr]
        match = re.match(r"memfun-(\w+)(.*)", str(dep))
        if match:
            siblings.add(match.group(1))
            assert "==" not in match.group(2), f"{dep}: depend on siblings by range"
            assert re.fullmatch(r">=\d+\.\d+,<\d+\.\d+", match.group(2)), dep
    assert siblings == ALLOWED[name]
