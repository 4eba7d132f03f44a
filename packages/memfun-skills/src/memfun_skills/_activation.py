"""Activation: a skill's body, tools, resources and scripts, loaded when it is used."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from memfun_core.errors import PermissionDeniedError, ValidationError
from memfun_skills._files import confined, read_bounded
from memfun_skills._limits import MAX_RESOURCE_BYTES, SKILL_MD_NAMES
from memfun_skills._loader import load_skill
from memfun_skills._model import Rule, SkillProperties, SkillWarning
from memfun_skills._tools import ToolGrant, map_allowed_tools

__all__ = ["ActivatedSkill", "ResourceKind", "SkillResource", "activate_skill"]

ResourceKind = Literal["script", "reference", "asset", "other"]
_KINDS: dict[str, ResourceKind] = {
    "scripts": "script",
    "references": "reference",
    "assets": "asset",
}
_MAX_RESOURCES = 1_000


@dataclass(frozen=True, slots=True)
class SkillResource:
    """A file of the skill besides ``SKILL.md``.

    Attributes:
        path: Its path relative to the skill folder, with ``/`` separators.
        kind: ``script`` (under ``scripts/``), ``reference``, ``asset`` or ``other``.
        size: Its size in bytes.
    """

    path: str
    kind: ResourceKind
    size: int


@dataclass(frozen=True, slots=True)
class ActivatedSkill:
    """Everything the agent needs to follow a skill.

    Attributes:
        properties: The frontmatter properties.
        instructions: The Markdown body of ``SKILL.md``.
        arguments: What the user wrote after ``/name`` (or the task), for the executor.
        tools: The ``allowed-tools`` mapped to Memfun tool names.
        unmapped_tools: ``allowed-tools`` entries Memfun has no equivalent for.
        resources: The skill's other files (read them with :meth:`read_resource`).
        version: A content version (declared ``metadata.version`` plus a digest of
            ``SKILL.md``), used when recording invocations.
        warnings: What loading forgave.
    """

    properties: SkillProperties
    instructions: str
    arguments: str
    tools: tuple[ToolGrant, ...]
    unmapped_tools: tuple[str, ...]
    resources: tuple[SkillResource, ...]
    version: str
    warnings: tuple[SkillWarning, ...] = ()

    @property
    def name(self) -> str:
        """The skill's name."""
        return self.properties.name

    @property
    def scripts(self) -> tuple[SkillResource, ...]:
        """The resources under ``scripts/``: runnable only through a sandbox."""
        return tuple(resource for resource in self.resources if resource.kind == "script")

    def allows(self, tool: str, *, command: str | None = None, path: str | None = None) -> bool:
        """Whether ``allowed-tools`` grants this call (no ``allowed-tools``: nothing extra)."""
        return any(grant.allows(tool, command=command, path=path) for grant in self.tools)

    def resource_path(self, relative: str) -> Path:
        """The host path of a listed resource, confined to the skill folder.

        Raises:
            PermissionDeniedError: The path is not one of the skill's resources.
        """
        wanted = PurePosixPath(relative).as_posix()
        if wanted not in {resource.path for resource in self.resources}:
            raise PermissionDeniedError(
                f"reading {relative!r}",
                f"it is not a file of skill {self.name!r}",
                hint="use a path from the skill's resource list",
            )
        root = self.properties.skill_dir
        return confined(root / wanted, root, field=wanted)

    def read_resource(self, relative: str) -> str:
        """Read a resource as UTF-8 text (binary content is replaced, never executed).

        Raises:
            PermissionDeniedError: The path is not one of the skill's resources.
            ValidationError: The file grew past the size limit or left the folder.
        """
        path = self.resource_path(relative)
        data = read_bounded(
            path, self.properties.skill_dir, field=relative, limit=MAX_RESOURCE_BYTES
        )
        return data.decode("utf-8", errors="replace")


def _kind(relative: PurePosixPath) -> ResourceKind:
    return _KINDS.get(relative.parts[0], "other") if len(relative.parts) > 1 else "other"


def list_resources(skill_dir: Path) -> tuple[tuple[SkillResource, ...], list[SkillWarning]]:
    """The skill's files (``SKILL.md`` excluded), skipping links that leave the folder."""
    resources: list[SkillResource] = []
    warnings: list[SkillWarning] = []
    root_resolved = skill_dir.resolve()
    for current, dirs, files in os.walk(skill_dir, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(current, name)
            relative = PurePosixPath(path.relative_to(skill_dir).as_posix())
            if str(relative) in SKILL_MD_NAMES or name.startswith("."):
                continue
            target = path.resolve()
            if not target.is_relative_to(root_resolved) or not target.is_file():
                warnings.append(
                    SkillWarning(
                        "is a link outside the skill folder (or not a file); it is not served",
                        str(relative),
                        Rule.SYMLINK_ESCAPE,
                        str(path),
                    )
                )
                continue
            if len(resources) >= _MAX_RESOURCES:
                warnings.append(
                    SkillWarning(
                        f"the skill has more than {_MAX_RESOURCES} files; the rest are not served",
                        "folder",
                        Rule.FILE_TOO_LARGE,
                        str(skill_dir),
                    )
                )
                return tuple(resources), warnings
            resources.append(SkillResource(str(relative), _kind(relative), target.stat().st_size))
    return tuple(resources), warnings


def _version(properties: SkillProperties) -> str:
    digest = hashlib.sha256(properties.skill_md.read_bytes()).hexdigest()[:12]
    declared = properties.metadata.get("version", "0")
    safe = "".join(char if char.isalnum() or char in "._-" else "-" for char in declared)
    return f"{safe or '0'}-{digest}"


def activate_skill(path: str | os.PathLike[str], *, arguments: str = "") -> ActivatedSkill:
    """Load a skill in full for use: body, tools and resources.

    This is progressive disclosure's second step; discovery read only the frontmatter.

    Args:
        path: The skill folder (from discovery: ``skill.properties.skill_dir``).
        arguments: The user's arguments (the text after ``/name``) or the task.

    Raises:
        ValidationError: The skill cannot be loaded (see :func:`load_skill`).
    """
    loaded = load_skill(path)
    properties = loaded.properties
    grants, unmapped = map_allowed_tools(properties.allowed_tools)
    resources, warnings = list_resources(properties.skill_dir)
    if unmapped:
        warnings.append(
            SkillWarning(
                f"Memfun has no tool for {', '.join(unmapped)}; they are not granted",
                "allowed-tools",
                Rule.FIELD_TYPE,
                str(properties.skill_md),
            )
        )
    try:
        version = _version(properties)
    except OSError as exc:  # the file vanished between loading and hashing
        raise ValidationError(
            f"cannot read SKILL.md again: {exc}",
            field="SKILL.md",
            rule=Rule.SKILL_MD_MISSING,
            location=str(properties.skill_md),
        ) from exc
    return ActivatedSkill(
        properties=properties,
        instructions=loaded.body,
        arguments=arguments,
        tools=grants,
        unmapped_tools=unmapped,
        resources=resources,
        version=version,
        warnings=(*loaded.warnings, *warnings),
    )
