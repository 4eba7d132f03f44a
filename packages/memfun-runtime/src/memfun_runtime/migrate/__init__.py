"""Move a project's runtime between tiers (``memfun runtime migrate``), or through a file.

``export_snapshot`` / ``import_snapshot`` are ``memfun runtime export`` / ``import``: a
migration whose target, or source, is a JSON Lines file.

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
    copy_into,
    migrate,
)
from memfun_runtime.migrate._inventory import GroupPosition, Inventory, OpenTask
from memfun_runtime.migrate._readable import Readable
from memfun_runtime.migrate._snapshot import (
    FORMAT,
    Snapshot,
    export_snapshot,
    import_snapshot,
    read_snapshot,
)
from memfun_runtime.migrate._sources import SOURCE_TIERS, read_inventory
from memfun_runtime.migrate._verify import SectionCheck, Verification, verify

__all__ = [
    "CHECKPOINT_KEY",
    "FORMAT",
    "MIGRATING_CONSUMER",
    "SOURCE_TIERS",
    "GroupPosition",
    "Inventory",
    "MigrationReport",
    "OpenTask",
    "Readable",
    "SectionCheck",
    "Snapshot",
    "Verification",
    "copy_into",
    "export_snapshot",
    "import_snapshot",
    "migrate",
    "read_inventory",
    "read_snapshot",
    "verify",
]
