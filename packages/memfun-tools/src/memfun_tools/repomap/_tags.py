"""Extracting definition and reference tags from one file with a tree-sitter query."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from tree_sitter import Node, QueryCursor

from memfun_tools.repomap._languages import Grammar

__all__ = ["Definition", "FileTags", "extract_tags"]

_MAX_TEXT = 100


@dataclass(frozen=True, slots=True)
class Definition:
    """A definition found in a file.

    Attributes:
        name: The defined identifier.
        kind: ``function``, ``class``, ``method``, ``type``, ...
        line: The 1-based line of the name.
        text: That line of source, right-stripped and capped.
    """

    name: str
    kind: str
    line: int
    text: str


@dataclass(frozen=True, slots=True)
class FileTags:
    """Tags of one file: its definitions and how often it references each identifier."""

    defs: tuple[Definition, ...]
    refs: dict[str, int]

    @property
    def def_names(self) -> tuple[str, ...]:
        """The distinct defined names, in order of first definition."""
        return tuple(dict.fromkeys(d.name for d in self.defs))


def extract_tags(grammar: Grammar, source: bytes) -> FileTags:
    """Parse ``source`` and return its definitions and reference counts."""
    tree = grammar.parser().parse(source)
    lines = source.split(b"\n")
    tags = _Collected(lines)
    _by_match(grammar, tree.root_node, tags)
    ordered = tuple(sorted(tags.defs.values(), key=lambda d: d.line))
    return FileTags(defs=ordered, refs=dict(tags.refs))


class _Collected:
    """Definitions and references gathered from one file."""

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines
        self.defs: dict[tuple[str, int], Definition] = {}
        self.refs: Counter[str] = Counter()

    def add(self, role: str, node: Node) -> None:
        raw = node.text
        if not raw:
            return
        name = raw.decode("utf-8", errors="replace")
        if role[0] == "r":
            self.refs[name] += 1
            return
        row = node.start_point.row
        lines = self.lines
        text = lines[row].decode("utf-8", errors="replace").rstrip() if row < len(lines) else ""
        self.defs.setdefault((name, row), Definition(name, role[11:], row + 1, text[:_MAX_TEXT]))


def _by_match(grammar: Grammar, root: Node, tags: _Collected) -> None:
    roles: dict[int, str | None] = {}  # pattern index -> its definition/reference capture
    for pattern, captures in QueryCursor(grammar.query).matches(root):
        if pattern not in roles:
            roles[pattern] = next(
                (k for k in captures if k.startswith(("definition.", "reference."))), None
            )
        role = roles[pattern]
        if role is not None:
            for node in captures.get("name", ()):
                tags.add(role, node)
