"""The suite format: the shipped suite loads, and every malformed or hostile suite is refused
with the field named (YAML is safe-loaded: a Python tag never runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from memfun_core.errors import NotFoundError, ValidationError
from memfun_optimizer.evals import load_suite

SHIPPED = Path(__file__).resolve().parents[3] / "evals" / "memfun"


def test_the_shipped_suite_has_twelve_tasks_of_three_kinds() -> None:
    suite = load_suite(SHIPPED)
    assert suite.name == "memfun"
    assert len(suite.tasks) >= 12
    assert {t.kind for t in suite.tasks} == {"question", "fix", "refactor"}
    assert all(t.source.is_dir() for t in suite.tasks)
    assert all(t.edits == bool(t.check.command or t.check.python) for t in suite.tasks)
    assert [t.id for t in suite.select(("pager-fix",)).tasks] == ["pager-fix"]
    with pytest.raises(NotFoundError, match="pager-fx"):
        suite.select(("pager-fx",))


def write(tmp_path: Path, body: str) -> Path:
    (tmp_path / "repo").mkdir(exist_ok=True)
    path = tmp_path / "suite.yaml"
    path.write_text("schema: memfun.evals/1\n" + body, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("tasks: []\n", "tasks"),
        ("tasks:\n  - {id: a, fixture: repo, task: t}\n", "tasks[0].check"),
        ("tasks:\n  - {id: a, fixture: repo, task: t, check: {}}\n", "tasks[0].check"),
        ("tasks:\n  - {id: A!, fixture: repo, task: t, check: {contains: x}}\n", "tasks[0].id"),
        ("tasks:\n  - {id: a, fixture: nope, task: t, check: {contains: x}}\n", "fixture"),
        ("tasks:\n  - {id: a, fixture: repo, task: t, check: {regex: '('}}\n", "regex"),
        ("tasks:\n  - {id: a, fixture: repo, task: t, check: {python: 'os.system'}}\n", "python"),
        (
            "tasks:\n  - {id: a, fixture: repo, path: repo, task: t, check: {contains: x}}\n",
            "tasks[0]",
        ),
        (
            "tasks:\n  - {id: a, fixture: repo, task: t, check: {contains: x}}\n"
            "  - {id: a, fixture: repo, task: u, check: {contains: y}}\n",
            "duplicate",
        ),
        ("tasks: !!python/object/apply:os.system ['touch pwned']\n", "YAML"),
    ],
)
def test_a_bad_suite_is_refused_naming_the_field(tmp_path: Path, body: str, field: str) -> None:
    with pytest.raises(ValidationError, match=field.replace("[", r"\[").replace("]", r"\]")):
        load_suite(write(tmp_path, body))
    assert not (tmp_path / "pwned").exists()
    assert not Path("pwned").exists()


def test_the_schema_is_required(tmp_path: Path) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text("tasks: []\n", encoding="utf-8")
    with pytest.raises(ValidationError, match=r"memfun\.evals/1"):
        load_suite(path)
