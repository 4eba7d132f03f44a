"""Which grammar parses which file, loaded from the per-language wheels (no downloads)."""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from tree_sitter import Language, Parser, Query

from memfun_tools.repomap._queries import EXTRA_QUERIES, TYPESCRIPT_TAGS

__all__ = ["KNOWN_WITHOUT_GRAMMAR", "Grammar", "grammar_for", "language_of"]

EXTENSIONS: dict[str, str] = {
    ".py": "python", ".pyi": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp", ".hxx": "cpp",
    ".rb": "ruby",
}  # fmt: skip

# Source files we recognise but cannot parse: listed by name, with a notice.
KNOWN_WITHOUT_GRAMMAR: dict[str, str] = {
    ".kt": "Kotlin", ".kts": "Kotlin", ".swift": "Swift", ".php": "PHP", ".cs": "C#",
    ".scala": "Scala", ".lua": "Lua", ".sh": "shell", ".bash": "shell", ".pl": "Perl",
    ".r": "R", ".jl": "Julia", ".dart": "Dart", ".ex": "Elixir", ".exs": "Elixir",
    ".hs": "Haskell", ".ml": "OCaml", ".clj": "Clojure", ".zig": "Zig", ".erl": "Erlang",
    ".vue": "Vue", ".svelte": "Svelte", ".sql": "SQL",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Grammar:
    """A loaded grammar and its compiled tags query.

    Attributes:
        name: The grammar's name.
        language: The tree-sitter language.
        query: The compiled tags query.
    """

    name: str
    language: Language
    query: Query

    def parser(self) -> Parser:
        """Return a new parser for this grammar (parsers are not shared across threads)."""
        return Parser(self.language)


def language_of(path: str) -> str | None:
    """Return the grammar name for a path, or ``None`` when no grammar handles it."""
    return EXTENSIONS.get(PurePosixPath(path).suffix.lower())


@functools.cache
def grammar_for(name: str) -> Grammar:
    """Load (once) the grammar ``name`` and compile its tags query."""
    raw: object
    if name in ("typescript", "tsx"):
        module: Any = importlib.import_module("tree_sitter_typescript")
        raw = module.language_typescript() if name == "typescript" else module.language_tsx()
        source = TYPESCRIPT_TAGS
    else:
        module = importlib.import_module(f"tree_sitter_{name}")
        raw = module.language()
        source = str(module.TAGS_QUERY)
    language = Language(raw)
    source += EXTRA_QUERIES.get(name, "")
    return Grammar(name=name, language=language, query=Query(language, source))
