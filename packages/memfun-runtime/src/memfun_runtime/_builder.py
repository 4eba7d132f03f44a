"""``RuntimeBuilder``: a Runtime from memfun-core configuration or from code."""

from __future__ import annotations

import difflib
import hashlib
import importlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from memfun_core.errors import ConfigError
from memfun_runtime import _codec
from memfun_runtime._backend import Backend
from memfun_runtime._runtime import Runtime
from memfun_runtime.agents._manager import AgentFactory

if TYPE_CHECKING:
    from memfun_core.config import MemfunConfig

__all__ = [
    "SQLITE_FILE_NAME",
    "TIERS",
    "RuntimeBuilder",
    "configured_namespace",
    "project_namespace",
]

TIERS = ("memory", "sqlite", "redis", "nats")
"""Every tier name Memfun knows."""
SQLITE_FILE_NAME = "runtime.db"
"""The SQLite file the ``sqlite`` tier keeps under ``runtime.data_dir``."""
_BACKENDS = {
    "memory": ("memfun_runtime.backends.memory", "MemoryBackend"),
    "sqlite": ("memfun_runtime.backends.sqlite", "SQLiteBackend"),
    "redis": ("memfun_runtime.backends.redis", "RedisBackend"),
    "nats": ("memfun_runtime.backends.nats", "NatsBackend"),
}
"""Where each tier's backend class lives (imported when a runtime is built)."""
_NOT_IN_TOKEN = re.compile(r"[^a-z0-9_-]+")


def project_namespace(root: str | Path) -> str:
    """Return the default namespace of the project in folder ``root`` on a Redis or NATS server.

    ``memfun-<folder name>-<12 hex digits of the resolved path's SHA-256>``: readable in
    ``redis-cli`` or ``nats stream ls``, and never the same for two folders, so two projects
    (or a cloned repository named like one of yours) sharing a server share no queue,
    session or trace. Workers of one project on several hosts set ``[runtime] namespace``.

    Example:
        >>> project_namespace("/home/ada/My App").startswith("memfun-my-app-")
        True
    """
    path = Path(root).resolve()
    slug = _NOT_IN_TOKEN.sub("-", path.name.lower()).strip("-")[:32].strip("-") or "project"
    digest = hashlib.sha256(str(path).encode(errors="surrogateescape")).hexdigest()[:12]
    return f"memfun-{slug}-{digest}"


def configured_namespace(config: MemfunConfig) -> str:
    """The namespace ``[runtime]`` of ``config`` names, else :func:`project_namespace`'s."""
    return config.runtime.namespace or project_namespace(config.project_root)


