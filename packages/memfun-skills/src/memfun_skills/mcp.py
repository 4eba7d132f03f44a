"""Skills over MCP: tools, resources and the MCP Skills extension.

Each skill is a tool ``skills_<name>``, its files are resources, and the Skills extension
(``skills/list``, ``skills/get``) is served as FastMCP 4.2 implements it.

This module imports FastMCP (about 1.5 s); import it only where a server is built.

Example:
    >>> from memfun_skills import default_roots, discover_skills
    >>> from memfun_skills.mcp import create_skills_server
    >>> server = create_skills_server(discover_skills(default_roots()))  # doctest: +SKIP
    >>> gateway.mount(server)  # tools skills_<name>, resources skill://<name>/...
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastmcp import FastMCP
from fastmcp.skills import Skill, SkillFile, SkillManifest
from fastmcp.skills.provider import SkillFileResource, SkillManifestProvider

from memfun_core.errors import MemfunError, NotFoundError
from memfun_skills._activation import activate_skill, list_resources
from memfun_skills._discovery import DiscoveredSkill, SkillCatalog
from memfun_skills._files import read_bounded
from memfun_skills._limits import MAX_RESOURCE_BYTES

__all__ = ["ExcludedSkill", "MemfunSkillsProvider", "SkillRunner", "create_skills_server"]

SkillRunner = Callable[[str, str], Awaitable[dict[str, Any]]]
"""``async (skill name, arguments) -> result``: runs a skill with the agent (the CLI wires
one that goes through the skill executor and records the invocation)."""

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ExcludedSkill:
    """A discovered skill the MCP routes do not serve, and why."""

    name: str
    path: Path
    reason: str


@dataclass(frozen=True, slots=True)
class _Served:
    skill: DiscoveredSkill
    manifest: SkillManifest


def _digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def _manifest(skill: DiscoveredSkill) -> SkillManifest:
    """The skill's manifest: FastMCP's own frontmatter parse, digests of every file."""
    skill_dir = skill.properties.skill_dir
    skill_md = read_bounded(skill.properties.skill_md, skill_dir)
    frontmatter = Skill.from_files({"SKILL.md": skill_md}).manifest.frontmatter
    files = {"SKILL.md": SkillFile(digest=_digest(skill_md), size=len(skill_md))}
    resources, _ = list_resources(skill_dir)
    for resource in resources:
        data = read_bounded(
            skill_dir / resource.path, skill_dir, field=resource.path, limit=MAX_RESOURCE_BYTES
        )
        files[resource.path] = SkillFile(digest=_digest(data), size=len(data))
    return SkillManifest(frontmatter=frontmatter, files=files)


class MemfunSkillsProvider(SkillManifestProvider):
    """Serves a :class:`~memfun_skills.SkillCatalog` as resources and Skills-extension entries.

    Each file is read from disk (confined to its skill folder) only when a client reads it.

    Skills FastMCP cannot serve (a name outside its stricter grammar, too many files) are
    listed in :attr:`excluded` and logged, never dropped silently.
    """

    def __init__(self, catalog: SkillCatalog) -> None:
        super().__init__()
        self._served: dict[str, _Served] = {}
        self.excluded: list[ExcludedSkill] = []
        for skill in catalog.skills:
            try:
                self._served[skill.name] = _Served(skill, _manifest(skill))
            except (ValueError, MemfunError, OSError) as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                self.excluded.append(ExcludedSkill(skill.name, skill.properties.skill_dir, reason))
                _log.warning("skill %r is not served over MCP: %s", skill.name, reason)

    @property
    def served(self) -> Mapping[str, DiscoveredSkill]:
        """The skills served, by name."""
        return {name: served.skill for name, served in self._served.items()}

    async def load_manifests(self) -> Mapping[str, SkillManifest]:
        """The manifests of the served skills, keyed by skill name."""
        return {name: served.manifest for name, served in self._served.items()}

    async def read_file(self, resource: SkillFileResource) -> bytes:
        """Read one file of a served skill from disk (symlinks out of the folder refused)."""
        served = self._served.get(resource.skill_path)
        if served is None or resource.file_path not in served.manifest.files:
            raise NotFoundError("skill file", f"{resource.skill_path}/{resource.file_path}")
        skill_dir = served.skill.properties.skill_dir
        return read_bounded(
            skill_dir / resource.file_path,
            skill_dir,
            field=resource.file_path,
            limit=MAX_RESOURCE_BYTES,
        )


def _run_tool(server: FastMCP, skill: DiscoveredSkill, tool_name: str, runner: SkillRunner) -> None:
    name = skill.name

    async def run_skill(arguments: str = "") -> dict[str, Any]:
        return await runner(name, arguments)

    server.tool(
        run_skill,
        name=tool_name,
        description=(
            f"{skill.description}\n\nRuns the {name!r} skill with Memfun's agent on this "
            "workspace (only the tools the skill grants; its scripts in the sandbox) and "
            "returns the answer, summary, diff and outcome."
        ),
    )


def _skill_tool(server: FastMCP, skill: DiscoveredSkill, tool_name: str) -> None:
    skill_dir = skill.properties.skill_dir
    name = skill.name

    async def run_skill(arguments: str = "") -> dict[str, Any]:
        activated = activate_skill(skill_dir, arguments=arguments)
        return {
            "name": activated.name,
            "description": activated.properties.description,
            "instructions": activated.instructions,
            "arguments": arguments,
            "allowed_tools": [grant.source for grant in activated.tools],
            "resources": [
                {
                    "uri": f"skill://{name}/{resource.path}",
                    "kind": resource.kind,
                    "size": resource.size,
                }
                for resource in activated.resources
            ],
            "warnings": [str(warning) for warning in activated.warnings],
        }

    server.tool(
        run_skill,
        name=tool_name,
        description=(
            f"{skill.description}\n\nReturns the {name!r} skill's instructions to follow "
            "and the URIs of its files (read them as resources when the instructions say so)."
        ),
    )


def create_skills_server(
    catalog: SkillCatalog,
    *,
    name: str = "memfun-skills",
    tool_prefix: str = "skills_",
    runner: SkillRunner | None = None,
) -> FastMCP:
    """An MCP server serving ``catalog`` over both routes.

    * tools ``{tool_prefix}<name>``: the skill's instructions and resource list, or, with
      ``runner``, the result of running the skill with Memfun's agent;
    * resources ``skill://<name>/<path>`` for every file, and the Skills extension
      (``skills/list``, ``skills/get``) for clients that negotiate it.

    Mount it into a gateway with ``gateway.mount(server)`` (keep ``tool_prefix`` when
    mounting without a namespace; pass ``tool_prefix=""`` and mount with
    ``namespace="skills"`` for the same tool names).
    """
    provider = MemfunSkillsProvider(catalog)
    server = FastMCP(name)
    server.add_provider(provider)
    for served in provider.served.values():
        if runner is None:
            _skill_tool(server, served, f"{tool_prefix}{served.name}")
        else:
            _run_tool(server, served, f"{tool_prefix}{served.name}", runner)
    return server
