from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from memfun_runtime import project_namespace

MEMFUN = str(Path(sys.executable).parent / "memfun")
KEY_VALUE = "doctor-test-key-value-123456"


class _Ollama(BaseHTTPRequestHandler):
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Ollama.seen.append(self.path)
        body = b'{"models": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def local_model_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ollama)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def doctor(
    project: Path, toml: str, *args: str, **env: str
) -> tuple[int, dict[str, dict[str, str]], str]:
    (project / "memfun.toml").write_text(toml, encoding="utf-8")
    base = {
        k: v for k, v in os.environ.items() if not k.startswith("MEMFUN_") and "API_KEY" not in k
    }
    result = subprocess.run(
        [MEMFUN, "doctor", "--json", *args],
        cwd=project,
        env={**base, "HOME": str(project), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    data = json.loads(result.stdout)
    assert data["ok"] is (result.returncode == 0)
    return result.returncode, {c["name"]: c for c in data["checks"]}, result.stdout + result.stderr


def test_local_model_reachable_and_key_present(tmp_path: Path, local_model_server: str) -> None:
    toml = (
        f'[llm]\nmodel = "ollama_chat/qwen"\napi_base = "{local_model_server}"\napi_key_env = "DOC_KEY"\n'
        '[runtime]\ntier = "memory"\n'
    )
    _, checks, output = doctor(tmp_path, toml, DOC_KEY=KEY_VALUE)
    assert checks["config"]["status"] == "ok"
    assert checks["model"]["detail"] == "ollama_chat/qwen"
    assert checks["api key"]["status"] == "ok"
    assert checks["model reachable"]["status"] == "ok"
    assert "HTTP 200" in checks["model reachable"]["detail"]
    assert _Ollama.seen[-1] == "/api/tags"
    assert checks["runtime"]["status"] == "ok"
    assert checks["rg"]["status"] == "ok"
    assert checks["ast-grep"]["status"] == "ok"
    assert KEY_VALUE not in output


def test_unreachable_model(tmp_path: Path, free_port: int) -> None:
    toml = f'[llm]\nmodel = "openai/x"\napi_base = "http://127.0.0.1:{free_port}/v1"\napi_key_env = "DOC_KEY"\n'
    code, checks, _ = doctor(tmp_path, toml, DOC_KEY=KEY_VALUE)
    assert code == 1
    assert checks["api key"]["status"] == "ok"
    assert checks["model reachable"]["status"] == "fail"
    assert "api_base" in checks["model reachable"]["fix"]


def test_a_missing_key_stops_the_model_probe(tmp_path: Path, local_model_server: str) -> None:
    before = len(_Ollama.seen)
    toml = (
        f'[llm]\nmodel = "ollama_chat/qwen"\napi_base = "{local_model_server}"\n'
        'api_key_env = "DOC_KEY"\n[runtime]\ntier = "memory"\n'
    )
    code, checks, _ = doctor(tmp_path, toml)
    assert code == 1
    assert checks["api key"]["status"] == "fail"
    assert "export DOC_KEY=" in checks["api key"]["fix"]
    assert checks["model reachable"]["status"] == "warn"
    assert checks["model reachable"]["detail"] == "skipped: the key check failed"
    assert len(_Ollama.seen) == before  # the server was not asked


def test_offline_skips_the_probe(tmp_path: Path, free_port: int) -> None:
    toml = f'[llm]\nmodel = "openai/x"\napi_base = "http://127.0.0.1:{free_port}/v1"\n'
    _, checks, _ = doctor(tmp_path, toml, "--offline")
    assert checks["model reachable"]["status"] == "warn"


def test_no_model_says_how_to_configure(tmp_path: Path) -> None:
    code, checks, _ = doctor(tmp_path, "")
    assert code == 1
    assert checks["model"]["status"] == "fail"
    assert "memfun init" in checks["model"]["fix"]


def test_bad_config_is_one_failed_check(tmp_path: Path) -> None:
    code, checks, output = doctor(tmp_path, '[runtime]\ntier = "postgres"\n')
    assert code == 1
    assert checks["config"]["status"] == "fail"
    assert "runtime.tier" in checks["config"]["detail"]
    assert "Traceback" not in output


def test_redis_tier(tmp_path: Path, redis_url: str, free_port: int) -> None:
    _, checks, _ = doctor(tmp_path, f'[runtime]\ntier = "redis"\nredis_url = "{redis_url}"\n')
    assert checks["runtime"]["status"] == "ok"
    assert "answers PING" in checks["runtime"]["detail"]
    assert checks["runtime"]["detail"].endswith(f"; namespace {project_namespace(tmp_path)}")
    _, checks, _ = doctor(
        tmp_path, f'[runtime]\ntier = "redis"\nredis_url = "redis://127.0.0.1:{free_port}"\n'
    )
    assert checks["runtime"]["status"] == "fail"
    assert "redis_url" in checks["runtime"]["fix"]


def test_nats_tier(tmp_path: Path, nats_url: str, redis_url: str) -> None:
    _, checks, _ = doctor(tmp_path, f'[runtime]\ntier = "nats"\nnats_url = "{nats_url}"\n')
    assert checks["runtime"]["status"] == "ok"
    assert "JetStream on" in checks["runtime"]["detail"]
    port = redis_url.rsplit(":", 1)[1].split("/", maxsplit=1)[0]
    _, checks, _ = doctor(
        tmp_path, f'[runtime]\ntier = "nats"\nnats_url = "nats://127.0.0.1:{port}"\n'
    )
    assert checks["runtime"]["status"] == "fail"  # Redis is not a NATS server


def test_table_output_for_people(tmp_path: Path) -> None:
    (tmp_path / "memfun.toml").write_text("", encoding="utf-8")
    result = subprocess.run(
        [MEMFUN, "doctor", "--offline"],
        cwd=tmp_path,
        env={**os.environ, "HOME": str(tmp_path), "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert "no model configured" in result.stdout
    assert "[llm] model" in result.stdout  # markup in fixes is escaped, not eaten
    assert "\x1b[" not in result.stdout


def test_the_report_fits_80_columns(tmp_path: Path) -> None:
    (tmp_path / "memfun.toml").write_text(
        '[llm]\nmodel = "anthropic/claude-sonnet-4-5"\n'
        'api_key_env = "DOC_A_RATHER_LONG_KEY_VARIABLE_NAME_FOR_THIS_TEST"\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMFUN_")}
    result = subprocess.run(
        [MEMFUN, "doctor", "--offline"],
        cwd=tmp_path,
        env={**env, "HOME": str(tmp_path), "NO_COLOR": "1", "COLUMNS": "80"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    for name in ("config", "model", "api key", "runtime", "rg", "ast-grep"):
        assert sum(1 for line in lines if line[5:].startswith(name + " ")) >= 1, name
    assert any(line.startswith("fail api key ") for line in lines)
    joined = " ".join(line.strip() for line in lines)  # wrapped at spaces, nothing cut
    assert (
        "fail api key $DOC_A_RATHER_LONG_KEY_VARIABLE_NAME_FOR_THIS_TEST is not set "
        "fix: export DOC_A_RATHER_LONG_KEY_VARIABLE_NAME_FOR_THIS_TEST=<your key> in the shell "
        "that runs memfun"
    ) in " ".join(joined.split())
