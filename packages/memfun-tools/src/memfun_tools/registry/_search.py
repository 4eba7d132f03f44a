"""The search tools (``search_*``): ripgrep text search and ast-grep structural search."""

from __future__ import annotations

from typing import Any

from memfun_tools._workspace import Workspace
from memfun_tools.registry._core import READ_ONLY, ToolDef
from memfun_tools.registry._schema import array, boolean, integer, nullable, params, string
from memfun_tools.search._astgrep import search_structural
from memfun_tools.search._common import MAX_CONTEXT, MAX_LIMIT
from memfun_tools.search._results import SearchResult
from memfun_tools.search._ripgrep import CaseMode, search_text

__all__ = ["search_tools"]


def _paging() -> dict[str, dict[str, Any]]:
    return {
        "globs": nullable(
            array({"type": "string"}, "Include/exclude globs, e.g. '*.py', '!tests/**'.")
        ),
        "context": integer("Context lines each side.", ge=0, le=MAX_CONTEXT, default=2),
        "limit": integer("Matches per page.", ge=1, le=MAX_LIMIT, default=50),
        "offset": integer("Matches to skip (a previous next_offset).", ge=0, default=0),
    }


def search_tools(ws: Workspace) -> list[ToolDef]:
    """The search tools over ``ws`` (all read-only)."""

    async def text(
        *,
        pattern: str,
        path: str,
        globs: list[str] | None,
        fixed_strings: bool,
        case: CaseMode,
        context: int,
        limit: int,
        offset: int,
    ) -> SearchResult:
        return await search_text(
            ws,
            pattern,
            path,
            globs=globs or (),
            fixed_strings=fixed_strings,
            case=case,
            context=context,
            limit=limit,
            offset=offset,
        )

    async def structural(
        *,
        pattern: str,
        language: str,
        path: str,
        globs: list[str] | None,
        context: int,
        limit: int,
        offset: int,
    ) -> SearchResult:
        return await search_structural(
            ws,
            pattern,
            language,
            path,
            globs=globs or (),
            context=context,
            limit=limit,
            offset=offset,
        )

    paging = _paging()
    return [
        ToolDef(
            "search",
            "text",
            "Search file contents with ripgrep: file, line, column and context, paginated.",
            params(
                ("pattern",),
                pattern=string("Rust regex, or literal with fixed_strings."),
                path=string(default="."),
                globs=paging["globs"],
                fixed_strings=boolean(default=False),
                case={
                    "default": "smart",
                    "enum": ["smart", "sensitive", "insensitive"],
                    "type": "string",
                },
                context=paging["context"],
                limit=paging["limit"],
                offset=paging["offset"],
            ),
            READ_ONLY,
            SearchResult,
            text,
        ),
        ToolDef(
            "search",
            "structural",
            "Search code by syntax tree with ast-grep ($X one node, $$$X many), paginated.",
            params(
                ("pattern", "language"),
                pattern=string("ast-grep pattern, e.g. 'foo($A)'."),
                language=string("python, javascript, typescript, go, ..."),
                path=string(default="."),
                **paging,
            ),
            READ_ONLY,
            SearchResult,
            structural,
        ),
    ]
