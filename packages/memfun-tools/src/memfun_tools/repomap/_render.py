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


def fit_to_budget(
    ranked: Sequence[tuple[str, str, float]], defs_of: DefsOf, tail: Sequence[str], budget: int
) -> tuple[str, int]:
    """Render the most top-ranked definitions (then ``tail`` lines) that fit ``budget`` tokens.

    Returns:
        The text and how many definitions it shows.
    """
    low, high = 0, min(len(ranked), max_definitions(budget))
    best = ""
    shown = 0
    while low <= high:
        middle = (low + high) // 2
        text = _render(ranked[:middle], defs_of, ())
        if estimate_tokens(text) <= budget:
            best, shown = text, middle
            low = middle + 1
        else:
            high = middle - 1
    extra: list[str] = []
    for line in tail:
        if estimate_tokens(best + "\n".join([*extra, line])) > budget:
            break
        extra.append(line)
    if extra:
        best = _render(ranked[:shown], defs_of, extra)
    return best, shown
