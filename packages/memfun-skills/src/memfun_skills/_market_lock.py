"""``skills.lock``: what ``memfun skill install`` put where, pinned to a revision and a hash.

A TOML file, one ``[[skill]]`` table per installed skill::

    version = 1

    [[skill]]
    name = "release-notes"
    source = "git+https://example.org/skills.git@v1.2#subdir=release-notes"
    revision = "git:3f2c..."
    content = "sha256:9b1e..."
    target = "memfun"

``content`` is :func:`content_hash` of the installed folder; ``revision`` is the git commit
(``git:<id>``), the archive's SHA-256 (``sha256:<hex>``) or ``folder`` for a local folder.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, cast

from memfun_core.errors import ConfigError, ValidationError

__all__ = ["LOCK_FILE", "LockEntry", "SkillsLock", "Target", "content_hash"]

LOCK_FILE = "skills.lock"
_VERSION = 1
Target = Literal["memfun", "claude", "agents"]
_TARGETS: tuple[Target, ...] = ("memfun", "claude", "agents")
_FIELDS = ("name", "source", "revision", "content", "target")
_FIX = "restore it from version control, or delete it and install the skills again"


def content_hash(folder: Path) -> str:
    """SHA-256 over the sorted relative paths and bytes of every file under ``folder``.

    Each file feeds ``<posix path> NUL <size> NUL <bytes>``; folders themselves and file
    modes do not count, so the same content hashes the same on every machine.

    Raises:
        ValidationError: The folder holds a symbolic link or a special file.
    """
    files: list[tuple[str, Path]] = []
    for current, dirs, names in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in (*dirs, *names):
            path = Path(current, name)
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode) or not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise ValidationError(
                    "is a link or a special file",
                    field=path.relative_to(folder).as_posix(),
                    rule="plain-files-only",
                    location=str(folder),
                )
            if stat.S_ISREG(mode):
                files.append((path.relative_to(folder).as_posix(), path))
    digest = hashlib.sha256()
    for relative, path in sorted(files):
        data = path.read_bytes()
        digest.update(relative.encode("utf-8") + b"\0" + str(len(data)).encode() + b"\0")
        digest.update(data)
    return "sha256:" + digest.hexdigest()


@dataclass(frozen=True, slots=True)
class LockEntry:
    """One installed skill.

    Attributes:
        name: The skill's name (its folder's name).
        source: Where it came from, as the user gave it (a registry name stays a name, a git
            URL keeps its branch or tag), so ``update`` follows it; ``--locked`` pins it to
            ``revision``.
        revision: ``git:<commit>``, ``sha256:<archive hash>`` or ``folder``.
        content: :func:`content_hash` of what was installed.
        target: Which skill folder family it went to (``memfun``, ``claude``, ``agents``).
    """

    name: str
    source: str
    revision: str
    content: str
    target: Target = "memfun"


def _escape(value: str) -> str:
    out: list[str] = []
    for ch in value:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ch == "\x7f":  # noqa: PLR2004
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _entry(raw: object, where: str, index: int) -> LockEntry:
    def bad(detail: str) -> ConfigError:
        return ConfigError(f"skill #{index + 1}: {detail}", source=where, hint=_FIX)

    if not isinstance(raw, dict):
        raise bad("is not a table")
    table = cast("dict[str, Any]", raw)
    values: dict[str, str] = {}
    for key in _FIELDS:
        value = table.get(key)
        if value is None and key == "target":
            continue
        if not isinstance(value, str) or not value:
            raise bad(f"{key} must be a non-empty string")
        values[key] = value
    target = values.get("target", "memfun")
    if target not in _TARGETS:
        raise bad(f"target must be one of {', '.join(_TARGETS)}")
    return LockEntry(
        name=values["name"],
        source=values["source"],
        revision=values["revision"],
        content=values["content"],
        target=target,
    )


@dataclass(frozen=True, slots=True)
class SkillsLock:
    """The entries of one ``skills.lock`` (project or user), sorted by name."""

    entries: tuple[LockEntry, ...] = ()

    @classmethod
    def read(cls, path: Path) -> SkillsLock:
        """Read ``path``; a missing file is an empty lock.

        Raises:
            CorruptDataError: The file is not valid TOML or not a lock of this version.
        """
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls()
        where = str(path)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML: {exc}", source=where, hint=_FIX) from None
        if data.get("version") != _VERSION:
            raise ConfigError(
                f"version is {data.get('version')!r}, expected {_VERSION}",
                source=where,
                hint="a newer Memfun wrote it (upgrade Memfun), or the file is damaged",
            )
        skills = data.get("skill", [])
        if not isinstance(skills, list):
            raise ConfigError("skill must be an array of tables", source=where, hint=_FIX)
        entries = [_entry(raw, where, i) for i, raw in enumerate(cast("list[object]", skills))]
        return cls(tuple(sorted(entries, key=lambda e: e.name)))

    def get(self, name: str) -> LockEntry | None:
        """The entry of ``name``, if any."""
        return next((entry for entry in self.entries if entry.name == name), None)

    def with_entry(self, entry: LockEntry) -> SkillsLock:
        """This lock with ``entry`` added or replacing the one of the same name."""
        kept = [e for e in self.entries if e.name != entry.name]
        return replace(self, entries=tuple(sorted([*kept, entry], key=lambda e: e.name)))

    def without(self, name: str) -> SkillsLock:
        """This lock without ``name``."""
        return replace(self, entries=tuple(e for e in self.entries if e.name != name))

    def render(self) -> str:
        """The TOML text of the lock."""
        lines = [
            "# Written by `memfun skill install`; commit it. `memfun skill install --locked`",
            "# installs exactly these skills and refuses any whose content changed.",
            f"version = {_VERSION}",
        ]
        for entry in self.entries:
            lines += ["", "[[skill]]"]
            lines.extend(f"{key} = {_escape(getattr(entry, key))}" for key in _FIELDS)
        return "\n".join(lines) + "\n"

    def write(self, path: Path) -> None:
        """Write the lock to ``path`` atomically (a temporary file, then a rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(self.render(), encoding="utf-8")
        temporary.replace(path)
