"""``python -m memfun_runtime.worker``: run task workers in this process, on any shared tier."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import logging
import os
import signal
import socket
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from memfun_core.errors import ConfigError, MemfunError, ValidationError
from memfun_runtime._backend import Backend
from memfun_runtime._builder import SQLITE_FILE_NAME, RuntimeBuilder
from memfun_runtime._codec import check_int
from memfun_runtime._runtime import Runtime
from memfun_runtime.worker._agent import Handler, WorkerObserver, task_worker

if TYPE_CHECKING:
    from memfun_runtime.worker._metrics import WorkerMetrics

__all__ = ["build_runtime", "load_handler", "main", "parser"]

TIERS = ("sqlite", "redis", "nats")
"""Tiers several processes can share (``memory`` lives inside one process)."""


def parser() -> argparse.ArgumentParser:
    """The command line of ``python -m memfun_runtime.worker``."""
    env = os.environ
    p = argparse.ArgumentParser(
        prog="python -m memfun_runtime.worker",
        description="Run agents that take tasks from a shared queue. Start several on one or "
        "more machines: each task is leased by one worker at a time, and a task whose worker "
        "dies is leased again by another.",
    )
    p.add_argument("--tier", choices=TIERS, required=True, help="the shared backend tier")
    p.add_argument(
        "--capability",
        action="append",
        default=[],
        required=True,
        help="a capability announced in the agent registry (repeatable); serves the queue "
        "tasks.<capability> unless --queue is given",
    )
    p.add_argument(
        "--handler",
        required=True,
        help="the async function run on every task: 'package.module:function' or "
        "'path/to/file.py:function'; it receives a memfun_runtime.worker.Job",
    )
    p.add_argument("--queue", action="append", default=None, help="a queue to serve (repeatable)")
    p.add_argument("--name", default="task-worker", help="the agent name (default: task-worker)")
    p.add_argument("--concurrency", type=int, default=1, help="tasks handled at once")
    p.add_argument(
        "--visibility-timeout", type=float, default=30.0, help="lease seconds (auto-extended)"
    )
    p.add_argument(
        "--namespace",
        default=env.get("MEMFUN_RUNTIME__NAMESPACE", "memfun"),
        help="redis/nats tier: the prefix of keys and streams (default $MEMFUN_RUNTIME__NAMESPACE "
        "or 'memfun'; 'memfun runtime worker' passes the project's, as its status shows)",
    )
    p.add_argument(
        "--redis-url",
        default=env.get("MEMFUN_REDIS_URL") or env.get("MEMFUN_RUNTIME__REDIS_URL"),
        help="redis tier: server URL (default redis://127.0.0.1:6379/0)",
    )
    p.add_argument(
        "--nats-url",
        default=env.get("MEMFUN_NATS_URL") or env.get("MEMFUN_RUNTIME__NATS_URL"),
        help="nats tier: server URL (default nats://127.0.0.1:4222)",
    )
    p.add_argument(
        "--sqlite-path",
        type=Path,
        default=None,
        help="sqlite tier: the shared database file (default .memfun/runtime.db)",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus metrics on http://HOST:PORT/metrics and health on /healthz "
        "(0: any free port, logged at start; needs memfun-runtime[metrics])",
    )
    p.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        help="the address the metrics port listens on (default 127.0.0.1; 0.0.0.0 for all)",
    )
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ...")
    return p


def _import_failed(what: str, exc: Exception) -> ValidationError:
    """The error for a handler module that raised as it was imported, with where it did."""
    if isinstance(exc, SyntaxError):
        where = f" at {exc.filename}:{exc.lineno}"
    else:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if "<frozen" not in f.filename]
        where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    detail = "".join(traceback.format_exception_only(exc)).strip().splitlines()[-1]
    return ValidationError(
        f"importing {what} failed{where}: {detail}",
        field="handler",
        rule="a module that imports",
        hint="fix the handler's module (run `python -c 'import ...'` on it to see the traceback)",
    )


def load_handler(spec: str) -> Handler:
    """Import ``module:function`` or ``file.py:function`` and return the function.

    Raises:
        ValidationError: The spec is malformed, the module raised as it was imported (the
            error says where), or the target is missing or not callable.
    """
    target, sep, attribute = spec.rpartition(":")
    if not sep or not target or not attribute:
        raise ValidationError(
            f"{spec!r} is not 'module:function'",
            field="handler",
            rule="'package.module:function' or 'path/to/file.py:function'",
        )
    if target.endswith(".py"):
        path = Path(target).resolve()
        loaded = importlib.util.spec_from_file_location(f"memfun_worker_{path.stem}", path)
        if loaded is None or loaded.loader is None or not path.is_file():
            raise ValidationError(f"cannot load {path}", field="handler", rule="an existing file")
        module = importlib.util.module_from_spec(loaded)
        sys.modules[loaded.name] = module
        try:
            loaded.loader.exec_module(module)
        except Exception as exc:  # the handler's own code failed as it was imported
            del sys.modules[loaded.name]
            raise _import_failed(str(path), exc) from exc
    else:
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            raise ValidationError(
                f"cannot import {target!r}: {exc}",
                field="handler",
                rule="an importable module",
                hint="install the package that holds the handler, or pass a file path",
            ) from exc
        except Exception as exc:
            raise _import_failed(target, exc) from exc
    function = getattr(module, attribute, None)
    if function is None or not callable(function):
        raise ValidationError(
            f"{target} has no function {attribute!r}", field="handler", rule="an async function"
        )
    return cast("Handler", function)


def _backend(args: argparse.Namespace, project_root: str | os.PathLike[str] | None) -> Backend:
    namespace: str = args.namespace
    if args.tier == "redis":
        from memfun_runtime.backends.redis import DEFAULT_REDIS_URL, RedisBackend

        return RedisBackend(args.redis_url or DEFAULT_REDIS_URL, namespace=namespace)
    if args.tier == "nats":
        from memfun_runtime.backends.nats import DEFAULT_NATS_URL, NatsBackend

        return NatsBackend(args.nats_url or DEFAULT_NATS_URL, namespace=namespace)
    from memfun_runtime.backends.sqlite import SQLiteBackend, project_ownership

    path = Path(args.sqlite_path or Path(".memfun") / SQLITE_FILE_NAME)
    if project_root is None:
        return SQLiteBackend(path)
    return SQLiteBackend(path, ownership=project_ownership(project_root, path))


def build_runtime(
    args: argparse.Namespace,
    observer: WorkerObserver | None = None,
    *,
    project_root: str | os.PathLike[str] | None = None,
) -> Runtime:
    """Build the runtime with one task-worker agent from parsed arguments.

    Args:
        args: Parsed by :func:`parser`.
        observer: Told of every lease the worker takes (e.g. its metrics).
        project_root: The Memfun project whose SQLite file this is: the file is checked and
            stamped as the project's runtime is (``project_ownership``), so a database that
            came with an untrusted folder is refused and one made here opens elsewhere.

    Raises:
        ConfigError: An unknown tier.
        MissingExtraError: The tier's extra is not installed.
        ValidationError: Bad names or settings.
    """
    if args.tier not in TIERS:
        raise ConfigError(f"unknown tier {args.tier!r}", key="tier", expected=" | ".join(TIERS))
    worker = task_worker(
        load_handler(args.handler),
        name=args.name,
        capabilities=args.capability,
        queues=args.queue,
        concurrency=args.concurrency,
        visibility_timeout=args.visibility_timeout,
        observer=observer,
    )
    return RuntimeBuilder().backend(_backend(args, project_root)).agent(worker).build()


async def _serve(
    runtime: Runtime, log: logging.Logger, metrics: WorkerMetrics | None, args: argparse.Namespace
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with runtime:
        server = None
        if metrics is not None:
            from memfun_runtime.worker._metrics import serve_metrics

            server = await serve_metrics(
                metrics, runtime.backend, host=args.metrics_host, port=args.metrics_port
            )
            host, port = server.sockets[0].getsockname()[:2]
            log.info("metrics on http://%s:%d/metrics, health on /healthz", host, port)
        log.info(
            "worker pid %d on %s serving on tier %s",
            os.getpid(),
            socket.gethostname(),
            runtime.tier,
        )
        try:
            await stop.wait()
        finally:
            if server is not None:
                server.close()
        log.info("stopping: finishing in-flight tasks")


def main(
    argv: Sequence[str] | None = None, *, project_root: str | os.PathLike[str] | None = None
) -> int:
    """Run the worker until SIGTERM or SIGINT; return the exit status.

    ``project_root``: see :func:`build_runtime` (``memfun runtime worker`` passes its project).
    """
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=str(args.log_level).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    log = logging.getLogger("memfun_runtime.worker")
    try:
        metrics = None
        if args.metrics_port is not None:
            from memfun_runtime.worker._metrics import WorkerMetrics

            check_int(args.metrics_port, field="metrics_port", minimum=0, maximum=65_535)
            metrics = WorkerMetrics()
        runtime = build_runtime(args, metrics, project_root=project_root)
        asyncio.run(_serve(runtime, log, metrics, args))
    except MemfunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
