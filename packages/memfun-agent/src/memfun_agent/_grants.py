"""Checking a tool call against ``allowed-tools`` grants, symbolic links resolved."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from memfun_skills import ToolGrant

__all__ = ["grants_allow"]


def _resolved(workspace: Path, path: str) -> str | None:
    """``path`` with every symbolic link resolved, relative to ``workspace`` (``None``: outside)."""
    real = Path(os.path.realpath(workspace / path))
    if not real.is_relative_to(workspace):
        return None
    return real.relative_to(workspace).as_posix()


def grants_allow(
    grants: Iterable[ToolGrant], tool: str, arguments: Mapping[str, Any], workspace: Path
) -> bool:
    """Whether one of ``grants`` covers calling ``tool`` with ``arguments``.

    The ``command`` and ``path`` arguments are checked as :meth:`ToolGrant.allows` says; a
    grant limited to a path pattern must match both the path as written and the path it
    reaches once symbolic links are resolved (``src/ci -> ../.github/workflows`` does not
    make ``src/ci/x.yml`` a ``src/**`` path).

    Args:
        grants: The grants (a skill's or an agent definition's).
        tool: The tool called.
        arguments: Its arguments.
        workspace: The resolved workspace root the tool's paths are relative to.
    """
    raw_command = arguments.get("command")
    raw_path = arguments.get("path")
    command = None if raw_command is None else str(raw_command)
    path = None if raw_path is None else str(raw_path)
    resolved: str | None = None
    for grant in grants:
        if not grant.allows(tool, command=command, path=path):
            continue
        if grant.path_pattern is None:
            return True
        assert path is not None  # a path-limited grant allowed it, so there is one
        if resolved is None:
            resolved = _resolved(workspace, path)
        if resolved is not None and grant.allows(tool, command=command, path=resolved):
            return True
    return False
