"""Which files a run changed, as one unified diff against their content before the run.

When a checkpoint recorder is current (``memfun_agent.tools.recording``) as the tracker is
created, the tracker also hands it each path before its first change, so the run becomes a
checkpoint that ``memfun undo`` can restore byte for byte.
"""

from __future__ import annotations

import difflib
import threading
from pathlib import Path

from memfun_agent.tools._checkpoints import current_recorder

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
        self._recorder = current_recorder()

    def before_write(self, path: str) -> None:
        """Snapshot ``path`` (relative to the root) if it was not yet changed in this run."""
        with self._lock:
            if self._recorder is not None:
                self._recorder.record_before(path)
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
