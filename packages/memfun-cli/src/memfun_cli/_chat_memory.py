"""Chat's memory commands: ``/memory [WORDS]``, ``/remember TEXT``, ``/forget ID``.

They act on the same ``MEMORY.md`` files and index as ``memfun memory`` (see
:mod:`memfun_cli.commands.memory`); an error is printed and the chat stays open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memfun_core.config import MemfunConfig
from memfun_core.errors import MemfunError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["memory_command"]


def memory_command(config: MemfunConfig, console: Console, name: str, argument: str) -> None:
    """Run ``/memory``, ``/remember`` or ``/forget`` (``name``) and print what it did."""
    from memfun_cli.commands.memory import (
        forget_text,
        memory_row,
        memory_table,
        open_store,
        remember_text,
    )

    def say(text: str) -> None:
        console.print(text, highlight=False, markup=False)

    try:
        if name == "/remember":
            if not argument:
                say("say what to remember: /remember TEXT")
                return
            learning, new = remember_text(config, argument)
            verb = "remembered" if new else "already remembered"
            say(f"{verb} {learning.id}: {learning.text}")
            if not config.memory.enabled:
                say("(runs are given memories only with [memory] enabled = true in memfun.toml)")
        elif name == "/forget":
            if not argument:
                say("say which learning to forget: /forget ID (/memory lists the ids)")
                return
            for learning in forget_text(config, argument):
                say(f"forgot {learning.id} ({learning.scope}): {learning.text}")
        else:
            with open_store(config) as store:
                if argument:
                    rows = [memory_row(h.learning, h.score) for h in store.search(argument)]
                else:
                    rows = [memory_row(learning) for learning in store.list()]
            memory_table(rows, f"memory matching {argument!r}" if argument else "memory", console)
    except MemfunError as error:
        hint = f"\n  hint: {error.hint}" if error.hint else ""
        say(f"{name[1:]}: {error.message}{hint}")
