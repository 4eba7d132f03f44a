"""Running an activated skill with the agent (memfun-skills' ``SkillExecutor``)."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, cast

from memfun_agent._agent import AgentResult, RLMAgent
from memfun_agent._budget import Budgets, Pricing
from memfun_agent._grants import grants_allow
from memfun_agent.tools import PermissionPolicy, ToolBridge, ToolFailed, ToolSpec
from memfun_agent.tools._permissions import Decision
from memfun_agent.traces import TraceStore
from memfun_core.errors import PermissionDeniedError
from memfun_runtime.protocols import JSONValue, ReplSandbox
from memfun_skills import ActivatedSkill, ScriptRunner, SkillExecutor, SkillResult

__all__ = ["DEFAULT_BASE_TOOLS", "AgentSkillExecutor"]

DEFAULT_BASE_TOOLS = (
    "fs_read",
    "fs_list",
    "fs_glob",
    "fs_tree",
    "search_*",
    "git_status",
    "git_diff",
    "git_log",
    "git_show",
    "git_blame",
    "repomap_map",
    "verify",
)
"""Read-only tools every skill may use, on top of its ``allowed-tools``."""


class AgentSkillExecutor(SkillExecutor):
    """Follows an activated skill with :class:`RLMAgent`.

    The skill's instructions become the agent's ``skill_instructions`` input. A skill that
    declares ``allowed-tools`` gets those tools (within their command or path limits; approved
    in advance unless the session's policy has its own rule for the tool, as it has for the
    tools that change files) plus ``base_tools`` (read-only by default) and nothing else; a
    skill that declares none gets the bridge's tools under the bridge's own permission policy
    (edits confirmed as for any task). The skill's scripts run only in the sandbox, through the
    ``run_script`` tool. Calls the grants refused and the tools left out are reported in
    the result's metadata (``refused``, ``not_granted``), so the invocation record keeps them.

    :meth:`around` builds one over an existing agent (the CLI's, with its progress listener,
    trace store and budgets): the agent runs with the skill's view of its tools.

    Args:
        workspace: The repository folder.
        bridge: All tools (the skill sees a restricted view of it).
        lm: The main model.
        sub_lm: The model behind ``llm_query``.
        sandbox: Makes the REPL's sandbox.
        budgets: Limits of each skill run.
        pricing: Prices for models DSPy cannot price.
        traces: Where run traces are stored.
        base_tools: Names or patterns every skill may use.
        agent_options: More keyword arguments for :class:`RLMAgent`.
    """

    def __init__(
        self,
        workspace: str | Path,
        bridge: ToolBridge,
        *,
        lm: Any,
        sub_lm: Any = None,
        sandbox: Callable[[], ReplSandbox] | None = None,
        budgets: Budgets | None = None,
        pricing: Pricing | None = None,
        traces: TraceStore | None = None,
        base_tools: Iterable[str] = DEFAULT_BASE_TOOLS,
        agent_options: Mapping[str, Any] | None = None,
        context: Mapping[str, str] | None = None,
        metadata: Mapping[str, JSONValue] | None = None,
    ) -> None:
        self._agent: RLMAgent | None = None
        self._context = dict(context or {})
        self._metadata = dict(metadata or {})
        self.last_result: AgentResult | None = None
        """The agent's full result of the last :meth:`execute` (diff, usage, trace)."""
        self._workspace = Path(workspace).resolve()
        self._bridge = bridge
        self._lm = lm
        self._sub_lm = sub_lm
        self._sandbox = sandbox
        self._budgets = budgets
        self._pricing = pricing
        self._traces = traces
        self._base = tuple(base_tools)
        self._options = dict(agent_options or {})

    @classmethod
    def around(
        cls,
        agent: RLMAgent,
        *,
        base_tools: Iterable[str] = DEFAULT_BASE_TOOLS,
        context: Mapping[str, str] | None = None,
        metadata: Mapping[str, JSONValue] | None = None,
    ) -> AgentSkillExecutor:
        """An executor that runs ``agent`` itself, with each skill's view of its tools.

        Args:
            agent: The agent (its model, sandbox, budgets, listener and traces are used).
            base_tools: Names or patterns every skill with ``allowed-tools`` may use.
            context: More REPL variables for every run (a chat's ``conversation``).
            metadata: More trace metadata for every run (a chat's session id).
        """
        executor = cls(
            agent.workspace,
            agent.bridge,
            lm=None,
            base_tools=base_tools,
            context=context,
            metadata=metadata,
        )
        executor._agent = agent
        return executor

    def _base_allows(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self._base)

    def _view(self, skill: ActivatedSkill) -> ToolBridge:
        if not skill.properties.allowed_tools:
            return self._bridge.derive(lambda _spec: True)

        def keep(spec: ToolSpec) -> bool:
            return (
                spec.name == "run_script"
                or self._base_allows(spec.name)
                or any(fnmatch.fnmatchcase(spec.name, grant.tool) for grant in skill.tools)
            )

        def guard(spec: ToolSpec, arguments: Mapping[str, Any]) -> None:
            if spec.name == "run_script" or self._base_allows(spec.name):
                return
            if grants_allow(skill.tools, spec.name, arguments, self._workspace):
                return
            raise PermissionDeniedError(
                f"call {spec.name}",
                f"skill {skill.name!r} does not allow it with these arguments",
                hint="allowed-tools: "
                + ", ".join(grant.source for grant in skill.tools)
                + " (paths relative to the workspace, without '..'; commands one simple "
                "command, without ; & | < > ` $( or line breaks)",
            )

        # Grants pre-approve what the session has no rule for; the session's own rules win
        # (a read-only task stays read-only, edits are confirmed unless --yes): a skill the
        # router chose for a task must not lift the confirmation the user relies on.
        rules: dict[str, Decision] = {grant.tool: "allow" for grant in skill.tools}
        base = self._bridge.policy
        policy = PermissionPolicy(
            rules={**rules, **base.rules},
            default=base.default,
            destructive_default=base.destructive_default,
            ask=base.ask,
            paths=base.paths,
        )
        return self._bridge.derive(keep, policy=policy, guard=guard)

    async def _run(
        self, view: ToolBridge, task: str, skill: ActivatedSkill, metadata: Mapping[str, JSONValue]
    ) -> AgentResult:
        if self._agent is not None:
            return await _run_view(
                self._agent, view, task=task, skill=skill, context=self._context, metadata=metadata
            )
        agent = RLMAgent(
            self._workspace,
            lm=self._lm,
            sub_lm=self._sub_lm,
            sandbox=self._sandbox,
            bridge=view,
            budgets=self._budgets,
            pricing=self._pricing,
            traces=self._traces,
            **self._options,
        )
        try:
            return await agent.run(
                task,
                context=self._context,
                skill_instructions=skill.instructions,
                metadata=metadata,
            )
        finally:
            agent.close()

    async def execute(
        self, skill: ActivatedSkill, task: str, *, scripts: ScriptRunner | None
    ) -> SkillResult:
        """Run the agent on ``task`` following ``skill``."""
        view = self._view(skill)
        if scripts is not None and skill.scripts:
            _add_script_tool(view, skill, scripts, self._workspace)
        refused: list[JSONValue] = []

        def observe(record: Mapping[str, Any]) -> None:
            error = str(record.get("error") or "")
            if error.startswith("PermissionDeniedError"):
                refused.append({"tool": str(record.get("tool")), "error": error[:300]})

        view.observers.append(observe)
        text = task or skill.arguments
        metadata_in: dict[str, JSONValue] = {
            **self._metadata,
            "skill": skill.name,
            "skill_version": skill.version,
        }
        try:
            result = await self._run(
                view,
                f"Use the {skill.name} skill" + (f": {text}" if text else "."),
                skill,
                metadata_in,
            )
        finally:
            view.observers.remove(observe)
        self.last_result = result
        metadata: dict[str, JSONValue] = {
            **{key: value for key, value in self._metadata.items() if key != "skill_route"},
            "run_id": result.run_id,
            "stop_reason": result.outcome,
            "changed_files": list(result.changed_files),
            "tools": view.names,
            "not_granted": sorted(set(view.hidden)),
            "refused": refused,
        }
        if result.error:
            metadata["error"] = result.error
        return SkillResult(
            output=result.answer or result.summary,
            outcome="success" if result.completed else "failure",
            tokens=result.usage.tokens,
            cost=result.usage.cost_usd,
            metadata=metadata,
        )


