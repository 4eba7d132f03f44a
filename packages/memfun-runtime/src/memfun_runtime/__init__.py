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
    from memfun_runtime._builder import RuntimeBuilder
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

_LAZY: dict[str, str] = {
    "Backend": "memfun_runtime._backend",
    "Runtime": "memfun_runtime._runtime",
    "RuntimeBuilder": "memfun_runtime._builder",
    "AgentManager": "memfun_runtime.agents",
    "AgentState": "memfun_runtime.agents",
    "AgentStatus": "memfun_runtime.agents",
    "BaseAgent": "memfun_runtime.agents",
    "agent": "memfun_runtime.agents",
    "handler": "memfun_runtime.agents",
    "MemoryBackend": "memfun_runtime.backends.memory",
    "SQLiteBackend": "memfun_runtime.backends.sqlite",
    "AgentHost": "memfun_runtime.protocols",
    "AgentInstance": "memfun_runtime.protocols",
    "AgentRegistry": "memfun_runtime.protocols",
    "Delivery": "memfun_runtime.protocols",
    "Entry": "memfun_runtime.protocols",
    "Event": "memfun_runtime.protocols",
    "EventBus": "memfun_runtime.protocols",
    "HealthReport": "memfun_runtime.protocols",
    "HealthStatus": "memfun_runtime.protocols",
    "Lease": "memfun_runtime.protocols",
    "SandboxAdapter": "memfun_runtime.protocols",
    "Session": "memfun_runtime.protocols",
    "SessionStore": "memfun_runtime.protocols",
    "SkillRegistry": "memfun_runtime.protocols",
    "StateStore": "memfun_runtime.protocols",
    "Subscription": "memfun_runtime.protocols",
    "Task": "memfun_runtime.protocols",
    "TaskQueue": "memfun_runtime.protocols",
    "TaskStatus": "memfun_runtime.protocols",
    "Turn": "memfun_runtime.protocols",
}

__all__ = [
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
    "handler",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("memfun-runtime")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'memfun_runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
