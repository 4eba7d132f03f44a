from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from memfun_core.secrets import looks_like_secret, redact, redact_url, secret_env_values

secret_values = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=8, max_size=40
)
surrounding = st.text(max_size=60)


@given(secret=secret_values, before=surrounding, after=surrounding)
def test_a_known_secret_never_survives(secret: str, before: str, after: str) -> None:
    text = f"{before}{secret}{after}"
    assert secret not in redact(text, [secret])


@given(
    key=st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        min_size=36,
        max_size=60,
    ),
    prefix=st.sampled_from(["sk-ant-", "sk-proj-", "sk-", "ghp_", "AIza"]),
    before=surrounding,
)
def test_key_shapes_are_recognised_and_removed(key: str, prefix: str, before: str) -> None:
    value = prefix + key + ("x" * 10 if prefix == "AIza" else "")
    assert looks_like_secret(value)
    assert value not in redact(f"{before} {value} tail")


def test_secret_env_values_by_name_and_extra() -> None:
    env = {
        "OPENAI_API_KEY": "sk-value-0001",
        "GITHUB_TOKEN": "tok-value-0002",
        "DB_PASSWORD": "pw-value-0003",
        "CUSTOM": "custom-value-4",
        "PATH": "/usr/bin:/bin",
        "SHORT_TOKEN": "abc",  # too short to redact safely
    }
    assert secret_env_values(env) == {"sk-value-0001", "tok-value-0002", "pw-value-0003"}
    assert "custom-value-4" in secret_env_values(env, extra_names=["CUSTOM"])


def test_ordinary_words_survive() -> None:
    text = "token budget exceeded after 12 iterations; api_key_env=OPENAI_API_KEY"
    assert redact(text) == text


url_secret = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.~", min_size=8, max_size=30)


@given(user=st.sampled_from(["", "user", "admin"]), secret=url_secret)
def test_a_url_password_never_survives_redact_url(user: str, secret: str) -> None:
    for url in (
        f"redis://{user}:{secret}@127.0.0.1:6379/0",
        f"nats://{secret}@[::1]:4222",
        f"redis://127.0.0.1/0?password={secret}&db=1",
    ):
        assert secret not in redact_url(url)


def test_redact_url_keeps_what_is_not_secret() -> None:
    assert redact_url("redis://user:pw@host:6380/1") == "redis://user:***@host:6380/1"
    assert redact_url("redis://host:6379/0?db=1") == "redis://host:6379/0?db=1"
    assert redact_url("nats://tok@host:4222") == "nats://***@host:4222"
