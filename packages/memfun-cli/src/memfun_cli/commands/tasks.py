"""The task commands: ``ask``, ``analyze``, ``review``, ``fix``, ``explain`` and ``/skill-name``.

Each runs the RLM agent (memfun-agent) on this project. Read-only tasks never get the tools
that change files; ``fix`` and skills may edit, after confirmation unless ``--yes``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from memfun_core.config import MemfunConfig, load_config
from memfun_core.errors import UserError

if TYPE_CHECKING:
    from memfun_agent import AgentResult, PermissionPolicy
    from memfun_agent.tools import PermissionRequest

__all__ = [
    "edit_policy",
    "print_result",
    "progress_listener",
    "register",
    "require_model",
    "run_task",
]

#: Tools that change the workspace or the repository.
WRITE_TOOLS = ("fs_write", "fs_edit", "fs_multi_edit", "git_commit", "git_checkout")

_NO_MODEL_HINT = (
    "configure one with `memfun init` (e.g. memfun init --yes --provider anthropic, then export "
    "ANTHROPIC_API_KEY), or offline with a local server: memfun init --yes --provider ollama"
)

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object (see docs/cli.md).")
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Apply edits without asking.")]


def require_model(config: MemfunConfig) -> None:
    """Raise a UserError saying how to configure a model when none is configured."""
    if config.llm.model is None:
        raise UserError("no model is configured", hint=_NO_MODEL_HINT)


def edit_policy(*, edits: bool, yes: bool) -> PermissionPolicy:
    """The permission policy of a task: read-only, edits confirmed in a terminal, or --yes."""
    from memfun_agent import PermissionPolicy

    if not edits:
        return PermissionPolicy.from_flags(deny=WRITE_TOOLS)
    if yes:
        return PermissionPolicy.from_flags(allow=WRITE_TOOLS)
    if not sys.stdin.isatty():
        raise UserError(
            "this task edits files and there is no terminal to confirm the edits",
            hint="pass --yes to apply edits without asking",
        )

    async def ask(request: PermissionRequest) -> bool:
        summary = json.dumps(dict(request.arguments), default=str)[:300]
        return typer.confirm(f"allow {request.tool} {summary}?", default=False, err=True)

    return PermissionPolicy.from_flags(ask=WRITE_TOOLS, callback=ask)


def progress_listener(quiet: bool) -> Any:
    """A trace listener printing live progress (steps, tool calls, checks) to stderr."""

    def listener(record: dict[str, Any]) -> None:
        if quiet:
            return
        kind = record.get("kind")
        if kind == "step":
            typer.echo(f"· step {record.get('iteration', '?')}", err=True)
        elif kind == "tool_call":
            typer.echo(f"  tool {record.get('tool', '?')}", err=True)
        elif kind == "verification":
            typer.echo(f"  checks {'passed' if record.get('passed') else 'failed'}", err=True)

    return listener


def run_task(
    task: str,
    *,
    edits: bool,
    yes: bool,
    as_json: bool,
    skill_instructions: str = "",
    metadata: dict[str, Any] | None = None,
) -> None:
    """Run the agent on ``task`` in this project, print the result, exit 0/1."""
    config = load_config()
    require_model(config)
    policy = edit_policy(edits=edits, yes=yes)
    result = asyncio.run(
        _run_agent(
            config, task, policy, progress_listener(as_json), skill_instructions, metadata or {}
        )
    )
    print_result(result, as_json)
    raise typer.Exit(0 if result.outcome == "completed" else 1)


async def _run_agent(
    config: MemfunConfig,
    task: str,
    policy: PermissionPolicy,
    listener: Any,
    skill_instructions: str,
    metadata: dict[str, Any],
) -> AgentResult:
    """Run the agent inside the configured runtime, so its trace is stored there."""
    from memfun_agent import RLMAgent, TraceStore
    from memfun_runtime import RuntimeBuilder

    async with RuntimeBuilder().from_config(config).build() as runtime:
        agent = RLMAgent.from_config(
            config, policy=policy, listener=listener, traces=TraceStore(runtime.backend)
        )
        try:
            return await agent.run(task, skill_instructions=skill_instructions, metadata=metadata)
        finally:
            agent.close()


def print_result(result: AgentResult, as_json: bool) -> None:
    """Print a run's result: Markdown, diff and usage, or the documented JSON object."""
    usage = result.usage
    usage_data = {
        "iterations": usage.iterations,
        "lm_calls": usage.lm_calls,
        "sub_lm_calls": usage.sub_lm_calls,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cost_usd": usage.cost_usd,
        "wall_seconds": usage.wall_seconds,
    }
    if as_json:
        data = {
            "run_id": result.run_id,
            "outcome": result.outcome,
            "answer": result.answer,
            "summary": result.summary,
            "diff": result.diff,
            "changed_files": list(result.changed_files),
            "usage": usage_data,
        }
        typer.echo(json.dumps(data, indent=2))
        return
    from rich.console import Console
    from rich.markdown import Markdown
    from rich.syntax import Syntax

    console = Console()
    if result.answer:
        console.print(Markdown(result.answer))
    if result.diff:
        console.print(Syntax(result.diff, "diff", theme="ansi_dark", background_color="default"))
    if result.outcome != "completed":
        console.print(f"[bold yellow]stopped:[/] {result.outcome}: {result.summary}")
    console.print(
        f"[dim]{usage.iterations} steps, {usage.lm_calls + usage.sub_lm_calls} model calls, "
        f"{usage.input_tokens + usage.output_tokens} tokens, ${usage.cost_usd:.4f}, "
        f"{usage.wall_seconds:.1f} s — run {result.run_id}[/]",
        highlight=False,
    )


