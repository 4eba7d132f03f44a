"""The ``memfun`` Typer application: the root command and its global options.

Command groups live in their own modules and are added here; heavy imports (dspy, fastmcp,
redis, nats) happen inside command bodies, never at start-up.
"""

from __future__ import annotations

from typing import Annotated

import typer

from memfun_cli import _typer_fast
from memfun_cli._errors import cli_state, run_cli
from memfun_cli._lazy_commands import CommandSource, lazy_group
from memfun_cli._versions import PACKAGES, package_versions

_typer_fast.install()  # plain str/bool values without pydantic (see the module)


def _command(name: str) -> CommandSource:
    """A module under ``memfun_cli.commands`` whose function ``name`` is the command ``name``."""
    return CommandSource(
        name, (name,), lambda module, app: app.command(name)(getattr(module, name))
    )


def _group(module: str, name: str) -> CommandSource:
    """A module whose Typer ``app`` is the command group ``name``."""
    return CommandSource(module, (name,), lambda module, app: app.add_typer(module.app))


def _registered(module: str, *names: str) -> CommandSource:
    """A module whose ``register(app)`` adds the commands ``names``."""
    return CommandSource(module, names, lambda module, app: module.register(app))


#: Where each command comes from; a module is imported when one of its commands is used.
_SOURCES = (
    _registered("tasks", "ask", "analyze", "review", "fix", "explain"),
    _command("init"),
    _command("doctor"),
    _command("chat"),
    _command("undo"),
    _command("orchestrate"),
    _registered("trust", "trust"),
    _group("config", "config"),
    _group("skill", "skill"),
    _group("mcp", "mcp"),
    _group("runtime", "runtime"),
    _group("trace", "trace"),
    _group("audit", "audit"),
    _group("sessions", "sessions"),
    _group("agent", "agent"),
    _group("evals", "eval"),
    _group("optimize", "optimize"),
    _group("memory", "memory"),
)
#: ``memfun --help`` order: the commands, then ``version`` (defined here), then the groups.
_ORDER = (
    *(n for s in _SOURCES[:7] for n in s.names),
    "version",
    *(s.names[0] for s in _SOURCES[7:]),
)

app = typer.Typer(
    name="memfun",
    help=(
        "Memfun: an autonomous coding agent.\n\n"
        "Run tasks on a codebase, use Agent Skills, chat, or serve Memfun's tools to an MCP "
        "client. Configuration comes from memfun.toml (nearest one up from the current "
        "folder), ~/.config/memfun/config.toml and MEMFUN_<SECTION>__<KEY> variables."
    ),
    cls=lazy_group(_ORDER, _SOURCES),
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


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


def console() -> None:
    """The ``memfun`` console script: :func:`main`, then an exit without the teardown.

    See :mod:`memfun_cli._fast_exit`: the work is done and written when ``main`` returns or
    exits; the interpreter's teardown would only add 0.1-0.25 s to every command.
    """
    from memfun_cli._fast_exit import exit_code, exit_now

    try:
        main()
    except SystemExit as done:
        exit_now(exit_code(done.code))
    exit_now(0)
