"""T0: the in-process reference backend (asyncio, no dependencies, volatile by design).

Example:
    >>> from memfun_runtime.backends.memory import MemoryBackend
    >>> backend = MemoryBackend()
"""

from __future__ import annotations

from memfun_runtime.backends.memory._backend import MemoryBackend

__all__ = ["MemoryBackend"]