def _paths_text(paths: list[Path] | None) -> str:
    return ", ".join(str(p) for p in paths) if paths else "the whole project"


def register(app: typer.Typer) -> None:
    """Add the task commands to ``app``."""

    @app.command("ask")
    def ask(
        question: Annotated[str, typer.Argument(help="Your question.")], as_json: JsonOption = False
    ) -> None:
        """Answer a question about this codebase (read-only)."""
        run_task(question, edits=False, yes=False, as_json=as_json)

    @app.command("analyze")
    def analyze(
        paths: Annotated[list[Path] | None, typer.Argument(help="Files or folders.")] = None,
        as_json: JsonOption = False,
    ) -> None:
        """Map and assess the code: structure, entry points, dependencies, risks (read-only)."""
        task = (
            f"Analyze {_paths_text(paths)}: structure, entry points, dependencies, hot spots "
            "and risks."
        )
        run_task(task, edits=False, yes=False, as_json=as_json)

    @app.command("review")
    def review(
        paths: Annotated[list[Path] | None, typer.Argument(help="Files or folders.")] = None,
        diff: Annotated[
            bool, typer.Option("--diff", help="Review the uncommitted changes.")
        ] = False,
        as_json: JsonOption = False,
    ) -> None:
        """Review code or the uncommitted diff and report prioritized findings (read-only)."""
        target = "the uncommitted changes (git diff)" if diff else _paths_text(paths)
        task = f"Review {target} for correctness, security, performance, readability and tests."
        run_task(task, edits=False, yes=False, as_json=as_json)

    @app.command("fix")
    def fix(
        description: Annotated[str, typer.Argument(help="What is wrong.")],
        yes: YesOption = False,
        as_json: JsonOption = False,
    ) -> None:
        """Find and fix a bug; edits are shown as a diff and applied after confirmation."""
        run_task(f"Fix this bug: {description}", edits=True, yes=yes, as_json=as_json)

    @app.command("explain")
    def explain(
        path: Annotated[Path, typer.Argument(help="A file or folder.")], as_json: JsonOption = False
    ) -> None:
        """Explain what the code at PATH does and how (read-only)."""
        run_task(
            f"Explain what {path} does, how it works and why.",
            edits=False,
            yes=False,
            as_json=as_json,
        )
