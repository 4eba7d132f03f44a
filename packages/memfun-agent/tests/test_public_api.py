"""The public API: every exported name resolves, and importing the package stays light."""

from __future__ import annotations

import subprocess
import sys

import memfun_agent


def test_every_exported_name_resolves() -> None:
    for name in memfun_agent.__all__:
        assert getattr(memfun_agent, name) is not None, name


def test_import_is_light_and_offline() -> None:
    code = (
        "import os, sys; os.environ.pop('LITELLM_LOCAL_MODEL_COST_MAP', None)\n"
        "import memfun_agent\n"
        "heavy = [m for m in ('dspy', 'litellm', 'fastmcp') if m in sys.modules]\n"
        "print(heavy, os.environ['LITELLM_LOCAL_MODEL_COST_MAP'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[] True"
