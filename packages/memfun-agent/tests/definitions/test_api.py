"""The public API of memfun_agent.definitions: every name resolves, the import stays light."""

from __future__ import annotations

import subprocess
import sys

import memfun_agent.definitions


def test_every_exported_name_resolves() -> None:
    for name in memfun_agent.definitions.__all__:
        assert getattr(memfun_agent.definitions, name) is not None, name


def test_import_loads_no_heavy_dependency() -> None:
    code = (
        "import sys, memfun_agent.definitions\n"
        "print([m for m in ('dspy', 'litellm', 'fastmcp', 'strictyaml') if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
