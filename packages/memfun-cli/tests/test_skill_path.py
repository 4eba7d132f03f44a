"""One path for skills, as a user runs them: ``memfun /name`` goes through the skill executor.

A real ``memfun`` subprocess, the real agent, tools and sandbox, the SQLite runtime tier (so
``memfun skill stats`` in a second process reads what the first recorded) and a fake
OpenAI-compatible server on 127.0.0.1 playing the model.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from memfun_agent.testing import FakeOpenAI, format_fields
from memfun_cli.testing import CALC, MEMFUN, Terminal, cli_env, memfun, new_project

LOOK = """---
name: look-only
description: Look at the code the user names and report on it without changing anything.
allowed-tools: Read Grep
---
# Look only

Read the files the user names and report what they do.
"""

PROBE_SKILL = """---
name: probe-env
description: Probe the environment with the bundled script and report what it prints.
allowed-tools: Read
---
# Probe

Run `scripts/probe.py` with the user's words and report its output.
"""

PROBE = """import pathlib, sys
print("probe args", sys.argv[1:])
try:
    pathlib.Path("planted-by-script.txt").write_text("x")
    print("workspace writable")
except OSError as exc:
    print("workspace read-only:", type(exc).__name__)
"""

# Model code: try every way to write, keep what happened in `results` (the REPL persists).
ATTEMPTS = """results = {}
def attempt(label, call):
    try:
        call()
        results[label] = 'RAN'
    except BaseException as e:
        results[label] = 'REFUSED ' + type(e).__name__ + ': ' + str(e)[:80]
