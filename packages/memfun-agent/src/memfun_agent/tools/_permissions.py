"""Who may call which tool: allow, ask or deny, per tool name or pattern."""

from __future__ import annotations

import fnmatch
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from memfun_agent.tools._sensitive import SensitivePaths
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

    On top of that, the sensitive-path rules (``paths``, from ``[security]``) look at each
    call's path arguments: a write to ``.env*``, ``.git``, CI workflows or editor/tool settings
    asks even when the tool is allowed, a read of ``.env*`` or a key file is denied. The
    stricter decision wins (deny > ask > allow).

    Example:
        >>> policy = PermissionPolicy.from_flags(allow=["fs_*"], deny=["git_commit"])
        >>> policy.decide_call("fs_write", {"path": "app.py"}, destructive=True)
        'allow'
        >>> policy.decide_call("fs_write", {"path": ".github/workflows/ci.yml"}, destructive=True)
        'ask'
        >>> policy.decide_call("fs_read", {"path": "deploy/.env.production"}, destructive=False)
        'deny'

    Attributes:
        rules: Tool name or pattern to decision.
        default: Decision for non-destructive tools no rule names.
        destructive_default: Decision for destructive tools no rule names.
        ask: The callback for ``ask``; without one, ``ask`` refuses.
        paths: The sensitive-path rules.
    """

    rules: Mapping[str, Decision] = field(default_factory=dict[str, Decision])
    default: Decision = "allow"
    destructive_default: Decision = "ask"
    ask: AskCallback | None = None
    paths: SensitivePaths = field(default_factory=SensitivePaths)

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
            paths=base.paths if base is not None else SensitivePaths(),
        )

    def decide(self, tool: str, *, destructive: bool) -> Decision:
        """The decision for ``tool`` before seeing a call's arguments.

        For a tool whose path arguments the sensitive-path rules examine, an ``allow`` is
        reported as ``ask``: the real answer depends on the call, and :meth:`check` (which
        sees the arguments, see :meth:`decide_call`) lets a harmless call through unasked.
        """
        decision = self._by_name(tool, destructive=destructive)
        if decision == "allow" and self.paths.examines(tool):
            return "ask"
        return decision

    def decide_call(
        self, tool: str, arguments: Mapping[str, JSONValue], *, destructive: bool
    ) -> Decision:
        """The decision for one call: the tool's rule, made stricter by a sensitive path."""
        decision = self._by_name(tool, destructive=destructive)
        verdict = self.paths.judge(tool, arguments)
        if verdict is not None and _SEVERITY[verdict.decision] > _SEVERITY[decision]:
            return verdict.decision
        return decision

    def _by_name(self, tool: str, *, destructive: bool) -> Decision:
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
        tool = request.tool
        decision = self.decide_call(tool, request.arguments, destructive=request.destructive)
        if decision == "allow":
            return
        verdict = self.paths.judge(tool, request.arguments)
        escalated = verdict is not None and verdict.decision == decision
        if escalated and verdict is not None:
            why = f"{verdict.path!r} is a sensitive path ({verdict.rule})"
            hint = "change [security] in memfun.toml if this path is not sensitive here"
        else:
            why = "the permission policy denies this tool"
            hint = f'allow it with --allow {tool} or [agent.permissions] {tool} = "allow"'
        if decision == "deny":
            raise PermissionDeniedError(f"call {tool}", why, hint=hint)
        if self.ask is None:
            raise PermissionDeniedError(
                f"call {tool}",
                ("approval needed: " + why if escalated else "this tool needs approval")
                + " and nobody can be asked (non-interactive run)",
                hint=hint,
            )
        if not await self.ask(request):
            raise PermissionDeniedError(
                f"call {tool}", "the user declined", hint="ask the user what to do instead"
            )

    def explain(
        self, tool: str, arguments: Mapping[str, JSONValue], *, destructive: bool
    ) -> tuple[Decision, str]:
        """The decision for one call and the rule that made it (for the audit trail).

        The rule is the tool's name or the pattern of :attr:`rules` that matched,
        ``default`` / ``destructive_default``, or the sensitive-path rule that made it
        stricter.
        """
        decision = self.decide_call(tool, arguments, destructive=destructive)
        if decision != self._by_name(tool, destructive=destructive):
            verdict = self.paths.judge(tool, arguments)
            if verdict is not None:
                return decision, f"sensitive path {verdict.path!r} ({verdict.rule})"
        if tool in self.rules:
            return decision, tool
        matches = [p for p in self.rules if fnmatch.fnmatchcase(tool, p)]
        if matches:
            return decision, max(matches, key=len)
        return decision, "destructive_default" if destructive else "default"


_SEVERITY: dict[Decision, int] = {"allow": 0, "ask": 1, "deny": 2}