class RuntimeBuilder:
    """Builds a :class:`~memfun_runtime.Runtime`: pick a tier, add agents, then :meth:`build`.

    Example:
        >>> from memfun_runtime import RuntimeBuilder
        >>> runtime = RuntimeBuilder().memory().build()
        >>> runtime.tier
        'memory'
    """

    def __init__(self) -> None:
        self._make_backend: Callable[[], Backend] | None = None
        self._agents: list[tuple[AgentFactory, str | None]] = []
        self._options: dict[str, Any] = {}

    # --- tiers ---------------------------------------------------------------------------

    def memory(self, **options: Any) -> Self:
        """Use the in-process tier (T0): fast, no dependencies, nothing survives the process.

        Args:
            options: Keyword arguments for :class:`~memfun_runtime.backends.memory.MemoryBackend`.
        """
        return self._use("memory", **options)

    def sqlite(self, path: str | Path, **options: Any) -> Self:
        """Use the embedded SQLite tier (T1) with its database at ``path``.

        Args:
            path: The database file (created with its folder when missing).
            options: Keyword arguments for :class:`~memfun_runtime.backends.sqlite.SQLiteBackend`.
        """
        return self._use("sqlite", Path(path), **options)

    def redis(
        self, url: str = "redis://127.0.0.1:6379/0", *, namespace: str = "memfun", **options: Any
    ) -> Self:
        """Use the Redis tier (T2): Redis Streams, shared by processes and hosts.

        Needs the ``redis`` extra (``pip install "memfun-runtime[redis]"``); without it,
        :meth:`build` raises :class:`~memfun_core.errors.MissingExtraError`.

        Args:
            url: The server, e.g. ``redis://127.0.0.1:6379/0``.
            namespace: Prefix of every key, so several runtimes share one server.
            options: Keyword arguments for :class:`~memfun_runtime.backends.redis.RedisBackend`.
        """
        return self._use("redis", url, namespace=namespace, **options)

    def nats(
        self, url: str = "nats://127.0.0.1:4222", *, namespace: str = "memfun", **options: Any
    ) -> Self:
        """Use the NATS JetStream tier (T3): streams and KV buckets on a NATS server.

        Needs the ``nats`` extra (``pip install "memfun-runtime[nats]"``); without it,
        :meth:`build` raises :class:`~memfun_core.errors.MissingExtraError`.

        Args:
            url: The server, e.g. ``nats://127.0.0.1:4222``.
            namespace: Prefix of every stream and bucket, so several runtimes share one server.
            options: Keyword arguments for :class:`~memfun_runtime.backends.nats.NatsBackend`.
        """
        return self._use("nats", url, namespace=namespace, **options)

    def _use(self, tier: str, *args: Any, **options: Any) -> Self:
        """Build the ``tier``'s backend from ``args`` in :meth:`build` (its module loads then)."""
        module, name = _BACKENDS[tier]

        def make() -> Backend:
            return getattr(importlib.import_module(module), name)(*args, **options)

        self._make_backend = make
        return self

    def backend(self, backend: Backend) -> Self:
        """Use an already built backend (a third-party tier, or one configured by hand)."""
        self._make_backend = lambda: backend
        return self

    def tier(
        self,
        name: str,
        *,
        data_dir: str | Path = ".memfun",
        redis_url: str = "redis://127.0.0.1:6379/0",
        nats_url: str = "nats://127.0.0.1:4222",
        namespace: str = "memfun",
        project_root: str | os.PathLike[str] | None = None,
    ) -> Self:
        """Pick a tier by name (``"memory"``, ``"sqlite"``, ``"redis"``, ``"nats"``).

        Args:
            name: The tier.
            data_dir: Where the ``sqlite`` tier keeps ``runtime.db``.
            redis_url: The server of the ``redis`` tier.
            nats_url: The server of the ``nats`` tier.
            namespace: The key/stream prefix of the ``redis`` and ``nats`` tiers.
            project_root: The Memfun project whose ``sqlite`` file this is: the file is
                checked and stamped as this user's
                (:func:`~memfun_runtime.backends.sqlite.project_ownership`), so inside a
                folder that is not trusted, a database this user's Memfun did not create is
                refused with :class:`~memfun_core.errors.PermissionDeniedError` at start.

        Raises:
            ConfigError: An unknown tier (with the closest known name).
            CorruptDataError: The user's signing key file is damaged.
        """
        if name == "memory":
            return self.memory()
        if name == "sqlite":
            path = Path(data_dir) / SQLITE_FILE_NAME
            if project_root is None:
                return self.sqlite(path)
            from memfun_runtime.backends.sqlite import project_ownership

            return self.sqlite(path, ownership=project_ownership(project_root, path))
        if name == "redis":
            return self.redis(redis_url, namespace=namespace)
        if name == "nats":
            return self.nats(nats_url, namespace=namespace)
        close = difflib.get_close_matches(str(name), TIERS, n=1)
        raise ConfigError(
            f"unknown tier {name!r}",
            key="runtime.tier",
            expected=" | ".join(TIERS),
            hint=f"did you mean {close[0]!r}?" if close else "use 'sqlite' or 'memory'",
        )

    def from_config(self, config: MemfunConfig) -> Self:
        """Pick the tier and data folder from ``[runtime]`` of a loaded Memfun config.

        A relative ``data_dir`` is taken relative to ``config.project_root``; the ``redis`` and
        ``nats`` tiers use :func:`configured_namespace`; the ``sqlite`` tier's file is the
        project's (``project_root`` of :meth:`tier`).

        Raises:
            ConfigError: An unknown tier.
            CorruptDataError: The user's signing key file is damaged.
        """
        runtime = config.runtime
        data_dir = Path(runtime.data_dir)
        if not data_dir.is_absolute():
            data_dir = Path(config.project_root) / data_dir
        return self.tier(
            runtime.tier,
            data_dir=data_dir,
            redis_url=runtime.redis_url,
            nats_url=runtime.nats_url,
            namespace=configured_namespace(config),
            project_root=config.project_root,
        )

    # --- agents and options --------------------------------------------------------------

    def agent(self, factory: AgentFactory, *, name: str | None = None) -> Self:
        """Add an agent that starts with the runtime."""
        self._agents.append((factory, name))
        return self

    def drain_timeout(self, seconds: float) -> Self:
        """Seconds each stopping agent may take to finish in-flight messages (default 10)."""
        self._options["drain_timeout"] = _codec.check_non_negative(seconds, field="drain_timeout")
        return self

    def restart_policy(
        self,
        *,
        backoff: tuple[float, float] = (0.5, 30.0),
        stable_after: float = 60.0,
        max_restarts: int | None = None,
    ) -> Self:
        """How crashed agents are restarted (first and longest delay, reset, limit)."""
        self._options.update(
            restart_backoff=backoff, stable_after=stable_after, max_restarts=max_restarts
        )
        return self

    def build(self) -> Runtime:
        """Return the (not yet started) runtime.

        Raises:
            ConfigError: No tier was chosen.
        """
        if self._make_backend is None:
            raise ConfigError(
                "no tier chosen",
                key="runtime.tier",
                expected=" | ".join(TIERS),
                hint="call .memory(), .sqlite(path) or .from_config(config) before .build()",
            )
        runtime = Runtime(self._make_backend(), **self._options)
        for factory, name in self._agents:
            runtime.manager.add(factory, name=name)
        return runtime
