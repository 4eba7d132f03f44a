"""``RLMAgent``: Memfun's coding agent on ``dspy.RLM``."""

# DSPy ships without complete type information; its objects are treated as Any here.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import dspy  # pyright: ignore[reportMissingTypeStubs]
from dspy.primitives.code_interpreter import CodeInterpreterError  # pyright: ignore[reportMissingTypeStubs]
from dspy.utils.exceptions import AdapterParseError, LMError  # pyright: ignore[reportMissingTypeStubs]

from memfun_agent._action import TolerantAction, model_error_detail
from memfun_agent._agent_tools import add_agent_tools
from memfun_agent._audit import RunAudit
from memfun_agent._budget import BudgetMeter, Budgets, Pricing, StopReason, Usage
from memfun_agent._compact import COMPACT_CODING_INSTRUCTIONS
from memfun_agent._interp import AgentInterpreter, agent_interpreter_factory
from memfun_agent._program import AgentProgram, trusted_program
from memfun_agent._project import project_instructions_for
from memfun_agent._prompt import MemfunRLM, output_chars_for, repo_map_tokens_for
from memfun_agent._run import RunState, RunStopped, Step, meter_lm
from memfun_agent._signature import coding_signature
from memfun_agent._verify import Verifier
from memfun_agent.definitions._instructions import DEFAULT_INSTRUCTIONS_BYTES
from memfun_agent.interpreter import SandboxInterpreter
from memfun_agent.interpreter._sandboxed import EXECUTION_INSTRUCTIONS
from memfun_agent.tools import ChangeTracker, PermissionPolicy, ToolBridge, gateway_client
from memfun_agent.traces import RunTrace, TraceRecorder, TraceStore
from memfun_core.config import MemfunConfig
from memfun_core.errors import ConfigError, ConflictError, ValidationError
from memfun_runtime.protocols import (
    FileSystemView,
    JSONValue,
    NetworkPolicy,
    ReplSandbox,
    SandboxLimits,
)

__all__ = ["AgentResult", "RLMAgent", "StopReason"]

_EXTRACTED = "Extract forced final output"
_RESERVED_INPUTS = frozenset(
    {"task", "workspace", "repo_map", "skill_instructions", "project_instructions", "memories"}
)

MemoryRecall = Callable[[str], Sequence[tuple[str, str]]]
"""``recall(task) -> [(id, text), ...]``: the memories a run on ``task`` is given, best first,
already fitted to a size budget (the CLI passes ``memfun_optimizer.memory``'s BM25 search)."""
_INSTRUCTIONS = (
    EXECUTION_INSTRUCTIONS
    + " The workspace is read-only in the REPL: change files with fs_edit, fs_multi_edit or "
    "fs_write."
)


@dataclass(frozen=True, slots=True)
class AgentResult:
    """What a run produced, complete or partial.

    Attributes:
        run_id: The run's id (its trace's key).
        outcome: ``completed`` or why the run stopped early.
        answer: The model's answer ("" when it stopped before submitting).
        summary: What was changed and why; for a stopped run, why it stopped.
        diff: Unified diff of every file changed through the file tools.
        changed_files: Paths of those files.
        usage: Iterations, model calls, tokens, cost and wall time.
        steps: Every REPL step (reasoning, code, output, error).
        verification: The last verification (``{"passed", "checks"}``), if checks ran.
        error: Details when the run did not complete.
        trace: The run's trace.
    """

    run_id: str
    outcome: StopReason | Literal["internal_error"]
    answer: str
    summary: str
    diff: str
    changed_files: tuple[str, ...]
    usage: Usage
    steps: tuple[Step, ...]
    verification: Mapping[str, Any] | None
    error: str | None
    trace: RunTrace

    @property
    def completed(self) -> bool:
        """Whether the model submitted its result."""
        return self.outcome == "completed"


def _workspace_facts(root: Path, verifier: Verifier | None, tools: Iterable[str]) -> str:
    try:
        entries = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())
    except OSError:
        entries = []
    shown = [e for e in entries if e not in (".git/", ".memfun/", ".venv/")][:60]
    checks = ", ".join(c.name for c in verifier.checks) if verifier and verifier.checks else "none"
    return (
        f"Repository folder: {root.name} (the REPL's current directory, read-only).\n"
        f"Top level: {', '.join(shown) or '(empty)'}\n"
        f"Checks verify() runs: {checks}\n"
        f"Tools: {', '.join(tools)}"
    )


def _reply_tokens(lm: Any) -> int | None:
    """The LM's cap on one reply (``max_tokens``), if it has one."""
    kwargs = getattr(lm, "kwargs", None)
    value = kwargs.get("max_tokens") if isinstance(kwargs, dict) else None
    return value if isinstance(value, int) else None


