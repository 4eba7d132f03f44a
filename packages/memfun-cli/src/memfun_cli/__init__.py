"""memfun-cli: the `memfun` command."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    __version__: str

__all__ = ["__version__"]


def __getattr__(name: str) -> Any:
    # importlib.metadata costs ~40 ms at start-up: read the version only when asked.
    if name != "__version__":
        raise AttributeError(f"module 'memfun_cli' has no attribute {name!r}")
    from importlib.metadata import version

    value = version("memfun-cli")
    globals()[name] = value
    return value
