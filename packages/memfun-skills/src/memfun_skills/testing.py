"""Helpers for tests and benchmarks: write skill folders to disk.

Example:
    >>> from memfun_skills.testing import write_skill
    >>> path = write_skill(tmp_path, "pdf-tools", "Work with PDF files.")  # doctest: +SKIP
"""

from __future__ import annotations

import random
from pathlib import Path

from memfun_skills._hostile_archives import (
    deflated_zeros,
    many_files_zip,
    tar_gz_with,
    zip_bomb,
    zip_with,
)

__all__ = [
    "deflated_zeros",
    "generate_skill_tree",
    "many_files_zip",
    "tar_gz_with",
    "write_skill",
    "write_skill_md",
    "zip_bomb",
    "zip_with",
]

_WORDS = [
    "review",
    "code",
    "security",
    "test",
    "python",
    "refactor",
    "bug",
    "fix",
    "explain",
    "docs",
    "api",
    "http",
    "json",
    "yaml",
    "sql",
    "database",
    "migrate",
    "deploy",
    "docker",
    "kubernetes",
    "log",
    "trace",
    "profile",
    "performance",
    "memory",
    "cache",
    "frontend",
    "react",
    "css",
    "design",
    "pdf",
    "excel",
    "chart",
    "image",
    "audio",
    "video",
    "git",
    "commit",
    "branch",
    "merge",
    "release",
    "changelog",
    "lint",
    "format",
    "type",
    "check",
    "benchmark",
    "schema",
    "graph",
    "search",
    "index",
    "parse",
]


def write_skill_md(folder: Path, content: str | bytes, *, filename: str = "SKILL.md") -> Path:
    """Create ``folder`` and write ``content`` to ``folder/filename``; return the file."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / filename
    if isinstance(content, bytes):
        target.write_bytes(content)
    else:
        target.write_text(content, encoding="utf-8", newline="")
    return target


def write_skill(
    root: Path,
    name: str,
    description: str,
    *,
    body: str = "# Instructions\n\nFollow these steps.\n",
    extra: str = "",
    files: dict[str, str] | None = None,
) -> Path:
    """Write a valid skill ``root/name`` with a frontmatter, a body and optional files.

    Args:
        root: The folder that holds skills.
        name: The skill name (also the folder name).
        description: The description (written as a quoted YAML scalar).
        body: The Markdown body.
        extra: Extra frontmatter lines, written verbatim.
        files: Relative path -> text of extra files (``references/guide.md``).

    Returns:
        The skill folder.
    """
    folder = root / name
    quoted = description.replace("'", "''")
    write_skill_md(folder, f"---\nname: {name}\ndescription: '{quoted}'\n{extra}---\n{body}")
    for relative, text in (files or {}).items():
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return folder


def generate_skill_tree(root: Path, count: int, *, seed: int = 7) -> list[Path]:
    """Write ``count`` valid skills with varied descriptions under ``root``.

    Returns:
        The skill folders, in creation order.
    """
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    folders: list[Path] = []
    for index in range(count):
        words = rng.sample(_WORDS, 12)
        name = f"{words[0]}-{words[1]}-{index}"
        description = (
            f"Use this skill to {' '.join(words[2:8])}. "
            f"Helps with {', '.join(words[8:])} tasks in a repository."
        )
        body = "# Steps\n\n" + "\n".join(
            f"{n}. {' '.join(rng.sample(_WORDS, 8))}" for n in range(40)
        )
        folders.append(write_skill(root, name, description, body=body))
    return folders
