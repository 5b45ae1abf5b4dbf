"""The tooling a user of the template gets: the GitHub Actions workflow and pre-commit hooks
must parse and hold the jobs, services and steps the README relies on."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from rabbitmq_tools.broker import RABBITMQ_IMAGE
from support import ROOT

pytestmark = pytest.mark.unit


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    document: dict[Any, Any] = load(ROOT / ".github" / "workflows" / "ci.yml")
    return document


def runs(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def uses(job: dict[str, Any]) -> list[str]:
    return [step["uses"].split("@")[0] for step in job["steps"] if "uses" in step]


def test_workflow_triggers_and_permissions(workflow: dict[Any, Any]) -> None:
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as true
    assert {"push", "pull_request"} <= set(triggers)
    assert workflow["permissions"] == {"contents": "read"}
    assert set(workflow["jobs"]) == {"test", "terraform", "checkov"}


def test_workflow_runs_the_test_suite_against_a_rabbitmq_service(workflow: dict[Any, Any]) -> None:
    job = workflow["jobs"]["test"]
    service = job["services"]["rabbitmq"]
    assert service["image"].startswith("rabbitmq:")
    assert "5672:5672" in service["ports"]
    # the bootstrap's management API, which the tests reach at port 15672 of RABBITMQ_URL's host
    assert service["image"].endswith("-management")
    assert "15672:15672" in service["ports"]
    assert "rabbitmq-diagnostics" in service["options"]  # the job waits for a healthy broker
    assert job["env"]["RABBITMQ_URL"] == "amqp://guest:guest@localhost:5672/"
    assert {"actions/checkout", "actions/setup-python", "hashicorp/setup-terraform"} <= set(uses(job))
    commands = runs(job)
    assert "make lint" in commands
    assert "make test" in commands  # the README's test command
    mirror = next(command for command in commands if "providers mirror" in command)
    assert "$TF_PLUGIN_DIR" in mirror
    assert job["env"]["TF_PLUGIN_DIR"]


def test_workflow_checks_terraform_and_runs_checkov(workflow: dict[Any, Any]) -> None:
    terraform = " ".join(runs(workflow["jobs"]["terraform"]))
    assert "terraform fmt -check" in terraform
    assert "terraform init -backend=false" in terraform
    assert "terraform validate" in terraform
    checkov = runs(workflow["jobs"]["checkov"])
    assert any(re.search(r"pip install 'checkov>=3", command) for command in checkov)
    assert any(command.startswith("checkov ") and "--framework terraform" in command for command in checkov)


def test_compose_runs_the_workflow_s_broker_image(workflow: dict[Any, Any]) -> None:
    # `docker compose up -d` (README) gives the broker CI tests against, the same image that
    # Testcontainers runs by default, whose major is the Terraform default engine's.
    service = load(ROOT / "compose.yaml")["services"]["rabbitmq"]
    image = workflow["jobs"]["test"]["services"]["rabbitmq"]["image"]
    assert service["image"] == image == RABBITMQ_IMAGE
    assert {"5672:5672", "15672:15672"} <= set(service["ports"])
    assert "rabbitmq-diagnostics" in service["healthcheck"]["test"]
    # Both brokers run the plugins that shards need, as Amazon MQ does.
    plugins = "rabbitmq_consistent_hash_exchange rabbitmq_shovel"
    assert f"rabbitmq-plugins enable --offline {plugins}" in " ".join(service["command"])
    assert any(f"rabbitmq-plugins enable {plugins}" in command for command in runs(workflow["jobs"]["test"]))
    assert "docker compose up -d" in (ROOT / "README.md").read_text()
    engine = re.search(
        r'variable "engine_version".*?default\s*=\s*"([\d.]+)"', (ROOT / "variables.tf").read_text(), re.S
    )
    assert engine
    assert image.split(":")[1].split(".")[0] == engine.group(1).split(".")[0]


def test_readme_test_command_is_the_one_ci_runs(workflow: dict[Any, Any]) -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make test " in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_pre_commit_hooks() -> None:
    config = load(ROOT / ".pre-commit-config.yaml")
    hooks = {hook["id"] for repo in config["repos"] for hook in repo["hooks"]}
    assert {
        "terraform_fmt",
        "terraform_validate",
        "terraform_tflint",
        "terraform_docs",
        "terraform_checkov",
        "ruff",
        "ruff-format",
        "mypy",
        "trailing-whitespace",
        "end-of-file-fixer",
    } <= hooks
    for repo in config["repos"]:
        assert repo["repo"] == "local" or re.fullmatch(r"v\d+\.\d+\.\d+", repo["rev"]), repo["repo"]


def make(*args: str) -> str:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), *args], capture_output=True, text=True, check=True
    ).stdout


def test_make_help_lists_every_target() -> None:
    makefile = (ROOT / "Makefile").read_text()
    phony = set(re.search(r"^\.PHONY: (.+)$", makefile, re.M).group(1).split())  # type: ignore[union-attr]
    listed = {line.split()[1] for line in make("help").splitlines()}
    assert listed == phony
    assert make().startswith("  make help ")  # the default target


def test_the_readme_s_make_commands_exist() -> None:
    quick_start = (ROOT / "README.md").read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = set(re.findall(r"^make (\w+)", quick_start, re.M))
    assert {"demo", "unit", "test"} <= commands <= {line.split()[1] for line in make("help").splitlines()}


def test_make_unit_runs_the_unit_tier_and_make_demo_installs_no_development_tool() -> None:
    # -n prints the commands without running them, -B as if nothing were installed yet
    unit = make("-n", "-B", "unit").splitlines()
    assert unit[-1].startswith(".venv/bin/pytest -m unit ")
    demo = make("-n", "-B", "demo")
    assert "pip install --quiet -e '.[docker]'" in demo
    assert "[dev]" not in demo


def test_no_test_names_an_issue_number() -> None:
    # A test says what it checks; the issue that asked for it is history (git log has it). Links
    # to public issues, cited as sources, are fine: they have no space before the number.
    named = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(r"\bissues? #?\d+", line, re.IGNORECASE)
    ]
    assert named == []
