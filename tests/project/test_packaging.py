"""How the project is laid out and installed: the Lambda package and the tooling package stay
apart, scripts/ holds thin entry points only, nothing reaches code through sys.path or
PYTHONPATH, and pyproject.toml declares exactly the third-party packages the code imports."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rabbitmq_docs import terraform_docs
from rabbitmq_tools import broker, project
from support import ROOT

pytestmark = pytest.mark.unit

FIRST_PARTY = {"rabbitmq_consumer", "rabbitmq_admin", "rabbitmq_tools", "rabbitmq_docs"}
PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT: dict[str, Any] = PYPROJECT["project"]


def python_files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def imports(tree: ast.Module) -> Iterator[tuple[str, bool]]:
    """(top-level module name, imported at module level?) for every absolute import that runs:
    those under `if TYPE_CHECKING:` are for the type checker only."""

    def visit(node: ast.AST, module_level: bool) -> Iterator[tuple[str, bool]]:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return
        if isinstance(node, ast.Import):
            yield from ((alias.name.split(".")[0], module_level) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0], module_level
        nested = module_level and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            yield from visit(child, nested)

    return visit(tree, True)


def distribution(requirement: str) -> tuple[str, list[str]]:
    """("normalized-name", [extras]) of a PEP 508 requirement."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?", requirement)
    assert match, requirement
    extras = [extra.strip() for extra in (match.group(2) or "").split(",") if extra.strip()]
    return normalize(match.group(1)), extras


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def third_party_distributions(module_names: set[str]) -> set[str]:
    owners = importlib.metadata.packages_distributions()
    found: set[str] = set()
    for name in module_names - FIRST_PARTY - set(sys.stdlib_module_names):
        assert name in owners, f"{name} is imported but no installed distribution provides it"
        found.update(normalize(owner) for owner in owners[name])
    return found


def extra(name: str) -> set[str]:
    """The distributions an extra brings, its references to the project's own extras expanded."""
    result: set[str] = set()
    for requirement in PROJECT["optional-dependencies"][name]:
        dist, extras = distribution(requirement)
        if dist == normalize(PROJECT["name"]):
            for other in extras:
                result |= extra(other)
        else:
            result.add(dist)
    return result


# --- no sys.path, no PYTHONPATH ----------------------------------------------------------


@pytest.mark.parametrize(
    "path", python_files("src", "scripts", "benchmarks", "tests"), ids=lambda path: str(path.relative_to(ROOT))
)
def test_no_code_reaches_modules_through_sys_path_or_pythonpath(path: Path) -> None:
    if path == Path(__file__).resolve():
        return  # this file names what it looks for
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            assert (node.value.id, node.attr) not in {("sys", "path"), ("site", "addsitedir")}, (
                f"{path.name}:{node.lineno}"
            )
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            assert "PYTHONPATH" not in node.value, f"{path.name}:{node.lineno}"


def test_no_configuration_adds_to_the_import_path() -> None:
    assert "pythonpath" not in PYPROJECT["tool"]["pytest"]["ini_options"]
    for name in ("Makefile", ".github/workflows/ci.yml", ".pre-commit-config.yaml", ".ci/run"):
        assert "PYTHONPATH" not in (ROOT / name).read_text(), name


# --- two packages, thin scripts -----------------------------------------------------------


def test_the_lambda_package_imports_nothing_from_the_tools() -> None:
    for path in python_files("src/rabbitmq_consumer"):
        for name, _ in imports(parse(path)):
            assert name not in {"rabbitmq_tools", "rabbitmq_admin"}, path.name


# What every Lambda Python runtime includes besides the standard library (Lambda Developer Guide,
# "Building Lambda functions with Python": the SDK for Python, Boto3).
LAMBDA_RUNTIME_SDK = {"boto3", "botocore"}


