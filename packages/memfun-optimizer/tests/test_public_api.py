from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

import memfun_optimizer


def test_the_version_is_the_distributions() -> None:
    assert memfun_optimizer.__version__ == version("memfun-optimizer")


def test_the_public_api_is_frozen() -> None:
    assert sorted(memfun_optimizer.__all__) == ["__version__"]


def test_it_depends_only_on_what_the_architecture_allows() -> None:
    manifest = Path(memfun_optimizer.__file__).resolve().parents[2] / "pyproject.toml"
    if not manifest.is_file():  # installed from a wheel: the metadata says the same
        from importlib.metadata import requires

        declared = {r.split(">")[0].split("<")[0].strip() for r in requires("memfun-optimizer") or []}
    else:
        project = tomllib.loads(manifest.read_text(encoding="utf-8"))["project"]
        declared = {d.split(">")[0].split("<")[0].strip() for d in project["dependencies"]}
    assert {d for d in declared if d.startswith("memfun-")} == {
        "memfun-core",
        "memfun-runtime",
        "memfun-skills",
        "memfun-agent",
    }
