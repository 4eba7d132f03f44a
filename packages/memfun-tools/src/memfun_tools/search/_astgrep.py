"""Structural (syntax-tree) search through the bundled ast-grep."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from memfun_core.errors import BackendError, ValidationError
from memfun_tools._binaries import find_binary
from memfun_tools._workspace import Workspace
from memfun_tools.search._common import cap_line, check_page
from memfun_tools.search._process import stream_json
from memfun_tools.search._results import SearchMatch, SearchResult

__all__ = ["search_structural"]

_HARD_CAP = 10_000


def _to_match(record: dict[str, Any]) -> SearchMatch:
    rng: dict[str, Any] = record["range"]
    start_line = int(rng["start"]["line"])
    span = int(rng["end"]["line"]) - start_line + 1
    lines = str(record.get("lines", "")).split("\n")
    before_count = min(len(lines), _before_count(record, lines))
    before = tuple(cap_line(x) for x in lines[:before_count])
    after = tuple(cap_line(x) for x in lines[before_count + span :])
    return SearchMatch(
        path=str(record["file"]).removeprefix("./"),
        line=start_line + 1,
        column=int(rng["start"]["column"]) + 1,
        text=cap_line(str(record.get("text", ""))),
        before=before,
        after=after,
    )


def _before_count(record: dict[str, Any], lines: list[str]) -> int:
    leading = int(record.get("charCount", {}).get("leading", 0))
    # ``leading`` counts the characters of ``lines`` before the match's first line starts
    # plus the match line's own indentation; walk whole lines until it is used up.
    count = 0
    used = 0
    for line in lines:
        if used + len(line) + 1 > leading:
            break
        used += len(line) + 1
        count += 1
    return count


async def search_structural(
    ws: Workspace,
    pattern: str,
    language: str,
    path: str = ".",
    *,
    globs: Sequence[str] = (),
    context: int = 2,
    limit: int = 50,
    offset: int = 0,
    time_limit: float = 60.0,
) -> SearchResult:
    """Search code by syntax-tree pattern (``foo($A)``, ``def $F($$$ARGS): $$$BODY``).

    Args:
        ws: The workspace.
        pattern: An ast-grep pattern; ``$NAME`` matches one node, ``$$$NAME`` many.
        language: The language of the pattern (``python``, ``javascript``, ``rust``, ...).
        path: A file or folder to search, relative to the root.
        globs: Globs to include or exclude (``"!tests/**"``).
        context: Lines of context before and after each match (0-10).
        limit: Matches per page (1-500).
        offset: Matches to skip (from a previous page's ``next_offset``).
        time_limit: Seconds before the search is stopped.

    Returns:
        One page of matches, ordered by path, line and column.

    Raises:
        ValidationError: On an invalid pattern, language or argument.
        PermissionDeniedError: When the path is outside the workspace.
        OperationTimeout: When ast-grep runs past ``time_limit``.
    """
    check_page(pattern, limit, offset, context)
    if not language.replace("-", "").replace("_", "").isalnum():
        raise ValidationError(f"is {language!r}", field="language", rule="a language name")
    target = ws.relative(ws.resolve(path))
    argv = [
        str(find_binary("ast-grep")),
        "run",
        "--pattern",
        pattern,
        "--lang",
        language,
        "--json=stream",
        "--context",
        str(context),
    ]
    if not ws.respect_gitignore:
        argv += ["--no-ignore", "vcs"]
    for glob in globs:
        argv += ["--globs", glob]
    argv += ["--", target]
    records: list[dict[str, Any]] = []

    def keep(record: dict[str, Any]) -> bool:
        # ast-grep reads .gitignore only inside a git repository; the workspace rules
        # apply everywhere, so filter here as well.
        file = ws.root / str(record.get("file", ""))
        if not ws.is_ignored(file, is_dir=False):
            records.append(record)
        return len(records) < _HARD_CAP

    code, stderr = await stream_json(argv, ws.root, keep, time_limit=time_limit)
    if code not in (0, 1, None) and not records:
        message = stderr.strip() or "ast-grep failed"
        if "--lang" in message or "not supported" in message:
            raise ValidationError(
                f"{language!r} is not a language ast-grep knows",
                field="language",
                rule="python, javascript, typescript, tsx, go, rust, java, c, cpp, ruby, ...",
            )
        if "pattern" in message.lower():
            raise ValidationError(
                message.splitlines()[0].removeprefix("Error: "),
                field="pattern",
                rule="a valid ast-grep pattern",
            )
        raise BackendError(message, backend="ast-grep")
    found = sorted((_to_match(r) for r in records), key=lambda m: (m.path, m.line, m.column))
    page = found[offset : offset + limit]
    more = len(found) > offset + limit
    return SearchResult(
        query=pattern,
        matches=tuple(page),
        offset=offset,
        next_offset=offset + limit if more else None,
    )
