"""The one error hierarchy of Memfun.

Every error Memfun raises on purpose is a :class:`MemfunError`. The first split says who
must act:

* :class:`UserError` — the input, the configuration or the installation is wrong; the
  message says what to change.
* :class:`BackendError` — something outside Memfun failed (a server, the disk, a
  subprocess); retrying or fixing the environment may help.
* :class:`InternalError` — a bug in Memfun; please report it.

Each error carries typed fields (so callers can branch on them) and a ``hint`` that says
what to do next. ``str(error)`` is the message followed by the hint.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "BackendUnavailable",
    "ConfigError",
    "ConflictError",
    "CorruptDataError",
    "InternalError",
    "MemfunError",
    "MissingExtraError",
    "NotFoundError",
    "OperationTimeout",
    "PermissionDeniedError",
    "UserError",
    "ValidationError",
]


class MemfunError(Exception):
    """Root of every error Memfun raises on purpose.

    Attributes:
        message: What went wrong, in one sentence.
        hint: What to do next, or ``None`` when the message says it all.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


# --- the user (input, configuration, installation) must act -------------------------------


class UserError(MemfunError):
    """The caller's input, configuration or installation is at fault."""


class ConfigError(UserError):
    """A configuration file or ``MEMFUN_*`` environment variable is invalid.

    Attributes:
        source: The file path or environment variable the bad value came from.
        key: The dotted key (``runtime.tier``), or ``None`` for a whole-file problem.
        expected: What was expected there, in words.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        key: str | None = None,
        expected: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = ": ".join(part for part in (source, key) if part)
        super().__init__(f"{where}: {message}" if where else message, hint=hint)
        self.source = source
        self.key = key
        self.expected = expected


class ValidationError(UserError):
    """A value given to Memfun breaks a rule (a name, a size, a format).

    Attributes:
        field: The name of the offending field or argument.
        rule: The rule it breaks, in words.
        location: Where the value came from (a file path), when known.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str,
        rule: str,
        location: str | None = None,
        hint: str | None = None,
    ) -> None:
        prefix = f"{location}: " if location else ""
        super().__init__(f"{prefix}{field}: {message}", hint=hint)
        self.field = field
        self.rule = rule
        self.location = location


class NotFoundError(UserError):
    """A named thing (a skill, a session, a task, a file) does not exist.

    Attributes:
        kind: What was looked for (``"skill"``, ``"session"``).
        name: The name that was asked for.
        suggestions: Close existing names, best first.
    """

    def __init__(
        self,
        kind: str,
        name: str,
        *,
        suggestions: tuple[str, ...] = (),
        hint: str | None = None,
    ) -> None:
        if hint is None and suggestions:
            hint = "did you mean " + ", ".join(repr(s) for s in suggestions) + "?"
        super().__init__(f"no {kind} named {name!r}", hint=hint)
        self.kind = kind
        self.name = name
        self.suggestions = suggestions


class ConflictError(UserError):
    """An operation lost a race or contradicts the current state (a stale version)."""


class PermissionDeniedError(UserError):
    """A policy (workspace confinement, tool permissions, network policy) refused an action.

    Attributes:
        action: The action that was refused.
        reason: Why the policy refused it.
    """

    def __init__(self, action: str, reason: str, *, hint: str | None = None) -> None:
        super().__init__(f"{action} refused: {reason}", hint=hint)
        self.action = action
        self.reason = reason


class MissingExtraError(UserError):
    """An optional feature needs a package extra that is not installed.

    Attributes:
        feature: The feature that was asked for (``"the Redis backend"``).
        package: The distribution that declares the extra (``"memfun-runtime"``).
        extra: The extra's name (``"redis"``).
        module: The import that failed.
    """

    def __init__(self, *, feature: str, package: str, extra: str, module: str) -> None:
        super().__init__(
            f"{feature} requires the {extra!r} extra of {package} (could not import {module!r})",
            hint=f'install it with: pip install "{package}[{extra}]"',
        )
        self.feature = feature
        self.package = package
        self.extra = extra
        self.module = module


# --- something outside Memfun failed -------------------------------------------------------


class BackendError(MemfunError):
    """A service, the disk or a subprocess that Memfun depends on failed.

    Attributes:
        backend: Which backend or service failed (``"sqlite"``, ``"redis"``).
    """

    def __init__(self, message: str, *, backend: str, hint: str | None = None) -> None:
        super().__init__(f"{backend}: {message}", hint=hint)
        self.backend = backend


class BackendUnavailable(BackendError):
    """A backend service cannot be reached.

    Attributes:
        target: The address that was tried (a URL or a path), secrets removed.
    """

    def __init__(self, message: str, *, backend: str, target: str, hint: str | None = None) -> None:
        super().__init__(f"{message} ({target})", backend=backend, hint=hint)
        self.target = target


class OperationTimeout(BackendError):
    """An operation did not finish within its time limit.

    Attributes:
        operation: What was being done.
        seconds: The limit that was exceeded.
    """

    def __init__(
        self, operation: str, seconds: float, *, backend: str, hint: str | None = None
    ) -> None:
        super().__init__(f"{operation} timed out after {seconds:g} s", backend=backend, hint=hint)
        self.operation = operation
        self.seconds = seconds


class CorruptDataError(BackendError):
    """Stored data is unreadable (a damaged database, a truncated file).

    Attributes:
        location: The file or key that is damaged.
    """

    def __init__(
        self, message: str, *, backend: str, location: str, hint: str | None = None
    ) -> None:
        super().__init__(f"{message} ({location})", backend=backend, hint=hint)
        self.location = location


# --- Memfun itself is wrong ----------------------------------------------------------------


class InternalError(MemfunError):
    """A bug in Memfun: an invariant did not hold. Please report it with the message."""

    def __init__(self, message: str) -> None:
        super().__init__(
            message, hint="this is a bug in Memfun; please report it with this message"
        )
