"""memfun-runtime: the agent runtime.

Event bus, state, tasks, sessions and registries behind one set of protocols, on an
in-process (``memory``) or embedded SQLite (``sqlite``) backend; agents supervised on top.

Example:
    >>> from memfun_runtime import RuntimeBuilder
    >>> runtime = RuntimeBuilder().memory().build()

Every name below is imported on first use, so ``import memfun_runtime`` stays cheap and
does not load aiosqlite until the SQLite tier is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from memfun_runtime._backend import Backend
    from memfun_runtime._builder import (
        SQLITE_FILE_NAME,
        RuntimeBuilder,
        configured_namespace,
        project_namespace,
    )
    from memfun_runtime._runtime import Runtime
    from memfun_runtime.agents import (
        AgentManager,
        AgentState,
        AgentStatus,
        BaseAgent,
        agent,
        handler,
    )
    from memfun_runtime.backends.memory import MemoryBackend
    from memfun_runtime.backends.sqlite import SQLiteBackend
    from memfun_runtime.protocols import (
        AgentHost,
        AgentInstance,
        AgentRegistry,
        Delivery,
        Entry,
        Event,
        EventBus,
        HealthReport,
        HealthStatus,
        Lease,
        SandboxAdapter,
        Session,
        SessionStore,
        SkillRegistry,
        StateStore,
        Subscription,
        Task,
        TaskQueue,
        TaskStatus,
        Turn,
    )

    __version__: str

_HOME = {
    "Backend": "memfun_runtime._backend",
    "Runtime": "memfun_runtime._runtime",
    "RuntimeBuilder": "memfun_runtime._builder",
    **dict.fromkeys(
        ("SQLITE_FILE_NAME", "configured_namespace", "project_namespace"), "memfun_runtime._builder"
    ),
    "MemoryBackend": "memfun_runtime.backends.memory",
    "SQLiteBackend": "memfun_runtime.backends.sqlite",
    **dict.fromkeys(
        ("AgentManager", "AgentState", "AgentStatus", "BaseAgent", "agent", "handler"),
        "memfun_runtime.agents",
    ),
}
"""The module of each exported name; the others are in :mod:`memfun_runtime.protocols`."""

__all__ = [
    "SQLITE_FILE_NAME",
    "AgentHost",
    "AgentInstance",
    "AgentManager",
    "AgentRegistry",
    "AgentState",
    "AgentStatus",
    "Backend",
    "BaseAgent",
    "Delivery",
    "Entry",
    "Event",
    "EventBus",
    "HealthReport",
    "HealthStatus",
    "Lease",
    "MemoryBackend",
    "Runtime",
    "RuntimeBuilder",
    "SQLiteBackend",
    "SandboxAdapter",
    "Session",
    "SessionStore",
    "SkillRegistry",
    "StateStore",
    "Subscription",
    "Task",
    "TaskQueue",
    "TaskStatus",
    "Turn",
    "__version__",
    "agent",
    "configured_namespace",
    "handler",
    "project_namespace",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("memfun-runtime")
    if name not in __all__:
        raise AttributeError(f"module 'memfun_runtime' has no attribute {name!r}")
    module = _HOME.get(name, "memfun_runtime.protocols")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
