"""Hatch build hook: ship the repository's built-in skills inside the wheel.

The skills live in the top-level ``skills/`` folder of the repository (so they stay usable
as-is by Claude Code and other agents). The wheel carries them as
``memfun_skills/builtin_skills``; the sdist carries them as ``skills/`` beside this file.
"""

# pyright: reportMissingImports=false
# (hatchling exists only in the isolated build environment, not in the dev venv)
from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class BuiltinSkillsHook(BuildHookInterface):
    """Adds the built-in skills folder to the wheel."""

    PLUGIN_NAME = "builtin-skills"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:  # noqa: ARG002
        """Find ``skills/`` (sdist layout first, then the repository) and include it."""
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        for candidate in (root / "skills", root.parent.parent / "skills"):
            if (candidate / "ask" / "SKILL.md").is_file():
                build_data["force_include"][str(candidate)] = "memfun_skills/builtin_skills"
                return
        message = f"the built-in skills folder was not found beside {root} or at the repo root"
        raise RuntimeError(message)
