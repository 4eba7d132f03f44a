"""``memfun optimize``: compile the agent's program (MIPROv2, GEPA), compare, promote, roll back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from memfun_cli.commands.evals import _with_model  # pyright: ignore[reportPrivateUsage]
from memfun_cli.commands.tasks import edit_policy, require_model
from memfun_core.config import MemfunConfig, load_config
from memfun_core.errors import UserError

if TYPE_CHECKING:
    from collections.abc import Callable

    from memfun_agent import AgentProgram
    from memfun_optimizer.evals import AttemptRunner, EvalSuite, EvalTask
    from memfun_optimizer.optimize import ProgramRunner, ProgramStore
    from memfun_optimizer.synthesis import RunCluster

app = typer.Typer(
    name="optimize",
    help=(
        "Program optimization: compile the agent's instructions with MIPROv2 or GEPA on an "
        "eval suite, compare on held-out tasks, promote or roll back."
    ),
    no_args_is_help=True,
)

_Name = Annotated[str, typer.Option("--name", help="The program (the agent's is 'agent').")]


def _store(config: MemfunConfig) -> ProgramStore:
    from memfun_cli._compose import data_dir
    from memfun_optimizer.optimize import ProgramStore

    return ProgramStore(data_dir(config))


def _runner(config: MemfunConfig, suite: EvalSuite) -> ProgramRunner:
    """Runs the agent built from config, with a given program, on the suite's tasks."""
    from memfun_agent import RLMAgent
    from memfun_optimizer.evals import agent_attempts
    from memfun_optimizer.optimize import suite_runner
    from memfun_runtime.sandboxes import LocalSandbox

    def attempts(program: AgentProgram) -> AttemptRunner:
        def make(task: EvalTask, workspace: Path) -> RLMAgent:
            policy = edit_policy(edits=task.edits, yes=True)  # a scratch copy
            agent = RLMAgent.from_config(config, workspace=workspace, policy=policy)
            agent.program = program
            return agent

        return agent_attempts(make)

    sandbox = LocalSandbox(require=config.sandbox.require, unsafe_host=config.sandbox.unsafe_host)
    return suite_runner(suite, attempts, sandbox=sandbox)


async def _labels(config: MemfunConfig, suite: EvalSuite) -> dict[str, str]:
    from memfun_agent import TraceStore
    from memfun_optimizer.optimize import labels_from_traces
    from memfun_runtime import RuntimeBuilder

    async with RuntimeBuilder().from_config(config).build() as runtime:
        traces = await TraceStore(runtime.backend).list(limit=1_000)
    return labels_from_traces(traces, suite)


