"""Who may call which tool: allow, ask or deny, per tool name or pattern."""

from __future__ import annotations

import fnmatch
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from memfun_core.errors import PermissionDeniedError, ValidationError
from memfun_runtime.protocols import JSONValue

__all__ = ["AskCallback", "Decision", "PermissionPolicy", "PermissionRequest"]

Decision = Literal["allow", "ask", "deny"]


@dataclass(frozen=True, slots=True)
class PermissionRequest:
    """A tool call waiting for the user's answer.

    Attributes:
        tool: The tool's name (``fs_write``).
        arguments: The call's arguments.
        destructive: Whether the tool changes files, the repository or the world.
    """

    tool: str
    arguments: Mapping[str, JSONValue]
    destructive: bool


AskCallback = Callable[[PermissionRequest], Awaitable[bool]]
"""Asks the user about one call; ``True`` lets it run."""


@dataclass(frozen=True, slots=True)
class PermissionPolicy:
    """Decides each tool call: ``allow``, ``ask`` (the callback answers) or ``deny``.

    Rules map tool names or glob patterns (``git_*``, ``github_*``) to a decision; an exact
    name beats a pattern, a longer pattern beats a shorter one. Tools no rule names get
    ``destructive_default`` when they are destructive, else ``default``.

    Example:
        >>> policy = PermissionPolicy.from_flags(allow=["fs_*"], deny=["git_commit"])
        >>> policy.decide("fs_write", destructive=True)
        'allow'

    Attributes:
        rules: Tool name or pattern to decision.
        default: Decision for non-destructive tools no rule names.
        destructive_default: Decision for destructive tools no rule names.
        ask: The callback for ``ask``; without one, ``ask`` refuses.
    """

    rules: Mapping[str, Decision] = field(default_factory=dict[str, Decision])
    default: Decision = "allow"
    destructive_default: Decision = "ask"
    ask: AskCallback | None = None

    def __post_init__(self) -> None:
        for name, decision in {**self.rules, "default": self.default}.items():
            if decision not in ("allow", "ask", "deny"):
                raise ValidationError(
                    f"is {decision!r}", field=f"permissions.{name}", rule="allow, ask or deny"
                )

    @classmethod
    def from_flags(
        cls,
        *,
        allow: Iterable[str] = (),
        ask: Iterable[str] = (),
        deny: Iterable[str] = (),
        base: PermissionPolicy | None = None,
        callback: AskCallback | None = None,
    ) -> PermissionPolicy:
        """Layer CLI flags (``--allow``, ``--ask``, ``--deny``) over ``base`` (config)."""
        rules: dict[str, Decision] = dict(base.rules) if base is not None else {}
        for names, decision in ((allow, "allow"), (ask, "ask"), (deny, "deny")):
            for name in names:
                rules[name] = decision  # type: ignore[assignment]
        return cls(
            rules=rules,
            default=base.default if base is not None else "allow",
            destructive_default=base.destructive_default if base is not None else "ask",
            ask=callback or (base.ask if base is not None else None),
        )

    def decide(self, tool: str, *, destructive: bool) -> Decision:
        """The decision for ``tool`` before asking anyone."""
        if tool in self.rules:
            return self.rules[tool]
        matches = [p for p in self.rules if fnmatch.fnmatchcase(tool, p)]
        if matches:
            return self.rules[max(matches, key=len)]
        return self.destructive_default if destructive else self.default

    async def check(self, request: PermissionRequest) -> None:
        """Let the call through, or raise.

        Raises:
            PermissionDeniedError: The policy or the user refused it.
        """
        decision = self.decide(request.tool, destructive=request.destructive)
        if decision == "allow":
            return
        hint = (
            f'allow it with --allow {request.tool} or [agent.permissions] {request.tool} = "allow"'
        )
        if decision == "deny":
            raise PermissionDeniedError(
                f"call {request.tool}", "the permission policy denies this tool", hint=hint
            )
        if self.ask is None:
            raise PermissionDeniedError(
                f"call {request.tool}",
                "this tool needs approval and nobody can be asked (non-interactive run)",
                hint=hint,
            )
        if not await self.ask(request):
            raise PermissionDeniedError(
                f"call {request.tool}", "the user declined", hint="ask the user what to do instead"
            )