attempt('fs_write', lambda: fs_write('pwned.txt', 'owned'))
attempt('fs_edit', lambda: fs_edit('calc.py', 'return a - b', 'return 0'))
attempt('open', lambda: open('pwned.txt', 'w').write('owned'))
print(results)
"""


@pytest.fixture
def project(tmp_path: Path, model: FakeOpenAI) -> Path:
    home = tmp_path / "home"
    for name, text in (("look-only", LOOK), ("probe-env", PROBE_SKILL)):
        folder = home / ".memfun" / "skills" / name
        folder.mkdir(parents=True)
        (folder / "SKILL.md").write_text(text, encoding="utf-8")
    scripts = home / ".memfun" / "skills" / "probe-env" / "scripts"
    scripts.mkdir()
    (scripts / "probe.py").write_text(PROBE, encoding="utf-8")
    return new_project(tmp_path, model.base, files={"calc.py": CALC}, tier="sqlite")


def stats(project: Path, name: str) -> dict[str, object]:
    done = memfun(project, "skill", "stats", name, "--json")
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)["skills"]
    return row


@pytest.mark.usefixtures("sandbox_ok")
def test_a_read_grep_skill_cannot_write_even_with_yes(project: Path, model: FakeOpenAI) -> None:
    model.replies = [
        format_fields({"reasoning": "The user wants it changed: try to write.", "code": ATTEMPTS}),
        format_fields(
            {"reasoning": "Report.", "code": "SUBMIT(answer=repr(results), summary='tried')"}
        ),
    ]
    result = memfun(project, "/look-only", "calc.py", "--yes", "--json")
    assert result.returncode == 0, result.stderr
    assert "· skill /look-only (named)" in result.stderr
    answer = json.loads(result.stdout)["answer"]
    assert "'RAN'" not in answer, answer
    assert answer.count("REFUSED") == 3, answer
    assert not (project / "pwned.txt").exists()
    assert "return a - b" in (project / "calc.py").read_text(encoding="utf-8")
    # The model was told the skill's instructions, and the write tools were never offered.
    first = json.dumps(model.requests[0])
    assert "Read the files the user names" in first
    offered = re.search(r"Tools: ([a-z_, ]+)", first)
    assert offered is not None
    assert "fs_read" in offered.group(1)
    assert "fs_write" not in offered.group(1)
    assert "fs_edit" not in offered.group(1)

    row = stats(project, "look-only")
    assert row["invocations"] == 1
    (record,) = row["recent"]  # type: ignore[misc]
    metadata = record["metadata"]
    assert record["outcome"] == "success"
    assert metadata["route"] == "slash"
    assert {"fs_write", "fs_edit"} <= set(metadata["not_granted"])
    assert "fs_write" not in metadata["tools"]
    assert "fs_read" in metadata["tools"]
    assert record["tokens"] > 0


@pytest.mark.usefixtures("sandbox_ok")
def test_a_skill_script_runs_in_the_sandbox_and_its_output_reaches_the_model(
    project: Path, model: FakeOpenAI
) -> None:
    model.replies = [
        format_fields(
            {
                "reasoning": "Run the script.",
                "code": "out = run_script('scripts/probe.py', args=['hello', 'world'])\n"
                "print(out['stdout'])",
            }
        ),
        format_fields(
            {"reasoning": "Done.", "code": "SUBMIT(answer=out['stdout'], summary='ran')"}
        ),
    ]
    result = memfun(project, "/probe-env", "hello world", "--json")
    assert result.returncode == 0, result.stderr
    second = json.dumps(model.requests[1])
    assert "probe args ['hello', 'world']" in second  # the script's output reached the model
    assert "workspace read-only" in second  # it ran in the sandbox, workspace not writable
    assert not (project / "planted-by-script.txt").exists()
    row = stats(project, "probe-env")
    assert row["invocations"] == 1
    assert row["successes"] == 1


@pytest.mark.usefixtures("sandbox_ok")
def test_stats_lists_every_recorded_skill_as_a_table(project: Path, model: FakeOpenAI) -> None:
    empty = memfun(project, "skill", "stats")
    assert empty.returncode == 0, empty.stderr
    assert "no skill invocations recorded" in empty.stdout
    model.replies = [
        format_fields({"reasoning": "Done.", "code": "SUBMIT(answer='fine', summary='read')"})
    ] * 2
    for _ in range(2):
        assert memfun(project, "/look-only", "calc.py").returncode == 0
    table = memfun(project, "skill", "stats")
    assert table.returncode == 0, table.stderr
    line = next(line for line in table.stdout.splitlines() if "/look-only" in line)
    assert line.split("│")[2].strip() == "2"  # runs
    assert "probe-env" not in table.stdout  # never ran: not listed


def trace_metadata(project: Path, run_id: str) -> dict[str, object]:
    done = memfun(project, "trace", "show", run_id, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["metadata"]


@pytest.mark.usefixtures("sandbox_ok")
def test_a_plain_task_activates_the_matching_skill_unless_no_skills(
    project: Path, model: FakeOpenAI
) -> None:
    model.replies = [
        format_fields({"reasoning": "Done.", "code": "SUBMIT(answer='reviewed', summary='read')"})
    ] * 2
    task = "review my staged changes for correctness before I commit"
    result = memfun(project, "ask", task, "--json")
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stderr.splitlines() if line.startswith("· skill"))
    assert line.startswith("· skill /review-code (matched, score ")
    assert "review-code" in json.dumps(model.requests[0])  # the skill's instructions
    route = trace_metadata(project, json.loads(result.stdout)["run_id"])["skill_route"]
    assert route["method"] == "lexical"  # type: ignore[index]
    assert route["chosen"] == "review-code"  # type: ignore[index]
    record = stats(project, "review-code")["recent"][0]  # type: ignore[index]
    assert record["metadata"]["route"] == "lexical"
    assert record["metadata"]["score"] >= 2.5

    off = memfun(project, "ask", task, "--no-skills", "--json")
    assert off.returncode == 0, off.stderr
    assert "· skill" not in off.stderr
    route = trace_metadata(project, json.loads(off.stdout)["run_id"])["skill_route"]
    assert route == {"method": "off"}
    assert stats(project, "review-code")["invocations"] == 1


@pytest.mark.usefixtures("sandbox_ok")
def test_an_unrelated_task_runs_without_a_skill(project: Path, model: FakeOpenAI) -> None:
    model.replies = [
        format_fields({"reasoning": "Done.", "code": "SUBMIT(answer='no idea', summary='-')"})
    ]
    result = memfun(project, "ask", "what is the weather in Paris tomorrow", "--json")
    assert result.returncode == 0, result.stderr
    assert "· skill" not in result.stderr
    route = trace_metadata(project, json.loads(result.stdout)["run_id"])["skill_route"]
    assert route["method"] == "none"  # type: ignore[index]
    assert route["chosen"] is None  # type: ignore[index]


@pytest.mark.usefixtures("sandbox_ok")
def test_chat_runs_named_and_matched_skills_through_the_executor(
    tmp_path: Path, model: FakeOpenAI
) -> None:
    folder = tmp_path / "home" / ".memfun" / "skills" / "look-only"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(LOOK, encoding="utf-8")
    project = new_project(tmp_path, model.base, files={"calc.py": CALC}, tier=None)
    model.replies = [
        format_fields(
            {
                "reasoning": "Try to write.",
                "code": "try:\n    fs_write('pwned.txt', 'x')\nexcept BaseException as e:\n"
                "    print('refused', type(e).__name__)",
            }
        ),
        format_fields({"reasoning": "Done.", "code": "SUBMIT(answer='looked only', summary='s')"}),
        format_fields({"reasoning": "Done.", "code": "SUBMIT(answer='reviewed it', summary='s')"}),
    ]
    _chat(project)
    assert "refused NameError" in json.dumps(model.requests[1])
    assert not (project / "pwned.txt").exists()
    for name, route in (("look-only", "slash"), ("review-code", "lexical")):
        done = memfun(project, "skill", "stats", name, "--json")
        assert done.returncode == 0, done.stderr
        (row,) = json.loads(done.stdout)["skills"]
        assert row["invocations"] == 1
        assert row["recent"][0]["metadata"]["route"] == route
        assert "session" in row["recent"][0]["metadata"]  # the chat's session (after turn 1)


def _chat(project: Path) -> None:
    """Run a chat on a pseudo-terminal: a /name turn, a plain turn, /exit."""
    term = Terminal(project, "chat", "--yes")
    try:
        term.expect(r"memfun>")
        term.send("/look-only calc.py\r")
        term.expect(r"skill /look-only \(named\)")
        term.expect(r"looked only")
        term.expect(r"memfun>")
        term.send("review my staged changes before I commit\r")
        term.expect(r"skill /review-code \(matched, score \d")
        term.expect(r"reviewed it")
        term.expect(r"memfun>")
        term.send("/exit\r")
        assert term.wait() == 0, term.text
    finally:
        term.close()


@pytest.mark.usefixtures("sandbox_ok")
def test_a_read_only_task_stays_read_only_when_it_routes_to_a_skill_that_grants_writes(
    project: Path, model: FakeOpenAI
) -> None:
    # `ask` is read-only; the words pick fix-bugs, whose allowed-tools grant Edit and Write.
    model.replies = [
        format_fields(
            {
                "reasoning": "The skill grants Edit: fix it right away.",
                "code": "try:\n    fs_edit('calc.py', 'return a - b', 'return a + b')\n"
                "    print('EDITED')\nexcept Exception as e:\n    print('REFUSED', e)",
            }
        ),
        format_fields({"reasoning": "Done.", "code": "SUBMIT(answer='told', summary='s')"}),
    ]
    result = memfun(project, "ask", "fix this bug: add() returns the wrong result", "--json")
    assert result.returncode == 0, result.stderr
    assert "· skill /fix-bugs (matched" in result.stderr
    assert "REFUSED" in json.dumps(model.requests[1])
    assert "return a - b" in (project / "calc.py").read_text(encoding="utf-8")
    (record,) = stats(project, "fix-bugs")["recent"]  # type: ignore[misc]
    assert [call["tool"] for call in record["metadata"]["refused"]] == ["fs_edit"]


@pytest.mark.usefixtures("sandbox_ok")
async def test_a_skill_called_over_mcp_runs_through_the_executor(
    project: Path, model: FakeOpenAI
) -> None:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    model.replies = [
        format_fields({"reasoning": "Try to write.", "code": ATTEMPTS}),
        format_fields(
            {"reasoning": "Report.", "code": "SUBMIT(answer=repr(results), summary='s')"}
        ),
    ]
    params = StdioServerParameters(
        command=MEMFUN,
        args=["mcp", "serve", "--allow-writes"],
        cwd=str(project),
        env=cli_env(project),
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        called = await session.call_tool("skills_look-only", {"arguments": "calc.py"})
    assert not called.is_error, called
    data = called.structured_content
    assert data is not None
    assert data["skill"] == "look-only"
    assert data["outcome"] == "completed"
    assert data["answer"].count("REFUSED") == 3  # even a server that allows writes
    assert not (project / "pwned.txt").exists()
    (record,) = stats(project, "look-only")["recent"]  # type: ignore[misc]
    assert record["metadata"]["via"] == "mcp"
    assert record["metadata"]["route"] == "slash"
