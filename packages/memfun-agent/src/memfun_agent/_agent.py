"""``RLMAgent``: Memfun's coding agent on ``dspy.RLM``."""

# DSPy ships without complete type information; its objects are treated as Any here.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from memfun_agent._action import TolerantAction
from memfun_agent._agent_config import agent_from_config
from memfun_agent._agent_inputs import MemoryRecall, check_context_names, run_inputs
from memfun_agent._agent_loop import run_loop
from memfun_agent._agent_result import AgentResult, RunOutcome, agent_result
from memfun_agent._agent_tools import add_agent_tools
from memfun_agent._audit import RunAudit
from memfun_agent._budget import BudgetMeter, Budgets, Pricing, StopReason
from memfun_agent._compact import COMPACT_CODING_INSTRUCTIONS
from memfun_agent._interp import AgentInterpreter, agent_interpreter_factory
from memfun_agent._interruptible import run_until_woken
from memfun_agent._program import AgentProgram
from memfun_agent._prompt import MemfunRLM, output_chars_for
from memfun_agent._run import RunState, meter_lm
from memfun_agent._signature import coding_signature
from memfun_agent._verify import Verifier
from memfun_agent.definitions._instructions import DEFAULT_INSTRUCTIONS_BYTES
from memfun_agent.interpreter import SandboxInterpreter
from memfun_agent.interpreter._sandboxed import EXECUTION_INSTRUCTIONS
from memfun_agent.tools import ChangeTracker, PermissionPolicy, ToolBridge, gateway_client
from memfun_agent.traces import TraceRecorder, TraceStore
from memfun_core.config import MemfunConfig
from memfun_core.errors import ConflictError, ValidationError
from memfun_runtime.protocols import (
    FileSystemView,
    JSONValue,
    NetworkPolicy,
    ReplSandbox,
    SandboxLimits,
)

__all__ = ["AgentResult", "RLMAgent", "StopReason"]

_INSTRUCTIONS = (
    EXECUTION_INSTRUCTIONS
    + " The workspace is read-only in the REPL: change files with fs_edit, fs_multi_edit or "
    "fs_write."
)


def _reply_tokens(lm: Any) -> int | None:
    """The LM's cap on one reply (``max_tokens``), if it has one."""
    kwargs = getattr(lm, "kwargs", None)
    value = kwargs.get("max_tokens") if isinstance(kwargs, dict) else None
    return value if isinstance(value, int) else None


