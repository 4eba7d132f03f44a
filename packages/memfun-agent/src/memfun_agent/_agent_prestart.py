"""A run's first sandboxed REPL, started in a thread while the run prepares its inputs."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from memfun_agent.interpreter import SandboxInterpreter

if TYPE_CHECKING:
    from memfun_runtime.protocols import FileSystemView, NetworkPolicy, ReplSandbox, SandboxLimits

__all__ = ["PrestartedInterpreter"]


class _HeldInterpreter(SandboxInterpreter):
    """A sandbox interpreter that says when it is shut down."""

    ended: threading.Event
    """Set once :meth:`shutdown` ran (given by :class:`PrestartedInterpreter`)."""

    def shutdown(self) -> None:
        """Kill the sandbox's processes (see :class:`SandboxInterpreter`), then say so."""
        try:
            super().shutdown()
        finally:
            self.ended.set()


class PrestartedInterpreter:
    """A :class:`SandboxInterpreter` whose REPL starts in a daemon thread at once.

    Starting the REPL (a fresh Python process in the sandbox) takes about a tenth of a
    second; a run starts it while it reads the repo map and builds its program, and its
    first interpreter is this one. It is taken at most once: :meth:`take` returns it
    started (or raises the start's error, as :meth:`SandboxInterpreter.start` would), and
    :meth:`discard` shuts it down when the run ends without taking it.

    The thread that started the REPL lives until the interpreter is shut down: the
    sandbox's processes die with the thread that spawned them (``bwrap
    --die-with-parent`` is the thread's parent-death signal).

    Args:
        sandbox: The sandbox the REPL runs in.
        limits: The session's limits.
        files: The workspace and mounts the sandbox sees.
        network: The sandbox's network policy.
    """

    def __init__(
        self,
        sandbox: ReplSandbox,
        *,
        limits: SandboxLimits | None,
        files: FileSystemView | None,
        network: NetworkPolicy | None,
    ) -> None:
        self._interpreter = _HeldInterpreter(sandbox, limits=limits, files=files, network=network)
        self._interpreter.ended = threading.Event()
        self._lock = threading.Lock()
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._taken = False
        self._discarded = False
        threading.Thread(target=self._start, name="memfun-sandbox-start", daemon=True).start()

    def _start(self) -> None:
        try:
            self._interpreter.start()
        except BaseException as exc:  # raised again by take(), in the run's thread
            self._error = exc
            self._started.set()
            return
        with self._lock:
            self._started.set()
            discarded = self._discarded
        if discarded:
            self._interpreter.shutdown()
        self._interpreter.ended.wait()  # the REPL dies with this thread

    def take(self) -> SandboxInterpreter | None:
        """The started interpreter, once; ``None`` when taken before or discarded.

        Waits for the start to finish.

        Raises:
            CodeInterpreterError: The sandbox could not start (DSPy's error, as from
                :meth:`SandboxInterpreter.start`).
        """
        with self._lock:
            if self._taken or self._discarded:
                return None
            self._taken = True
        self._started.wait()
        if self._error is not None:
            raise self._error
        return self._interpreter

    def discard(self) -> None:
        """Shut the REPL down unless it was taken (at once, or when its start ends)."""
        with self._lock:
            if self._taken or self._discarded:
                return
            self._discarded = True
            started = self._started.is_set()
        if started:
            self._interpreter.shutdown()
