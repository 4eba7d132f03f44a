"""The ``memfun`` Typer application: the root command and its global options.

Command groups live in their own modules and are added here; heavy imports (dspy, fastmcp,
redis, nats) happen inside command bodies, never at start-up.
"""

from __future__ import annotations

from typing import Annotated

import typer

from memfun_cli import _typer_fast
from memfun_cli._errors import cli_state, run_cli
from memfun_cli._versions import PACKAGES, package_versions
from memfun_cli.commands import (
    agent,
    audit,
    chat,
    config,
    doctor,
    evals,
    init,
    mcp,
    memory,
    optimize,
    orchestrate,
    runtime,
    sessions,
    skill,
    tasks,
    trace,
    trust,
    undo,
)

_typer_fast.install()  # plain str/bool values without pydantic (see the module)

app = typer.Typer(
    name="memfun",
    help=(
        "Memfun: an autonomous coding agent.\n\n"
        "Run tasks on a codebase, use Agent Skills, chat, or serve Memfun's tools to an MCP "
        "client. Configuration comes from memfun.toml (nearest one up from the current "
        "folder), ~/.config/memfun/config.toml and MEMFUN_<SECTION>__<KEY> variables."
    ),
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
tasks.register(app)
app.add_typer(config.app)
app.add_typer(skill.app)
app.add_typer(mcp.app)
app.add_typer(runtime.app)
app.add_typer(trace.app)
app.add_typer(audit.app)
app.command("init")(init.init)
app.command("doctor")(doctor.doctor)
app.command("chat")(chat.chat)
app.command("undo")(undo.undo)
app.command("orchestrate")(orchestrate.orchestrate)
app.add_typer(sessions.app)
app.add_typer(agent.app)
trust.register(app)
app.add_typer(evals.app)
app.add_typer(optimize.app)
app.add_typer(memory.app)


def _print_versions(value: bool) -> None:
    if not value:
        return
    width = max(len(name) for name in PACKAGES)
    for name, version in package_versions().items():
        typer.echo(f"{name:<{width}}  {version}")
    raise typer.Exit


@app.callback()
def root(
    version: Annotated[  # noqa: ARG001 - acts through its eager callback
        bool,
        typer.Option(
            "--version",
            "-V",
            help="Print the version of each of the seven Memfun packages and exit.",
            callback=_print_versions,
            is_eager=True,
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show debug logs, and tracebacks with errors.")
    ] = False,
) -> None:
    """Memfun: an autonomous coding agent."""
    cli_state.debug = debug
    if debug:
        from memfun_core.log import setup_logging

        setup_logging("DEBUG")


@app.command("version")
def version_command() -> None:
    """Print the version of each Memfun package (same as --version)."""
    _print_versions(True)


def main() -> None:
    """Entry point of the ``memfun`` console script.

    ``memfun /NAME ...`` runs a skill; ``memfun @NAME ...`` runs an agent.
    """
    import sys

    if len(sys.argv) > 1 and sys.argv[1].startswith("/") and len(sys.argv[1]) > 1:
        sys.argv[1:2] = ["skill", "run", sys.argv[1][1:]]
    elif len(sys.argv) > 1 and sys.argv[1].startswith("@") and len(sys.argv[1]) > 1:
        sys.argv[1:2] = ["agent", "run", sys.argv[1][1:]]
    run_cli(app)
