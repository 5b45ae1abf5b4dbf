"""Test harness for the Terraform configuration: run Terraform offline against a moto server.

The root *.tf files are copied unmodified; the tests only add what a user's machine provides:

- **Providers**: hashicorp/aws from a local filesystem mirror (found here), and hashicorp/random
  and hashicorp/archive, which cannot be downloaded here, from stand-in providers with the real
  providers' schema and behaviour (tests/support/stand_in_providers). The harness writes its own
  Terraform CLI configuration naming both mirrors.
- **AWS**: a test-only `moto_override.tf` points the aws provider at a moto server in this
  process, made as strict as AWS on the rules the configuration relies on (tests/support/strict_aws.py);
  the region comes from AWS_REGION in Terraform's environment, as on a user's machine.
- **terraform test**: `make_test_workdir` copies the `*.tftest.hcl` files and their mocks beside
  the configuration, without the moto override (their providers are mocked).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from support.stand_in_providers.mirror import cli_config_text

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = REPO_ROOT / "src" / "rabbitmq_consumer"
# The Lambda packages the configuration zips (local.lambda_packages in main.tf).
LAMBDA_PACKAGES = ("rabbitmq_consumer", "rabbitmq_admin")
# The test files of Terraform's own framework, and the mocks they load.
TFTEST_DIR = REPO_ROOT / "tests" / "terraform"
# The region of the AWS environment Terraform runs in (AWS_REGION), where region is not set.
REGION = "eu-west-1"
AWS_PROVIDER_PATH = Path("registry.terraform.io") / "hashicorp" / "aws"

# Every AWS service the configuration talks to, each pointed at moto.
AWS_SERVICES = (
    "cloudwatch",
    "dynamodb",
    "ec2",
    "events",
    "iam",
    "lambda",
    "logs",
    "mq",
    "s3",
    "secretsmanager",
    "sns",
    "sqs",
    "sts",
)

MOTO_OVERRIDE = """\
# Test-only: every AWS call goes to the moto server at {endpoint}.
provider "aws" {{
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true # moto serves buckets by path, not by virtual host
  max_retries                 = 2

  endpoints {{
{endpoints}
  }}
}}
"""


class HarnessError(Exception):
    """The environment cannot run the Terraform tests; the message says how to fix it."""


# --------------------------------------------------------------------------------------------
# Finding Terraform and the provider mirror
# --------------------------------------------------------------------------------------------


MINIMUM_TERRAFORM = (1, 11)


def find_terraform() -> str:
    """The terraform binary ($TERRAFORM, else PATH), checked to be 1.11 or newer."""
    path = os.environ.get("TERRAFORM") or shutil.which("terraform")
    if not path or not os.access(path, os.X_OK):
        raise HarnessError(
            f"terraform not found ({path or 'not on PATH'}): install Terraform >= 1.11 "
            "(https://developer.hashicorp.com/terraform/install) or set TERRAFORM to its path"
        )
    proc = subprocess.run(
        [path, "version", "-json"],
        env={**os.environ, "CHECKPOINT_DISABLE": "1"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    try:
        version = json.loads(proc.stdout)["terraform_version"]
        numbers = tuple(int(part) for part in version.split("-")[0].split(".")[:2])
    except (ValueError, KeyError) as exc:
        raise HarnessError(f"could not read the version of {path}: {proc.stderr.strip() or exc}") from None
    if numbers < MINIMUM_TERRAFORM:
        raise HarnessError(f"{path} is Terraform {version}; these tests need 1.11 or newer: upgrade Terraform")
    return path


def mirror_candidates() -> list[Path]:
    candidates = [Path(p) for p in (os.environ.get("TF_PLUGIN_DIR"), os.environ.get("TF_PLUGIN_MIRROR")) if p]
    home = Path.home()
    candidates += [
        Path("/opt/tf-plugins"),
        Path("/usr/share/terraform/plugins"),
        Path("/usr/local/share/terraform/plugins"),
        home / ".terraform.d" / "plugins",
        home / ".local" / "share" / "terraform" / "plugins",
    ]
    return candidates


def find_aws_provider_mirror(max_depth: int = 4) -> Path:
    """A directory holding registry.terraform.io/hashicorp/aws/<version>/<os_arch>/ (unpacked)."""
    for root in mirror_candidates():
        if (root / AWS_PROVIDER_PATH).is_dir():
            return root
    for base in (Path("/opt"), Path("/usr/local/share"), Path("/usr/share"), Path.home()):
        found = _search_mirror(base, max_depth)
        if found:
            return found
    raise HarnessError(
        "no local mirror of the hashicorp/aws provider found (looked for registry.terraform.io/hashicorp/aws "
        "under $TF_PLUGIN_DIR, /opt/tf-plugins, ~/.terraform.d/plugins and nearby): run "
        "`terraform providers mirror <dir>` where the registry is reachable and set TF_PLUGIN_DIR=<dir>"
    )


def _search_mirror(base: Path, max_depth: int) -> Path | None:
    if not base.is_dir():
        return None
    queue: list[tuple[Path, int]] = [(base, 0)]
    while queue:
        directory, depth = queue.pop(0)
        if (directory / AWS_PROVIDER_PATH).is_dir():
            return directory
        if depth >= max_depth:
            continue
        with contextlib.suppress(OSError):
            for child in sorted(directory.iterdir()):
                if child.is_dir() and not child.is_symlink() and not child.name.startswith("."):
                    queue.append((child, depth + 1))
    return None


def write_cli_config(path: Path, aws_mirror: Path, stand_in_mirror: Path) -> Path:
    """A CLI configuration that installs every provider from a mirror and nothing from the network."""
    path.write_text(cli_config_text(aws_mirror, stand_in_mirror))
    return path


# --------------------------------------------------------------------------------------------
# Working copies of the configuration
# --------------------------------------------------------------------------------------------


@dataclass
class TerraformResult:
    args: Sequence[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def check(self) -> TerraformResult:
        if self.returncode != 0:
            raise AssertionError(f"terraform {' '.join(self.args)} failed ({self.returncode}):\n{self.output[-6000:]}")
        return self


# The caller's own Terraform settings would change what the tests plan and apply.
_CALLER_TERRAFORM_SETTINGS = ("TF_VAR_", "TF_CLI_ARGS", "TF_DATA_DIR", "TF_WORKSPACE", "TF_PLUGIN_CACHE_DIR")


@dataclass
class TerraformWorkdir:
    """A temporary copy of the configuration with the test seams in place."""

    path: Path
    terraform: str
    cli_config: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str, timeout: float = 300, stdin: str | None = None) -> TerraformResult:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_CALLER_TERRAFORM_SETTINGS)}
        env |= {
            **self.env,
            "TF_CLI_CONFIG_FILE": str(self.cli_config),
            "TF_IN_AUTOMATION": "1",
            "CHECKPOINT_DISABLE": "1",  # no version check over the network
        }
        proc = subprocess.run(
            [self.terraform, *args],
            cwd=self.path,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return TerraformResult(args, proc.returncode, proc.stdout, proc.stderr)

    def write_vars(self, name: str, variables: Mapping[str, Any]) -> Path:
        path = self.path / f"{name}.tfvars.json"
        path.write_text(json.dumps(variables, indent=2))
        return path

    def plan(self, variables: Mapping[str, Any], name: str = "plan") -> TerraformResult:
        var_file = self.write_vars(name, variables)
        return self.run(
            "plan", "-input=false", "-no-color", "-lock=false", f"-var-file={var_file}", f"-out={name}.tfplan"
        )

    def plan_json(self, variables: Mapping[str, Any], name: str = "plan") -> dict[str, Any]:
        self.plan(variables, name).check()
        shown = self.run("show", "-json", "-no-color", f"{name}.tfplan").check()
        result: dict[str, Any] = json.loads(shown.stdout)
        return result

    def console(self, expression: str) -> Any:
        shown = self.run("console", "-no-color", stdin=f"jsonencode({expression})\n").check()
        return json.loads(json.loads(shown.stdout.strip()))


def package_files(package_dir: Path = PACKAGE_DIR) -> list[str]:
    """What the Lambda zip must hold: every file of the package except compiled Python."""
    return sorted(
        p.relative_to(package_dir).as_posix()
        for p in package_dir.rglob("*")
        if p.is_file() and "__pycache__" not in p.relative_to(package_dir).parts and p.suffix not in {".pyc", ".pyo"}
    )


def moto_override(endpoint: str) -> str:
    endpoints = "\n".join(f"    {service:<14} = {json.dumps(endpoint)}" for service in AWS_SERVICES)
    return MOTO_OVERRIDE.format(endpoint=endpoint, endpoints=endpoints)


def product_files() -> list[Path]:
    """The root module as a user gets it: every *.tf file of the repository root."""
    return sorted(REPO_ROOT.glob("*.tf"))


def make_workdir(
    destination: Path,
    terraform: str,
    cli_config: Path,
    moto_endpoint: str,
    *,
    overrides: Mapping[str, str] | None = None,
    plant_pycache: bool = True,
) -> TerraformWorkdir:
    """Copy the root module and the Lambda package unmodified, point AWS at moto, init.

    `overrides` adds test-only `<name>_override.tf` files (Terraform's override mechanism), the
    only way a test may change what the configuration does."""
    destination.mkdir(parents=True, exist_ok=True)
    for tf in product_files():
        shutil.copy2(tf, destination / tf.name)
    for package in LAMBDA_PACKAGES:
        source = REPO_ROOT / "src" / package
        shutil.copytree(source, destination / "src" / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    package_copy = destination / "src" / "rabbitmq_consumer"
    if plant_pycache:  # so the file selection is shown to leave compiled Python out
        (package_copy / "__pycache__").mkdir()
        (package_copy / "__pycache__" / "handler.cpython-313.pyc").write_bytes(b"\x00not python source")
    (destination / "moto_override.tf").write_text(moto_override(moto_endpoint))
    for name, text in (overrides or {}).items():
        (destination / f"{name}_override.tf").write_text(text)
    workdir = TerraformWorkdir(destination, terraform, cli_config, env={"AWS_REGION": REGION})
    workdir.run("init", "-input=false", "-no-color", "-backend=false", timeout=180).check()
    return workdir


def make_test_workdir(destination: Path, terraform: str, cli_config: Path) -> TerraformWorkdir:
    """The configuration as shipped and its `terraform test` files (tests/terraform/*.tftest.hcl
    and mocks/), laid out as in the repository, initialised: `terraform test
    -test-directory=tests/terraform` runs there as it runs in a clone."""
    destination.mkdir(parents=True, exist_ok=True)
    for tf in product_files():
        shutil.copy2(tf, destination / tf.name)
    for package in LAMBDA_PACKAGES:
        source = REPO_ROOT / "src" / package
        shutil.copytree(source, destination / "src" / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    tests = destination / "tests" / "terraform"
    tests.mkdir(parents=True)
    for test_file in TFTEST_DIR.glob("*.tftest.hcl"):
        shutil.copy2(test_file, tests / test_file.name)
    shutil.copytree(TFTEST_DIR / "mocks", tests / "mocks")
    workdir = TerraformWorkdir(destination, terraform, cli_config)
    workdir.run("init", "-input=false", "-no-color", "-backend=false", timeout=180).check()
    return workdir


# --------------------------------------------------------------------------------------------
# Moto: a server in this process, as strict as AWS (tests/support/strict_aws.py)
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


BOOTSTRAP_HANDLER = "rabbitmq_admin.bootstrap_handler.lambda_handler"


def store_user_credentials(endpoint: str) -> Callable[[Any, Mapping[str, str]], None]:
    """The bootstrap's first step, for real against the double: `stored_credentials()` stores each
    user's generated credentials in the user's secret, as it does in AWS before it reaches the
    broker (whose part tests/test_bootstrap*.py run against a real broker). Like the function, it
    reads the secrets and user names from the function's environment, never the invocation's
    payload. The secret rotations that the apply creates next then find the secrets as AWS would
    hold them."""
    import boto3

    from rabbitmq_admin.bootstrap import stored_credentials
    from rabbitmq_admin.bootstrap_handler import Settings
    from rabbitmq_admin.secrets_manager import SecretsManager

    def store(payload: Any, environment: Mapping[str, str]) -> None:
        settings = Settings.from_environment(environment)  # the users this deployment has
        arns = settings.secret_arns
        region = arns["consumer"].split(":")[3]
        secrets = SecretsManager(
            lambda: boto3.client(
                "secretsmanager",
                region_name=region,
                endpoint_url=endpoint,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        )
        for role, arn in arns.items():
            stored_credentials(secrets, arn, settings.usernames[role], lambda line: None)

    return store


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on a free loopback port, extended by `extend_moto`; yields its URL."""
    from moto.server import ThreadedMotoServer

    from support.strict_aws import INVOCATION_EFFECTS, extend_moto

    with pytest.MonkeyPatch.context() as monkeypatch:
        extend_moto(monkeypatch)
        monkeypatch.setattr(logging.getLogger("werkzeug"), "level", logging.WARNING)  # one line per request
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        endpoint = f"http://127.0.0.1:{port}"
        monkeypatch.setitem(INVOCATION_EFFECTS, BOOTSTRAP_HANDLER, store_user_credentials(endpoint))
        try:
            yield endpoint
        finally:
            server.stop()
