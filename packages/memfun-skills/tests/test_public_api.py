"""The public API: every exported name resolves, and importing the package loads no module."""

from __future__ import annotations

import subprocess
import sys

import memfun_skills


def test_every_exported_name_resolves() -> None:
    for name in memfun_skills.__all__:
        assert getattr(memfun_skills, name) is not None, name
    assert set(memfun_skills.__all__) <= set(dir(memfun_skills))


def test_unknown_names_raise_attribute_error() -> None:
    assert not hasattr(memfun_skills, "no_such_name")


def test_import_loads_no_submodule_and_discovery_loads_only_what_it_needs() -> None:
    code = (
        "import sys\n"
        "import memfun_skills\n"
        "print(sorted(m for m in sys.modules if m.startswith('memfun_skills.')))\n"
        "memfun_skills.discover_from_config\n"
        "print([m for m in ('memfun_skills._executor', 'memfun_skills._router', "
        "'memfun_skills._activation', 'memfun_runtime') if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.splitlines() == ["[]", "[]"], done.stdout


def test_market_module_exports_resolve() -> None:
    from memfun_skills import market

    for name in market.__all__:
        assert getattr(market, name) is not None, name
