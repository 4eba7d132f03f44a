"""Scripts that run inside a sandbox (standard library only; the host imports only helpers)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["WORKER_DIR", "worker_script"]

WORKER_DIR = Path(__file__).resolve().parent
"""The folder holding the scripts; bound read-only into a sandbox."""


def worker_script(name: str) -> Path:
    """Return the path of the in-sandbox script ``name`` (``"repl_worker.py"``)."""
    return WORKER_DIR / name
