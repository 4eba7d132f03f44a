"""Testing helpers for the ``memfun`` command line (Memfun's own CLI tests use them).

A project folder configured for a scripted model (:func:`new_project`), ``memfun`` run in it
as a fresh user would (:func:`memfun`, :func:`cli_env`) or on a pseudo-terminal
(:class:`Terminal`), and the scripted agent's replies (:func:`step`). The model itself is
``memfun_agent.testing.fake_openai_server``.

Example:
    >>> from memfun_agent.testing import fake_openai_server
    >>> from memfun_cli.testing import CALC, memfun, new_project, step
    >>> with fake_openai_server() as model:  # doctest: +SKIP
    ...     project = new_project(tmp_path, model.base, files={"calc.py": CALC})
    ...     model.replies = [step("SUBMIT(answer='add subtracts', summary='read')")]
    ...     done = memfun(project, "ask", "what does calc.py do?", "--json")
"""

from __future__ import annotations

from memfun_cli.testing._project import (
    CALC,
    MEMFUN,
    TEST_KEY,
    TEST_KEY_ENV,
    cli_env,
    memfun,
    new_project,
    step,
    write_config,
)
from memfun_cli.testing._terminal import TERMINAL_ENV, Terminal

__all__ = [
    "CALC",
    "MEMFUN",
    "TERMINAL_ENV",
    "TEST_KEY",
    "TEST_KEY_ENV",
    "Terminal",
    "cli_env",
    "memfun",
    "new_project",
    "step",
    "write_config",
]
