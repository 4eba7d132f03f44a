"""``memfun eval run`` on Memfun's own suite (evals/memfun): a real subprocess, the real agent,
sandbox, file tools and pytest checks, with only the model scripted (an OpenAI-compatible
server on 127.0.0.1 configured through memfun.toml)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from memfun_agent.testing import FakeOpenAI, format_fields
from memfun_cli.testing import memfun as run_memfun
from memfun_cli.testing import new_project, step

SUITE = Path(__file__).resolve().parents[3] / "evals" / "memfun"


@pytest.fixture
def project(tmp_path: Path, model: FakeOpenAI) -> Path:
    return new_project(tmp_path, model.base, tier="sqlite", max_iterations=6)


def memfun(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_memfun(project, *args, env={"COLUMNS": "160"}, timeout=900)


def submit(answer: str) -> str:
    return step(f"SUBMIT(answer={answer!r}, summary='done')")


PRICING = '"""Prices."""\n\n\ndef item_value(item):\n    return item.quantity * item.unit_price\n'
GEOMETRY = (
    "import math\n\n\ndef circle_area(radius):\n    return math.pi * radius * radius\n\n\n"
    "def square_area(side):\n    return side * side\n"
)
REPORT = (
    "from shapes.geometry import circle_area, square_area\n\n\ndef report(radius, side):\n"
    "    return f'circle {circle_area(radius):.2f}, square {square_area(side):.2f}'\n"
)
INVENTORY_EDITS = (
    f"fs_write('inventory/pricing.py', {PRICING!r})\n"
    "fs_edit('inventory/store.py', 'from dataclasses import dataclass, field',"
    " 'from dataclasses import dataclass, field\\n\\nfrom inventory.pricing import item_value')\n"
    "fs_edit('inventory/store.py', 'sum(item.quantity * item.unit_price for',"
    " 'sum(item_value(item) for')\n"
    "fs_edit('inventory/store.py', 'key=lambda item: item.quantity * item.unit_price',"
    " 'key=item_value')\n"
)

#: Right answers and edits for every task of the shipped suite, in the suite's order.
RIGHT: dict[str, list[str]] = {
    "calc-add-fix": [step("fs_edit('calc.py', 'return a - b', 'return a + b')"), submit("fixed")],
    "calc-which-bug": [submit("add() is wrong: it computes a - b, subtracting.")],
    "calc-mul-value": [submit("mul(3, 4) returns 12")],
    "text-slug-fix": [
        step(
            "fs_edit('textutils.py', 'return \"-\".join(words)', 'return \"-\".join(words).lower()')"
        ),
        submit("lower-cased"),
    ],
    "text-empty-count": [submit("It returns 0.")],
    "pager-fix": [
        step("fs_edit('pager.py', 'return total // per_page', 'return -(-total // per_page)')"),
        submit("ceil division"),
    ],
    "inv-extract-refactor": [step(INVENTORY_EDITS), submit("extracted item_value")],
    "inv-class-location": [submit("inventory/store.py defines it")],
    "shapes-rename": [
        step(
            f"fs_write('shapes/geometry.py', {GEOMETRY!r})\nfs_write('shapes/report.py', {REPORT!r})"
        ),
        submit("renamed"),
    ],
    "cfg-bool-fix": [
        step('fs_edit(\'config.py\', \'("true", "1")\', \'("true", "yes", "on", "1")\')'),
        submit("accepts yes and on"),
    ],
    "cfg-default-port": [submit("Port 8080 (DEFAULT_PORT).")],
    "cfg-port-env": [submit("APP_PORT overrides it.")],
}


@pytest.mark.slow
def test_the_shipped_suite_is_all_solved_with_right_answers(
    project: Path, model: FakeOpenAI
) -> None:
    suite = (SUITE / "suite.yaml").read_text(encoding="utf-8")
    assert suite.count("\n  - id: ") == len(RIGHT) >= 12
    model.replies = [reply for replies in RIGHT.values() for reply in replies]
    result = memfun(project, "eval", "run", str(SUITE), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert [r["task_id"] for r in report["results"]] == list(RIGHT)
    failed = [
        (r["task_id"], r["failure"], r["detail"]) for r in report["results"] if not r["solved"]
    ]
    assert failed == []
    assert report["solved"] == report["attempts"] == 12
    assert report["score"] == 1.0
    assert model.replies == []  # every scripted reply was used: no task was skipped
    assert all(r["tokens"] > 0 and r["steps"] >= 1 for r in report["results"])
    answers = {r["task_id"]: r["answer"] for r in report["results"]}
    assert answers["cfg-port-env"] == "APP_PORT overrides it."
    # The fixtures themselves are untouched (each run worked in a scratch copy).
    assert "return a - b" in (SUITE / "fixtures" / "calc" / "calc.py").read_text(encoding="utf-8")
    # Each run was traced in the project's runtime with the verdict attached.
    listed = memfun(project, "trace", "show", report["results"][0]["run_id"], "--json")
    trace = json.loads(listed.stdout)
    assert trace["metadata"]["eval_task"] == "calc-add-fix"
    assert trace["metadata"]["eval"]["solved"] is True


def test_a_wrong_answer_and_a_fake_refactor_are_reported_unsolved(
    project: Path, model: FakeOpenAI
) -> None:
    # The refactor adds pricing.py (the tests pass) but leaves the duplicated product.
    fake_refactor = step(f"fs_write('inventory/pricing.py', {PRICING!r})")
    model.replies = [
        submit("mul(3, 4) returns 7"),
        fake_refactor,
        submit("extracted"),
        submit("It lives in inventory/__init__.py"),
    ]
    result = memfun(
        project, "eval", "run", str(SUITE),
        "-t", "calc-mul-value", "-t", "inv-extract-refactor", "-t", "inv-class-location",
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    lines = {line.split(" #")[0]: line for line in result.stderr.splitlines() if " #1: " in line}
    assert "FAILED (wrong_answer)" in lines["calc-mul-value"]
    assert "  answer: mul(3, 4) returns 7" in result.stderr  # what was answered, shown
    assert "FAILED (verification_failed)" in lines["inv-extract-refactor"]
    assert "FAILED (wrong_answer)" in lines["inv-class-location"]
    assert "0/3 solved" in result.stdout
    assert "verification_failed" in result.stdout  # the table's failure column


def test_a_run_stopped_by_its_budget_is_reported_as_such(project: Path, model: FakeOpenAI) -> None:
    extract = format_fields({"reasoning": "Out of steps.", "answer": "unknown", "summary": "-"})
    # Different steps each time: the same step over and over would end as `stuck` instead.
    model.replies = [step(f"print('looking {i}')") for i in range(6)] + [extract]
    result = memfun(project, "eval", "run", str(SUITE), "-t", "cfg-port-env", "--json")
    assert result.returncode == 1
    (only,) = json.loads(result.stdout)["results"]
    assert only["solved"] is False
    assert only["outcome"] == "max_iterations"
    assert only["failure"] == "budget_exhausted"
    assert only["passed_check"] is False  # "unknown" was judged, and refused


def test_a_run_stopped_early_with_a_right_answer_is_unsolved_but_passes_the_check(
    project: Path, model: FakeOpenAI
) -> None:
    extract = format_fields(
        {"reasoning": "Seen in config.py.", "answer": "APP_PORT overrides it.", "summary": "-"}
    )
    model.replies = [step(f"print('looking {i}')") for i in range(6)] + [extract]
    result = memfun(project, "eval", "run", str(SUITE), "-t", "cfg-port-env")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED (budget_exhausted; what it left passes the check)" in result.stderr
    assert "0/1 solved (0%), 1 more stopped early with a result the check accepts" in result.stdout
    model.replies = [step(f"print('looking {i}')") for i in range(6)] + [extract]
    result = memfun(project, "eval", "run", str(SUITE), "-t", "cfg-port-env", "--json")
    report = json.loads(result.stdout)
    assert report["solved"] == 0
    assert report["passed_late"] == 1
    (only,) = report["results"]
    assert (only["solved"], only["passed_check"]) == (False, True)
    trace = json.loads(memfun(project, "trace", "show", only["run_id"], "--json").stdout)
    assert trace["metadata"]["eval"]["passed_check"] is True


def test_a_bad_suite_names_the_field(project: Path) -> None:
    bad = project / "bad.yaml"
    bad.write_text(
        "schema: memfun.evals/1\ntasks:\n  - id: x\n    fixture: .\n    task: t\n"
        "    check: {contians: [a]}\n",
        encoding="utf-8",
    )
    result = memfun(project, "eval", "run", str(bad))
    assert result.returncode == 2
    assert "tasks[0].check" in result.stderr
    assert "contians" in result.stderr
    assert "Traceback" not in result.stderr
