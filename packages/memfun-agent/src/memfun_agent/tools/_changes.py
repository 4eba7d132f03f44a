"""Which files a run changed, as one unified diff against their content before the run."""

from __future__ import annotations

import difflib
import threading
from pathlib import Path

__all__ = ["ChangeTracker"]


class ChangeTracker:
    """Remembers each file's content before its first change through the file tools.

    Args:
        root: The workspace root.
    """

    def __init__(self, root: Path) -> None:
        self._root = root
        self._before: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def before_write(self, path: str) -> None:
        """Snapshot ``path`` (relative to the root) if it was not yet changed in this run."""
        with self._lock:
            if path in self._before:
                return
            target = (self._root / path).resolve()
            if not target.is_relative_to(self._root):
                return  # the tool itself refuses it
            try:
                self._before[path] = target.read_text(encoding="utf-8")
            except FileNotFoundError:
                self._before[path] = None
            except (OSError, UnicodeDecodeError):
                return

    def changed_files(self) -> list[str]:
        """Paths whose content differs from the snapshot, sorted."""
        return [path for path, _ in self._diffs()]

    def diff(self) -> str:
        """One unified diff of every changed file (``a/`` and ``b/`` prefixes, like git)."""
        return "".join(text for _, text in self._diffs())

    def _diffs(self) -> list[tuple[str, str]]:
        with self._lock:
            before = dict(self._before)
        out: list[tuple[str, str]] = []
        for path in sorted(before):
            old = before[path]
            try:
                new: str | None = (self._root / path).read_text(encoding="utf-8")
            except FileNotFoundError:
                new = None
            except (OSError, UnicodeDecodeError):
                continue
            if old == new:
                continue
            lines = difflib.unified_diff(
                (old or "").splitlines(keepends=True),
                (new or "").splitlines(keepends=True),
                fromfile="/dev/null" if old is None else f"a/{path}",
                tofile="/dev/null" if new is None else f"b/{path}",
            )
            text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
            out.append((path, text))
        return out
