"""The task commands: ``ask``, ``analyze``, ``review``, ``fix``, ``explain`` and ``/skill-name``.

Each runs the RLM agent (memfun-agent) on this project. Read-only tasks never get the tools
that change files; ``fix`` and skills may edit, after confirmation unless ``--yes``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from memfun_core.config import MemfunConfig, SecurityConfig, load_config
from memfun_core.errors import UserError

if TYPE_CHECKING:
    from rich.console import Console

    from memfun_agent import AgentResult, PermissionPolicy
    from memfun_agent.tools import AskCallback, PermissionRequest
    from memfun_cli._skill_run import SkillRequest

__all__ = [
    "confirm_tool",
    "edit_policy",
    "exit_code",
    "print_result",
    "progress_listener",
    "register",
    "render_result",
    "require_model",
    "result_data",
    "run_task",
]

_INTERRUPTED_EXIT = 130

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
NoSkillsOption = Annotated[
    bool,
    typer.Option(
        "--no-skills", help="Do not activate the skill whose description matches the task."
    ),
]


def require_model(config: MemfunConfig) -> None:
    """Raise a UserError saying how to configure a model when none is configured.

    The key's variable is checked here too, before DSPy or the tools are imported.
    """
    if config.llm.model is None:
        raise UserError("no model is configured", hint=_NO_MODEL_HINT)
    from memfun_agent import check_llm

    check_llm(config.llm)


def confirm_tool(
    tool: str,
    arguments: Mapping[str, Any],
    diff: str = "",
    *,
    ask: Callable[[str], bool] | None = None,
) -> bool:
    """Ask in the terminal whether a tool call that changes files may run (default: no).

    Args:
        tool: The tool's name (``fs_edit``).
        arguments: The call's arguments, summarized in the question when there is no diff.
        diff: The change the call would make, shown before the question (``""``: none).
        ask: Asks a yes/no question (the text without ``[y/N]``) and returns the answer;
            the default reads a line from the terminal with Typer.
    """
    question = ask or _ask_with_typer
    if diff:
        from rich.console import Console
        from rich.syntax import Syntax

        Console(stderr=True).print(
            Syntax(diff, "diff", theme="ansi_dark", background_color="default")
        )
        return question(f"apply this {tool}?")
    summary = json.dumps(dict(arguments), default=str)[:300]
    return question(f"allow {tool} {summary}?")


def _ask_with_typer(question: str) -> bool:
    return typer.confirm(question, default=False, err=True)


def edit_policy(
    *,
    edits: bool,
    yes: bool,
    ask: AskCallback | None = None,
    root: Path | None = None,
    security: SecurityConfig | None = None,
) -> PermissionPolicy:
    """The permission policy of a task: read-only, edits confirmed, or --yes.

    Args:
        edits: Whether the task may change files at all.
        yes: Apply edits without asking.
        ask: Who confirms each edit (default: :func:`confirm_tool` in this terminal).
        root: The workspace; with the default ``ask``, file edits are shown as the diff they
            would make in it.
        security: ``[security]``: which writes always ask and which reads are denied
            (the defaults when ``None``).

    Raises:
        UserError: Edits need confirming, no ``ask`` is given and there is no terminal.
    """
    from memfun_agent import PermissionPolicy
    from memfun_agent.tools import SensitivePaths

    base = PermissionPolicy(paths=SensitivePaths(security or SecurityConfig()))
    if not edits:
        return PermissionPolicy.from_flags(deny=WRITE_TOOLS, base=base)
    if yes:
        return PermissionPolicy.from_flags(allow=WRITE_TOOLS, base=base)
    if ask is None:
        if not sys.stdin.isatty():
            raise UserError(
                "this task edits files and there is no terminal to confirm the edits",
                hint="pass --yes to apply edits without asking",
            )

        async def ask_here(request: PermissionRequest) -> bool:
            from memfun_cli._edit_preview import preview_edit

            preview = (
                None if root is None else await preview_edit(root, request.tool, request.arguments)
            )
            if preview is not None and preview.error:
                typer.echo(f"{request.tool} {preview.path} would fail: {preview.error}", err=True)
            diff = preview.diff if preview is not None else ""
            return confirm_tool(request.tool, request.arguments, diff)

        ask = ask_here
    return PermissionPolicy.from_flags(ask=WRITE_TOOLS, callback=ask, base=base)


def progress_listener(quiet: bool) -> Any:
    """A trace listener printing live progress to stderr, the same lines as ``memfun chat``.

    Each step with the model's headline and the tokens and cost so far, each tool call (and
    why it failed), sub-LLM calls and checks.
    """
    from rich.console import Console

    from memfun_cli._progress import ProgressPrinter, progress_event

    printer = ProgressPrinter(Console(stderr=True))

    def listener(record: dict[str, Any]) -> None:
        if quiet:
            return
        event = progress_event(record)
        if event is not None:
            printer.show(event)

    return listener


def run_task(
    task: str,
    *,
    edits: bool,
    yes: bool,
    as_json: bool,
    skills: SkillRequest | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Run the agent on ``task`` in this project, print the result, exit 0/1.

    ``skills`` names the skill (``/name``) or lets the router choose one for the task
    (default); the chosen skill runs through the skill executor and is recorded.
    """
    from memfun_cli._skill_run import SkillRequest

    config = load_config()
    require_model(config)
    policy = edit_policy(
        edits=edits,
        yes=yes,
        root=Path(config.project_root).resolve(),
        security=config.security,
    )
    # Progress goes to stderr with --json too: stdout carries only the JSON object.
    result = asyncio.run(
        _run_agent(
            config,
            task,
            policy,
            progress_listener(False),
            skills or SkillRequest(),
            metadata or {},
        )
    )
    print_result(result, as_json)
    raise typer.Exit(exit_code(result.outcome))


