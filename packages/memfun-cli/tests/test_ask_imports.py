"""A task's process loads no MCP stack: Memfun's own tools are called from their registry.

FastMCP and the ``mcp`` SDK cost about a second of CPU to import; only ``memfun mcp serve``,
skills served over MCP and configured external MCP servers need them (issue 21).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from memfun_agent.testing import FakeOpenAI
from memfun_cli.testing import cli_env, step

# Runs `memfun ask` in this interpreter and writes the names of every module it imported.
_RUN = """
import atexit, json, sys
target = sys.argv[1]
def dump():
    with open(target, "w", encoding="utf-8") as out:
        json.dump(sorted(sys.modules), out)
atexit.register(dump)
sys.argv = ["memfun", "ask", "what does calc.py do?", "--json"]
from memfun_cli.app import main
main()
"""

_MCP_STACK = ("fastmcp", "mcp", "mcp_types")


@pytest.mark.usefixtures("sandbox_ok")
def test_a_scripted_ask_that_calls_the_tools_imports_no_mcp_stack(
    project: Path, model: FakeOpenAI, tmp_path: Path
) -> None:
    model.replies = [
        step("print(fs_read(path='calc.py')['content'])\nprint(search_text(pattern='def add'))"),
        step("SUBMIT(answer='add subtracts', summary='read calc.py')", "Done."),
    ]
    modules_file = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", _RUN, str(modules_file)],
        cwd=project,
        env=cli_env(project),
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["answer"] == "add subtracts"
    # The tools really ran: the model's second prompt shows what fs_read printed.
    assert "return a - b" in json.dumps(model.requests[1])
    modules = json.loads(modules_file.read_text(encoding="utf-8"))
    assert "memfun_tools.registry" in modules
    loaded = [m for m in modules if m.split(".")[0] in _MCP_STACK]
    assert loaded == [], f"a task imported the MCP stack: {loaded[:10]}"
