"""The ``[telemetry]`` section: off by default; credentials only by environment reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from memfun_core.config import TelemetryConfig, expand_env_refs, load_config
from memfun_core.errors import ConfigError


def _load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> TelemetryConfig:
    (tmp_path / "memfun.toml").write_text(text, encoding="utf-8")
    return load_config(tmp_path, environ=environ or {}, files=[tmp_path / "memfun.toml"]).telemetry


def test_telemetry_is_off_by_default(tmp_path: Path) -> None:
    assert _load(tmp_path, "") == TelemetryConfig()
    assert TelemetryConfig().enabled is False


def test_section_is_read_and_references_resolve(tmp_path: Path) -> None:
    telemetry = _load(
        tmp_path,
        "[telemetry]\nenabled = true\nendpoint = 'http://127.0.0.1:4318/v1/traces'\n"
        "content = false\ntimeout_seconds = 3\n"
        "headers = { Authorization = 'Bearer ${OTLP_TOKEN}', x-team = 'core-${TEAM}' }\n",
    )
    assert telemetry.enabled
    assert not telemetry.content
    assert telemetry.timeout_seconds == 3
    assert expand_env_refs(
        telemetry.headers, {"OTLP_TOKEN": "t0k3n-value", "TEAM": "a"}, key="telemetry.headers"
    ) == {
        "Authorization": "Bearer t0k3n-value",
        "x-team": "core-a",
    }


def test_an_environment_variable_turns_it_on(tmp_path: Path) -> None:
    env = {
        "MEMFUN_TELEMETRY__ENABLED": "1",
        "MEMFUN_TELEMETRY__ENDPOINT": "https://otel.example.org/v1/traces",
    }
    telemetry = _load(tmp_path, "", env)
    assert telemetry.enabled
    assert telemetry.endpoint == "https://otel.example.org/v1/traces"


def test_a_written_out_credential_header_is_refused(tmp_path: Path) -> None:
    # Not shaped like any provider key, so only the header rule can catch it.
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, "[telemetry]\nheaders = { Authorization = 'Basic dXNlcjpodW50ZXIy' }\n")
    assert "telemetry.headers.Authorization" in str(caught.value)
    assert "dXNlcjpodW50ZXIy" not in str(caught.value)
    assert "${" in (caught.value.hint or "")
    with pytest.raises(ConfigError, match="x-api-key"):
        _load(tmp_path, "[telemetry]\nheaders = { x-api-key = 'lf-pk-1234567890' }\n")


def test_credentials_in_the_endpoint_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, "[telemetry]\nendpoint = 'https://me:hunter2hunter2@otel.example.org'\n")
    assert "credentials" in str(caught.value)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("enabled = true\n", "telemetry.endpoint"),
        ("endpoint = 'file:///etc/passwd'\n", "telemetry.endpoint"),
        ("timeout_seconds = 0\n", "telemetry.timeout_seconds"),
        ("headers = { 'bad header' = 'x' }\n", "telemetry.headers"),
    ],
)
def test_bad_values_are_refused(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, "[telemetry]\n" + text)
    assert key in str(caught.value)


def test_an_unset_reference_names_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        expand_env_refs(
            {"Authorization": "Bearer ${NOT_SET_ANYWHERE}"}, {}, key="telemetry.headers"
        )
    assert "NOT_SET_ANYWHERE" in str(caught.value)
    assert "telemetry.headers.Authorization" in str(caught.value)
