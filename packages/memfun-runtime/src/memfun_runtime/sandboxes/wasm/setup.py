"""``python -m memfun_runtime.sandboxes.wasm.setup``: install Pyodide for the wasm sandbox.

Fetches the pinned Pyodide release from the npm registry (through the ``deno`` wheel of
the ``wasm`` extra) into ``$MEMFUN_PYODIDE_DIR`` (default: the user data dir) and builds
its start-up snapshot. Run it once at install time; sessions never download anything.
"""

from __future__ import annotations

import argparse
import sys

from memfun_core.errors import MemfunError
from memfun_runtime.sandboxes.wasm._cache import PYODIDE_DIR_ENV, PYODIDE_VERSION, cache_for
from memfun_runtime.sandboxes.wasm._setup import install_pyodide

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Install (or check, with ``--check``) the Pyodide cache; return an exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m memfun_runtime.sandboxes.wasm.setup",
        description=f"Install Pyodide {PYODIDE_VERSION} for Memfun's wasm sandbox.",
    )
    parser.add_argument(
        "--dir", default=None, help=f"folder for Pyodide caches (default: ${PYODIDE_DIR_ENV} "
        "or ~/.local/share/memfun/pyodide)",
    )  # fmt: skip
    parser.add_argument("--force", action="store_true", help="rebuild an existing cache")
    parser.add_argument(
        "--check", action="store_true", help="only report whether the cache is complete"
    )
    args = parser.parse_args(argv)
    if args.check:
        cache = cache_for(args.dir)
        complete = cache.is_complete()
        print(f"{cache.root}: {'complete' if complete else 'missing or incomplete'}")
        return 0 if complete else 1
    try:
        cache = install_pyodide(args.dir, force=args.force)
    except MemfunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Pyodide {PYODIDE_VERSION} ready at {cache.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
