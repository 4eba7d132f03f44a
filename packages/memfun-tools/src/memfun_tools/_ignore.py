"""``.gitignore`` semantics for the file tools, through ``pathspec``'s ``GitIgnoreSpec``.

Rules come from ``.git/info/exclude``, the root ``.gitignore`` and every nested ``.gitignore``;
a deeper file's decisive pattern wins over a shallower one, and nothing below an ignored
folder can be re-included (as in git). Patterns run on RE2 (linear time): a hostile
``.gitignore`` pattern such as ``*a*a*a*a*a*ab`` cannot stall a listing.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pathspec

__all__ = ["IgnoreRules"]

_Chain = tuple[tuple[str, pathspec.GitIgnoreSpec], ...]


class IgnoreRules:
    """Answers "is this path ignored?" for paths relative to a root, caching each file's rules.

    Args:
        root: The folder whose ``.gitignore`` files apply.
    """

    def __init__(self, root: Path) -> None:
        self._root = root
        self._specs: dict[str, pathspec.GitIgnoreSpec | None] = {}
        self._chains: dict[str, _Chain] = {}
        self._lock = threading.Lock()

    def is_ignored(self, rel: str, *, is_dir: bool, parents_checked: bool = False) -> bool:
        """Whether the ``/``-separated path ``rel`` (relative to the root) is ignored.

        Args:
            rel: The path relative to the root.
            is_dir: Whether it names a folder.
            parents_checked: The caller (a walker) knows no parent folder is ignored.
        """
        parts = [p for p in rel.split("/") if p not in ("", ".")]
        first = len(parts) if parents_checked else 1
        for depth in range(first, len(parts) + 1):
            last = depth == len(parts)
            if self._decide(parts[:depth], is_dir=is_dir or not last):
                return True
        return False

    def _decide(self, parts: list[str], *, is_dir: bool) -> bool:
        decision: bool | None = None
        for base, spec in self._chain("/".join(parts[:-1])):
            cut = len(base.split("/")) if base else 0
            target = "/".join(parts[cut:]) + ("/" if is_dir else "")
            result = spec.check_file(target).include
            if result is not None:
                decision = result
        return bool(decision)

    def _chain(self, folder: str) -> _Chain:
        """The (folder, rules) pairs that apply inside ``folder``, shallowest first."""
        chain = self._chains.get(folder)
        if chain is not None:
            return chain
        parent: _Chain = () if not folder else self._chain(folder.rpartition("/")[0])
        spec = self._spec(folder)
        chain = (*parent, (folder, spec)) if spec is not None else parent
        with self._lock:
            self._chains[folder] = chain
        return chain

    def _spec(self, base: str) -> pathspec.GitIgnoreSpec | None:
        with self._lock:
            if base in self._specs:
                return self._specs[base]
        folder = self._root / base if base else self._root
        lines: list[str] = []
        sources = [folder / ".gitignore"]
        if not base:
            sources.insert(0, folder / ".git" / "info" / "exclude")
        for source in sources:
            try:
                lines.extend(source.read_text(encoding="utf-8", errors="replace").splitlines())
            except OSError:
                continue
        spec = pathspec.GitIgnoreSpec.from_lines(lines, backend="re2") if lines else None
        with self._lock:
            self._specs[base] = spec
        return spec
