"""Bounded, confined reading of skill files: no escaping symlinks, no FIFOs, no huge files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from memfun_core.errors import ValidationError
from memfun_skills._limits import (
    MAX_FRONTMATTER_BYTES,
    MAX_FRONTMATTER_LINES,
    MAX_SKILL_MD_BYTES,
    SKILL_MD_NAMES,
)
from memfun_skills._model import Rule

__all__ = [
    "absolute",
    "confined",
    "decode_text",
    "find_skill_md",
    "read_bounded",
    "read_frontmatter_block",
]


def absolute(path: str | os.PathLike[str]) -> Path:
    """``path`` made absolute without resolving symlinks (``.`` keeps its folder's name)."""
    return Path(os.path.abspath(path))  # noqa: PTH100 - resolve() would follow symlinks


def find_skill_md(skill_dir: Path) -> Path | None:
    """The skill's ``SKILL.md`` (preferred) or ``skill.md``, as skills-ref finds it."""
    for name in SKILL_MD_NAMES:
        candidate = skill_dir / name
        if candidate.exists():
            return candidate
    return None


def confined(path: Path, root: Path, *, field: str) -> Path:
    """Return ``path`` (resolved when a link), refusing it when it leads outside ``root``.

    Raises:
        ValidationError: ``symlink-escape`` when the resolved path is outside the folder.
    """
    if path.parent == root and not path.is_symlink():
        return path  # a plain file directly inside the folder: one lstat, no resolve
    resolved = path.resolve()
    root_resolved = root.resolve()
    if resolved != root_resolved and not resolved.is_relative_to(root_resolved):
        raise ValidationError(
            f"{path.name} is a symlink to {resolved}, outside the skill folder {root_resolved}",
            field=field,
            rule=Rule.SYMLINK_ESCAPE,
            location=str(path),
            hint="copy the file into the skill folder instead of linking outside it",
        )
    return resolved


def _regular_file_size(path: Path, limit: int, field: str) -> int:
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise ValidationError(
            f"{path.name} is not a regular file",
            field=field,
            rule=Rule.NOT_A_REGULAR_FILE,
            location=str(path),
            hint="make it a plain file (not a folder, device or pipe)",
        )
    if info.st_size > limit:
        raise ValidationError(
            f"{path.name} has {info.st_size} bytes; the limit is {limit}",
            field=field,
            rule=Rule.FILE_TOO_LARGE,
            location=str(path),
            hint="move long material into references/ files the skill points to",
        )
    return info.st_size


def read_bounded(
    path: Path, root: Path, *, field: str = "SKILL.md", limit: int = MAX_SKILL_MD_BYTES
) -> bytes:
    """Read a whole file inside ``root``, refusing symlink escapes, non-files and big files.

    Raises:
        ValidationError: ``symlink-escape``, ``not-a-regular-file`` or ``file-too-large``.
    """
    resolved = confined(path, root, field=field)
    _regular_file_size(resolved, limit, field)
    with resolved.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:  # the file grew while we read it
        raise ValidationError(
            f"{path.name} is larger than {limit} bytes",
            field=field,
            rule=Rule.FILE_TOO_LARGE,
            location=str(path),
        )
    return data


def decode_text(data: bytes, location: Path, *, field: str = "SKILL.md") -> str:
    """Decode UTF-8 and translate newlines as ``Path.read_text`` does (universal newlines).

    Raises:
        ValidationError: ``not-utf8`` for binary or non-UTF-8 content.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"{location.name} is not UTF-8 text (invalid byte at offset {exc.start})",
            field=field,
            rule=Rule.NOT_UTF8,
            location=str(location),
            hint="save the file as UTF-8",
        ) from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_frontmatter_block(skill_md: Path, root: Path) -> bytes:
    """Read only the frontmatter lines of ``skill_md`` (discovery's cheap path).

    Returns the bytes from the start of the file through the closing ``---`` line, or the
    bytes read until the bounds were hit (the caller's splitter then reports the problem).

    Raises:
        ValidationError: on a symlink escape, a non-regular file, or a frontmatter larger
            than the bounds.
    """
    info = skill_md.lstat()
    if stat.S_ISREG(info.st_mode) and skill_md.parent == root:
        resolved = skill_md  # the common case: one lstat proves it is a plain file inside
    else:
        resolved = confined(skill_md, root, field="SKILL.md")
        _regular_file_size(resolved, MAX_SKILL_MD_BYTES, "SKILL.md")
    chunks: list[bytes] = []
    total = 0
    with resolved.open("rb") as handle:
        for index in range(MAX_FRONTMATTER_LINES + 2):
            line = handle.readline(MAX_FRONTMATTER_BYTES + 1)
            chunks.append(line)
            total += len(line)
            stripped = line.strip(b" \t\r\n")
            if not line or (index == 0 and stripped.lstrip(b"\xef\xbb\xbf") != b"---"):
                return b"".join(chunks)
            if index > 0 and stripped == b"---":
                return b"".join(chunks)
            if total > MAX_FRONTMATTER_BYTES:
                break
    raise ValidationError(
        f"the frontmatter is longer than {MAX_FRONTMATTER_BYTES} bytes "
        f"or {MAX_FRONTMATTER_LINES} lines",
        field="frontmatter",
        rule=Rule.FRONTMATTER_TOO_LARGE,
        location=str(skill_md),
        hint="keep the frontmatter to name, description and a few short fields",
    )