def test_the_admin_package_needs_the_standard_library_and_the_runtimes_boto3_only() -> None:
    # Its deployment package holds src/rabbitmq_admin alone, run by a Python runtime: it imports
    # its own modules (relatively), the standard library, and the runtime's boto3 when it first
    # calls Secrets Manager (never at import, so a warm metrics run that needs no secret loads
    # none of it, and the laptop tools that use its management client never need it).
    for path in python_files("src/rabbitmq_admin"):
        for name, module_level in imports(parse(path)):
            if name in LAMBDA_RUNTIME_SDK:
                assert not module_level, f"{path.name} imports {name} at module level"
            else:
                assert name in sys.stdlib_module_names or name == "__future__", f"{path.name} imports {name}"


def test_the_admin_package_runs_alone(tmp_path: Path) -> None:
    # As in its zip: the package beside a script, and Python without site-packages (-S): a
    # function missing its configuration says so before it needs boto3.
    shutil.copytree(ROOT / "src" / "rabbitmq_admin", tmp_path / "rabbitmq_admin")
    (tmp_path / "invoke.py").write_text(
        "from rabbitmq_admin.errors import AdminError\n"
        "from rabbitmq_admin.bootstrap_handler import lambda_handler\n"
        "try:\n"
        "    lambda_handler({}, None)\n"
        "except AdminError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-E", str(tmp_path / "invoke.py")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("missing MANAGEMENT_URL, ADMIN_SECRET_ARN, ")
    assert done.stderr == f"bootstrap failed: {done.stdout}"  # logged, as Lambda would show it


@pytest.mark.parametrize("path", python_files("scripts"), ids=lambda path: path.name)
def test_scripts_are_thin_entry_points(path: Path) -> None:
    body = parse(path).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    package = "rabbitmq_docs" if path.stem == "terraform_docs" else "rabbitmq_tools"  # docs apart from the tools
    expected = ast.parse(
        f'from {package}.{path.stem} import main\n\nif __name__ == "__main__":\n    raise SystemExit(main())\n'
    ).body
    assert [ast.dump(node) for node in body] == [ast.dump(node) for node in expected]


def test_every_console_script_is_a_main_of_the_tools() -> None:
    scripts: dict[str, str] = PROJECT["scripts"]
    assert set(scripts) == {
        "rabbitmq-send",
        "rabbitmq-replay",
        "rabbitmq-local-mapping",
        "rabbitmq-demo",
        "rabbitmq-verify",
        "rabbitmq-bootstrap",
    }
    for target in scripts.values():
        module, _, function = target.partition(":")
        assert module.startswith("rabbitmq_tools."), target
        assert function == "main", target
        assert (ROOT / "scripts" / f"{module.rsplit('.', 1)[1]}.py").is_file(), target


def test_scripts_and_console_scripts_run_from_any_directory(tmp_path: Path) -> None:
    # The installed project (make .venv/.installed) is all they need: no PYTHONPATH, another cwd.
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    bin_dir = Path(sysconfig.get_path("scripts"))
    commands = [[sys.executable, str(path), "--help"] for path in python_files("scripts")]
    commands += [[str(bin_dir / name), "--help"] for name in PROJECT["scripts"]]
    for command in commands:
        done = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True, check=False)
        assert done.returncode == 0, (command, done.stderr)
        assert done.stdout.startswith("usage: "), command


def test_the_tools_find_the_checkout_installed_either_way(tmp_path: Path) -> None:
    # Editable (make, pip install -e): the checkout the package sits in, from any directory.
    assert project.ROOT == ROOT
    assert project.find_root(cwd=tmp_path) == ROOT
    # Installed into site-packages: the current directory's checkout, or the nearest above it.
    installed = tmp_path / "venv" / "lib" / "python3" / "site-packages" / "rabbitmq_tools" / "project.py"
    checkout = tmp_path / "checkout"
    (checkout / "sub").mkdir(parents=True)
    for name in ("main.tf", "example-message.json"):
        (checkout / name).touch()
    assert project.find_root(installed, cwd=checkout / "sub") == checkout
    assert project.find_root(installed, cwd=tmp_path) == tmp_path  # no checkout: the current directory


