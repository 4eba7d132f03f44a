"""Finding skills: search roots in precedence order, progressive disclosure, shadowing."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from memfun_core.config import MemfunConfig
from memfun_core.errors import NotFoundError, ValidationError
from memfun_skills._limits import SKILL_MD_NAMES
from memfun_skills._loader import load_properties_at
from memfun_skills._model import SkillProperties, SkillWarning
from memfun_skills._precedence import search_roots

__all__ = [
    "PROJECT_SKILL_DIRS",
    "USER_SKILL_DIRS",
    "DiscoveredSkill",
    "InactiveSkill",
    "Scope",
    "ShadowedSkill",
    "SkillCatalog",
    "SkillRoot",
    "SkippedSkill",
    "builtin_skills_dir",
    "default_roots",
    "discover_from_config",
    "discover_skills",
]

PROJECT_SKILL_DIRS = (".memfun/skills", ".agents/skills", ".claude/skills")
"""Skill folders of a project, relative to its root, highest precedence first."""
USER_SKILL_DIRS = (".memfun/skills", ".agents/skills", ".claude/skills")
"""Skill folders of the user, relative to the home folder, highest precedence first."""


class Scope(StrEnum):
    """Where a skill came from (in precedence order)."""

    PROJECT = "project"
    CONFIG = "config"
    USER = "user"
    BUILTIN = "builtin"


@dataclass(frozen=True, slots=True)
class SkillRoot:
    """A folder whose subfolders are skills."""

    path: Path
    scope: Scope


@dataclass(frozen=True, slots=True)
class DiscoveredSkill:
    """A skill found at discovery: its frontmatter only (the body is not read).

    Attributes:
        properties: Name, description and the other frontmatter fields.
        scope: Where it was found.
        root: The search root it was found in.
        warnings: What a lenient load forgave.
    """

    properties: SkillProperties
    scope: Scope
    root: Path
    warnings: tuple[SkillWarning, ...] = ()

    @property
    def name(self) -> str:
        """The skill's name."""
        return self.properties.name

    @property
    def description(self) -> str:
        """The skill's description."""
        return self.properties.description


@dataclass(frozen=True, slots=True)
class ShadowedSkill:
    """A skill hidden by one of the same name found earlier in precedence."""

    skill: DiscoveredSkill
    by: DiscoveredSkill


@dataclass(frozen=True, slots=True)
class SkippedSkill:
    """A folder with a ``SKILL.md`` that could not be loaded, and why."""

    path: Path
    scope: Scope
    error: ValidationError


@dataclass(frozen=True, slots=True)
class InactiveSkill:
    """A project skill left inactive until the user trusts the folder (``memfun trust``)."""

    skill: DiscoveredSkill
    reason: str


