"""The search MCP server (``search``): regex/text search and structural search."""

from __future__ import annotations

from typing import Annotated

from fastmcp import FastMCP
from pydantic import Field

from memfun_tools._mcp import READ_ONLY, guarded
from memfun_tools._workspace import Workspace
from memfun_tools.search._astgrep import search_structural
from memfun_tools.search._common import MAX_CONTEXT, MAX_LIMIT
from memfun_tools.search._results import SearchResult
from memfun_tools.search._ripgrep import CaseMode, search_text

__all__ = ["build_search_server"]

Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description="Matches per page.")]
Offset = Annotated[int, Field(ge=0, description="Matches to skip (a previous next_offset).")]
Context = Annotated[int, Field(ge=0, le=MAX_CONTEXT, description="Context lines each side.")]
Globs = Annotated[list[str], Field(description="Include/exclude globs, e.g. '*.py', '!tests/**'.")]


def build_search_server(ws: Workspace) -> FastMCP:
    """Build the search server over ``ws`` (every tool is read-only)."""
    server = FastMCP("memfun-search", instructions=f"Search the workspace {ws.root}.")

    @guarded
    async def text(
        pattern: Annotated[str, Field(description="Rust regex, or literal with fixed_strings.")],
        path: str = ".",
        *,
        globs: Globs | None = None,
        fixed_strings: bool = False,
        case: CaseMode = "smart",
        context: Context = 2,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> SearchResult:
        """Search file contents with ripgrep: file, line, column and context, paginated."""
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

    @guarded
    async def structural(
        pattern: Annotated[str, Field(description="ast-grep pattern, e.g. 'foo($A)'.")],
        language: Annotated[str, Field(description="python, javascript, typescript, go, ...")],
        path: str = ".",
        *,
        globs: Globs | None = None,
        context: Context = 2,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> SearchResult:
        """Search code by syntax tree with ast-grep ($X one node, $$$X many), paginated."""
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

    server.tool(text, name="text", annotations=READ_ONLY)
    server.tool(structural, name="structural", annotations=READ_ONLY)
    return server
