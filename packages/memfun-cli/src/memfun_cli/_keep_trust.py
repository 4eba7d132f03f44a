"""Keeping a trusted folder trusted across a change the user makes through Memfun.

Drafting skills or agents (``memfun optimize synthesize``) and accepting a draft (``memfun
skill accept``, ``memfun agent accept``) write under ``.memfun/skills`` or ``.memfun/agents``,
which are steering files: the folder's trust digest changes. The change is the user's own
command, so a folder trusted before it stays trusted after it; an untrusted folder stays
untrusted (the same rule ``memfun skill install`` follows).
"""

from __future__ import annotations

import os
from collections.abc import Generator
from contextlib import contextmanager

__all__ = ["keeping_trust"]


@contextmanager
def keeping_trust(root: str | os.PathLike[str]) -> Generator[bool, None, None]:
    """Re-trust ``root`` after the block when it was trusted before; yields whether it was."""
    from memfun_core.trust import trust_folder, workspace_trust

    was_trusted = workspace_trust(root).status == "trusted"
    try:
        yield was_trusted
    finally:
        if was_trusted:
            trust_folder(root)
