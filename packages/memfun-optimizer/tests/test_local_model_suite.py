"""The local-model suite (evals/local-model): the five questions of docs/local-models.md.

It is run by hand against a model server, never in CI; here its checks are held to the
answers a 1.5B model really gave (right ones pass, wrong ones fail) and its fixture to its
own tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from memfun_optimizer.evals import load_suite
from memfun_optimizer.evals._check import _answer_failure  # pyright: ignore[reportPrivateUsage]

SUITE = Path(__file__).resolve().parents[3] / "evals" / "local-model"

pytestmark = pytest.mark.skipif(not SUITE.is_dir(), reason="needs the source tree's evals/")

# (task, answer, right?) — the wrong answers are the model's own, from docs/local-models.md.
ANSWERS = [
    ("config-parser", "load_settings in src/tinyserve/config.py", True),
    ("config-parser", "DEFAULT_PORT = 8321", False),
    ("verbose-flag", "It sets logging to DEBUG, so every request is logged.", True),
    ("verbose-flag", "--verbose", False),
    ("port-test", "test_default_port_is_8321 in tests/test_config.py", True),
    ("port-test", "4│", False),
    ("default-port", "8321", True),
    ("default-port", "DEFAULT_HOST = 127.0.0.1", False),
    ("server-start", "serve(settings), in src/tinyserve/server.py", True),
    ("server-start", "cli.py, in src/tinyserve/cli.py line 13", False),
]


def test_the_suite_has_the_five_questions_of_the_docs() -> None:
    suite = load_suite(SUITE)
    assert [t.id for t in suite.tasks] == [
        "config-parser", "verbose-flag", "port-test", "default-port", "server-start",
    ]  # fmt: skip
    assert {t.kind for t in suite.tasks} == {"question"}
    docs = (
        (SUITE.parents[1] / "docs" / "local-models.md").read_text(encoding="utf-8").replace("`", "")
    )
    assert all(t.task in docs for t in suite.tasks)


@pytest.mark.parametrize(("task_id", "answer", "right"), ANSWERS)
def test_the_checks_tell_right_from_the_model_s_wrong_answers(
    task_id: str, answer: str, right: bool
) -> None:
    (task,) = load_suite(SUITE).select((task_id,)).tasks
    assert (_answer_failure(task.check, answer) is None) is right


def test_the_fixture_passes_its_own_tests(tmp_path: Path) -> None:
    fixture = load_suite(SUITE).tasks[0].source
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(fixture),
         "-c", "/dev/null", str(fixture / "tests")],
        cwd=tmp_path, env={"PYTHONPATH": str(fixture / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
