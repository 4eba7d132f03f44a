"""Finding the bundled ``rg`` and ``ast-grep`` binaries inside this Python environment.

The binaries come from the ``ripgrep`` and ``ast-grep-cli`` wheels. They are looked up in the
wheel's installed file list, then in the environment's scripts folder next to the running
interpreter — never on the user's ``PATH``, so a different ``rg`` cannot answer in their place.
"""

from __future__ import annotations

import functools
import os
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

from memfun_core.errors import NotFoundError

__all__ = ["find_binary"]

_DISTRIBUTIONS = {"rg": "ripgrep", "ast-grep": "ast-grep-cli"}


@functools.cache
def find_binary(name: str) -> Path:
    """Return the full path of a bundled binary (``"rg"`` or ``"ast-grep"``).

    Raises:
        NotFoundError: When the wheel that ships it is not installed in this environment.
    """
    dist_name = _DISTRIBUTIONS[name]
    candidates: list[Path] = []
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        for file in dist.files or ():
            if Path(str(file)).name in (name, f"{name}.exe"):
                candidates.append(Path(str(dist.locate_file(file))))
    scripts = sysconfig.get_path("scripts")
    if scripts:
        candidates.append(Path(scripts) / name)
    candidates.append(Path(sys.executable).parent / name)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate.resolve()
    raise NotFoundError(
        "program",
        name,
        hint=f"install the {dist_name!r} wheel into this environment "
        "(it is a dependency of memfun-tools; reinstall memfun-tools)",
    )