@dataclass(frozen=True, slots=True)
class SkillCatalog:
    """The outcome of discovery.

    Attributes:
        skills: The usable skills, one per name, in precedence order.
        shadowed: Skills hidden by a higher-precedence skill of the same name.
        skipped: Skill folders that could not be loaded.
        disabled: Skills left out because the configuration disables them.
        roots: The roots searched, in precedence order.
        inactive: Project skills with scripts or grants beyond reading, left out because
            the folder is not trusted (see :mod:`memfun_core.trust`).
    """

    skills: tuple[DiscoveredSkill, ...]
    shadowed: tuple[ShadowedSkill, ...] = ()
    skipped: tuple[SkippedSkill, ...] = ()
    disabled: tuple[DiscoveredSkill, ...] = ()
    roots: tuple[SkillRoot, ...] = ()
    inactive: tuple[InactiveSkill, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The usable skills' names, in precedence order."""
        return tuple(skill.name for skill in self.skills)

    def get(self, name: str) -> DiscoveredSkill | None:
        """The skill called ``name`` (a leading ``/`` is ignored), or ``None``."""
        wanted = name.removeprefix("/")
        return next((skill for skill in self.skills if skill.name == wanted), None)

    def require(self, name: str) -> DiscoveredSkill:
        """The skill called ``name`` (``/name`` accepted).

        Raises:
            NotFoundError: No such skill; the error suggests close names.
        """
        skill = self.get(name)
        if skill is None:
            wanted = name.removeprefix("/")
            close = difflib.get_close_matches(wanted, self.names, n=3, cutoff=0.5)
            disabled = [s.name for s in self.disabled if s.name == wanted]
            hint = f"{wanted!r} is disabled in the [skills] configuration" if disabled else None
            inactive = [i.reason for i in self.inactive if i.skill.name == wanted]
            if inactive:
                hint = f"{wanted!r} is inactive: {inactive[0]}; run `memfun trust` to activate it"
            raise NotFoundError("skill", wanted, suggestions=tuple(close), hint=hint)
        return skill


def builtin_skills_dir() -> Path | None:
    """The folder of Memfun's built-in skills.

    Inside the installed package (``memfun_skills/builtin_skills``, put there by the wheel
    build), else the ``skills/`` folder of a source checkout; ``None`` when neither exists.
    """
    package = Path(__file__).resolve().parent
    for candidate in (package / "builtin_skills", package.parents[3] / "skills"):
        if candidate.is_dir():
            return candidate
    return None


def default_roots(
    project_root: str | os.PathLike[str] | None = None,
    *,
    home: str | os.PathLike[str] | None = None,
    extra_paths: Sequence[str | os.PathLike[str]] = (),
    include_builtins: bool = True,
) -> tuple[SkillRoot, ...]:
    """The search roots in precedence order.

    Project (``.memfun/skills``, ``.agents/skills``, ``.claude/skills``), then configured
    ``extra_paths`` (relative ones from the project root), then the user's folders of the
    same names under ``home``, then the built-ins.
    """
    project = Path(project_root) if project_root is not None else Path.cwd()
    user_home = Path(home) if home is not None else Path.home()
    roots = [SkillRoot(project / rel, Scope.PROJECT) for rel in PROJECT_SKILL_DIRS]
    roots += [SkillRoot(project / Path(extra).expanduser(), Scope.CONFIG) for extra in extra_paths]
    roots += [SkillRoot(user_home / rel, Scope.USER) for rel in USER_SKILL_DIRS]
    builtins = builtin_skills_dir() if include_builtins else None
    if builtins is not None:
        roots.append(SkillRoot(builtins, Scope.BUILTIN))
    unique: dict[Path, SkillRoot] = {}
    for root in roots:
        unique.setdefault(Path(os.path.abspath(root.path)), root)  # noqa: PTH100 - no symlink resolution
    return tuple(SkillRoot(path, root.scope) for path, root in unique.items())


def _skill_folders(root: Path) -> list[tuple[Path, Path]]:
    try:
        entries = sorted(os.scandir(root), key=lambda entry: entry.name)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []
    folders: list[tuple[Path, Path]] = []
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        for name in SKILL_MD_NAMES:
            skill_md = f"{entry.path}{os.sep}{name}"
            if os.path.lexists(skill_md):
                folders.append((Path(entry.path), Path(skill_md)))
                break
    return folders


def _load_root(root: SkillRoot) -> tuple[list[DiscoveredSkill], list[SkippedSkill]]:
    skills: list[DiscoveredSkill] = []
    skipped: list[SkippedSkill] = []
    for folder, skill_md in _skill_folders(root.path):
        try:
            properties, warnings = load_properties_at(folder, skill_md)
        except ValidationError as error:
            skipped.append(SkippedSkill(folder, root.scope, error))
        else:
            skills.append(DiscoveredSkill(properties, root.scope, root.path, warnings))
    return skills, skipped


def discover_skills(roots: Iterable[SkillRoot], *, disabled: Iterable[str] = ()) -> SkillCatalog:
    """Find every skill under ``roots``, reading only each ``SKILL.md``'s frontmatter.

    The first skill of a name wins; later ones are reported as shadowed. Folders whose
    ``SKILL.md`` cannot be loaded are reported as skipped, never silently dropped.
    """
    roots = tuple(roots)
    search = search_roots(roots, _load_root, disabled=disabled)
    return SkillCatalog(
        skills=search.found,
        shadowed=tuple(ShadowedSkill(skill, by) for skill, by in search.shadowed),
        skipped=search.skipped,
        disabled=search.disabled,
        roots=roots,
    )


def discover_from_config(
    config: MemfunConfig, *, home: str | os.PathLike[str] | None = None
) -> SkillCatalog:
    """Discovery as configured: ``[skills] paths`` and ``disabled`` of ``memfun.toml``.

    In a folder the user has not trusted, project skills with scripts or grants beyond
    reading are left inactive (:attr:`SkillCatalog.inactive`, with the reason).
    """
    from memfun_skills._trust import gate_untrusted

    roots = default_roots(config.project_root, home=home, extra_paths=config.skills.paths)
    catalog = discover_skills(roots, disabled=config.skills.disabled)
    return gate_untrusted(catalog, Path(config.project_root))
