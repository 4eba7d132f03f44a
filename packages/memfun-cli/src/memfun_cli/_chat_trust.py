"""The chat's trust question, asked when the chat starts.

In an untrusted folder with its own skills, agents or MCP servers, ``memfun chat`` says what
is inactive and asks whether to trust the folder (default no).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from memfun_core.config import MemfunConfig

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["offer_trust"]


def offer_trust(config: MemfunConfig, console: Console, ask: Callable[[str], bool]) -> bool:
    """Ask whether to trust the project folder when it brings items that wait for trust.

    Nothing is asked in a trusted folder, or in one that brings nothing that waits.

    Args:
        config: The loaded configuration (its project root is the folder).
        console: Where the list of inactive items goes.
        ask: Asks a yes/no question (default no), like the chat's edit confirmations.

    Returns:
        Whether the folder is trusted now.
    """
    from memfun_cli.commands.trust import gated_items
    from memfun_core.trust import trust_folder, workspace_trust

    root = Path(config.project_root).resolve()
    state = workspace_trust(root)
    if state.trusted:
        return True
    items = gated_items(root)
    if not items:
        return False
    console.print(f"{state.reason}; inactive until you trust it:", highlight=False, markup=False)
    for line in items:
        console.print(f"  {line}", highlight=False, markup=False)
    if not ask("trust this folder (review its memfun.toml, skills and agents first)?"):
        console.print(
            f"they stay inactive; to trust it later: {state.hint}", highlight=False, markup=False
        )
        return False
    trusted = trust_folder(root)
    console.print(
        f"trusted {trusted.root} (steering files sha256 {trusted.digest[:12]})",
        highlight=False,
        markup=False,
    )
    return True
