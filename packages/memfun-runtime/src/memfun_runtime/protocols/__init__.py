"""The runtime's contracts: one ``typing.Protocol`` per service, plus their value types.

Every backend tier (memory, SQLite, Redis, NATS) implements these with the same semantics;
the guarantees are stated in each protocol's docstring and checked by the conformance suite.
"""

from __future__ import annotations

from memfun_runtime.protocols._events import (
    DEFAULT_ACK_TIMEOUT,
    DEFAULT_DEDUPE_WINDOW,
    DEFAULT_MAX_DELIVERIES,
    HEADER_DEAD_DELIVERIES,
    HEADER_DEAD_GROUP,
    HEADER_DEAD_ORIGINAL_ID,
    HEADER_DEAD_ORIGINAL_TOPIC,
    HEADER_DEAD_REASON,
    Delivery,
    Event,
    EventBus,
    StartPosition,
    Subscription,
)
from memfun_runtime.protocols._health import (
    ComponentHealth,
    HealthCheck,
    HealthReport,
    HealthStatus,
    Lifecycle,
)
from memfun_runtime.protocols._host import AgentHost
from memfun_runtime.protocols._registry import (
    DEFAULT_AGENT_TTL,
    AgentInstance,
    AgentRegistry,
    InvocationOutcome,
    SkillInvocation,
    SkillRegistry,
    SkillStats,
    SkillVersion,
)
from memfun_runtime.protocols._sandbox import (
    FileSystemView,
    IsolationLevel,
    Mount,
    NetworkPolicy,
    ReplOutcome,
    ReplOutcomeKind,
    ReplSandbox,
    ReplSession,
    SandboxAdapter,
    SandboxLimits,
    SandboxResult,
)
from memfun_runtime.protocols._sessions import Session, SessionSnapshot, SessionStore, Turn
from memfun_runtime.protocols._state import Entry, StateStore
from memfun_runtime.protocols._tasks import (
    DEFAULT_BACKOFF,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_VISIBILITY_TIMEOUT,
    MAX_BACKOFF,
    MAX_PRIORITY,
    Lease,
    Task,
    TaskQueue,
    TaskStatus,
)
from memfun_runtime.protocols._types import JSONValue

__all__ = [
    "DEFAULT_ACK_TIMEOUT",
    "DEFAULT_AGENT_TTL",
    "DEFAULT_BACKOFF",
    "DEFAULT_DEDUPE_WINDOW",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_MAX_DELIVERIES",
    "DEFAULT_VISIBILITY_TIMEOUT",
    "HEADER_DEAD_DELIVERIES",
    "HEADER_DEAD_GROUP",
    "HEADER_DEAD_ORIGINAL_ID",
    "HEADER_DEAD_ORIGINAL_TOPIC",
    "HEADER_DEAD_REASON",
    "MAX_BACKOFF",
    "MAX_PRIORITY",
    "AgentHost",
    "AgentInstance",
    "AgentRegistry",
    "ComponentHealth",
    "Delivery",
    "Entry",
    "Event",
    "EventBus",
    "FileSystemView",
    "HealthCheck",
    "HealthReport",
    "HealthStatus",
    "InvocationOutcome",
    "IsolationLevel",
    "JSONValue",
    "Lease",
    "Lifecycle",
    "Mount",
    "NetworkPolicy",
    "ReplOutcome",
    "ReplOutcomeKind",
    "ReplSandbox",
    "ReplSession",
    "SandboxAdapter",
    "SandboxLimits",
    "SandboxResult",
    "Session",
    "SessionSnapshot",
    "SessionStore",
    "SkillInvocation",
    "SkillRegistry",
    "SkillStats",
    "SkillVersion",
    "StartPosition",
    "StateStore",
    "Subscription",
    "Task",
    "TaskQueue",
    "TaskStatus",
    "Turn",
]
