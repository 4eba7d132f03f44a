"""``[agents]`` of memfun.toml reaches the agents: delegation depth and timeout, instructions.

The agents here are built by ``setup_from_config`` exactly as ``memfun agent run`` and
``memfun runtime worker --agents`` build them; the model is a scripted OpenAI-compatible
server on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from memfun_agent.definitions import AgentDefinition
from memfun_agent.dispatch import defined_agent, dispatch, setup_from_config
from memfun_agent.dispatch._serve import agent_worker_parser
from memfun_agent.testing import FakeOpenAI, fake_openai_server, format_fields
from memfun_core.config import MemfunConfig, load_config
from memfun_core.errors import ConfigError
from memfun_runtime import RuntimeBuilder

LEAD = AgentDefinition(name="lead", description="Splits work.", delegates=("helper",))
HELPER = AgentDefinition(name="helper", description="Answers sub-questions.")


@pytest.fixture
def model() -> Iterator[FakeOpenAI]:
    with fake_openai_server() as fake:
        yield fake


def _project(tmp_path: Path, model: FakeOpenAI, agents: str) -> MemfunConfig:
    (tmp_path / "home").mkdir(exist_ok=True)
    project = tmp_path / "proj"
    project.mkdir()
    (project / "README.md").write_text("A project without checks.\n")
    (project / "memfun.toml").write_text(
        f'[llm]\nmodel = "openai/test-model"\napi_base = "{model.base}"\n'
        f'[runtime]\ntier = "sqlite"\n[agents]\n{agents}\n'
    )
    return load_config(project, {"HOME": str(tmp_path / "home")})


def test_the_worker_options_default_to_the_configuration(tmp_path: Path, model: FakeOpenAI) -> None:
    config = _project(tmp_path, model, "max_delegation_depth = 1\ndelegation_timeout_seconds = 2.5")
    args = agent_worker_parser().parse_args(["--agents", "agents"])
    setup = setup_from_config(
        config, max_depth=args.max_depth, delegate_timeout=args.delegate_timeout
    )
    assert (setup.max_depth, setup.delegate_timeout) == (1, 2.5)
    # The command line still wins.
    args = agent_worker_parser().parse_args(
        ["--agents", "agents", "--max-depth", "4", "--delegate-timeout", "9"]
    )
    setup = setup_from_config(
        config, max_depth=args.max_depth, delegate_timeout=args.delegate_timeout
    )
    assert (setup.max_depth, setup.delegate_timeout) == (4, 9.0)


def test_a_negative_depth_is_refused_with_the_key_named(tmp_path: Path, model: FakeOpenAI) -> None:
    with pytest.raises(ConfigError) as caught:
        _project(tmp_path, model, "max_delegation_depth = -1")
    assert "agents.max_delegation_depth" in str(caught.value)


@pytest.mark.usefixtures("sandbox_ok")
async def test_max_delegation_depth_zero_refuses_every_delegation(
    tmp_path: Path, model: FakeOpenAI
) -> None:
    config = _project(tmp_path, model, "max_delegation_depth = 0\nproject_instructions = false")
    (Path(config.project_root) / "AGENTS.md").write_text("Secret house rule (HOUSE-RULE-4).\n")
    model.replies = [
        format_fields(
            {
                "reasoning": "Hand it to the helper.",
                "code": "try:\n    delegate('helper', 'count')\n    message = 'delegated'\n"
                "except Exception as exc:\n    message = str(exc)\nprint(message)",
            }
        ),
        format_fields({"reasoning": "Report.", "code": "SUBMIT(answer=message, summary='none')"}),
    ]
    setup = setup_from_config(config)
    runtime = (
        RuntimeBuilder()
        .sqlite(tmp_path / "rt.db")
        .agent(defined_agent(LEAD, setup))
        .agent(defined_agent(HELPER, setup))
        .build()
    )
    async with runtime:
        result = await dispatch(runtime, "Count the lines", agent="lead", timeout=120)

    assert result.ok, result.error
    assert "delegation depth limit reached" in result.answer
    assert "max_delegation_depth = 0" in result.answer
    assert len(model.requests) == 2  # the helper never ran
    # [agents] project_instructions = false: the AGENTS.md never reached the model.
    assert all("HOUSE-RULE-4" not in str(request) for request in model.requests)
