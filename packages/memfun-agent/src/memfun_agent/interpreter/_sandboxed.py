"""A Memfun sandbox seen by DSPy as a ``CodeInterpreter`` (what ``dspy.RLM`` drives)."""

from __future__ import annotations

import keyword
from collections.abc import Callable, Mapping
from typing import Any

from dspy.primitives.code_interpreter import (  # pyright: ignore[reportMissingTypeStubs]
    CodeExecutionError,
    CodeInterpreterError,
    FinalOutput,
)

from memfun_core.errors import MemfunError
from memfun_runtime.protocols import (
    FileSystemView,
    NetworkPolicy,
    ReplSandbox,
    ReplSession,
    SandboxLimits,
)
from memfun_runtime.sandboxes import SandboxTerminated

__all__ = ["SandboxInterpreter", "sandbox_interpreter_factory"]

_RESERVED = frozenset({"SUBMIT", "ToolError", "__builtins__", "__name__"})

EXECUTION_INSTRUCTIONS = (
    "Code runs as Python in a persistent REPL inside an isolated sandbox: no network, no host "
    "files except the workspace (the current directory), no environment variables. State "
    "persists across steps. Host tools, llm_query and SUBMIT are global functions; their "
    "arguments and results must be JSON values. A failed tool call raises ToolError."
)


def _check_names(names: Mapping[str, Any], tools: Mapping[str, Any], what: str) -> None:
    bad = [
        name
        for name in names
        if not name.isidentifier()
        or keyword.iskeyword(name)
        or name in _RESERVED
        or (what == "variable" and name in tools)
    ]
    if bad:
        raise CodeInterpreterError(
            f"{what} names must be non-reserved Python identifiers"
            + (" distinct from tool names" if what == "variable" else "")
            + f"; invalid: {bad!r}"
        )


class SandboxInterpreter:
    """``dspy.RLM``'s interpreter, running every step in a Memfun :class:`ReplSandbox`.

    Model code never runs in this process: it runs in the sandbox's REPL, and the tools
    (``llm_query``, Memfun tools, ``SUBMIT``) are reached from inside by an RPC call back to
    this process, where they execute. Variables equal to those of the previous step are not
    sent again.

    Errors follow DSPy's contract: an exception in the code raises ``CodeExecutionError``
    (the RLM shows it to the model and goes on), a syntax error ``SyntaxError``, and a dead
    sandbox (crash, hard time limit, failure to start) ``CodeInterpreterError``, after which
    the interpreter is unusable.

    Args:
        sandbox: The sandbox adapter that opens the REPL session.
        tools: Initial host tools (``self.tools`` stays mutable, as DSPy expects).
        output_fields: DSPy's output field descriptions (``[{"name": ...}]``) for ``SUBMIT``.
        limits: Session limits (``wall_seconds`` is the hard limit of each step).
        files: The workspace and mounts the sandbox sees.
        network: The sandbox's network policy.
    """

    execution_instructions = EXECUTION_INSTRUCTIONS

    def __init__(
        self,
        sandbox: ReplSandbox,
        *,
        tools: Mapping[str, Callable[..., Any]] | None = None,
        output_fields: list[dict[str, Any]] | None = None,
        limits: SandboxLimits | None = None,
        files: FileSystemView | None = None,
        network: NetworkPolicy | None = None,
    ) -> None:
        self._sandbox = sandbox
        self.tools: dict[str, Callable[..., Any]] = dict(tools or {})
        self.output_fields: list[dict[str, Any]] | None = output_fields
        self._limits = limits
        self._files = files
        self._network = network
        self._session: ReplSession | None = None
        self._ended = False
        self.step_timeout: float | None = None
        """Wall-clock seconds of the next steps (``None``: the sandbox limit's default)."""

    @property
    def isolation(self) -> str:
        """The sandbox's isolation level (``strong``, ``weak`` or ``none``)."""
        return self._sandbox.isolation

    def start(self) -> None:
        """Open the sandboxed REPL (idempotent)."""
        if self._ended:
            raise CodeInterpreterError("this sandbox interpreter has been shut down")
        if self._session is not None:
            return
        try:
            self._session = self._sandbox.open_repl(
                limits=self._limits, files=self._files, network=self._network
            )
        except MemfunError as exc:
            self._ended = True
            raise CodeInterpreterError(f"the sandbox could not start: {exc}") from exc

    def execute(self, code: str, variables: dict[str, Any] | None = None) -> Any:
        """Run one step of model code in the sandbox; see DSPy's ``CodeInterpreter``."""
        variables = dict(variables or {})
        _check_names(self.tools, {}, "tool")
        _check_names(variables, self.tools, "variable")
        self.start()
        session = self._session
        assert session is not None
        fields = None
        if self.output_fields is not None:
            fields = [str(field["name"]) for field in self.output_fields]
        try:
            outcome = session.execute(
                code, variables, tools=self.tools, output_fields=fields, timeout=self.step_timeout
            )
        except SandboxTerminated as exc:
            self._ended = True
            raise CodeInterpreterError(str(exc)) from exc
        if outcome.kind == "final":
            return FinalOutput(outcome.value)
        if outcome.kind == "syntax_error":
            raise SyntaxError(outcome.error)
        if outcome.kind == "error":
            before = f"{outcome.output}\n" if outcome.output else ""
            raise CodeExecutionError(f"{before}{outcome.error}")
        return outcome.output or None

    def shutdown(self) -> None:
        """Kill the sandbox's processes; the interpreter cannot be used again."""
        self._ended = True
        session, self._session = self._session, None
        if session is not None:
            session.close()

    def __enter__(self) -> SandboxInterpreter:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.shutdown()


class _Factory:
    """A zero-argument interpreter factory carrying DSPy's ``execution_instructions``."""

    execution_instructions = EXECUTION_INSTRUCTIONS

    def __init__(self, make_sandbox: Callable[[], ReplSandbox], options: dict[str, Any]) -> None:
        self._make_sandbox = make_sandbox
        self._options = options

    def __call__(self) -> SandboxInterpreter:
        return SandboxInterpreter(self._make_sandbox(), **self._options)


def sandbox_interpreter_factory(
    make_sandbox: Callable[[], ReplSandbox],
    *,
    limits: SandboxLimits | None = None,
    files: FileSystemView | None = None,
    network: NetworkPolicy | None = None,
) -> Callable[[], SandboxInterpreter]:
    """Build the ``interpreter_factory`` to give ``dspy.RLM`` (one sandbox per run).

    Example:
        >>> from memfun_runtime.sandboxes import LocalSandbox
        >>> factory = sandbox_interpreter_factory(LocalSandbox)
        >>> # dspy.RLM("context -> answer", interpreter_factory=factory)
    """
    return _Factory(make_sandbox, {"limits": limits, "files": files, "network": network})
