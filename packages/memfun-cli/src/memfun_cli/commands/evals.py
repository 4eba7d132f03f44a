"""``memfun eval run SUITE``: run an eval suite with the configured (or given) model."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from memfun_cli.commands.tasks import edit_policy, require_model
from memfun_core.config import MemfunConfig, load_config
from memfun_core.errors import UserError

if TYPE_CHECKING:
    from memfun_optimizer.evals import Attempt, AttemptRunner, EvalReport, EvalResult, EvalTask
    from memfun_runtime.protocols import JSONValue

app = typer.Typer(
    name="eval",
    help="Evals: run a task suite (memfun.evals/1) and report what was solved, cost and why not.",
    no_args_is_help=True,
)


def _with_model(
    config: MemfunConfig, provider: str | None, model: str | None, api_base: str | None
) -> MemfunConfig:
    """``config`` with ``--provider`` defaults, then ``--model`` and ``--api-base``, applied."""
    llm = config.llm
    if provider is not None:
        from memfun_cli.commands.init import PROVIDERS

        preset = PROVIDERS.get(provider)
        if preset is None:
            raise UserError(
                f"unknown provider {provider!r}", hint="choose one of: " + ", ".join(PROVIDERS)
            )
        llm = dataclasses.replace(
            llm,
            model=preset.model,
            api_key_env=preset.api_key_env,
            api_base=preset.api_base,
            sub_model=preset.sub_model,
        )
    if model is not None:
        llm = dataclasses.replace(llm, model=model)
    if api_base is not None:
        llm = dataclasses.replace(llm, api_base=api_base)
    return dataclasses.replace(config, llm=llm)


def _agent_attempts(config: MemfunConfig, name: str) -> AttemptRunner:
    """Attempts by the agent definition ``name`` (and its team), in this process."""
    from memfun_agent.definitions import discover_from_config
    from memfun_cli.commands.agent_run import run_team, team_of
    from memfun_optimizer.evals import Attempt

    catalog = discover_from_config(config)
    lead = catalog.require(name)
    team = team_of(catalog, lead)

    async def attempt(task: EvalTask, workspace: Path, meta: Mapping[str, JSONValue]) -> Attempt:
        del meta  # recorded with the verdict: the agent's own run writes its metadata
        policy = edit_policy(edits=task.edits, yes=True, security=config.security)
        result = await run_team(
            config, team, lead.name, task.task, policy, listener=None, workspace=workspace,
            memory=False,  # an eval measures the agent, not what the project's memory adds
        )  # fmt: skip
        return Attempt(
            run_id=result.run_id,
            outcome=result.outcome,
            answer=result.answer,
            diff=result.diff,
            changed_files=result.changed_files,
            cost_usd=result.cost_usd,
            tokens=result.tokens,
            steps=int(str(result.usage.get("iterations") or 0)),
            error=result.error,
        )

    return attempt


async def _run(
    config: MemfunConfig, suite_path: Path, tasks: tuple[str, ...], agent: str | None, repeat: int
) -> EvalReport:
    from memfun_agent import RLMAgent, TraceStore
    from memfun_optimizer.evals import agent_attempts, load_suite, run_suite
    from memfun_runtime import RuntimeBuilder
    from memfun_runtime.sandboxes import LocalSandbox

    suite = load_suite(suite_path).select(tasks)
    sandbox = LocalSandbox(require=config.sandbox.require, unsafe_host=config.sandbox.unsafe_host)
    async with RuntimeBuilder().from_config(config).build() as runtime:
        traces = TraceStore(runtime.backend)
        if agent is None:

            def make(task: EvalTask, workspace: Path) -> RLMAgent:
                policy = edit_policy(  # a scratch copy
                    edits=task.edits, yes=True, security=config.security
                )
                return RLMAgent.from_config(
                    config, workspace=workspace, policy=policy, traces=traces
                )

            attempts = agent_attempts(make)
        else:
            attempts = _agent_attempts(config, agent)
        return await run_suite(
            suite, attempts, sandbox=sandbox, repeat=repeat, traces=traces, on_result=_progress
        )


_ANSWER_CHARS = 120


def _progress(result: EvalResult) -> None:
    mark = "solved" if result.solved else f"FAILED ({result.failure})"
    if result.passed_check and not result.solved:
        mark = f"FAILED ({result.failure}; what it left passes the check)"
    typer.echo(
        f"{result.task_id} #{result.attempt}: {mark}  {result.steps} steps, "
        f"{result.tokens} tokens, ${result.cost_usd:.4f}, {result.wall_seconds:.1f} s",
        err=True,
    )
    if result.kind == "question" and result.answer:
        answer = " ".join(result.answer.split())
        if len(answer) > _ANSWER_CHARS:
            answer = answer[: _ANSWER_CHARS - 3] + "..."
        typer.echo(f"  answer: {answer}", err=True)


def _table(report: EvalReport) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"suite {report.suite}")
    for column in ("task", "kind", "#", "solved", "failure", "cost", "tokens", "steps", "wall"):
        table.add_column(column, justify="right" if column in ("cost", "tokens") else "left")
    for r in report.results:
        table.add_row(
            r.task_id, r.kind, str(r.attempt), "yes" if r.solved else "no", r.failure or "",
            f"${r.cost_usd:.4f}", str(r.tokens), str(r.steps), f"{r.wall_seconds:.1f} s",
        )  # fmt: skip
    console = Console()
    console.print(table)
    data: dict[str, Any] = report.to_json()
    late = (
        f", {report.passed_late} more stopped early with a result the check accepts"
        if report.passed_late
        else ""
    )
    console.print(
        f"{report.solved}/{len(report.results)} solved ({report.score:.0%}){late}, "
        f"${data['cost_usd']:.4f}, {data['tokens']} tokens",
        highlight=False,
    )


@app.command("run")
def run(
    suite: Annotated[Path, typer.Argument(help="A suite file or a folder with suite.yaml.")],
    task: Annotated[
        list[str] | None, typer.Option("--task", "-t", help="Run only this task (repeatable).")
    ] = None,
    agent: Annotated[
        str | None, typer.Option("--agent", help="Run an agent definition (memfun agent list).")
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(help="Model preset: anthropic, openai, gemini, ollama, openai-compatible."),
    ] = None,
    model: Annotated[str | None, typer.Option(help="LiteLLM model string (overrides).")] = None,
    api_base: Annotated[str | None, typer.Option(help="Model server URL (overrides).")] = None,
    repeat: Annotated[int, typer.Option(min=1, help="Attempts per task.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Run each task of SUITE in a scratch copy of its repository, judge it, print a table.

    Every run is traced in the configured runtime (memfun trace stats reads them). Exit 0
    when every attempt was solved, 1 otherwise.
    """
    config = _with_model(load_config(), provider, model, api_base)
    require_model(config)
    report = asyncio.run(_run(config, suite, tuple(task or ()), agent, repeat))
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        _table(report)
    raise typer.Exit(0 if report.solved == len(report.results) else 1)
