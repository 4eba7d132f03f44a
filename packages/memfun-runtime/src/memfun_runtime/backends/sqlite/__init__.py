"""T1: the embedded SQLite backend (one WAL-mode file, shared safely by several processes).

Example:
    >>> from memfun_runtime.backends.sqlite import SQLiteBackend
    >>> backend = SQLiteBackend(".memfun/runtime.db")
"""

from __future__ import annotations

from memfun_runtime.backends.sqlite._backend import SQLiteBackend
from memfun_runtime.backends.sqlite._database import Synchronous
from memfun_runtime.backends.sqlite._ownership import (
    Ownership,
    carries_stamp,
    project_ownership,
)
from memfun_runtime.backends.sqlite._schema import SCHEMA_VERSION
from memfun_runtime.backends.sqlite._writer import WriteStats

__all__ = [
    "SCHEMA_VERSION",
    "Ownership",
    "SQLiteBackend",
    "Synchronous",
    "WriteStats",
    "carries_stamp",
    "project_ownership",
]
