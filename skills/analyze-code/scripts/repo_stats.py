#!/usr/bin/env python3
"""Print a quick inventory of a source tree: languages, lines, largest and newest files.

Usage: python3 repo_stats.py [PATH] [--top N]

Standard library only. Skips version-control, virtual-environment and dependency folders.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

SKIP_DIRS = {
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    "env",
    "node_modules",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".tox",
    "dist",
    "build",
    "target",
    ".next",
    ".idea",
}
LANGUAGES = {
    ".py": "Python",
    ".js": "JavaScript",
    ".jsx": "JavaScript",
    ".mjs": "JavaScript",
    ".ts": "TypeScript",
    ".tsx": "TypeScript",
    ".go": "Go",
    ".rs": "Rust",
    ".java": "Java",
    ".kt": "Kotlin",
    ".c": "C",
    ".h": "C",
    ".cc": "C++",
    ".cpp": "C++",
    ".hpp": "C++",
    ".cs": "C#",
    ".rb": "Ruby",
    ".php": "PHP",
    ".swift": "Swift",
    ".scala": "Scala",
    ".sh": "Shell",
    ".sql": "SQL",
    ".md": "Markdown",
    ".toml": "TOML",
    ".yaml": "YAML",
    ".yml": "YAML",
    ".json": "JSON",
    ".html": "HTML",
    ".css": "CSS",
}
MAX_BYTES = 2_000_000


def scan(root: Path) -> list[tuple[Path, str, int, float]]:
    """Return (path, language, lines, mtime) for every recognised text file under root."""
    rows: list[tuple[Path, str, int, float]] = []
    for current, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")]
        for name in files:
            path = Path(current, name)
            language = LANGUAGES.get(path.suffix.lower())
            if language is None or path.is_symlink():
                continue
            try:
                info = path.stat()
                if info.st_size > MAX_BYTES:
                    continue
                with path.open("rb") as handle:
                    lines = sum(1 for _ in handle)
            except OSError:
                continue
            rows.append((path, language, lines, info.st_mtime))
    return rows


def main() -> int:
    """Print the inventory of the tree given on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=".")
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    root = Path(args.path)
    if not root.is_dir():
        print(f"not a directory: {root}", file=sys.stderr)
        return 2
    rows = scan(root)
    files: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    for _, language, count, _ in rows:
        files[language] += 1
        lines[language] += count
    print(f"{'language':<12} {'files':>7} {'lines':>9}")
    for language, total in lines.most_common():
        print(f"{language:<12} {files[language]:>7} {total:>9}")
    print(f"{'total':<12} {sum(files.values()):>7} {sum(lines.values()):>9}\n")
    print(f"largest {args.top} files (lines):")
    for path, _, count, _ in sorted(rows, key=lambda row: -row[2])[: args.top]:
        print(f"  {count:>7}  {path.relative_to(root)}")
    print(f"\nmost recently modified {args.top} files:")
    for path, _, _, mtime in sorted(rows, key=lambda row: -row[3])[: args.top]:
        stamp = time.strftime("%Y-%m-%d", time.localtime(mtime))
        print(f"  {stamp}  {path.relative_to(root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
