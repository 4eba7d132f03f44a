"""The precedence rule of discovery, for skills and for agents (memfun-agent reuses it).

Roots are searched in precedence order. The first item of a name wins; a later one of the
same name is shadowed by it; an item whose name is disabled is left out (and takes no name);
what a root's loader could not load is reported as skipped, never silently dropped and
never hiding the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

__all__ = ["Named", "RootSearch", "search_roots"]


class Named(Protocol):
    """What discovery finds: something with a name."""

    @property
    def name(self) -> str:
        """The name that precedence is decided on."""
        ...


RootT = TypeVar("RootT")
ItemT = TypeVar("ItemT", bound=Named)
SkipT = TypeVar("SkipT")


@dataclass(frozen=True, slots=True)
class RootSearch(Generic[ItemT, SkipT]):
    """What a search of roots in precedence order found.

    Attributes:
        found: The first item of each name, in precedence order.
        shadowed: ``(item, winner)`` pairs: an item hidden by the earlier one of its name.
        skipped: What the loaders could not load, in the order they reported it.
        disabled: Items left out because their name is disabled.
    """

    found: tuple[ItemT, ...]
    shadowed: tuple[tuple[ItemT, ItemT], ...]
    skipped: tuple[SkipT, ...]
    disabled: tuple[ItemT, ...]


def search_roots(
    roots: Iterable[RootT],
    load: Callable[[RootT], tuple[Iterable[ItemT], Iterable[SkipT]]],
    *,
    disabled: Iterable[str] = (),
) -> RootSearch[ItemT, SkipT]:
    """Load every root in order and decide precedence by name.

    Args:
        roots: The search roots, highest precedence first.
        load: Loads one root: what it holds, in order, and what could not be loaded.
        disabled: Names to leave out.

    Returns:
        The winners, the shadowed, the skipped and the disabled.
    """
    off = frozenset(disabled)
    found: dict[str, ItemT] = {}
    shadowed: list[tuple[ItemT, ItemT]] = []
    skipped: list[SkipT] = []
    left_out: list[ItemT] = []
    for root in roots:
        items, failures = load(root)
        skipped.extend(failures)
        for item in items:
            if item.name in found:
                shadowed.append((item, found[item.name]))
            elif item.name in off:
                left_out.append(item)
            else:
                found[item.name] = item
    return RootSearch(tuple(found.values()), tuple(shadowed), tuple(skipped), tuple(left_out))