# --- dependencies -------------------------------------------------------------------------


def test_runtime_dependencies_are_what_the_code_imports() -> None:
    module_level: set[str] = set()
    anywhere: set[str] = set()
    for path in python_files("src"):
        for name, at_module_level in imports(parse(path)):
            anywhere.add(name)
            if at_module_level:
                module_level.add(name)
    runtime = {distribution(requirement)[0] for requirement in PROJECT["dependencies"]}
    optional = extra("docker") | extra("docs") | extra("local")
    # Importing any module of src/ needs only the runtime dependencies...
    assert third_party_distributions(module_level) <= runtime
    # ...a lazy import (boto3 when a command needs AWS) is a runtime dependency or an optional
    # extra's, and every runtime dependency is used.
    imported = third_party_distributions(anywhere)
    assert imported <= runtime | optional
    assert runtime <= imported
    # The extras' packages are imported only where their feature runs, never at module level.
    assert not third_party_distributions(module_level) & optional


def test_without_testcontainers_the_error_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RABBITMQ_URL", raising=False)
    monkeypatch.setitem(sys.modules, "testcontainers.community.rabbitmq", None)  # import fails
    with pytest.raises(broker.BrokerUnavailable) as failure, broker.local_broker():
        pass
    message = str(failure.value)
    assert "set RABBITMQ_URL" in message
    assert "pip install -e '.[docker]'" in message
    assert "\n" not in message


def test_without_python_hcl2_make_docs_names_the_fix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "hcl2", None)  # import fails
    assert terraform_docs.main(["--check"]) == 1
    assert capsys.readouterr().err.endswith("install the docs extra, pip install -e '.[docs]' (make docs does)\n")


def test_make_docs_says_what_it_did(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # A copy of docs/terraform.md with its tables emptied: the first run fills them, the second
    # has nothing to do; each says so.
    document = terraform_docs.TARGET.read_text()
    block = document.split(terraform_docs.BEGIN, 1)[1].split(terraform_docs.END, 1)[0]
    (tmp_path / "docs").mkdir()
    target = tmp_path / "docs" / "terraform.md"
    target.write_text(document.replace(block, "\n"))
    monkeypatch.setattr(terraform_docs, "ROOT", tmp_path)
    monkeypatch.setattr(terraform_docs, "TARGET", target)
    assert terraform_docs.main([]) == 0
    assert capsys.readouterr().out == "docs/terraform.md: updated the Inputs and Outputs tables\n"
    assert target.read_text() == document
    assert terraform_docs.main([]) == 0
    assert capsys.readouterr().out == "docs/terraform.md is already up to date\n"


def bench_run(monkeypatch: pytest.MonkeyPatch) -> Any:
    """benchmarks/run.py as a module (its imports are found next to it, as when it runs)."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_bench_leaves_tracked_files_alone_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    bench = bench_run(monkeypatch)
    plain = bench.parse_args([])
    assert plain.output == ROOT / "build" / "bench" / "results.json"
    assert plain.chart == ROOT / "build" / "bench" / "lambda-cost.png"
    update = bench.parse_args(["--update"])
    assert update.output == ROOT / "benchmarks" / "results.json"
    assert update.chart == ROOT / "docs" / "lambda-cost.png"
    assert "run.py --update" in (ROOT / "Makefile").read_text().split("bench-update:", 1)[1].split("\n\n", 1)[0]
    # the default run count is what the docs and the tracked results report
    documented = re.search(r"medians of (\d+) runs", (ROOT / "docs" / "performance.md").read_text())
    assert documented
    recorded = json.loads((ROOT / "benchmarks" / "results.json").read_text())["repeat"]
    assert plain.repeat == int(documented.group(1)) == recorded
