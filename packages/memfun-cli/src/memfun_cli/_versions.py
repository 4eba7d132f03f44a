"""Versions of the installed Memfun packages, read from package metadata."""

from __future__ import annotations

__all__ = ["PACKAGES", "package_versions"]

#: The seven distributions of Memfun, in dependency order.
PACKAGES = (
    "memfun-core",
    "memfun-runtime",
    "memfun-skills",
    "memfun-tools",
    "memfun-agent",
    "memfun-optimizer",
    "memfun-cli",
)


def package_versions() -> dict[str, str]:
    """Return each Memfun package's installed version, or ``"not installed"``."""
    from importlib.metadata import PackageNotFoundError, version  # ~40 ms: only when asked

    out: dict[str, str] = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out
