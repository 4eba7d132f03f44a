"""The started-guard every T1 service holds: it yields the open database or refuses."""

from __future__ import annotations

from dataclasses import dataclass

from memfun_runtime.backends._services import not_started
from memfun_runtime.backends.sqlite._database import Database

__all__ = ["Handle"]


@dataclass(slots=True)
class Handle:
    """The backend's open database (``None`` while stopped) and the services' settings.

    Attributes:
        database: Set by ``start()``, cleared by ``stop()``.
        poll_interval: Seconds between checks for work written by other processes.
    """

    database: Database | None = None
    poll_interval: float = 0.05

    @property
    def db(self) -> Database:
        """The open database.

        Raises:
            ConflictError: The backend is not started.
        """
        database = self.database
        if database is None or database.closed:
            raise not_started("SQLite")
        return database

    def location(self, what: str) -> str:
        """A location string for error messages: ``<file>:<what>``."""
        database = self.database
        return f"{database.path if database else '<sqlite>'}:{what}"
