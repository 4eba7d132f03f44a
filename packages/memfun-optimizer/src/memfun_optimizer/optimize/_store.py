"""Compiled programs, versioned in the data folder; promote and rollback are explicit.

Layout (``<data_dir>/programs/<name>/``): one folder per version (``1``, ``2``, ...) holding
``program.json`` (what the agent runs) and ``manifest.json`` (suite, scores, optimizer,
date); ``PROMOTED`` names the version the agent uses; ``history.json`` lists the versions
promoted so far, oldest first, which is what ``rollback`` walks back.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memfun_agent import AgentProgram, load_program
from memfun_core.errors import ConflictError, CorruptDataError, NotFoundError, ValidationError

__all__ = ["ProgramStore", "ProgramVersion"]

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_PROGRAMS = "programs"
_PROMOTED = "PROMOTED"


@dataclass(frozen=True, slots=True)
class ProgramVersion:
    """One stored version of a program.

    Attributes:
        name: The program's name.
        version: Its version number, as text.
        manifest: Suite, scores, optimizer, budget, held-out tasks and date.
        promoted: Whether the agent uses it now.
    """

    name: str
    version: str
    manifest: Mapping[str, Any]
    promoted: bool = False


def _write(path: Path, text: str) -> None:
    """Write atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    Path(tmp).replace(path)


class ProgramStore:
    """The compiled programs of one data folder.

    Args:
        data_dir: The data folder (``[runtime] data_dir``, ``.memfun`` by default).
    """

    def __init__(self, data_dir: str | Path) -> None:
        self.root = Path(data_dir) / _PROGRAMS

    def _folder(self, name: str) -> Path:
        if not _NAME.fullmatch(name):
            raise ValidationError(
                f"bad program name {name!r}", field="name", rule="[a-z0-9][a-z0-9_-]{0,63}"
            )
        return self.root / name

    def _numbers(self, name: str) -> list[int]:
        folder = self._folder(name)
        if not folder.is_dir():
            return []
        return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())

    def save(self, program: AgentProgram, manifest: Mapping[str, Any]) -> ProgramVersion:
        """Store ``program`` as the next version of its name (not promoted)."""
        numbers = self._numbers(program.name)
        version = str((numbers[-1] if numbers else 0) + 1)
        folder = self._folder(program.name) / version
        try:
            folder.mkdir(parents=True)
        except FileExistsError as exc:
            raise ConflictError(
                f"version {version} of {program.name} was just saved by another process",
                hint="run the command again",
            ) from exc
        data = {**manifest, "name": program.name, "version": version}
        data.setdefault("created_at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        _write(folder / "program.json", json.dumps(program.to_json(), indent=2) + "\n")
        _write(folder / "manifest.json", json.dumps(data, indent=2) + "\n")
        return ProgramVersion(program.name, version, data)

    def promoted(self, name: str) -> str | None:
        """The promoted version of ``name``, if any."""
        marker = self._folder(name) / _PROMOTED
        return marker.read_text(encoding="utf-8").strip() if marker.is_file() else None

    def manifest(self, name: str, version: str) -> dict[str, Any]:
        """The manifest of one version.

        Raises:
            NotFoundError: No such version.
            CorruptDataError: Its manifest is unreadable.
        """
        path = self._folder(name) / version / "manifest.json"
        if not version.isdigit() or not path.is_file():
            known = tuple(str(n) for n in self._numbers(name))
            raise NotFoundError(
                f"version of program {name!r}", version, suggestions=known[-3:],
                hint=None if known else "make one with `memfun optimize run`",
            )  # fmt: skip
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise CorruptDataError(str(exc), backend="programs", location=str(path)) from exc
        return dict(data) if isinstance(data, dict) else {}  # pyright: ignore[reportUnknownArgumentType]

    def load(self, name: str, version: str) -> AgentProgram:
        """The program of one version (see :meth:`manifest` for the errors)."""
        self.manifest(name, version)
        return load_program(self._folder(name) / version, name=name, version=version)

    def versions(self, name: str) -> list[ProgramVersion]:
        """Every stored version of ``name``, oldest first."""
        current = self.promoted(name)
        return [
            ProgramVersion(name, str(n), self.manifest(name, str(n)), str(n) == current)
            for n in self._numbers(name)
        ]

    def names(self) -> list[str]:
        """The names of the stored programs."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _NAME.fullmatch(p.name))

    def _history(self, name: str) -> list[str]:
        path = self._folder(name) / "history.json"
        if not path.is_file():
            return []
        data = json.loads(path.read_text(encoding="utf-8"))
        items: list[Any] = data if isinstance(data, list) else []  # pyright: ignore[reportUnknownVariableType]
        return [str(v) for v in items]

    def _set(self, name: str, version: str | None, history: list[str]) -> None:
        folder = self._folder(name)
        _write(folder / "history.json", json.dumps(history) + "\n")
        marker = folder / _PROMOTED
        if version is None:
            marker.unlink(missing_ok=True)
        else:
            _write(marker, version + "\n")

    def promote(self, name: str, version: str) -> ProgramVersion:
        """Make ``version`` the one the agent uses from now on.

        Raises:
            NotFoundError: No such version.
        """
        program = self.load(name, version)  # refuses a missing or unreadable version
        history = self._history(name)
        if self.promoted(name) != version:
            history.append(version)
        self._set(name, version, history)
        return ProgramVersion(name, program.version, self.manifest(name, version), promoted=True)

    def rollback(self, name: str) -> str | None:
        """Go back to the version promoted before the current one (``None``: Memfun's own).

        Raises:
            ConflictError: Nothing is promoted.
        """
        history = self._history(name)
        current = self.promoted(name)
        if current is None:
            raise ConflictError(
                f"no version of {name!r} is promoted: the agent already runs Memfun's own",
                hint="`memfun optimize list` shows the stored versions",
            )
        while history and history[-1] == current:
            history.pop()
        previous = history[-1] if history else None
        self._set(name, previous, history)
        return previous
