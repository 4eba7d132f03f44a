"""How the CLI turns errors into messages and exit codes.

Exit codes: 0 done, 1 task failed (a backend or internal error), 2 usage or configuration
error (anything the user must fix), 130 interrupted.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

from memfun_core.errors import MemfunError, UserError

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "exit_code_for", "run_cli"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

T = TypeVar("T")


def exit_code_for(error: MemfunError) -> int:
    """Map a Memfun error to the exit code the CLI documents."""
    return EXIT_USAGE if isinstance(error, UserError) else EXIT_FAILED


def run_cli(entry: Callable[[], T]) -> T:
    """Run ``entry``; print a Memfun error as a short message (no traceback) and exit."""
    try:
        return entry()
    except MemfunError as error:
        from rich.console import Console

        console = Console(stderr=True, highlight=False, soft_wrap=True)
        console.print(f"[bold red]error:[/] {error.message}", markup=True)
        if error.hint:
            console.print(f"[dim]hint:[/] {error.hint}", markup=True)
        sys.exit(exit_code_for(error))
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
