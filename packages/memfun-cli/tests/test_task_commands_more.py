"""``analyze``, ``review --diff``, ``explain``, and a task ended by SIGINT or SIGTERM.

Real ``memfun`` subprocesses, the real agent, sandbox and git, and a fake OpenAI-compatible
server on 127.0.0.1 standing in for the model (only the LLM is scripted).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from memfun_agent.testing import FakeOpenAI, format_fields
from memfun_cli.testing import CALC, MEMFUN, cli_env, memfun, new_project


@pytest.fixture
def project(tmp_path: Path, model: FakeOpenAI) -> Path:
    """A git repository with calc.py committed, configured to use the fake model."""
    # the default tier: traces in SQLite under .memfun/, readable by the next process
    files = {"calc.py": CALC, ".gitignore": ".memfun/\n"}
    proj = new_project(tmp_path, model.base, files=files, tier=None)
    git = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}  # fmt: skip
    for argv in (["git", "init", "-q"], ["git", "add", "."], ["git", "commit", "-qm", "init"]):
        subprocess.run(argv, cwd=proj, check=True, env={**os.environ, **git})
    return proj


def _first_prompt(model: FakeOpenAI) -> str:
    return json.dumps(model.requests[0])


def test_analyze_is_read_only_and_names_the_paths(project: Path, model: FakeOpenAI) -> None:
    model.replies = [
        format_fields(
            {
                "reasoning": "Try to write.",
                "code": "try:\n    fs_write('new.py', 'x = 1')\nexcept Exception as e:\n"
                "    print('refused:', e)",
            }
        ),
        format_fields({"reasoning": "Done.", "code": "SUBMIT(answer='One module.', summary='s')"}),
    ]
    # Without a skill: the read-only policy itself denies the write (a matched skill would
    # not even offer it; see test_skill_path.py).
    result = memfun(project, "analyze", "calc.py", "--json", "--no-skills")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["outcome"], data["answer"], data["changed_files"]) == (
        "completed",
        "One module.",
        [],
    )
    assert "Analyze calc.py: structure, entry points" in _first_prompt(model)
    assert "refused:" in json.dumps(model.requests[1])  # the write tools are denied
    assert "denies this tool" in json.dumps(model.requests[1])
    assert not (project / "new.py").exists()
    assert "· step 1" in result.stderr  # --json keeps the progress lines on stderr


def test_review_diff_reviews_the_uncommitted_changes(project: Path, model: FakeOpenAI) -> None:
    (project / "calc.py").write_text(CALC.replace("a - b", "a + b"), encoding="utf-8")
    model.replies = [
        format_fields({"reasoning": "Read the diff.", "code": "print(git_diff())"}),
        format_fields(
            {"reasoning": "Done.", "code": "SUBMIT(answer='The fix is right.', summary='s')"}
        ),
    ]
    result = memfun(project, "review", "--diff", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["answer"] == "The fix is right."
    assert "Review the uncommitted changes (git diff)" in _first_prompt(model)
    seen = json.dumps(model.requests[1])
    assert "-    return a - b" in seen
    assert "+    return a + b" in seen
    assert (project / "calc.py").read_text(encoding="utf-8").endswith("a + b\n")  # untouched


def test_explain_renders_the_answer(project: Path, model: FakeOpenAI) -> None:
    model.replies = [
        format_fields(
            {
                "reasoning": "Done.",
                "code": "SUBMIT(answer='# calc\\n\\n`add` returns a minus b.', summary='s')",
            }
        )
    ]
    result = memfun(project, "explain", "calc.py")
    assert result.returncode == 0, result.stderr
    assert "Explain what calc.py does, how it works and why." in _first_prompt(model)
    assert "add returns a minus b." in result.stdout.replace("`", "")
    assert "1 steps" in result.stdout


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_the_run_with_a_trace_and_the_json_object(
    project: Path, model: FakeOpenAI, sig: signal.Signals
) -> None:
    model.delay_seconds = 300.0  # the model is busy with a long reply
    model.replies = [format_fields({"reasoning": "Late.", "code": "print(1)"})]
    process = subprocess.Popen(
        [MEMFUN, "ask", "what does calc.py do?", "--json"],
        cwd=project,
        env=cli_env(project),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not model.requests and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert model.requests, "the run never called the model"
        process.send_signal(sig)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    data = json.loads(stdout)
    assert data["outcome"] == "interrupted"
    assert "interrupted" in data["summary"]
    assert "Traceback" not in stderr

    listed = memfun(project, "trace", "list", "--json")
    rows = json.loads(listed.stdout)["traces"]
    assert [(r["run_id"], r["outcome"]) for r in rows] == [(data["run_id"], "interrupted")]
    shown = json.loads(memfun(project, "trace", "show", data["run_id"], "--json").stdout)
    interrupts = [r for r in shown["records"] if r["kind"] == "interrupt"]
    assert [r["signal"] for r in interrupts] == [sig.name]
