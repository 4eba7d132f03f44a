"""Finding the text an edit replaces: exact first, then whitespace-tolerant, always unique."""

from __future__ import annotations

import re
from dataclasses import dataclass

from memfun_core.errors import ConflictError, NotFoundError, ValidationError

__all__ = ["Edit", "apply_edit"]

_MAX_CANDIDATES = 10


@dataclass(frozen=True, slots=True)
class Edit:
    """One replacement in a file.

    Attributes:
        old_text: The text to find; it must occur exactly once unless ``replace_all``.
        new_text: Its replacement.
        replace_all: Replace every occurrence instead of requiring a unique one.
    """

    old_text: str
    new_text: str
    replace_all: bool = False


def apply_edit(text: str, edit: Edit, path: str) -> tuple[str, int, str]:
    """Apply ``edit`` to ``text``.

    Returns:
        The new text, the number of replacements, and the strategy (``"exact"`` or
        ``"whitespace"``).

    Raises:
        ValidationError: When ``old_text`` is empty or equal to ``new_text``.
        NotFoundError: When ``old_text`` matches nowhere, even ignoring whitespace.
        ConflictError: When it matches several places and ``replace_all`` is false; the
            message lists the candidate lines.
    """
    old, new = edit.old_text, edit.new_text
    if not old.strip():
        raise ValidationError("is empty", field="old_text", rule="non-blank text to find")
    if old == new:
        raise ValidationError("equals new_text", field="old_text", rule="an edit must change")
    starts = _exact_starts(text, old)
    if len(starts) == 1 or (starts and edit.replace_all):
        return text.replace(old, new), len(starts), "exact"
    if starts:
        raise _ambiguous(text, starts, path, "exactly")
    spans = [(m.start(), m.end()) for m in _tolerant_pattern(old).finditer(text)]
    if not spans:
        raise NotFoundError(
            "text to replace in",
            path,
            hint="old_text matches nowhere, even ignoring whitespace; read the file again",
        )
    if len(spans) > 1 and not edit.replace_all:
        raise _ambiguous(text, [s for s, _ in spans], path, "ignoring whitespace")
    result = text
    for start, end in reversed(spans):
        result = result[:start] + _reindent(text, start, old, new) + result[end:]
    return result, len(spans), "whitespace"


def _exact_starts(text: str, old: str) -> list[int]:
    starts: list[int] = []
    pos = text.find(old)
    while pos != -1:
        starts.append(pos)
        pos = text.find(old, pos + len(old))
    return starts


def _tolerant_pattern(old: str) -> re.Pattern[str]:
    return re.compile(r"\s+".join(re.escape(token) for token in old.split()))


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _ambiguous(text: str, starts: list[int], path: str, how: str) -> ConflictError:
    lines = text.splitlines()
    shown: list[str] = []
    for start in starts[:_MAX_CANDIDATES]:
        number = _line_of(text, start)
        snippet = lines[number - 1].strip()[:80] if number <= len(lines) else ""
        shown.append(f"line {number}: {snippet}")
    more = f" (and {len(starts) - _MAX_CANDIDATES} more)" if len(starts) > _MAX_CANDIDATES else ""
    return ConflictError(
        f"edit of {path!r} is ambiguous: old_text matches {len(starts)} places {how}{more}: "
        + "; ".join(shown),
        hint="include more surrounding lines in old_text, or pass replace_all=true",
    )


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _reindent(text: str, start: int, old: str, new: str) -> str:
    """Shift ``new`` from ``old``'s indentation to the indentation found in the file."""
    line_start = text.rfind("\n", 0, start) + 1
    file_indent = _indent(text[line_start:start] + "x")
    old_lines = [line for line in old.splitlines() if line.strip()]
    old_indent = _indent(old_lines[0]) if old_lines else ""
    out: list[str] = []
    for line in new.splitlines():
        if line.strip() and line.startswith(old_indent):
            out.append(file_indent + line[len(old_indent) :])
        else:
            out.append(line)
    newline = "\r\n" if text.count("\r\n") * 2 > text.count("\n") else "\n"
    return newline.join(out).strip()
