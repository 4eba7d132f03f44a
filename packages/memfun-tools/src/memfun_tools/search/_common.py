"""Checks and helpers shared by the text and structural search tools."""

from __future__ import annotations

from memfun_core.errors import ValidationError

__all__ = ["MAX_CONTEXT", "MAX_LIMIT", "MAX_LINE_CHARS", "cap_line", "check_page"]

MAX_LIMIT = 500
MAX_CONTEXT = 10
MAX_LINE_CHARS = 400


def check_page(pattern: str, limit: int, offset: int, context: int) -> None:
    """Validate the paging and context arguments shared by every search.

    Raises:
        ValidationError: On an empty pattern or an argument out of range.
    """
    if not pattern:
        raise ValidationError("is empty", field="pattern", rule="a non-empty pattern")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"is {limit}", field="limit", rule=f"1..{MAX_LIMIT}")
    if offset < 0:
        raise ValidationError(f"is {offset}", field="offset", rule=">= 0")
    if not 0 <= context <= MAX_CONTEXT:
        raise ValidationError(f"is {context}", field="context", rule=f"0..{MAX_CONTEXT}")


def cap_line(text: str) -> str:
    """Strip the line ending and cap a line's length."""
    text = text.rstrip("\r\n")
    if len(text) > MAX_LINE_CHARS:
        return text[:MAX_LINE_CHARS] + " [...]"
    return text
