"""Project instructions: ``AGENTS.md`` (else ``CLAUDE.md``) from the root down to the work.

The cross-tool convention: a project states its rules in ``AGENTS.md`` at its root and in
folders that need more. An agent reads the file of each folder between the project root and
the files it works on, nearest first, within a byte budget. A file that leads out of the
project (a symlink to ``~/.ssh/...``) is never read: its content would go to the model.
"""

from __future__ import annotations

import codecs
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from memfun_core.config import AgentsConfig, MemfunConfig

__all__ = ["DEFAULT_INSTRUCTIONS_BYTES", "INSTRUCTION_FILES", "load_project_instructions"]

INSTRUCTION_FILES = ("AGENTS.md", "CLAUDE.md")
"""The file read in each folder: ``AGENTS.md``, else ``CLAUDE.md``."""
DEFAULT_INSTRUCTIONS_BYTES = 16 * 1024
_TAIL = 256  # room kept for the closing note about files left out
_NOTE = 200  # room kept in each section for a truncation note
_MIN_ROOM = 64  # less room than this: the file is left out rather than cut to a stub


def _folders(root: Path, paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The folders from ``root`` down to each path, deepest first, ``root`` last."""
    folders: dict[Path, int] = {root: 0}
    for path in paths:
        target = Path(path)
        target = (target if target.is_absolute() else root / target).resolve()
        if not target.is_relative_to(root):
            continue  # not in the project: no folder between the root and it
        folder = target if target.is_dir() else target.parent
        parts = folder.relative_to(root).parts
        for depth in range(1, len(parts) + 1):
            folders.setdefault(root.joinpath(*parts[:depth]), depth)
    return sorted(folders, key=lambda folder: -folders[folder])


def _instruction_file(folder: Path, root: Path) -> Path | None:
    for name in INSTRUCTION_FILES:
        candidate = folder / name
        try:
            info = candidate.stat()
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode) or not candidate.resolve().is_relative_to(root):
            return None  # a folder, a device, or a link out of the project: never read
        return candidate
    return None


def _read_prefix(file: Path, limit: int) -> tuple[str, int] | None:
    """Up to ``limit`` bytes of ``file`` as text (cut on a character boundary), and its size.

    ``None`` when the file is not UTF-8 text.
    """
    with file.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        data = handle.read(max(limit, 0))
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(data, final=len(data) >= size)
    except UnicodeDecodeError:
        return None
    return text.replace("\r\n", "\n"), size


def _settings(budget: int | None, config: MemfunConfig | AgentsConfig | None) -> tuple[bool, int]:
    section = config.agents if isinstance(config, MemfunConfig) else config
    enabled = section.project_instructions if section is not None else True
    default = section.project_instructions_bytes if section is not None else None
    return enabled, budget if budget is not None else default or DEFAULT_INSTRUCTIONS_BYTES


def load_project_instructions(
    root: str | os.PathLike[str],
    paths: Iterable[str | os.PathLike[str]] = (),
    budget: int | None = None,
    *,
    config: MemfunConfig | AgentsConfig | None = None,
) -> str:
    """The project's instructions for an agent working on ``paths``, nearest first.

    Reads ``AGENTS.md`` (else ``CLAUDE.md``) of the project root and of every folder between
    it and each path. The most specific file comes first; the text stays within ``budget``
    bytes (UTF-8): a file that does not fit whole is cut with a note, and files left out are
    named at the end. Files outside the project (through symlinks), non-regular files and
    non-UTF-8 files are skipped.

    Args:
        root: The project root.
        paths: Files or folders the agent works on (relative to ``root`` or absolute);
            paths outside the project are ignored.
        budget: The most bytes returned (default: ``[agents] project_instructions_bytes``).
        config: The configuration; ``[agents] project_instructions = false`` turns this off.

    Returns:
        The instructions as Markdown, or ``""`` when there are none or they are turned off.
    """
    enabled, limit = _settings(budget, config)
    if not enabled or limit <= 0:
        return ""
    project = Path(root).resolve()
    remaining = limit - _TAIL
    sections: list[str] = []
    left_out: list[str] = []
    for folder in _folders(project, paths):
        file = _instruction_file(folder, project)
        if file is None:
            continue
        relative = file.relative_to(project).as_posix()
        header = f"## {relative}\n\n"
        room = remaining - len(header.encode()) - _NOTE
        read = _read_prefix(file, room) if room > _MIN_ROOM else None
        if read is None:
            left_out.append(relative)
            continue
        text, size = read
        used = len(text.encode())
        if used < size:
            text += f"\n\n[truncated: {relative} has {size} bytes; {used} fit the budget]"
        section = header + text.strip() + "\n"
        sections.append(section)
        remaining -= len(section.encode()) + 1  # and the newline that joins sections
    if left_out:
        note = f"[left out, over the budget or not UTF-8: {', '.join(left_out)}]\n"
        if len(note.encode()) > _TAIL:
            note = f"[{len(left_out)} more instruction files left out (over the budget)]\n"
        sections.append(note)
    return "\n".join(sections)
