"""Move a project's runtime between tiers (``memfun runtime migrate``).

Example:
    >>> from memfun_runtime.migrate import migrate
    >>> # report = await migrate(sqlite_backend, nats_backend, source_name="sqlite:runtime.db")
    >>> # assert report.verification.ok
"""

from __future__ import annotations

from memfun_runtime.migrate._copy import (
    CHECKPOINT_KEY,
    MIGRATING_CONSUMER,
    MigrationReport,
    migrate,
)
from memfun_runtime.migrate._inventory import GroupPosition, Inventory, OpenTask
from memfun_runtime.migrate._sources import SOURCE_TIERS, read_inventory
from memfun_runtime.migrate._verify import SectionCheck, Verification, verify

__all__ = [
    "CHECKPOINT_KEY",
    "MIGRATING_CONSUMER",
    "SOURCE_TIERS",
    "GroupPosition",
    "Inventory",
    "MigrationReport",
    "OpenTask",
    "SectionCheck",
    "Verification",
    "migrate",
    "read_inventory",
    "verify",
]
