"""The eval suite format (``memfun.evals/1``): YAML, safe-loaded and validated."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

from memfun_core.errors import NotFoundError, ValidationError

__all__ = ["SUITE_SCHEMA", "Checker", "EvalSuite", "EvalTask", "load_suite"]

SUITE_SCHEMA: Final = "memfun.evals/1"
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,79}$")
_TASK_KEYS: Final = frozenset({"id", "kind", "fixture", "path", "task", "edits", "check"})
_CHECK_KEYS: Final = frozenset({"contains", "regex", "command", "python", "timeout"})
_HINT = "see docs/evals.md for the suite format"


@dataclass(frozen=True, slots=True)
class Checker:
    """How a task's result is judged; every given part must pass.

    Attributes:
        contains: Substrings the answer must contain (case-insensitive).
        regex: A regular expression the answer must match (``re.search``, multi-line).
        command: A command that must exit 0 in the scratch copy after the run, inside the
            sandbox (``python`` as the first word is Memfun's own interpreter).
        python: ``module:function`` called with a :class:`~memfun_optimizer.evals.CheckContext`
            that returns whether the task is solved (the suite's folder is importable).
        timeout: Seconds the command may take.
    """

    contains: tuple[str, ...] = ()
    regex: str | None = None
    command: tuple[str, ...] = ()
    python: str | None = None
    timeout: float = 300.0


@dataclass(frozen=True, slots=True)
class EvalTask:
    """One task of a suite.

    Attributes:
        id: Unique in the suite (``[a-z0-9][a-z0-9_.-]*``).
        kind: A free label grouping tasks in reports (``question``, ``fix``, ``refactor``).
        source: The repository copied for each run (a fixture folder or a path).
        task: What the agent is asked.
        edits: Whether the agent may change files (default: when the check has a command
            or a Python checker).
        check: How the result is judged.
    """

    id: str
    kind: str
    source: Path
    task: str
    edits: bool
    check: Checker


@dataclass(frozen=True, slots=True)
class EvalSuite:
    """A named list of tasks read from a suite file.

    Attributes:
        name: The suite's name.
        path: The suite file.
        tasks: Its tasks, in file order.
        description: What the suite measures.
    """

    name: str
    path: Path
    tasks: tuple[EvalTask, ...]
    description: str = ""

    def select(self, ids: tuple[str, ...]) -> EvalSuite:
        """The same suite with only the tasks named in ``ids`` (all when empty).

        Raises:
            NotFoundError: An id is not in the suite.
        """
        if not ids:
            return self
        known = {task.id for task in self.tasks}
        for wanted in ids:
            if wanted not in known:
                close = tuple(k for k in sorted(known) if k.startswith(wanted[:3]))[:3]
                raise NotFoundError("eval task", wanted, suggestions=close)
        return EvalSuite(
            self.name, self.path, tuple(t for t in self.tasks if t.id in ids), self.description
        )


def _bad(location: str, field: str, message: str, rule: str) -> ValidationError:
    return ValidationError(message, field=field, rule=rule, location=location, hint=_HINT)


def _strings(value: object, location: str, field: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in cast("list[object]", value)):
        return tuple(cast("list[str]", value))
    raise _bad(location, field, "must be a string or a list of strings", "strings")


def _checker(raw: object, location: str, field: str) -> Checker:
    if not isinstance(raw, Mapping):
        raise _bad(location, field, "must be a mapping", "contains/regex/command/python")
    data = cast("Mapping[str, Any]", raw)
    unknown = sorted(set(data) - _CHECK_KEYS)
    if unknown:
        raise _bad(location, field, f"unknown keys {unknown}", ", ".join(sorted(_CHECK_KEYS)))
    regex = data.get("regex")
    if regex is not None:
        try:
            re.compile(str(regex))
        except re.error as exc:
            raise _bad(location, f"{field}.regex", f"invalid: {exc}", "a Python regex") from exc
    python = data.get("python")
    if python is not None and not re.fullmatch(r"[\w.]+:\w+", str(python)):
        raise _bad(location, f"{field}.python", f"{python!r} is not module:function", "m:f")
    timeout = data.get("timeout", 300)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        raise _bad(location, f"{field}.timeout", "must be a positive number", "seconds")
    checker = Checker(
        contains=_strings(data["contains"], location, f"{field}.contains")
        if "contains" in data
        else (),
        regex=None if regex is None else str(regex),
        command=_strings(data["command"], location, f"{field}.command")
        if "command" in data
        else (),
        python=None if python is None else str(python),
        timeout=float(timeout),
    )
    if not (checker.contains or checker.regex or checker.command or checker.python):
        raise _bad(location, field, "is empty", "at least one of contains/regex/command/python")
    return checker


def _task(raw: object, base: Path, location: str, index: int) -> EvalTask:
    field = f"tasks[{index}]"
    if not isinstance(raw, Mapping):
        raise _bad(location, field, "must be a mapping", "a task")
    data = cast("Mapping[str, Any]", raw)
    unknown = sorted(set(data) - _TASK_KEYS)
    if unknown:
        raise _bad(location, field, f"unknown keys {unknown}", ", ".join(sorted(_TASK_KEYS)))
    task_id = str(data.get("id", ""))
    if not _ID.fullmatch(task_id):
        raise _bad(location, f"{field}.id", f"{task_id!r} is not a task id", _ID.pattern)
    text = data.get("task")
    if not isinstance(text, str) or not text.strip():
        raise _bad(location, f"{field}.task", "must be a non-empty string", "the task text")
    if ("fixture" in data) == ("path" in data):
        raise _bad(location, field, "needs exactly one of fixture/path", "fixture or path")
    source = Path(str(data.get("fixture") or data.get("path"))).expanduser()
    source = (base / source).resolve()
    if not source.is_dir():
        raise _bad(location, f"{field}.fixture", f"{source} is not a folder", "a folder")
    check = _checker(data.get("check"), location, f"{field}.check")
    edits = data.get("edits", bool(check.command or check.python))
    if not isinstance(edits, bool):
        raise _bad(location, f"{field}.edits", "must be true or false", "a boolean")
    kind = str(data.get("kind", "task"))
    return EvalTask(task_id, kind, source, text.strip(), edits, check)


def load_suite(path: str | Path) -> EvalSuite:
    """Read and validate a suite file (``yaml.safe_load``; paths relative to its folder).

    Raises:
        NotFoundError: The file does not exist.
        ValidationError: It is not a valid ``memfun.evals/1`` suite (the message names the
            field).
    """
    import yaml

    file = Path(path).expanduser()
    if file.is_dir():
        file = file / "suite.yaml"
    location = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError("eval suite", str(path), hint=_HINT) from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _bad(location, "suite", f"is not valid YAML: {exc}", "YAML") from exc
    if not isinstance(doc, Mapping):
        raise _bad(location, "suite", "must be a mapping", "schema, name, tasks")
    data = cast("Mapping[str, Any]", doc)
    if data.get("schema") != SUITE_SCHEMA:
        raise _bad(location, "schema", f"must be {SUITE_SCHEMA!r}", SUITE_SCHEMA)
    raw_tasks = data.get("tasks")
    if not isinstance(raw_tasks, list) or not raw_tasks:
        raise _bad(location, "tasks", "must be a non-empty list", "a list of tasks")
    base = file.resolve().parent
    tasks = tuple(
        _task(raw, base, location, i) for i, raw in enumerate(cast("list[object]", raw_tasks))
    )
    seen: set[str] = set()
    for task in tasks:
        if task.id in seen:
            raise _bad(location, "tasks", f"duplicate id {task.id!r}", "unique ids")
        seen.add(task.id)
    name = str(data.get("name") or file.resolve().parent.name)
    return EvalSuite(name, file.resolve(), tasks, str(data.get("description") or ""))
