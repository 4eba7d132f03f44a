"""Hatch build hook: ship the repository's built-in agents inside the wheel.

The agents live in the top-level ``agents/`` folder of the repository (plain ``NAME.md``
files, usable as they are by Claude Code too). The wheel carries them as
``memfun_agent/builtin_agents``; the sdist carries them as ``agents/`` beside this file.
"""

# pyright: reportMissingImports=false
# (hatchling exists only in the isolated build environment, not in the dev venv)
from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class BuiltinAgentsHook(BuildHookInterface):
    """Adds the built-in agents folder to the wheel."""

    PLUGIN_NAME = "builtin-agents"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:  # noqa: ARG002
        """Find ``agents/`` (sdist layout first, then the repository) and include it."""
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        for candidate in (root / "agents", root.parent.parent / "agents"):
            if (candidate / "coder.md").is_file():
                build_data["force_include"][str(candidate)] = "memfun_agent/builtin_agents"
                return
        message = f"the built-in agents folder was not found beside {root} or at the repo root"
        raise RuntimeError(message)
