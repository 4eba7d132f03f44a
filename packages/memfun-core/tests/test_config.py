from __future__ import annotations

from pathlib import Path

import pytest

from memfun_core.config import MCPServerConfig, load_config
from memfun_core.errors import ConfigError, UserError


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / ".config" / "memfun").mkdir(parents=True)
    return home


@pytest.fixture
def project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "src" / "deep").mkdir(parents=True)
    return project


def env_for(home: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(home), **extra}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_any_file(home: Path, project: Path) -> None:
    config = load_config(project, env_for(home))
    assert config.runtime.tier == "sqlite"
    assert config.llm.model is None
    assert config.llm.budgets.max_iterations == 20
    assert config.sources == ()
    assert config.project_root == str(project.resolve())


def test_precedence_user_then_project_then_env(home: Path, project: Path) -> None:
    write(
        home / ".config" / "memfun" / "config.toml",
        '[llm]\nmodel = "openai/gpt-4.1"\nsub_model = "openai/gpt-4.1-mini"\n'
        '[runtime]\ntier = "redis"\n',
    )
    project_file = write(project / "memfun.toml", '[runtime]\ntier = "nats"\n')
    # found by walking up from a sub-folder
    config = load_config(project / "src" / "deep", env_for(home))
    assert config.llm.model == "openai/gpt-4.1"  # from the user file
    assert config.runtime.tier == "nats"  # project beats user
    assert config.project_root == str(project.resolve())
    assert config.sources == (str(home / ".config" / "memfun" / "config.toml"), str(project_file))

    config = load_config(
        project / "src",
        env_for(home, MEMFUN_RUNTIME__TIER="memory", MEMFUN_LLM__BUDGETS__MAX_ITERATIONS="7"),
    )
    assert config.runtime.tier == "memory"  # env beats everything
    assert config.llm.budgets.max_iterations == 7
    assert config.llm.sub_model == "openai/gpt-4.1-mini"  # untouched keys survive the merge
    assert "MEMFUN_RUNTIME__TIER" in config.sources


