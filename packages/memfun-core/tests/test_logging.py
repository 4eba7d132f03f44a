from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from memfun_core.log import setup_logging

SECRET = "s3cr3t-v4lue-0123456789"
NAMED_SECRET = "plain-looking-value-42"


@pytest.fixture
def stream(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    monkeypatch.setenv("ACME_API_KEY", SECRET)
    monkeypatch.setenv("MY_LLM_CREDS_VAR", NAMED_SECRET)  # not secret-shaped by name
    out = io.StringIO()
    yield out
    logger = logging.getLogger("memfun.test")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)


def log_everything(logger: logging.Logger) -> None:
    logger.warning("plain %s", SECRET)
    logger.warning("named %s", NAMED_SECRET)
    logger.warning("shape sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123")
    logger.warning("header Authorization: Bearer abcdefghijklmnop1234")
    logger.warning("extra field", extra={"detail": f"key={SECRET}"})
    try:
        raise RuntimeError(f"failed with {SECRET}")
    except RuntimeError:
        logger.exception("boom")
    logger.warning("stack", stack_info=True)


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_no_secret_reaches_any_record(stream: io.StringIO, as_json: bool) -> None:
    setup_logging(
        "DEBUG",
        json=as_json,
        stream=stream,
        logger="memfun.test",
        secret_env_names=["MY_LLM_CREDS_VAR"],
    )
    logger = logging.getLogger("memfun.test")
    logger.propagate = False
    log_everything(logger)
    output = stream.getvalue()
    assert SECRET not in output
    assert NAMED_SECRET not in output
    assert "abcdefghijklmnopqrstuvwxyz0123" not in output
    assert "abcdefghijklmnop1234" not in output
    assert output.count("[REDACTED]") >= 5
    assert "RuntimeError" in output  # the traceback is kept, only the secret goes
    if as_json:
        records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        assert len(records) == 7
        assert {r["level"] for r in records} == {"WARNING", "ERROR"}
        assert records[4]["detail"] == "key=[REDACTED]"
        assert "exc" in records[5]


def test_records_seen_by_other_handlers_are_redacted(stream: io.StringIO) -> None:
    setup_logging("INFO", stream=stream, logger="memfun.test")
    logger = logging.getLogger("memfun.test")
    logger.propagate = False
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logger.addHandler(Keep())
    logger.warning("value %s", SECRET)
    assert len(seen) == 1
    assert SECRET not in seen[0].getMessage()


def test_setup_twice_replaces_the_handler(stream: io.StringIO) -> None:
    setup_logging("INFO", stream=stream, logger="memfun.test")
    setup_logging("INFO", stream=stream, logger="memfun.test")
    logger = logging.getLogger("memfun.test")
    logger.propagate = False
    logger.info("once")
    assert stream.getvalue().count("once") == 1
    assert logger.level == logging.INFO


def test_key_exported_after_setup_is_still_redacted(
    stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_logging("INFO", stream=stream, logger="memfun.test")
    logger = logging.getLogger("memfun.test")
    logger.propagate = False
    monkeypatch.setenv("LATE_TOKEN", "late-token-value-99")
    logger.info("using late-token-value-99")
    assert "late-token-value-99" not in stream.getvalue()
