"""Fetching skills for ``memfun skill install/update/search``: the network half of the market.

Downloads go through the SSRF-safe fetcher of ``memfun_tools.web`` (the ``[web]`` policy:
a local registry or archive server needs ``allow_loopback = true`` or ``allow_hosts`` in your
own config), git sources through ``memfun_tools.git.export_git_tree``. Everything fetched
lands in a staging folder inside the skills folder; ``memfun_skills.market`` unpacks and
validates it there. Nothing from the skill is ever executed.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from memfun_core.config import MemfunConfig, user_config_path
from memfun_core.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    from memfun_skills.market import InstallPlan, RegistryEntry, SkillSource, Target

__all__ = ["Fetched", "Market", "Placement", "placement"]

MAX_ARCHIVE_BYTES = 32 * 1024 * 1024
MAX_INDEX_BYTES = 5 * 1024 * 1024
_TARGET_DIRS: dict[str, str] = {
    "memfun": ".memfun/skills",
    "claude": ".claude/skills",
    "agents": ".agents/skills",
}
Scope = Literal["project", "user"]


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a scope and target put skills and their lock file."""

    scope: Scope
    base: Path
    skills_root: Path
    lock_path: Path


def placement(
    config: MemfunConfig, scope: Scope, target: Target, environ: Mapping[str, str]
) -> Placement:
    """The skills folder and ``skills.lock`` of a scope (project root or home) and target."""
    if scope == "project":
        base = Path(config.project_root)
        lock = base / "skills.lock"
    else:
        base = Path(environ.get("HOME") or Path.home())
        lock = user_config_path(environ).parent / "skills.lock"
    return Placement(scope, base, base / _TARGET_DIRS[target], lock)


@dataclass(frozen=True, slots=True)
class Fetched:
    """A source fetched, unpacked and validated in its staging folder.

    Attributes:
        source: The source pinned (a git ref as its commit, an archive with its sha256).
        revision: ``git:<commit>``, ``sha256:<hex>`` or ``folder``.
        plan: What would be installed.
        staging: The staging folder (the caller removes it).
        registry_name: The name asked of a registry, when one resolved it.
    """

    source: SkillSource
    revision: str
    plan: InstallPlan
    staging: Path
    registry_name: str | None = None


def _sha256_check(data_sha: str, expected: str | None, where: str) -> None:
    if expected is not None and data_sha != expected:
        raise ValidationError(
            f"sha256 mismatch: expected {expected}, got {data_sha}",
            field="sha256",
            rule="sha256-mismatch",
            location=where,
            hint="the file is not the one the registry or source names; do not install it",
        )


def _read_index(project_root: Path, registry: str) -> tuple[str, bytes]:
    """A local index file (relative to the project root): its absolute path and bytes."""
    path = (project_root / registry).absolute()
    if not path.is_file():
        raise NotFoundError("registry index", str(path), hint="check [skills] registries")
    if path.stat().st_size > MAX_INDEX_BYTES:
        raise ValidationError(
            f"over {MAX_INDEX_BYTES} bytes", field="index", rule="too-large", location=str(path)
        )
    return str(path), path.read_bytes()


def _copy_archive(source: Path, archive: Path) -> None:
    size = source.stat().st_size
    if size > MAX_ARCHIVE_BYTES:
        raise ValidationError(
            f"{size} bytes; the limit is {MAX_ARCHIVE_BYTES}",
            field="archive",
            rule="too-large",
            location=str(source),
        )
    shutil.copyfile(source, archive)


class Market:
    """Fetches sources and registry indexes under one configuration.

    Args:
        config: The loaded configuration (``[web]`` policy, ``[skills] registries``).
        cwd: Where relative sources are read from.
    """

    def __init__(self, config: MemfunConfig, cwd: Path) -> None:
        self._config = config
        self._cwd = cwd

    async def _download(self, url: str, limit: int) -> bytes:
        from memfun_tools.web import WebFetcher

        return (await WebFetcher(self._config.web).fetch_bytes(url, max_bytes=limit)).body

    async def registry_entries(self) -> list[RegistryEntry]:
        """Every entry of every configured registry, in configuration order.

        Raises:
            ConfigError: No registry is configured.
        """
        from memfun_core.errors import ConfigError
        from memfun_skills.market import parse_index

        registries = self._config.skills.registries
        if not registries:
            raise ConfigError(
                "no skill registry is configured",
                key="skills.registries",
                hint='add registries = ["https://.../index.json"] under [skills] in your config',
            )
        entries: list[RegistryEntry] = []
        for registry in registries:
            if urlsplit(registry).scheme in ("http", "https"):
                data = await self._download(registry, MAX_INDEX_BYTES)
                origin = registry
            else:
                origin, data = _read_index(Path(self._config.project_root), registry)
            entries.extend(parse_index(data, origin))
        return entries

    async def resolve(self, text: str) -> tuple[SkillSource, str | None]:
        """Parse ``text``; a registry name becomes the source its registry gives."""
        from memfun_skills.market import parse_source

        source = parse_source(text, cwd=self._cwd)
        if source.kind != "registry":
            return source, None
        for entry in await self.registry_entries():
            if entry.name == source.location:
                resolved = parse_source(entry.source, cwd=self._cwd)
                if resolved.kind == "registry":
                    raise ValidationError(
                        f"{entry.name}: the source {entry.source!r} is not a folder, archive "
                        "or git URL",
                        field="source",
                        rule="registry-index",
                        location=entry.registry,
                    )
                if entry.sha256 is not None and resolved.kind == "archive":
                    resolved = resolved.pinned(sha256=entry.sha256)
                return resolved, entry.name
        raise NotFoundError(
            "skill",
            f"{source.location} in the configured registries",
            hint="`memfun skill search WORDS` lists what they offer",
        )

    async def fetch(
        self, text: str, skills_root: Path, *, registry_name: str | None = None
    ) -> Fetched:
        """Fetch, unpack and validate ``text`` into a new staging folder of ``skills_root``.

        The staging folder is removed when this raises; otherwise the caller removes it.
        """
        from memfun_skills.market import prepare_install, staging_dir

        source, from_registry = await self.resolve(text)
        staging = staging_dir(skills_root)
        try:
            unpacked = staging / "src"
            revision, pinned = await self._unpack(source, staging, unpacked)
            subdir = None if source.kind == "git" else source.subdir
            plan = prepare_install(unpacked, staging, subdir=subdir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return Fetched(pinned, revision, plan, staging, registry_name or from_registry)

    async def _unpack(
        self, source: SkillSource, staging: Path, unpacked: Path
    ) -> tuple[str, SkillSource]:
        from memfun_skills.market import copy_folder, unpack_archive

        if source.kind == "folder":
            copy_folder(Path(source.location), unpacked)
            return "folder", source
        if source.kind == "git":
            from memfun_tools.git import export_git_tree

            work = staging / "git"
            work.mkdir()
            tree = await export_git_tree(
                source.location,
                source.ref,
                work,
                subdir=source.subdir,
                config=self._config.web,
                max_files=10_000,
                max_bytes=MAX_ARCHIVE_BYTES * 4,
            )
            unpack_archive(tree.archive, unpacked)
            shutil.rmtree(work)
            return f"git:{tree.commit}", source.pinned(ref=tree.commit)
        archive = staging / "download"
        if source.remote:
            archive.write_bytes(await self._download(source.location, MAX_ARCHIVE_BYTES))
        else:
            _copy_archive(Path(source.location), archive)
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        _sha256_check(digest, source.sha256, source.location)
        unpack_archive(archive, unpacked)
        archive.unlink()
        return f"sha256:{digest}", source.pinned(sha256=digest)
