"""The ``[memory]`` section: persistent memory given to runs and learnt after them."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MemoryConfig"]


@dataclass(frozen=True, slots=True)
class MemoryConfig:
    """Persistent memory (the ``[memory]`` section of ``memfun.toml``).

    Off by default: with memory on, every task and chat turn costs one more model call
    (the extraction of learnings), and what earlier runs wrote down enters later prompts.

    Attributes:
        enabled: Whether runs get the relevant memories of ``MEMORY.md`` (project and user)
            and whether learnings are extracted after each ``memfun ask/fix/...`` and chat
            turn. Off: neither happens (``memfun memory`` still works).
        learn: With ``enabled``, whether learnings are extracted after each run (the extra
            model call); off, only memories added by hand are given to runs.
        budget_bytes: The most bytes of memories one run is given.
        max_items: The most memories one run is given.
    """

    enabled: bool = False
    learn: bool = True
    budget_bytes: int = 2048
    max_items: int = 8