def exit_code(outcome: str) -> int:
    """0 for a completed run, 130 for one ended by SIGINT or SIGTERM, 1 otherwise."""
    if outcome == "completed":
        return 0
    return _INTERRUPTED_EXIT if outcome == "interrupted" else 1


async def _run_agent(
    config: MemfunConfig,
    task: str,
    policy: PermissionPolicy,
    listener: Any,
    skills: SkillRequest,
    metadata: dict[str, Any],
) -> AgentResult:
    """Run the agent inside the configured runtime, so its trace is stored there.

    SIGINT and SIGTERM end the run with outcome ``interrupted``: its trace is saved and
    its (partial) result printed like any other.
    """
    from memfun_agent import RLMAgent, TraceStore, run_audit
    from memfun_cli._checkpoints import run_checkpointed
    from memfun_cli._memory_run import learn_after, memory_recall
    from memfun_cli._skill_run import run_with_skills
    from memfun_runtime import RuntimeBuilder

    async with RuntimeBuilder().from_config(config).build() as runtime:
        agent = RLMAgent.from_config(
            config,
            policy=policy,
            listener=listener,
            traces=TraceStore(runtime.backend),
            audit=run_audit(config),
            memories=memory_recall(config),
        )
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for sig in signals:
            loop.add_signal_handler(sig, agent.interrupt, sig.name)
        try:
            # Each task is a checkpoint of the files it changed (memfun undo).
            result = await run_checkpointed(
                config,
                task,
                lambda: run_with_skills(
                    config, runtime, agent, task, skills, metadata=metadata, announce=_announce
                ),
            )
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
            agent.close()
    learned = await learn_after(config, task, result)  # [memory] enabled and learn
    if learned is not None:
        _announce(learned)
    return result


def _announce(event: dict[str, Any]) -> None:
    """Print the chosen skill as a progress line on stderr."""
    from rich.console import Console

    from memfun_cli._progress import ProgressPrinter

    ProgressPrinter(Console(stderr=True)).show(event)


def result_data(result: AgentResult) -> dict[str, Any]:
    """A run's result as the documented ``--json`` object."""
    usage = result.usage
    return {
        "run_id": result.run_id,
        "outcome": result.outcome,
        "answer": result.answer,
        "summary": result.summary,
        "diff": result.diff,
        "changed_files": list(result.changed_files),
        "usage": {
            "iterations": usage.iterations,
            "lm_calls": usage.lm_calls,
            "sub_lm_calls": usage.sub_lm_calls,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cost_usd": usage.cost_usd,
            "wall_seconds": usage.wall_seconds,
        },
    }


