"""Text and regex search through the bundled ripgrep, parsing its ``--json`` output."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from memfun_core.errors import BackendError, ValidationError
from memfun_tools._binaries import find_binary
from memfun_tools._workspace import Workspace
from memfun_tools.search._common import cap_line, check_page
from memfun_tools.search._process import stream_json
from memfun_tools.search._results import SearchMatch, SearchResult

__all__ = ["search_text"]

CaseMode = Literal["smart", "sensitive", "insensitive"]
_CASE_FLAGS: dict[str, str] = {
    "smart": "--smart-case",
    "sensitive": "--case-sensitive",
    "insensitive": "--ignore-case",
}


def _text(obj: dict[str, Any]) -> str:
    if "text" in obj:
        return str(obj["text"])
    return base64.b64decode(str(obj.get("bytes", ""))).decode("utf-8", errors="replace")


@dataclass
class _Collector:
    """Turns ripgrep's begin/match/context/end records into matches with context."""

    context: int
    wanted: int
    matches: list[SearchMatch] = field(default_factory=list[SearchMatch])
    _before: list[tuple[int, str]] = field(default_factory=list[tuple[int, str]])
    _after: list[str] = field(default_factory=list[str])
    _pending: dict[str, Any] | None = None

    def feed(self, record: dict[str, Any]) -> bool:
        kind = record.get("type")
        data: dict[str, Any] = record.get("data", {})
        if kind == "match":
            self._flush()
            self._pending = data
            self._before = [
                (n, t) for n, t in self._before if n >= data["line_number"] - self.context
            ]
            self._pending["_before"] = [t for _, t in self._before]
            self._before = []
        elif kind == "context":
            number: int = data["line_number"]
            line = cap_line(_text(data["lines"]))
            pending = self._pending
            if pending is not None and number <= pending["line_number"] + self.context:
                self._after.append(line)
            self._before.append((number, line))
        return len(self.matches) < self.wanted

    def file_boundary(self) -> None:
        """A ``begin``/``end`` record (not parsed): the pending match is complete."""
        self._flush()
        self._before = []

    def _flush(self) -> None:
        pending = self._pending
        if pending is None:
            return
        raw = _text(pending["lines"])
        submatches: list[dict[str, Any]] = pending.get("submatches") or []
        start = int(submatches[0]["start"]) if submatches else 0
        column = len(raw.encode("utf-8")[:start].decode("utf-8", errors="replace")) + 1
        path = _text(pending["path"])
        self.matches.append(
            SearchMatch(
                path=path.removeprefix("./"),
                line=int(pending["line_number"]),
                column=column,
                text=cap_line(raw),
                before=tuple(pending["_before"]),
                after=tuple(self._after),
            )
        )
        self._pending = None
        self._after = []


async def search_text(
    ws: Workspace,
    pattern: str,
    path: str = ".",
    *,
    globs: Sequence[str] = (),
    fixed_strings: bool = False,
    case: CaseMode = "smart",
    context: int = 2,
    limit: int = 50,
    offset: int = 0,
    time_limit: float = 30.0,
) -> SearchResult:
    """Search file contents with a regex (Rust regex syntax) or a fixed string.

    ``.gitignore`` is honoured, hidden and binary files are skipped, symlinks are not
    followed. Results are ordered by path, so ``offset``/``next_offset`` page stably.

    Args:
        ws: The workspace.
        pattern: The regex (or the literal text with ``fixed_strings``).
        path: A file or folder to search, relative to the root.
        globs: ripgrep globs to include (``"*.py"``) or exclude (``"!tests/**"``).
        fixed_strings: Treat ``pattern`` as literal text.
        case: ``"smart"`` (insensitive unless the pattern has capitals), ``"sensitive"``
            or ``"insensitive"``.
        context: Lines of context before and after each match (0-10).
        limit: Matches per page (1-500).
        offset: Matches to skip (from a previous page's ``next_offset``).
        time_limit: Seconds before the search is stopped.

    Returns:
        One page of matches.

    Raises:
        ValidationError: On an invalid regex or argument.
        PermissionDeniedError: When the path is outside the workspace.
        OperationTimeout: When ripgrep runs past ``time_limit``.
        BackendError: When ripgrep fails for another reason.
    """
    check_page(pattern, limit, offset, context)
    target = ws.relative(ws.resolve(path))
    argv = [
        str(find_binary("rg")),
        "--json",
        "--no-config",
        "--sort",
        "path",
        "--no-require-git",
        "--max-filesize",
        str(ws.limits.max_file_bytes),
        _CASE_FLAGS[case],
        "--context",
        str(context),
    ]
    if not ws.respect_gitignore:
        argv.append("--no-ignore")
    if fixed_strings:
        argv.append("--fixed-strings")
    for glob in globs:
        argv += ["--glob", glob]
    argv += ["--regexp", pattern, "--", target]
    collector = _Collector(context=context, wanted=offset + limit + 1)
    code, stderr = await stream_json(
        argv,
        ws.root,
        collector.feed,
        skip_prefixes=(b'{"type":"begin"', b'{"type":"end"', b'{"type":"summary"'),
        on_skipped=collector.file_boundary,
        time_limit=time_limit,
    )
    collector.file_boundary()
    if code == 2 and not collector.matches:  # noqa: PLR2004 - ripgrep's "error" exit code
        if "regex" in stderr:
            detail = stderr.strip().splitlines()[-1] if stderr.strip() else "parse error"
            raise ValidationError(
                f"is not a valid regex ({detail.removeprefix('error: ')})",
                field="pattern",
                rule="a valid Rust regex",
                hint="escape special characters or pass fixed_strings=true",
            )
        raise BackendError(stderr.strip() or "ripgrep failed", backend="ripgrep")
    page = collector.matches[offset : offset + limit]
    more = len(collector.matches) > offset + limit
    return SearchResult(
        query=pattern,
        matches=tuple(page),
        offset=offset,
        next_offset=offset + limit if more else None,
    )