@app.command("run")
def run(
    suite: Annotated[Path, typer.Argument(help="An eval suite (memfun.evals/1).")],
    optimizer: Annotated[str, typer.Option(help="mipro (MIPROv2) or gepa (GEPA).")] = "mipro",
    budget: Annotated[
        int, typer.Option(min=1, help="MIPROv2 trials, or GEPA metric calls (agent runs).")
    ] = 8,
    held_out: Annotated[
        list[str] | None,
        typer.Option("--held-out", help="A held-out task id (repeatable; default: a third)."),
    ] = None,
    demos: Annotated[
        int, typer.Option(min=0, max=16, help="Most demos MIPROv2 may add (from traces).")
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seeds the split and the optimizer.")] = 0,
    provider: Annotated[str | None, typer.Option(help="Model preset (as memfun init).")] = None,
    model: Annotated[str | None, typer.Option(help="LiteLLM model string (overrides).")] = None,
    api_base: Annotated[str | None, typer.Option(help="Model server URL (overrides).")] = None,
    name: _Name = "agent",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Compile the agent's program on SUITE and store it as a new version (not promoted).

    The optimizer sees only the training tasks; the starting program (the promoted one, else
    Memfun's own) and the compiled one are then scored on the held-out tasks. The configured
    model runs the agent and proposes (MIPROv2) or reflects on (GEPA) instructions.
    """
    from memfun_agent import build_lm, default_program
    from memfun_optimizer.evals import load_suite
    from memfun_optimizer.optimize import OPTIMIZERS, optimize_program

    if optimizer not in OPTIMIZERS:
        raise UserError(f"unknown optimizer {optimizer!r}", hint="use --optimizer mipro or gepa")
    config = _with_model(load_config(), provider, model, api_base)
    require_model(config)
    loaded = load_suite(suite)
    store = _store(config)
    current = store.promoted(name)
    base = store.load(name, current) if current else default_program(name)
    with contextlib.redirect_stdout(sys.stderr):  # DSPy's progress: stdout is the result
        result = optimize_program(
            loaded,
            _runner(config, loaded),
            optimizer=optimizer,  # pyright: ignore[reportArgumentType]
            budget=budget,
            prompt_lm=build_lm(config.llm),
            base=base,
            held_out=tuple(held_out or ()),
            labels=asyncio.run(_labels(config, loaded)) if demos else None,
            demos=demos,
            seed=seed,
        )
    manifest: dict[str, Any] = {
        "suite": loaded.name,
        "suite_path": str(loaded.path.resolve()),
        "optimizer": optimizer,
        "budget": budget,
        "model": config.llm.model,
        "base_version": current,
        "train": list(result.train),
        "held_out": list(result.held_out),
        "baseline_score": result.baseline_score,
        "score": result.score,
    }
    saved = store.save(result.program, manifest)
    if as_json:
        typer.echo(json.dumps(saved.manifest, indent=2))
        return
    typer.echo(
        f"{name} version {saved.version}: held-out score {result.score:.0%} "
        f"(baseline {result.baseline_score:.0%}) on {len(result.held_out)} task(s)"
    )
    typer.echo(
        f"compare: memfun optimize compare {saved.version}; "
        f"use it: memfun optimize promote {saved.version}"
    )


@app.command("compare")
def compare(
    candidate: Annotated[str, typer.Argument(help="The version to measure.")],
    baseline: Annotated[
        str, typer.Option(help="A version, or 'default' for Memfun's own instructions.")
    ] = "default",
    suite: Annotated[
        Path | None, typer.Option(help="The suite (default: the candidate's).")
    ] = None,
    task: Annotated[
        list[str] | None,
        typer.Option("--task", "-t", help="A task id (default: the candidate's held-out ones)."),
    ] = None,
    repeat: Annotated[int, typer.Option(min=1, help="Runs per task and program.")] = 1,
    name: _Name = "agent",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Run baseline and candidate on held-out tasks; print the difference with a 95% interval.

    The interval is a paired bootstrap over the runs (2,000 resamples). Exit 0 when its
    lower end is above zero (the candidate is better), 1 otherwise.
    """
    from memfun_agent import default_program
    from memfun_optimizer.evals import load_suite
    from memfun_optimizer.optimize import compare_programs

    config = load_config()
    require_model(config)
    store = _store(config)
    manifest = store.manifest(name, candidate)
    suite_path = suite or Path(str(manifest.get("suite_path", "")))
    loaded = load_suite(suite_path)
    tasks = tuple(task or manifest.get("held_out") or ())
    if not tasks:
        raise UserError("no tasks to compare on", hint="name them with --task")
    base = default_program(name) if baseline == "default" else store.load(name, baseline)
    result = compare_programs(
        _runner(config, loaded), base, store.load(name, candidate), tasks, repeat=repeat
    )
    if as_json:
        typer.echo(json.dumps({**result.to_json(), "baseline": baseline, "candidate": candidate}))
    else:
        typer.echo(
            f"baseline {baseline}: {result.baseline_score:.0%}   candidate {candidate}: "
            f"{result.candidate_score:.0%}   difference {result.difference:+.0%} "
            f"(95% interval {result.low:+.0%} to {result.high:+.0%}, {len(result.baseline)} runs)"
        )
    raise typer.Exit(0 if result.low > 0 else 1)


@app.command("promote")
def promote(
    version: Annotated[str, typer.Argument(help="The version the agent uses from now on.")],
    name: _Name = "agent",
) -> None:
    """Make VERSION the program the agent runs (memfun ask, chat, eval, agents)."""
    promoted = _store(load_config()).promote(name, version)
    score = promoted.manifest.get("score")
    typer.echo(f"{name}: version {version} promoted (held-out score {score})")


@app.command("rollback")
def rollback(name: _Name = "agent") -> None:
    """Go back to the version promoted before (or to Memfun's own instructions)."""
    previous = _store(load_config()).rollback(name)
    if previous is None:
        typer.echo(f"{name}: back to Memfun's own instructions")
    else:
        typer.echo(f"{name}: back to version {previous}")


@app.command("list")
def list_versions(
    name: _Name = "agent",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
) -> None:
    """The stored versions with their suite, optimizer, scores and date."""
    versions = _store(load_config()).versions(name)
    if as_json:
        typer.echo(json.dumps([{**v.manifest, "promoted": v.promoted} for v in versions], indent=2))
        return
    if not versions:
        typer.echo(f"no versions of {name} yet: make one with `memfun optimize run SUITE`")
        return
    for v in versions:
        m = v.manifest
        typer.echo(
            f"{'*' if v.promoted else ' '} {v.version:>3}  {m.get('optimizer', '?'):<5}  "
            f"suite {m.get('suite', '?')}  held-out {m.get('score', '?')} "
            f"(baseline {m.get('baseline_score', '?')})  {m.get('created_at', '')}"
        )


@app.command("synthesize")
def synthesize(
    min_runs: Annotated[
        int, typer.Option(min=2, help="Successful similar runs a cluster needs.")
    ] = 5,
    limit: Annotated[int, typer.Option(min=1, help="Recorded runs to read (newest).")] = 1_000,
    kind: Annotated[
        str, typer.Option("--kind", help="Draft a skill (SKILL.md) or an agent (AGENT.md).")
    ] = "skill",
) -> None:
    """Draft a skill or agent for each cluster of similar successful runs.

    Skills go to .memfun/skills/_drafts (kept only when Memfun's validator and skills-ref,
    when installed, accept them; `memfun skill accept NAME` makes one active); agents go to
    .memfun/agents/_drafts (validated like `memfun agent validate`, given only the tools the
    runs used; `memfun agent accept NAME`).
    """
    from memfun_agent import TraceStore, build_lm
    from memfun_cli._keep_trust import keeping_trust
    from memfun_optimizer.synthesis import cluster_runs
    from memfun_runtime import RuntimeBuilder

    if kind not in ("skill", "agent"):
        raise UserError(f"unknown kind {kind!r}", hint="use --kind skill or --kind agent")
    config = load_config()
    require_model(config)

    async def traces() -> list[Any]:
        async with RuntimeBuilder().from_config(config).build() as runtime:
            return list(await TraceStore(runtime.backend).list(limit=limit))

    clusters = cluster_runs(asyncio.run(traces()), min_runs=min_runs)
    if not clusters:
        typer.echo(f"no cluster of {min_runs} or more similar successful runs yet")
        return
    draft = _agent_drafter(config) if kind == "agent" else _skill_drafter(config)
    lm = build_lm(config.llm)
    failed = 0
    for cluster in clusters:
        try:
            with keeping_trust(config.project_root):  # drafts are the user's own change
                name, path, note = draft(cluster, lm)
        except UserError as exc:  # a refused draft is reported, the others still drafted
            failed += 1
            typer.echo(f"draft for {len(cluster.run_ids)} runs refused: {exc}", err=True)
            continue
        typer.echo(
            f"drafted {kind} {name} from {len(cluster.run_ids)} runs ({note}): {path}\n"
            f"  accept it: memfun {kind} accept {name}"
        )
    raise typer.Exit(1 if failed else 0)


def _skill_drafter(config: MemfunConfig) -> Callable[[RunCluster, Any], tuple[str, Path, str]]:
    """Drafts skills; the names of the discovered skills and earlier drafts are taken."""
    from memfun_optimizer.synthesis import draft_skill
    from memfun_skills import discover_from_config

    taken = set(discover_from_config(config).names)

    def draft(cluster: RunCluster, lm: Any) -> tuple[str, Path, str]:
        made = draft_skill(cluster, lm=lm, project_root=config.project_root, taken=taken)
        taken.add(made.name)
        return made.name, made.path, f"valid under {', '.join(made.validators)}"

    return draft


def _agent_drafter(config: MemfunConfig) -> Callable[[RunCluster, Any], tuple[str, Path, str]]:
    """Drafts agents; every agent name found (active, inactive or shadowed) is taken."""
    from memfun_agent.definitions import discover_agents
    from memfun_optimizer.synthesis import draft_agent

    found = discover_agents(config.project_root, config=config)
    taken = {*found.names, *(s.agent.name for s in found.shadowed)}

    def draft(cluster: RunCluster, lm: Any) -> tuple[str, Path, str]:
        made = draft_agent(
            cluster, lm=lm, project_root=config.project_root, taken=taken, config=config
        )
        taken.add(made.name)
        mode = "read-only" if made.read_only else "may change files"
        return made.name, made.path, f"tools {', '.join(made.tools)}; {mode}"

    return draft
