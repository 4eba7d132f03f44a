"""Sensitive paths: writes that run code later are asked about, reads of secrets are denied.

The rules look at the path arguments of the file, search and git tools. A path is judged as
written and after normalisation (``./``, ``..``, letter case), and patterns also match at any
depth, so ``sub/../.env`` or an absolute path inside the workspace does not slip past. ``.git``
at any depth (case-folded, look-alikes included) always asks, whatever the configuration.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, cast

from memfun_core.config import SecurityConfig
from memfun_runtime.protocols import JSONValue
from memfun_tools import is_git_path

__all__ = ["PathVerdict", "SensitivePaths"]

Decision = Literal["allow", "ask", "deny"]

# Tool name -> the arguments that name paths it reads or writes.
_READS: dict[str, tuple[str, ...]] = {
    "fs_read": ("path",),
    "git_show": ("path",),
    "git_blame": ("path",),
    "git_diff": ("paths",),
    "git_log": ("path",),
    "search_text": ("path",),
    "search_structural": ("path",),
}
_WRITES: dict[str, tuple[str, ...]] = {
    "fs_write": ("path",),
    "fs_edit": ("path",),
    "fs_multi_edit": ("path",),
    "git_commit": ("paths",),
}


@dataclass(frozen=True, slots=True)
class PathVerdict:
    """Why a call touches a sensitive path.

    Attributes:
        decision: ``ask`` or ``deny`` (never weaker than the tool's own rule).
        path: The argument that matched.
        rule: The pattern (or ``.git``) it matched, and whether a read or a write.
    """

    decision: Decision
    path: str
    rule: str


@dataclass(frozen=True, slots=True)
class SensitivePaths:
    """The sensitive-path rules of a permission policy (from ``[security]``)."""

    config: SecurityConfig = field(default_factory=SecurityConfig)

    def examines(self, tool: str) -> bool:
        """Whether calls of ``tool`` may be escalated by these rules (by their arguments)."""
        return tool in _READS or tool in _WRITES

    def judge(self, tool: str, arguments: Mapping[str, JSONValue]) -> PathVerdict | None:
        """The escalation for one call, or ``None`` when it touches no sensitive path."""
        for path in _paths(arguments, _WRITES.get(tool, ())):
            if is_git_path(_normal(path)):
                return PathVerdict(self.config.write_decision, path, "write to .git")
            pattern = _match(path, self.config.ask_writes)
            if pattern is not None:
                return PathVerdict(self.config.write_decision, path, f"write to {pattern}")
        if self.config.read_decision != "allow":
            for path in _paths(arguments, _READS.get(tool, ())):
                pattern = _match(path, self.config.deny_reads)
                if pattern is not None:
                    return PathVerdict(self.config.read_decision, path, f"read of {pattern}")
        return None


def _paths(arguments: Mapping[str, JSONValue], names: tuple[str, ...]) -> list[str]:
    found: list[str] = []
    for name in names:
        value = arguments.get(name)
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, list):
            items = cast("list[JSONValue]", value)
            found.extend(item for item in items if isinstance(item, str))
    return found


def _normal(path: str) -> str:
    return posixpath.normpath(path.replace("\\", "/")).casefold().lstrip("/")


def _match(path: str, patterns: tuple[str, ...]) -> str | None:
    """The first pattern that names ``path``, a folder above it, or a tail of it."""
    parts = [p for p in _normal(path).split("/") if p not in ("", ".")]
    tails = ["/".join(parts[i:]) for i in range(len(parts))]
    for pattern in patterns:
        folded = pattern.casefold().strip("/")
        if "/" not in folded:
            if any(fnmatch.fnmatchcase(part, folded) for part in parts):
                return pattern
        elif any(
            fnmatch.fnmatchcase(tail, folded) or fnmatch.fnmatchcase(tail, folded + "/*")
            for tail in tails
        ):
            return pattern
    return None
