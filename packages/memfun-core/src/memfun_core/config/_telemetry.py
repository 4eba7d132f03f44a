"""The ``[telemetry]`` section: live OpenTelemetry export of run traces, and its headers."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from memfun_core.errors import ConfigError
from memfun_core.secrets import SECRET_NAME_PATTERN

__all__ = ["TelemetryConfig", "check_otlp_endpoint", "check_otlp_header", "expand_env_refs"]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: A credential header's value: ``${NAME}``, optionally after one scheme word (``Bearer``).
_CREDENTIAL_VALUE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9_-]* )?\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_HEADER_HINT = (
    "export the secret in your shell and write it as a reference: "
    'Authorization = "Bearer ${OTLP_TOKEN}"'
)


def check_otlp_endpoint(url: str, *, key: str = "telemetry.endpoint") -> str:
    """Check an OTLP/HTTP endpoint URL and return it.

    Raises:
        ConfigError: Not an ``http``/``https`` URL with a host, or it carries a user name or
            password (credentials go in a header taken from the environment).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"expected an http:// or https:// URL with a host, got {url!r}",
            key=key,
            expected="an OTLP/HTTP URL such as http://127.0.0.1:4318/v1/traces",
        )
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            "the URL carries credentials; Memfun refuses to read secrets from config",
            key=key,
            expected="a URL without user:password@",
            hint=_HEADER_HINT,
        )
    return url


def check_otlp_header(name: str, value: str, *, key: str = "telemetry.headers") -> None:
    """Check one export header: credential headers must take their value from the environment.

    A header named like a credential (``Authorization``, ``x-api-key``, ``...-token``) must be
    ``${NAME}`` or ``<scheme> ${NAME}``; other values may reference variables too.

    Raises:
        ConfigError: A bad header name, or a credential header whose value is written out.
    """
    if not _HEADER_NAME.match(name):
        raise ConfigError(f"{name!r} is not an HTTP header name", key=f"{key}.{name}")
    if SECRET_NAME_PATTERN.search(name) and not _CREDENTIAL_VALUE.match(value):
        raise ConfigError(
            "a credential header must name the environment variable that holds it; "
            "Memfun refuses to read secrets from config",
            key=f"{key}.{name}",
            expected='"${NAME}" or "<scheme> ${NAME}"',
            hint=_HEADER_HINT,
        )


def expand_env_refs(
    values: Mapping[str, str],
    environ: Mapping[str, str] | None = None,
    *,
    key: str,
) -> dict[str, str]:
    """Replace each ``${NAME}`` in the values with that environment variable.

    Config holds references (``"Bearer ${OTLP_TOKEN}"``), never secrets; they are resolved
    when used (MCP server environments, telemetry headers).

    Args:
        values: Name -> value with references.
        environ: The environment (``os.environ`` by default).
        key: The dotted config key of ``values`` (``mcp.servers.docs.env``), for errors.

    Raises:
        ConfigError: A referenced variable is not set.
    """
    env = os.environ if environ is None else environ
    out: dict[str, str] = {}
    for name, value in values.items():

        def lookup(match: re.Match[str], name: str = name) -> str:
            found = env.get(match.group(1))
            if found is None:
                raise ConfigError(
                    f"references ${{{match.group(1)}}}, which is not set in the environment",
                    key=f"{key}.{name}",
                    hint=f"export {match.group(1)}=... before starting memfun",
                )
            return found

        out[name] = _ENV_REF.sub(lookup, value)
    return out


@dataclass(frozen=True, slots=True)
class TelemetryConfig:
    """OpenTelemetry export of run traces (the ``[telemetry]`` section of ``memfun.toml``).

    Attributes:
        enabled: Export every run's trace when it is saved (live export). Off by default.
        endpoint: The OTLP/HTTP traces URL (``http://127.0.0.1:4318/v1/traces``); a URL
            with no path gets ``/v1/traces``. ``memfun trace export --format otlp`` uses it
            when ``--endpoint`` is not given.
        headers: HTTP headers of each export request. Values reference the environment as
            ``${NAME}``; a credential header (``Authorization``, ``x-api-key``) must.
        content: Whether spans carry the run's text (task, reasoning, code, output, tool
            arguments and results, replies), already redacted; off: names, models, tokens,
            timings and outcomes only.
        timeout_seconds: How long one export request may take.
    """

    enabled: bool = False
    endpoint: str | None = None
    headers: dict[str, str] = field(default_factory=dict[str, str])
    content: bool = True
    timeout_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.enabled and not self.endpoint:
            raise ConfigError(
                "live export needs an endpoint",
                key="telemetry.endpoint",
                hint='set telemetry.endpoint = "http://127.0.0.1:4318/v1/traces" (your collector)',
            )
        if self.endpoint is not None:
            check_otlp_endpoint(self.endpoint)
        for name, value in self.headers.items():
            check_otlp_header(name, value)
