"""Start-up order: the configuration and the key are checked before anything heavy loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("dspy", "litellm", "fastmcp", "mcp", "pydantic")


def test_a_missing_key_fails_before_any_heavy_import(tmp_path: Path) -> None:
    (tmp_path / "memfun.toml").write_text(
        '[llm]\nmodel = "openai/test-model"\napi_base = "http://127.0.0.1:9/v1"\n'
        'api_key_env = "MEMFUN_STARTUP_TEST_KEY"\n',
        encoding="utf-8",
    )
    code = (
        "import json, sys\n"
        "from memfun_cli.app import main\n"
        "sys.argv = ['memfun', 'ask', 'what does calc.py do?']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
        f"print(json.dumps([code, sorted(m for m in {HEAVY!r} if m in sys.modules)]))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMFUN_")}
    env["HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert "MEMFUN_STARTUP_TEST_KEY is not set" in done.stderr
    code_and_heavy = json.loads(done.stdout.strip().splitlines()[-1])
    assert code_and_heavy == [2, []], done.stderr
