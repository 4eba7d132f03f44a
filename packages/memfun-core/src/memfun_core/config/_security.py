"""The ``[security]`` section: paths whose writes are asked about and whose reads are denied."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["DEFAULT_ASK_WRITES", "DEFAULT_DENY_READS", "SecurityConfig", "tightened"]

DEFAULT_ASK_WRITES: tuple[str, ...] = (
    ".env*",
    ".envrc",
    ".github/workflows",
    ".github/actions",
    ".gitlab-ci.yml",
    ".gitlab-ci",
    ".circleci",
    ".travis.yml",
    "azure-pipelines.yml",
    "Jenkinsfile",
    ".buildkite",
    ".pre-commit-config.yaml",
    ".gitattributes",
    ".gitmodules",
    ".vscode",
    ".idea",
    ".claude",
    ".cursor",
    ".memfun",
    "memfun.toml",
    ".mcp.json",
)
"""Writes here run code later (CI, editors, git, Memfun itself): asked even when edits are allowed.

A pattern without ``/`` matches a name at any depth (``.env*`` matches ``app/.env.local``, a
folder name covers what is inside it); one with ``/`` matches that path and what is under it.
``.git`` (at any depth, in any letter case) is always on this list and cannot be taken off.
"""

DEFAULT_DENY_READS: tuple[str, ...] = (
    ".env*",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".netrc",
    ".pgpass",
    ".git-credentials",
)
"""Secrets: reading them is denied by default (``read_decision``)."""


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    """Sensitive paths (the ``[security]`` section of ``memfun.toml``).

    Attributes:
        ask_writes: Path patterns whose writes get ``write_decision`` whatever the tool's rule.
        deny_reads: Path patterns whose reads get ``read_decision``.
        write_decision: ``"ask"`` (default) or ``"deny"``.
        read_decision: ``"deny"`` (default), ``"ask"`` or ``"allow"``.
    """

    ask_writes: tuple[str, ...] = DEFAULT_ASK_WRITES
    deny_reads: tuple[str, ...] = DEFAULT_DENY_READS
    write_decision: Literal["ask", "deny"] = "ask"
    read_decision: Literal["deny", "ask", "allow"] = "deny"


_STRICTNESS = {"allow": 0, "ask": 1, "deny": 2}


def tightened(outer: SecurityConfig, project: SecurityConfig) -> SecurityConfig:
    """``outer`` (defaults, the user's file, the environment) as a project's file may change it.

    A repository's own ``memfun.toml`` is untrusted input: it may add sensitive paths and make
    the decisions stricter, never take a path off or relax a decision. Patterns are the union
    of both; each decision is the stricter of the two.
    """
    writes = outer.write_decision
    if _STRICTNESS[project.write_decision] > _STRICTNESS[writes]:
        writes = project.write_decision
    reads = outer.read_decision
    if _STRICTNESS[project.read_decision] > _STRICTNESS[reads]:
        reads = project.read_decision
    return SecurityConfig(
        ask_writes=tuple(dict.fromkeys((*outer.ask_writes, *project.ask_writes))),
        deny_reads=tuple(dict.fromkeys((*outer.deny_reads, *project.deny_reads))),
        write_decision=writes,
        read_decision=reads,
    )
