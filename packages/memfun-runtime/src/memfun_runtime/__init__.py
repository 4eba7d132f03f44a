"""memfun-runtime: the agent runtime.

Event bus, state, tasks, sessions and registries on in-process, SQLite, Redis and NATS backends.
"""

from __future__ import annotations

from importlib.metadata import version as _version

__all__ = ["__version__"]

__version__ = _version("memfun-runtime")
