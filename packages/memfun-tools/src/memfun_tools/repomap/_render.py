"""Rendering ranked definitions as text that fits a token budget."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

from memfun_tools.repomap._tags import Definition

__all__ = ["estimate_tokens", "fit_to_budget", "max_definitions"]

CHARS_PER_TOKEN = 4


def max_definitions(budget: int) -> int:
    """An upper bound of the definitions ``budget`` tokens can show (each takes >= 8 chars)."""
    return budget * CHARS_PER_TOKEN // 8 + 1


def estimate_tokens(text: str) -> int:
    """Estimate tokens as characters / 4 (no tokenizer is downloaded)."""
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


DefsOf = Callable[[str, str], Sequence[Definition]]


def _render(chosen: Sequence[tuple[str, str, float]], defs_of: DefsOf, tail: Sequence[str]) -> str:
    by_file: dict[str, list[Definition]] = defaultdict(list)
    for path, name, _score in chosen:
        by_file[path].extend(defs_of(path, name))
    blocks: list[str] = []
    for path, defs in by_file.items():
        lines = [f"{path}:"]
        lines += [f"{d.line:>5}│{d.text}" for d in sorted(defs, key=lambda d: d.line)]
        blocks.append("\n".join(lines))
    blocks += list(tail)
    return "\n".join(blocks) + ("\n" if blocks else "")


def _fitting_prefix(
    ranked: Sequence[tuple[str, str, float]], defs_of: DefsOf, limit: int, chars: int
) -> int:
    """How many of the first ``limit`` definitions a map of at most ``chars`` characters holds.

    The text is one line per file header and per definition, each ending in a newline, so
    its length grows by the new lines' lengths as definitions are added: each definition is
    counted once and the count stops at the first that does not fit (no prefix is rendered).
    """
    total = 0
    seen: set[str] = set()
    for shown, (path, name, _score) in enumerate(ranked[:limit]):
        if path not in seen:
            seen.add(path)
            total += len(path) + 2  # "path:" and its newline
        for d in defs_of(path, name):
            # len(f"{d.line:>5}│{d.text}\n") without formatting it
            total += max(5, len(str(d.line))) + len(d.text) + 2
        if total > chars:
            return shown
    return min(limit, len(ranked))


def fit_to_budget(
    ranked: Sequence[tuple[str, str, float]], defs_of: DefsOf, tail: Sequence[str], budget: int
) -> tuple[str, int]:
    """Render the most top-ranked definitions (then ``tail`` lines) that fit ``budget`` tokens.

    The longest prefix that fits is found by counting characters definition by definition
    (:func:`_fitting_prefix`), and only that prefix is rendered, once. The tail's lines are
    added while the text still fits.

    Returns:
        The text and how many definitions it shows.
    """
    chars = budget * CHARS_PER_TOKEN
    shown = _fitting_prefix(ranked, defs_of, max_definitions(budget), chars)
    best = _render(ranked[:shown], defs_of, ())
    extra: list[str] = []
    used = len(best) - 1  # the tail check counts one newline between lines, none at the end
    for line in tail:
        used += len(line) + 1
        if used > chars:
            break
        extra.append(line)
    if extra:
        best = _render(ranked[:shown], defs_of, extra)
    return best, shown
