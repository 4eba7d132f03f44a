"""How the CLI turns errors into messages and exit codes.

Exit codes: 0 done, 1 task failed (a backend or internal error), 2 usage or configuration
error (anything the user must fix), 130 interrupted. Tracebacks appear only with ``--debug``.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from memfun_core.errors import MemfunError, UserError

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "cli_state",
    "exit_code_for",
    "run_cli",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

T = TypeVar("T")


@dataclass(slots=True)
class CLIState:
    """Global options of one ``memfun`` invocation."""

    debug: bool = False


cli_state = CLIState()


def exit_code_for(error: MemfunError) -> int:
    """Map a Memfun error to the exit code the CLI documents."""
    return EXIT_USAGE if isinstance(error, UserError) else EXIT_FAILED


def _report(message: str, hint: str | None) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(f"[bold red]error:[/] {escape(message)}")
    if hint:
        console.print(f"[dim]hint:[/] {escape(hint)}")


def run_cli(entry: Callable[[], T]) -> T:
    """Run ``entry``; show an error as a short message with its fix and exit with its code."""
    try:
        return entry()
    except MemfunError as error:
        if cli_state.debug:
            traceback.print_exc()
        _report(error.message, error.hint)
        sys.exit(exit_code_for(error))
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as error:  # the last line of defence: never a bare traceback
        if cli_state.debug:
            traceback.print_exc()
        _report(
            f"internal error: {type(error).__name__}: {error}",
            "this is a bug in Memfun; run again with --debug and report the traceback",
        )
        sys.exit(EXIT_FAILED)