def render_result(data: Mapping[str, Any], console: Console | None = None) -> None:
    """Show a :func:`result_data` object: the answer as Markdown, the diff, the usage."""
    from rich.console import Console
    from rich.markdown import Markdown
    from rich.syntax import Syntax

    console = console or Console()
    usage: Mapping[str, Any] = data["usage"]
    if data["answer"]:
        console.print(Markdown(data["answer"]))
    if data["diff"]:
        console.print(Syntax(data["diff"], "diff", theme="ansi_dark", background_color="default"))
    if data["outcome"] != "completed":
        console.print(f"[bold yellow]stopped:[/] {data['outcome']}: {data['summary']}")
    console.print(
        f"[dim]{usage['iterations']} steps, {usage['lm_calls'] + usage['sub_lm_calls']} model "
        f"calls, {usage['input_tokens'] + usage['output_tokens']} tokens, "
        f"${usage['cost_usd']:.4f}, {usage['wall_seconds']:.1f} s — run {data['run_id']}[/]",
        highlight=False,
    )


def print_result(result: AgentResult, as_json: bool) -> None:
    """Print a run's result: Markdown, diff and usage, or the documented JSON object."""
    data = result_data(result)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    render_result(data)


def _paths_text(paths: list[Path] | None) -> str:
    return ", ".join(str(p) for p in paths) if paths else "the whole project"


def _auto(no_skills: bool) -> SkillRequest:
    from memfun_cli._skill_run import SkillRequest

    return SkillRequest(auto=not no_skills)


def register(app: typer.Typer) -> None:
    """Add the task commands to ``app``."""

    @app.command("ask")
    def ask(
        question: Annotated[str, typer.Argument(help="Your question.")],
        as_json: JsonOption = False,
        no_skills: NoSkillsOption = False,
    ) -> None:
        """Answer a question about this codebase (read-only)."""
        run_task(
            question, edits=False, yes=False, as_json=as_json, skills=_auto(no_skills),
            metadata={"command": "ask"},
        )  # fmt: skip

    @app.command("analyze")
    def analyze(
        paths: Annotated[list[Path] | None, typer.Argument(help="Files or folders.")] = None,
        as_json: JsonOption = False,
        no_skills: NoSkillsOption = False,
    ) -> None:
        """Map and assess the code: structure, entry points, dependencies, risks (read-only)."""
        task = (
            f"Analyze {_paths_text(paths)}: structure, entry points, dependencies, hot spots "
            "and risks."
        )
        run_task(
            task, edits=False, yes=False, as_json=as_json, skills=_auto(no_skills),
            metadata={"command": "analyze"},
        )  # fmt: skip

    @app.command("review")
    def review(
        paths: Annotated[list[Path] | None, typer.Argument(help="Files or folders.")] = None,
        diff: Annotated[
            bool, typer.Option("--diff", help="Review the uncommitted changes.")
        ] = False,
        as_json: JsonOption = False,
        no_skills: NoSkillsOption = False,
    ) -> None:
        """Review code or the uncommitted diff and report prioritized findings (read-only)."""
        target = "the uncommitted changes (git diff)" if diff else _paths_text(paths)
        task = f"Review {target} for correctness, security, performance, readability and tests."
        run_task(
            task, edits=False, yes=False, as_json=as_json, skills=_auto(no_skills),
            metadata={"command": "review"},
        )  # fmt: skip

    @app.command("fix")
    def fix(
        description: Annotated[str, typer.Argument(help="What is wrong.")],
        yes: YesOption = False,
        as_json: JsonOption = False,
        no_skills: NoSkillsOption = False,
    ) -> None:
        """Find and fix a bug; edits are shown as a diff and applied after confirmation."""
        run_task(
            f"Fix this bug: {description}",
            edits=True,
            yes=yes,
            as_json=as_json,
            skills=_auto(no_skills),
            metadata={"command": "fix"},
        )

    @app.command("explain")
    def explain(
        path: Annotated[Path, typer.Argument(help="A file or folder.")],
        as_json: JsonOption = False,
        no_skills: NoSkillsOption = False,
    ) -> None:
        """Explain what the code at PATH does and how (read-only)."""
        run_task(
            f"Explain what {path} does, how it works and why.",
            edits=False,
            yes=False,
            as_json=as_json,
            skills=_auto(no_skills),
            metadata={"command": "explain"},
        )