@dataclass(frozen=True, slots=True)
class _Outcome:
    reason: StopReason | Literal["internal_error"]
    prediction: Any = None
    error: str | None = None


def _finished(prediction: Any, state: RunState) -> _Outcome:
    """How a run that returned a prediction ended."""
    if getattr(prediction, "final_reasoning", "") != _EXTRACTED:
        return _Outcome("completed", prediction)
    # Outputs extracted from the trajectory: after max_iterations, or after stuck.
    if state.stuck is None:
        return _Outcome("max_iterations", prediction)
    return _Outcome("stuck", prediction, error=state.stuck)


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
        from memfun_agent._providers import build_lm, model_limits
        from memfun_agent.tools._mcp import add_config_servers
        from memfun_runtime.sandboxes import LocalSandbox

        if config.sandbox.backend != "local":
            raise ConfigError(
                f"the agent cannot use the {config.sandbox.backend!r} sandbox yet",
                key="sandbox.backend",
                hint='set [sandbox] backend = "local"',
            )
        root = Path(workspace or config.project_root).resolve()
        model = model_limits(config.llm)  # asks only a local server, within a second
        lm = build_lm(config.llm, max_tokens=model.reply_tokens)
        sub_lm = (
            build_lm(config.llm, sub=True, max_tokens=model.reply_tokens)
            if config.llm.sub_model
            else None
        )
        sandbox_config = config.sandbox

        def make_sandbox() -> ReplSandbox:
            return LocalSandbox(
                require=sandbox_config.require, unsafe_host=sandbox_config.unsafe_host
            )

        bridge = ToolBridge(policy=policy)
        try:
            bridge.add_mcp(
                gateway_client(root, web=config.web if web else None),
                prefix="",
                source="memfun",
            )
            add_config_servers(bridge, config.mcp.servers, root=root)
        except BaseException:
            bridge.close()
            raise
        limits = SandboxLimits(
            cpu_seconds=float(sandbox_config.cpu_seconds),
            memory_mb=sandbox_config.memory_mb,
            wall_seconds=sandbox_config.timeout_seconds,
        )
        agent = cls(
            root,
            lm=lm,
            sub_lm=sub_lm,
            sandbox=make_sandbox,
            bridge=bridge,
            budgets=Budgets.from_config(config.llm.budgets, local=model.local),
            traces=traces,
            limits=limits,
            network=NetworkPolicy(allow=sandbox_config.network),
            secret_names=(config.llm.api_key_env,) if config.llm.api_key_env else (),
            listener=listener,
            audit=audit,
            context_window=model.context_window,
            project_instructions=(
                config.agents.project_instructions_bytes
                if config.agents.project_instructions
                else None
            ),
            program=trusted_program(config),
            memories=memories,
            compact=config.llm.prompt == "compact" or (config.llm.prompt == "auto" and model.local),
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
        bad = [n for n in extra if not n.isidentifier() or n in _RESERVED_INPUTS]
        if bad:
            raise ValidationError(
                f"invalid context names {bad!r}",
                field="context",
                rule="identifiers other than " + ", ".join(sorted(_RESERVED_INPUTS)),
            )
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
            if repo_map is None:
                repo_map = await asyncio.to_thread(self._repo_map, recorder)
            project = await asyncio.to_thread(
                project_instructions_for, self.workspace, task, self._project_instructions
            )
            recorder.add("project_instructions", bytes=len(project.encode()))
            memories = await self._recall(task, recorder)
            inputs: dict[str, Any] = {
                "task": task,
                "workspace": _workspace_facts(self.workspace, self.verifier, self.bridge.names),
                "repo_map": repo_map,
                "skill_instructions": skill_instructions,
                "project_instructions": project,
                "memories": memories,
                **extra,
            }
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
        result = self._result(task, state, changes, outcome, interpreters, metadata or {})
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
    ) -> _Outcome:
        """Run the RLM loop in a daemon thread; stop waiting for it when interrupted.

        A daemon thread, not the loop's executor: an interrupted process must be able to
        exit while a step's sandbox or model call is still winding down.
        """
        loop = asyncio.get_running_loop()
        finished: asyncio.Future[_Outcome] = loop.create_future()
        woken = asyncio.Event()

        def deliver(outcome: _Outcome | BaseException) -> None:
            if finished.done():
                return
            if isinstance(outcome, BaseException):
                finished.set_exception(outcome)
            else:
                finished.set_result(outcome)

        def work() -> None:
            try:
                outcome: _Outcome | BaseException = self._forward(
                    state, changes, inputs, extra, holder
                )
            except BaseException as exc:  # handed to the awaiting coroutine
                outcome = exc
            if not loop.is_closed():
                loop.call_soon_threadsafe(deliver, outcome)

        def wake() -> None:
            loop.call_soon_threadsafe(woken.set)

        self._interrupted = wake
        waiter = asyncio.ensure_future(woken.wait())
        threading.Thread(target=work, name="memfun-agent-run", daemon=True).start()
        try:
            await asyncio.wait({finished, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._interrupted = None
            waiter.cancel()
        if finished.done():
            return finished.result()
        finished.cancel()
        return _Outcome("interrupted", error="interrupted by a signal; the run was ended")

    async def _recall(self, task: str, recorder: TraceRecorder) -> str:
        """The ``memories`` input of a run on ``task``; their ids are cited in the trace."""
        if self._memories is None:
            return ""
        recalled = await asyncio.to_thread(self._memories, task)
        text = "\n".join(f"[{ident}] {memory}" for ident, memory in recalled)
        recorder.add("memories", ids=[ident for ident, _ in recalled], bytes=len(text.encode()))
        return text

    def _repo_map(self, recorder: TraceRecorder) -> str:
        if "repomap_map" not in self.bridge.names:
            return ""
        try:
            value = self.bridge.call(
                "repomap_map", token_budget=repo_map_tokens_for(self._context_window)
            )
        except Exception as exc:  # the map is a help, not a requirement
            recorder.add("note", message=f"no repo map: {exc}")
            return ""
        return str(value.get("text", "")) if isinstance(value, dict) else str(value)

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
    ) -> _Outcome:
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
        adapter = dspy.ChatAdapter(use_json_adapter_fallback=False)
        try:
            with dspy.context(lm=main, adapter=adapter):
                prediction = rlm(**inputs)
        except RunStopped as exc:
            return _Outcome(exc.reason, error=exc.detail)
        except CodeInterpreterError as exc:
            return _Outcome("sandbox_error", error=f"the sandbox failed: {exc}")
        except AdapterParseError as exc:
            return _Outcome(
                "malformed_replies", error=f"the final answer could not be parsed: {exc}"
            )
        except LMError as exc:
            return _Outcome("model_error", error=model_error_detail(exc))
        except ConfigError:  # the prompt cannot fit the model's window: refused, no run
            raise
        except (
            Exception
        ) as exc:  # recorded in the trace with its traceback, never swallowed silently
            detail = "".join(traceback.format_exception(exc))
            state.recorder.add("internal_error", error=detail)
            return _Outcome("internal_error", error=f"{type(exc).__name__}: {exc}")
        return _finished(prediction, state)

    def _result(  # noqa: PLR0917
        self,
        task: str,
        state: RunState,
        changes: ChangeTracker,
        outcome: _Outcome,
        interpreters: list[AgentInterpreter],
        metadata: Mapping[str, JSONValue],
    ) -> AgentResult:
        recorder = state.recorder
        usage = state.meter.usage
        diff = changes.diff()
        changed = tuple(changes.changed_files())
        verifications = [v for i in interpreters for v in i.verifications]
        verification = verifications[-1] if verifications else None
        prediction = outcome.prediction
        answer = str(getattr(prediction, "answer", "") or "") if prediction is not None else ""
        if prediction is not None:
            summary = str(getattr(prediction, "summary", "") or "")
        else:
            last = state.steps[-1].output if state.steps else ""
            summary = (
                f"Stopped early ({outcome.reason}): {outcome.error}. Last output: {last[-500:]}"
            )
        recorder.add(
            "run_end",
            outcome=outcome.reason,
            error=outcome.error,
            changed_files=list(changed),
            diff=diff,
        )
        usage_json: dict[str, JSONValue] = {
            **dataclasses.asdict(usage),
            "tokens": usage.tokens,
        }
        trace = RunTrace(
            run_id=recorder.run_id,
            task=str(recorder.clean(task)),
            model=str(getattr(self._lm, "model", type(self._lm).__name__)),
            sub_model=str(getattr(self._sub_lm or self._lm, "model", "")),
            started_at=recorder.started_at,
            ended_at=time.time(),
            outcome=outcome.reason,
            error=None if outcome.error is None else str(recorder.clean(outcome.error)),
            usage=usage_json,
            records=tuple(recorder.records),
            metadata={
                "workspace": str(self.workspace),
                "changed_files": list(changed),
                "verification": recorder.clean(verification),
                **metadata,
            },
        )
        return AgentResult(
            run_id=recorder.run_id,
            outcome=outcome.reason,
            answer=answer,
            summary=summary,
            diff=diff,
            changed_files=changed,
            usage=usage,
            steps=tuple(state.steps),
            verification=verification,
            error=outcome.error,
            trace=trace,
        )

    def close(self) -> None:
        """Close the tool bridge when the agent built it."""
        if self._owns_bridge:
            self.bridge.close()