async def _run_view(
    agent: RLMAgent,
    view: ToolBridge,
    *,
    task: str,
    skill: ActivatedSkill,
    context: Mapping[str, str],
    metadata: Mapping[str, JSONValue],
) -> AgentResult:
    """Run ``agent`` with ``view`` as its tools, then give it its own tools back."""
    own = agent.bridge
    agent.bridge = view
    try:
        return await agent.run(
            task, context=context, skill_instructions=skill.instructions, metadata=metadata
        )
    finally:
        agent.bridge = own


def _add_script_tool(
    bridge: ToolBridge, skill: ActivatedSkill, runner: ScriptRunner, workspace: Path
) -> None:
    names = [resource.path for resource in skill.scripts]

    async def run_script(arguments: dict[str, Any]) -> JSONValue:
        script = arguments.get("script")
        raw = arguments.get("args")
        if not isinstance(script, str) or not isinstance(raw, list | None):
            raise ToolFailed("run_script(script: str, args: list[str] = [])")
        args = [str(a) for a in cast("list[object]", raw or [])]
        done = await runner.run(skill, script, args, workspace=workspace)
        return {
            "exit_code": done.exit_code,
            "stdout": done.stdout,
            "stderr": done.stderr,
            "timed_out": done.timed_out,
        }

    bridge.add(
        ToolSpec(
            name="run_script",
            description=f"Run one of the skill's scripts in the sandbox ({', '.join(names)}); "
            "returns exit_code, stdout, stderr.",
            input_schema={
                "type": "object",
                "properties": {
                    "script": {"type": "string", "enum": names},
                    "args": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["script"],
            },
            source="skill",
            timeout=600.0,
        ),
        run_script,
    )
