"""The project instructions a run reads: ``AGENTS.md`` (else ``CLAUDE.md``) near its work."""

from __future__ import annotations

import re
from pathlib import Path

from memfun_agent.definitions._instructions import load_project_instructions

__all__ = ["mentioned_paths", "project_instructions_for"]

# Path-like words of a task: ``src/pkg/mod.py``, ``./docs``, ``tests/``; quotes and
# trailing punctuation are not part of them.
_PATH_WORD = re.compile(r"[\w./\-]+")
_MAX_MENTIONS = 32


def mentioned_paths(workspace: Path, text: str) -> list[str]:
    """Paths named in ``text`` that exist inside ``workspace`` (at most 32), in order.

    A word counts when it holds a ``/`` or a ``.`` and, taken relative to the workspace,
    names an existing file or folder that stays inside it once links are resolved.
    """
    found: list[str] = []
    for match in _PATH_WORD.finditer(text):
        word = match.group().rstrip(".")
        if not word or ("/" not in word and "." not in word) or word in found:
            continue
        try:
            target = (workspace / word).resolve()
            exists = target.exists()
        except (OSError, ValueError):
            continue
        if exists and target.is_relative_to(workspace) and target != workspace:
            found.append(word)
            if len(found) == _MAX_MENTIONS:
                break
    return found


def project_instructions_for(workspace: Path, task: str, budget: int | None) -> str:
    """The instructions for a run on ``task``: the root's file and those of the paths it names.

    Args:
        workspace: The resolved project root.
        task: The task text; folders of the paths it names add their own files, nearest
            first (:func:`~memfun_agent.definitions.load_project_instructions`).
        budget: The most bytes; ``None`` or ``0``: none are read.
    """
    if not budget:
        return ""
    return load_project_instructions(workspace, mentioned_paths(workspace, task), budget)