def test_xdg_config_home_and_explicit_file(home: Path, project: Path, tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    (xdg / "memfun").mkdir(parents=True)
    write(xdg / "memfun" / "config.toml", '[logging]\nlevel = "DEBUG"\n')
    write(project / "memfun.toml", '[runtime]\ntier = "nats"\n')
    explicit = write(tmp_path / "other.toml", '[runtime]\ntier = "memory"\n')
    config = load_config(
        project, env_for(home, XDG_CONFIG_HOME=str(xdg), MEMFUN_CONFIG=str(explicit))
    )
    assert config.logging.level == "DEBUG"
    assert config.runtime.tier == "memory"  # MEMFUN_CONFIG replaces the project search


def test_env_value_types(home: Path, project: Path) -> None:
    config = load_config(
        project,
        env_for(
            home,
            MEMFUN_SANDBOX__NETWORK="yes",
            MEMFUN_LLM__BUDGETS__MAX_COST_USD="1.5",
            MEMFUN_SKILLS__PATHS="a, b ,c",
            MEMFUN_REDIS_URL="redis://ignored",  # not a config variable: no double underscore
        ),
    )
    assert config.sandbox.network is True
    assert config.llm.budgets.max_cost_usd == 1.5
    assert config.skills.paths == ("a", "b", "c")


def test_mcp_servers_merge_by_name(home: Path, project: Path) -> None:
    write(
        home / ".config" / "memfun" / "config.toml",
        '[mcp.servers.docs]\nurl = "http://127.0.0.1:9000/mcp"\n'
        '[mcp.servers.files]\ncommand = "npx"\nargs = ["-y", "server-files"]\n',
    )
    write(
        project / "memfun.toml",
        '[mcp.servers.files]\ncommand = "uvx"\nargs = ["files"]\nenv = { TOKEN = "${FILES_TOKEN}" }\n',
    )
    servers = load_config(project, env_for(home)).mcp.servers
    assert servers["docs"] == MCPServerConfig(url="http://127.0.0.1:9000/mcp")
    assert servers["files"].command == "uvx"
    assert servers["files"].args == ("files",)
    assert servers["files"].env == {"TOKEN": "${FILES_TOKEN}"}


# --- every error path: one clear ConfigError naming the source and the key ---------------

BAD_FILES = [
    pytest.param(
        '[runtime]\ntierr = "sqlite"\n', "runtime.tierr", "did you mean 'tier'", id="unknown-key"
    ),
    pytest.param(
        '[runtimes]\ntier = "sqlite"\n', "runtimes", "known keys here", id="unknown-section"
    ),
    pytest.param(
        '[runtime]\ntier = "postgres"\n', "runtime.tier", "one of 'memory'", id="bad-literal"
    ),
    pytest.param(
        "[sandbox]\nnetwork = 1\n", "sandbox.network", "true or false", id="wrong-type-bool"
    ),
    pytest.param(
        '[llm.budgets]\nmax_iterations = "ten"\n',
        "llm.budgets.max_iterations",
        "positive integer",
        id="wrong-type-int",
    ),
    pytest.param(
        "[llm.budgets]\nmax_iterations = 2.5\n",
        "llm.budgets.max_iterations",
        "positive integer",
        id="float-for-int",
    ),
    pytest.param(
        "[sandbox]\ntimeout_seconds = -1\n",
        "sandbox.timeout_seconds",
        "positive number",
        id="negative",
    ),
    pytest.param('[skills]\npaths = "one"\n', "skills.paths", "a list of", id="string-for-list"),
    pytest.param("[skills]\npaths = [1]\n", "skills.paths[0]", "a string", id="list-item-type"),
    pytest.param('runtime = "sqlite"\n', "runtime", "a table", id="scalar-for-table"),
    pytest.param(
        '[llm]\napi_key = "abc123456789"\n', "llm.api_key", "raw API key", id="raw-key-field"
    ),
    pytest.param(
        '[llm]\napi_key_env = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz"\n',
        "llm.api_key_env",
        "raw API key",
        id="raw-key-in-env-name",
    ),
    pytest.param(
        '[llm]\nmodel = "sk-proj-abcdefghijklmnopqrstuvwxyz012345"\n',
        "llm.model",
        "raw API key",
        id="raw-key-anywhere",
    ),
    pytest.param(
        '[llm]\napi_key_env = "my key"\n',
        "llm.api_key_env",
        "NAME of an environment variable",
        id="env-name-shape",
    ),
    pytest.param(
        '[mcp.servers.x]\nenv = { T = "ghp_abcdefghijklmnopqrstuvwxyz0123456789" }\n',
        "mcp.servers.x.env.T",
        "raw API key",
        id="raw-key-mcp-env",
    ),
    pytest.param(
        '[mcp.servers.x]\nargs = ["a"]\n', "mcp.servers.x", "exactly one of", id="mcp-neither"
    ),
    pytest.param(
        '[mcp.servers.x]\ncommand = "a"\nurl = "http://h"\n',
        "mcp.servers.x",
        "exactly one of",
        id="mcp-both",
    ),
    pytest.param('[runtime\ntier = "sqlite"\n', None, "not valid TOML", id="malformed-toml"),
    pytest.param('[runtime]\ntier = "a"\ntier = "b"\n', None, "not valid TOML", id="duplicate-key"),
]


@pytest.mark.parametrize(("text", "key", "fragment"), BAD_FILES)
def test_bad_file_gives_one_clear_error(
    home: Path, project: Path, text: str, key: str | None, fragment: str
) -> None:
    path = write(project / "memfun.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_config(project, env_for(home))
    error = caught.value
    assert isinstance(error, UserError)
    assert error.source == str(path)
    assert error.key == key
    assert fragment in str(error)
    assert str(path) in str(error)


def test_raw_key_value_never_echoed(home: Path, project: Path) -> None:
    key = "sk-proj-abcdefghijklmnopqrstuvwxyz012345"
    write(project / "memfun.toml", f'[runtime]\ntier = "{key}"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(project, env_for(home))
    assert key not in str(caught.value)


def test_non_utf8_file(home: Path, project: Path) -> None:
    (project / "memfun.toml").write_bytes(b'[llm]\nmodel = "\xff\xfe"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(project, env_for(home))


def test_unreadable_file(home: Path, project: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="cannot read the file") as caught:
        load_config(project, env_for(home, MEMFUN_CONFIG=str(missing)))
    assert caught.value.source == str(missing)


BAD_ENV = [
    pytest.param(
        {"MEMFUN_RUNTIME__TIRE": "redis"}, "runtime.tire", "no such config key", id="unknown"
    ),
    pytest.param({"MEMFUN_NOPE__X": "1"}, "nope.x", "no such config key", id="unknown-section"),
    pytest.param(
        {"MEMFUN_SANDBOX__NETWORK": "maybe"}, "sandbox.network", "true or false", id="bad-bool"
    ),
    pytest.param(
        {"MEMFUN_LLM__BUDGETS__MAX_ITERATIONS": "x"},
        "llm.budgets.max_iterations",
        "positive integer",
        id="bad-int",
    ),
    pytest.param({"MEMFUN_RUNTIME__TIER": "postgres"}, "runtime.tier", "one of", id="bad-literal"),
    pytest.param(
        {"MEMFUN_MCP__SERVERS": "x"},
        "mcp.servers",
        "cannot be set from the environment",
        id="table",
    ),
    pytest.param(
        {"MEMFUN_LLM__API_KEY_ENV": "sk-ant-api03-abcdefghijklmnopqrstuvwxyz"},
        "llm.api_key_env",
        "raw API key",
        id="raw-key",
    ),
]


@pytest.mark.parametrize(("extra", "key", "fragment"), BAD_ENV)
def test_bad_env_gives_one_clear_error(
    home: Path, project: Path, extra: dict[str, str], key: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(project, env_for(home, **extra))
    (name,) = extra
    assert caught.value.source == f"environment variable {name}"
    assert caught.value.key == key
    assert fragment in str(caught.value)


def test_web_section(home: Path, project: Path) -> None:
    write(
        project / "memfun.toml",
        '[web]\nallow_loopback = true\nmax_redirects = 0\nsearch_backend = "searxng"\n'
        'searxng_url = "http://127.0.0.1:8888"\ndeny_hosts = ["*.internal.example"]\n',
    )
    # allow_loopback from a project file waits for trust (test_untrusted_config.py); here the
    # parsing is under test.
    web = load_config(project, env_for(home), trust_check=False).web
    assert web.allow_loopback is True
    assert web.max_redirects == 0  # zero is meaningful here: follow no redirect
    assert web.deny_hosts == ("*.internal.example",)
    assert web.brave_api_key_env == "BRAVE_API_KEY"


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        ('[web]\nsearch_backend = "searxng"\n', "web.searxng_url", "needs a SearXNG instance URL"),
        ("[web]\nmax_bytes = 0\n", "web.max_bytes", "positive integer"),
        (
            '[web]\nbrave_api_key_env = "BSA-not a name"\n',
            "web.brave_api_key_env",
            "NAME of an environment variable",
        ),
    ],
)
def test_web_section_errors(home: Path, project: Path, text: str, key: str, fragment: str) -> None:
    path = write(project / "memfun.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_config(project, env_for(home))
    assert caught.value.source == str(path)
    assert caught.value.key == key
    assert fragment in str(caught.value)
