"""Compiled agent programs: optimized instructions and demos the agent's signature runs with.

The optimizer (``memfun optimize``) writes versions of a program under the data folder,
``<data_dir>/programs/<name>/<version>/program.json`` (with a ``manifest.json`` beside it),
and ``memfun optimize promote`` names the version in use in
``<data_dir>/programs/<name>/PROMOTED``. This module only reads them: the agent takes the
promoted program's instructions in place of Memfun's own task instructions.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memfun_core.config import MemfunConfig
from memfun_core.errors import CorruptDataError
from memfun_core.trust import inactive_reason

__all__ = [
    "DEFAULT_PROGRAM",
    "PROGRAMS_DIR",
    "PROMOTED_FILE",
    "AgentProgram",
    "default_program",
    "load_program",
    "promoted_program",
    "trusted_program",
]

_log = logging.getLogger("memfun.agent")

DEFAULT_PROGRAM = "agent"
"""The name of the program ``RLMAgent.from_config`` runs."""
PROGRAMS_DIR = "programs"
"""The folder of compiled programs, inside the data folder."""
PROMOTED_FILE = "PROMOTED"
"""The file, in a program's folder, that names its promoted version."""
_VERSION = re.compile(r"[0-9]{1,6}")
_MAX_DEMOS = 16


@dataclass(frozen=True, slots=True)
class AgentProgram:
    """A compiled version of the agent's DSPy program.

    Attributes:
        name: The program's name (``agent``: the one ``memfun ask`` runs).
        version: Its version (``1``, ``2``, ...); ``""`` for one not stored yet.
        instructions: The task instructions, in place of Memfun's own.
        demos: Worked examples (task, answer) shown after the instructions.
    """

    name: str
    version: str
    instructions: str
    demos: tuple[tuple[str, str], ...] = ()

    def prompt_text(self) -> str:
        """The instructions followed by the demos, as the signature carries them."""
        if not self.demos:
            return self.instructions
        shown = "\n\n".join(f"Task: {task}\nAnswer: {answer}" for task, answer in self.demos)
        return f"{self.instructions}\n\nExamples of tasks done well:\n\n{shown}"

    def to_json(self) -> dict[str, Any]:
        """The ``program.json`` object."""
        return {
            "name": self.name,
            "instructions": self.instructions,
            "demos": [{"task": t, "answer": a} for t, a in self.demos],
        }


def default_program(name: str = DEFAULT_PROGRAM) -> AgentProgram:
    """Memfun's own program: its coding instructions, no demos (what optimization starts from)."""
    from memfun_agent._signature import CODING_INSTRUCTIONS

    return AgentProgram(name, "", CODING_INSTRUCTIONS)


def _corrupt(path: Path, why: str) -> CorruptDataError:
    return CorruptDataError(
        f"{why}",
        backend="programs",
        location=str(path),
        hint="run `memfun optimize rollback` or delete the version's folder",
    )


def _demos(raw: object, path: Path) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, list) or len(raw) > _MAX_DEMOS:  # pyright: ignore[reportUnknownArgumentType]
        raise _corrupt(path, f"'demos' must be a list of at most {_MAX_DEMOS} objects")
    demos: list[tuple[str, str]] = []
    for item in raw:  # pyright: ignore[reportUnknownVariableType]
        if not isinstance(item, Mapping):
            raise _corrupt(path, "each demo must be an object with 'task' and 'answer'")
        task, answer = item.get("task"), item.get("answer")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if not isinstance(task, str) or not isinstance(answer, str):
            raise _corrupt(path, "each demo must be an object with 'task' and 'answer'")
        demos.append((task, answer))
    return tuple(demos)


def load_program(folder: str | Path, *, name: str, version: str) -> AgentProgram:
    """Read ``program.json`` of one stored version.

    Raises:
        CorruptDataError: The file is missing, not JSON, or lacks its fields.
    """
    path = Path(folder) / "program.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _corrupt(path, f"cannot read the program: {exc}") from exc
    if not isinstance(data, dict):
        raise _corrupt(path, "the program must be a JSON object")
    instructions = data.get("instructions")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    if not isinstance(instructions, str) or not instructions.strip():
        raise _corrupt(path, "'instructions' must be a non-empty string")
    return AgentProgram(name, version, instructions, _demos(data.get("demos", []), path))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]


def promoted_program(data_dir: str | Path, name: str = DEFAULT_PROGRAM) -> AgentProgram | None:
    """The promoted version of program ``name`` under ``data_dir``, or ``None``.

    Raises:
        CorruptDataError: ``PROMOTED`` names no valid version, or that version is unreadable.
    """
    folder = Path(data_dir) / PROGRAMS_DIR / name
    marker = folder / PROMOTED_FILE
    if not marker.is_file():
        return None
    version = marker.read_text(encoding="utf-8").strip()
    if not _VERSION.fullmatch(version):
        raise _corrupt(marker, f"names no version ({version[:40]!r})")
    program = load_program(folder / version, name=name, version=version)
    _log.info("using the promoted program %s version %s", name, version)
    return program


def trusted_program(config: MemfunConfig, name: str = DEFAULT_PROGRAM) -> AgentProgram | None:
    """The promoted program of the project, when its folder is trusted.

    A promoted program replaces the agent's instructions, so one that came with a cloned
    repository is project content like its skills: ignored, with a warning naming
    ``memfun trust``, until the user trusts the folder.
    """
    data_dir = Path(config.project_root, config.runtime.data_dir).expanduser()
    if not (data_dir / PROGRAMS_DIR / name / PROMOTED_FILE).is_file():
        return None
    reason = inactive_reason(config.project_root)
    if reason is not None:
        _log.warning(
            "the promoted program %r is not used: %s (run `memfun trust` after reviewing it)",
            name,
            reason,
        )
        return None
    return promoted_program(data_dir, name)
