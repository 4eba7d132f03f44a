"""Errors specific to sandboxes (subclasses of the core hierarchy)."""

from __future__ import annotations

from memfun_core.errors import BackendError

__all__ = ["SandboxTerminated"]


class SandboxTerminated(BackendError):
    """A sandboxed REPL session is over: its process died or a hard limit killed it.

    Its state is lost; open a new session to go on. Every later call on the same session
    raises this error again.

    Attributes:
        reason: ``"exited"``, ``"wall"``, ``"cpu"``, ``"memory"``, ``"protocol"`` or ``"closed"``.
    """

    def __init__(self, message: str, *, backend: str, reason: str, hint: str | None = None) -> None:
        super().__init__(
            message,
            backend=backend,
            hint=hint or "the session's state is lost; start a new session to continue",
        )
        self.reason = reason
