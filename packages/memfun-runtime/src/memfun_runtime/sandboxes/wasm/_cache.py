"""What the wasm sandbox runs on: Deno (from the ``deno`` wheel) and the pinned Pyodide on disk."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from memfun_core._extras import import_extra
from memfun_core.errors import BackendUnavailable

__all__ = [
    "PYODIDE_DIR_ENV",
    "PYODIDE_VERSION",
    "SETUP_COMMAND",
    "PyodideCache",
    "cache_for",
    "default_pyodide_root",
    "deno_binary",
    "locate_pyodide",
]

PYODIDE_VERSION = "314.0.7"
"""The Pyodide release (from the npm registry) the wasm sandbox runs: Python 3.14."""

PYODIDE_DIR_ENV = "MEMFUN_PYODIDE_DIR"
"""Environment variable naming the folder that holds Pyodide caches (one per version)."""

SETUP_COMMAND = "python -m memfun_runtime.sandboxes.wasm.setup"
"""The command that fetches Pyodide at install time (nothing downloads at run time)."""

MARKER = "memfun-pyodide.json"
PYODIDE_FILES = (
    "package.json",
    "pyodide-lock.json",
    "pyodide.asm.mjs",
    "pyodide.asm.wasm",
    "pyodide.mjs",
    "python_stdlib.zip",
)


def default_pyodide_root(environ: Mapping[str, str] | None = None) -> Path:
    """The folder holding Pyodide caches: ``$MEMFUN_PYODIDE_DIR``, else the user data dir.

    The user data dir is ``$XDG_DATA_HOME/memfun/pyodide`` (``~/.local/share/...`` by default).
    """
    env = os.environ if environ is None else environ
    configured = env.get(PYODIDE_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    data = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".local/share")
    return Path(data) / "memfun" / "pyodide"


@dataclass(frozen=True, slots=True)
class PyodideCache:
    """One installed Pyodide release plus its start-up snapshot.

    Attributes:
        root: ``<pyodide root>/pyodide-<version>``.
        version: The Pyodide version.
    """

    root: Path
    version: str = PYODIDE_VERSION

    @property
    def package_dir(self) -> Path:
        """The npm package's files (``pyodide.mjs``, the wasm module, the stdlib)."""
        return self.root / "pyodide"

    @property
    def module(self) -> Path:
        """The ES module Deno imports."""
        return self.package_dir / "pyodide.mjs"

    @property
    def snapshot(self) -> Path:
        """The memory snapshot of a started interpreter (makes a session start fast)."""
        return self.root / "snapshot.bin"

    @property
    def marker(self) -> Path:
        """Written last by the setup: its presence means the cache is complete."""
        return self.root / MARKER

    def is_complete(self) -> bool:
        """Whether the setup finished for this version."""
        try:
            info = json.loads(self.marker.read_text())
        except (OSError, ValueError):
            return False
        if not isinstance(info, dict) or info.get("pyodide") != self.version:  # pyright: ignore[reportUnknownMemberType]
            return False
        needed = [self.package_dir / name for name in PYODIDE_FILES] + [self.snapshot]
        return all(path.is_file() for path in needed)


def cache_for(root: Path | str | None = None) -> PyodideCache:
    """The cache of the pinned version under ``root`` (default: :func:`default_pyodide_root`)."""
    base = Path(root).expanduser() if root is not None else default_pyodide_root()
    return PyodideCache(root=base / f"pyodide-{PYODIDE_VERSION}")


def locate_pyodide(root: Path | str | None = None) -> PyodideCache:
    """Return the installed Pyodide cache, or say how to install it.

    Raises:
        BackendUnavailable: The cache is missing or incomplete (nothing is downloaded here).
    """
    cache = cache_for(root)
    if not cache.is_complete():
        raise BackendUnavailable(
            f"Pyodide {PYODIDE_VERSION} is not installed at {cache.root}",
            backend="wasm",
            target=str(cache.root),
            hint=f"run `{SETUP_COMMAND}` once (it fetches Pyodide from the npm registry); "
            f"set {PYODIDE_DIR_ENV} to use another folder",
        )
    return cache


def deno_binary() -> str:
    """Path of the ``deno`` executable shipped by the ``deno`` wheel.

    Raises:
        MissingExtraError: The ``wasm`` extra of memfun-runtime is not installed.
    """
    module = import_extra(
        "deno", package="memfun-runtime", extra="wasm", feature="the wasm sandbox"
    )
    return str(module.find_deno_bin())
