"""`memfun trace view` on a real recorded run with a delegated child run, rendered in headless
Chromium: the steps and the tree show, nothing runs that came from the trace, no console error."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from memfun_agent import RLMAgent, TraceStore
from memfun_agent.testing import ScriptedLM
from memfun_agent.tools import ToolBridge
from memfun_runtime import RuntimeBuilder
from memfun_runtime.backends.sqlite import project_ownership

MEMFUN = str(Path(sys.executable).parent / "memfun")
HAS_CLI = Path(MEMFUN).exists()  # memfun-cli is not a dependency of this package
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ATTACK = "</script><script>alert(1)</script><img src=x onerror=alert(2)>"


def chromium(page: Path, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
            "--dump-dom", page.resolve().as_uri(),
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
@pytest.mark.usefixtures("sandbox_ok")
async def test_the_page_renders_the_steps_and_the_tree_and_runs_nothing_hostile(
    repo: Path, bridges: Callable[[], ToolBridge], tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMFUN_")}
    env.update(HOME=str(tmp_path), DISPLAY="")
    database = repo / ".memfun" / "runtime.db"
    owner = project_ownership(repo, database, env)  # stamped with the key `memfun` will use
    async with RuntimeBuilder().sqlite(database, ownership=owner).build() as runtime:
        store = TraceStore(runtime)
        parent = await RLMAgent(
            repo,
            lm=ScriptedLM(
                [
                    {"reasoning": f"Look. {ATTACK}", "code": f"print({ATTACK!r})"},
                    {"reasoning": "Read.", "code": "print(fs_read('calc.py'))"},
                    {"reasoning": "Done.", "code": f"SUBMIT(answer={ATTACK!r}, summary='x')"},
                ]
            ),
            bridge=bridges(),
            verifier=None,
            traces=store,
        ).run("look at calc.py")
        child = await RLMAgent(
            repo,
            lm=ScriptedLM([{"reasoning": "Child.", "code": "SUBMIT(answer='ok', summary='c')"}]),
            bridge=bridges(),
            verifier=None,
            traces=store,
        ).run("a delegated part", metadata={"agent": "helper", "parent_run_id": parent.run_id})

    if not HAS_CLI:
        pytest.skip("`memfun` (memfun-cli) is not installed beside this package: the command half")
    (repo / "memfun.toml").write_text('[runtime]\ntier = "sqlite"\n', encoding="utf-8")
    page = tmp_path / "run.html"
    made = await asyncio.to_thread(
        subprocess.run,
        [MEMFUN, "trace", "view", parent.run_id, "--out", str(page), "--no-open"],
        cwd=repo, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    html = page.read_text(encoding="utf-8")
    assert "<script>alert" not in html
    assert "onerror=alert" not in html.replace("&lt;img src=x onerror=alert", "")
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html

    shown = await asyncio.to_thread(chromium, page, tmp_path / "profile")
    dom = shown.stdout
    assert 'data-ready="1"' in dom  # the page's own script ran to its end
    assert 'data-scripts="1"' in dom  # and is the only script: the trace's did not become one
    assert dom.count('class="step') == 4  # the run's three steps and its child's one
    assert 'id="tokens"' in dom
    assert f'data-run="{child.run_id}"' in dom  # the delegated run, in the tree
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in dom  # shown as text
    assert "<img src=" not in dom
    assert console_errors(shown.stderr) == []
    # The check would see one: a page with a console error and a script error is caught.
    control = tmp_path / "control.html"
    control.write_text(
        "<html><body><script>console.error('memfun-control'); nope();</script></body></html>",
        encoding="utf-8",
    )
    caught = await asyncio.to_thread(chromium, control, tmp_path / "profile2")
    assert len(console_errors(caught.stderr)) >= 1


def console_errors(stderr: str) -> list[str]:
    return [
        line for line in stderr.splitlines()
        if "CONSOLE" in line or "Uncaught" in line or "Refused to" in line
    ]  # fmt: skip