class RLMAgent:
    """The coding agent: ``dspy.RLM`` with a sandboxed REPL, Memfun's tools and budgets.

    The task, the workspace facts, the repo map, the skill's instructions and any extra
    context are REPL variables: the model sees a short preview and reads them with code,
    so a context far larger than the model's window works. Model code runs in the sandbox
    (the workspace mounted read-only); tools run on the host behind the permission policy.
    One run at a time per agent.

    Args:
        workspace: The repository folder.
        lm: The main model (a ``dspy.LM``; :func:`~memfun_agent.build_lm` builds one from
            config, :class:`~memfun_agent.testing.ScriptedLM` scripts one).
        sub_lm: The model behind ``llm_query`` (default: ``lm``).
        sandbox: Makes a fresh sandbox for each run's REPL (default: ``LocalSandbox``).
        bridge: The tools (default: Memfun's gateway over ``workspace``, writes behind the
            default permission policy).
        budgets: The run limits.
        pricing: Prices for models DSPy cannot price.
        verifier: Runs the project's checks (``"auto"``: detected; ``None``: no checks).
        traces: Where every run's trace is stored (``None``: kept only in the result).
        limits: Sandbox limits of the REPL.
        network: The REPL's network policy (none by default).
        max_malformed: Unparsable model replies in a row before the run stops.
        max_rejections: Failed verifications after SUBMIT fed back before accepting.
        secret_names: More environment variable names whose values never reach a trace.
        listener: Receives each trace record as it happens (live progress).
        instructions: More system instructions after Memfun's own (an agent definition's
            body), shown to the model in full.
        context_window: The model's context window in tokens, when known: REPL output
            and the repo map are sized to it, old steps are left out when the prompt
            outgrows it, and a first prompt that cannot fit is refused before any call.
        project_instructions: The most bytes of the project's ``AGENTS.md`` (else
            ``CLAUDE.md``) files each run reads into its ``project_instructions`` input: the
            root's and those of the folders down to the paths the task names, nearest
            first (``None`` or ``0``: none; ``[agents] project_instructions``).
        audit: Appends each tool call, permission decision and sandbox start, and the
            skill or agent a run activates, to the project's audit trail (``run_audit``).
        program: A compiled program (``memfun optimize``) whose instructions and demos
            replace Memfun's own task instructions (``None``: Memfun's own).
        memories: Recalls the learnings of earlier runs relevant to a task; each run puts
            them in its ``memories`` input as ``[id] text`` lines and cites their ids in a
            ``memories`` trace record (``None``: no memories, no record).
        compact: Use the compact prompt for small models (short rules, the essential
            tools, one example; ``[llm] prompt``, by default for a local server).
    """

    def __init__(
        self,
        workspace: str | Path,
        *,
        lm: Any,
        sub_lm: Any = None,
        sandbox: Callable[[], ReplSandbox] | None = None,
        bridge: ToolBridge | None = None,
        budgets: Budgets | None = None,
        pricing: Pricing | None = None,
        verifier: Verifier | Literal["auto"] | None = "auto",
        traces: TraceStore | None = None,
        limits: SandboxLimits | None = None,
        network: NetworkPolicy | None = None,
        max_malformed: int = 3,
        max_rejections: int = 2,
        secret_names: Iterable[str] = (),
        listener: Callable[[dict[str, JSONValue]], None] | None = None,
        instructions: str = "",
        context_window: int | None = None,
        project_instructions: int | None = DEFAULT_INSTRUCTIONS_BYTES,
        audit: RunAudit | None = None,
        program: AgentProgram | None = None,
        memories: MemoryRecall | None = None,
        compact: bool = False,
    ) -> None:
        self.workspace = Path(workspace).resolve()
        if not self.workspace.is_dir():
            raise ValidationError(
                f"{workspace!r} is not a folder", field="workspace", rule="an existing folder"
            )
        if sandbox is None:
            from memfun_runtime.sandboxes import LocalSandbox

            sandbox = LocalSandbox
        self._lm = lm
        self._sub_lm = sub_lm
        self._make_sandbox = sandbox
        self._budgets = budgets or Budgets()
        self._pricing = pricing
        self._traces = traces
        self._limits = limits or SandboxLimits()
        self._network = network
        self._max_malformed = max_malformed
        self._max_rejections = max_rejections
        self._secret_names = tuple(secret_names)
        self._listener = listener
        self._audit = audit
        if audit is not None:
            sandbox = audit.sandboxes(
                sandbox, workspace=self.workspace, limits=self._limits, network=network
            )
            self._make_sandbox = sandbox
        self._command_sandbox = sandbox()
        if verifier == "auto":
            verifier = Verifier(self._command_sandbox, self.workspace)
        self.verifier: Verifier | None = verifier
        self._owns_bridge = bridge is None
        if bridge is None:
            bridge = ToolBridge()
            bridge.add_mcp(gateway_client(self.workspace), prefix="", source="memfun")
        if audit is not None:
            bridge.audit = audit
        self.bridge = bridge
        add_agent_tools(
            bridge, sandbox=self._command_sandbox, workspace=self.workspace, verifier=verifier
        )
        self._busy = False
        self._instructions = instructions
        self.program = program
        self.compact = compact
        self._context_window = context_window
        self._project_instructions = project_instructions
        self._memories = memories
        self._interrupted: Callable[[], None] | None = None
        self._state: RunState | None = None

    @property
    def run_state(self) -> RunState | None:
        """The running run's budgets meter and trace recorder (``None`` between runs)."""
        return self._state

    def cancel(self, reason: str = "cancelled", detail: str = "") -> bool:
        """Stop the running run before its next step (outcome ``cancelled``); thread-safe.

        ``reason`` and ``detail`` are recorded in the trace. Returns whether a run was running.
        """
        state = self._state
        if state is None:
            return False
        state.recorder.add("cancel", reason=reason, detail=detail)
        state.meter.trip("cancelled")
        return True

    def interrupt(self, signal_name: str = "SIGINT") -> bool:
        """End the running run now with outcome ``interrupted`` (from a signal handler).

        The model call or wait in progress is abandoned, the trace is finished and
        :meth:`run` returns the partial result without waiting for the step to end.
        Thread-safe. Returns whether a run was running.
        """
        state, wake = self._state, self._interrupted
        if state is None:
            return False
        state.recorder.add("interrupt", signal=signal_name)
        state.meter.trip("interrupted")
        if wake is not None:
            wake()
        return True

    # --- construction from config ---------------------------------------------------------

    @classmethod
    def from_config(
        cls,
        config: MemfunConfig,
        *,
        workspace: str | Path | None = None,
        policy: PermissionPolicy | None = None,
        traces: TraceStore | None = None,
        web: bool = True,
        listener: Callable[[dict[str, JSONValue]], None] | None = None,
        audit: RunAudit | None = None,
        memories: MemoryRecall | None = None,
    ) -> RLMAgent:
        """Build the agent ``memfun ask`` runs: models, sandbox, tools and budgets from config.

        The project's own MCP servers stay inactive (with a warning naming ``memfun trust``)
        until the user trusts the folder; ``audit`` records what the runs do. The program
        promoted with ``memfun optimize promote`` is used when the folder is trusted;
        ``memories`` recalls what earlier runs learnt (see the class).

        Raises:
            ConfigError: No model, an unset key variable, an unsupported sandbox backend or
                a bad MCP server entry.
        """
        agent = agent_from_config(
            cls,
            config,
            workspace=workspace,
            policy=policy,
            traces=traces,
            web=web,
            listener=listener,
            audit=audit,
            memories=memories,
        )
        agent._owns_bridge = True
        return agent

    # --- running ---------------------------------------------------------------------------

    def run_sync(self, task: str, **kwargs: Any) -> AgentResult:
        """Blocking form of :meth:`run` (not from inside a running event loop)."""
        return asyncio.run(self.run(task, **kwargs))

    async def run(
        self,
        task: str,
        *,
        context: Mapping[str, str] | None = None,
        skill_instructions: str = "",
        repo_map: str | None = None,
        metadata: Mapping[str, JSONValue] | None = None,
    ) -> AgentResult:
        """Carry out ``task`` in the workspace and return the (possibly partial) result.

        Args:
            task: What to do.
            context: More REPL variables (name -> text), e.g. a huge document.
            skill_instructions: The activated skill's instructions.
            repo_map: The repo map text (default: built with the ``repomap_map`` tool).
            metadata: Stored in the trace (skill name, session id, ...).

        Raises:
            ConflictError: The agent is already running a task.
            ValidationError: A context name is not an identifier or clashes with an input.
        """
        extra = dict(context or {})
        check_context_names(extra)
        if self._busy:
            raise ConflictError("this agent is already running a task; create another agent")
        self._busy = True
        recorder = TraceRecorder(secret_names=self._secret_names, listener=self._listener)
        state = RunState(
            BudgetMeter(self._budgets, pricing=self._pricing),
            recorder,
            max_malformed=self._max_malformed,
            context_window=self._context_window,
            reply_tokens=_reply_tokens(self._lm),
        )
        self._state = state
        if self._audit is not None:
            self._audit.activations(task, recorder.run_id, metadata or {})
        changes = ChangeTracker(self.workspace)
        self.bridge.changes = changes
        self.bridge.ask_loop = asyncio.get_running_loop()

        def observe(record: Mapping[str, Any]) -> None:
            recorder.add("tool_call", **record)

        self.bridge.observers.append(observe)
        recorder.add(
            "run_start",
            task=task,
            tools=self.bridge.names,
            budgets=dataclasses.asdict(self._budgets),
            context={name: len(value) for name, value in extra.items()},
        )
        if self.program is not None:
            recorder.add("program", name=self.program.name, version=self.program.version)
        interpreters: list[AgentInterpreter] = []
        try:
            inputs = await run_inputs(
                task,
                workspace=self.workspace,
                bridge=self.bridge,
                verifier=self.verifier,
                recorder=recorder,
                repo_map=repo_map,
                skill_instructions=skill_instructions,
                project_instructions=self._project_instructions,
                recall=self._memories,
                context_window=self._context_window,
                extra=extra,
            )
            outcome = await self._forward_or_interrupt(
                state, changes, inputs, list(extra), interpreters
            )
        finally:
            self.bridge.observers.remove(observe)
            self.bridge.changes = None
            self.bridge.ask_loop = None
            self._busy = False
            self._state = None
            state.finished = True  # a model call abandoned by an interrupt is not counted
        result = agent_result(
            task,
            state,
            changes,
            outcome,
            interpreters,
            metadata or {},
            workspace=self.workspace,
            lm=self._lm,
            sub_lm=self._sub_lm,
        )
        if self._traces is not None:
            await self._traces.save(result.trace)
        return result

    async def _forward_or_interrupt(
        self,
        state: RunState,
        changes: ChangeTracker,
        inputs: dict[str, Any],
        extra: list[str],
        holder: list[AgentInterpreter],
    ) -> RunOutcome:
        """Run the RLM loop in a daemon thread; stop waiting for it when interrupted."""

        def register(wake: Callable[[], None] | None) -> None:
            self._interrupted = wake

        outcome = await run_until_woken(
            lambda: self._forward(state, changes, inputs, extra, holder),
            register,
            name="memfun-agent-run",
        )
        if outcome is None:
            return RunOutcome("interrupted", error="interrupted by a signal; the run was ended")
        return outcome

    def _interpreter(
        self, state: RunState, changes: ChangeTracker, holder: list[AgentInterpreter]
    ) -> AgentInterpreter:
        inner = SandboxInterpreter(
            self._make_sandbox(),
            limits=self._limits,
            files=FileSystemView(workspace=str(self.workspace), workspace_writable=False),
            network=self._network,
        )
        interpreter = AgentInterpreter(
            inner,
            state,
            self.bridge,
            changes=changes,
            verifier=self.verifier,
            max_rejections=self._max_rejections,
            step_timeout=self._limits.wall_seconds,
        )
        holder.append(interpreter)
        return interpreter

    def _forward(
        self,
        state: RunState,
        changes: ChangeTracker,
        inputs: dict[str, Any],
        extra: list[str],
        holder: list[AgentInterpreter],
    ) -> RunOutcome:
        main = meter_lm(self._lm, "main", state)
        sub = meter_lm(self._sub_lm if self._sub_lm is not None else self._lm, "sub", state)
        factory = agent_interpreter_factory(
            lambda: self._interpreter(state, changes, holder), _INSTRUCTIONS
        )
        if self.program is not None:
            base = {"base_instructions": self.program.prompt_text()}
        else:
            base = {"base_instructions": COMPACT_CODING_INSTRUCTIONS} if self.compact else {}
        rlm = MemfunRLM(
            coding_signature(extra, instructions=self._instructions, **base),
            max_iters=self._budgets.max_iterations,
            max_llm_calls=self._budgets.max_llm_calls,
            tools=self.bridge.dspy_tools(),  # pyright: ignore[reportArgumentType]
            bridge=self.bridge,
            compact=self.compact,
            state=state,
            max_output_chars=output_chars_for(self._context_window),
            sub_lm=sub,
            interpreter_factory=factory,
        )
        rlm.generate_action = TolerantAction(rlm.generate_action, state)  # pyright: ignore[reportAttributeAccessIssue]
        return run_loop(rlm, inputs, main, state)

    def close(self) -> None:
        """Close the tool bridge when the agent built it."""
        if self._owns_bridge:
            self.bridge.close()
