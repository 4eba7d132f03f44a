"""The semantics of ``memfun skill validate PATH`` as a library function the CLI wraps."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from memfun_skills._files import absolute
from memfun_skills._validate import validate_skill

__all__ = ["EXIT_INVALID", "EXIT_USAGE", "EXIT_VALID", "CommandOutput", "run_validate"]

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


@dataclass(frozen=True, slots=True)
class CommandOutput:
    """What the command prints and its exit status."""

    exit_code: int
    stdout: str
    stderr: str


def run_validate(path: str | os.PathLike[str] | None, *, as_json: bool = False) -> CommandOutput:
    """Validate one skill as ``memfun skill validate PATH [--json]`` does.

    Exit status: 0 valid, 1 invalid, 2 usage error (no path, or a path that does not
    exist, as ``agentskills validate`` treats it). Text mode prints ``Valid skill: PATH``
    (and warnings) on stdout, or ``Validation failed for PATH:`` and one line per error on
    stderr. JSON mode prints the report (``valid``, ``path``, ``errors``, ``warnings``,
    each error with ``location``, ``field``, ``rule``, ``message``, ``hint``) on stdout.
    """
    if path is None or str(path) == "":
        message = "usage: memfun skill validate PATH [--json]\nerror: PATH is required"
        return _usage(message, as_json, None)
    if not absolute(path).exists():
        return _usage(f"error: path does not exist: {path}", as_json, str(path))
    report = validate_skill(path)
    code = EXIT_VALID if report.valid else EXIT_INVALID
    if as_json:
        return CommandOutput(code, json.dumps(report.to_dict(), indent=2) + "\n", "")
    warnings = "".join(f"  warning: {warning}\n" for warning in report.warnings)
    if report.valid:
        return CommandOutput(code, f"Valid skill: {report.path}\n{warnings}", "")
    errors = "".join(f"  - {error}\n" for error in report.errors)
    return CommandOutput(code, warnings, f"Validation failed for {report.path}:\n{errors}")


def _usage(message: str, as_json: bool, path: str | None) -> CommandOutput:
    if as_json:
        payload = {
            "valid": False,
            "path": path,
            "errors": [
                {
                    "location": path,
                    "field": "path",
                    "rule": "usage",
                    "message": message.splitlines()[-1],
                    "hint": "pass a skill folder or its SKILL.md",
                }
            ],
            "warnings": [],
        }
        return CommandOutput(EXIT_USAGE, json.dumps(payload, indent=2) + "\n", "")
    return CommandOutput(EXIT_USAGE, "", message + "\n")
