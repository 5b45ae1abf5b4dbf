"""Test harness for the Terraform configuration: run Terraform offline against a moto server.

Three seams, all test-only (nothing here changes the product):

- **Providers**: only hashicorp/aws is available offline, from a local filesystem mirror; the
  harness finds it and writes its own Terraform CLI configuration.
- **generators.tf**: its random password and archive zip come from providers that are not
  available offline. Working copies replace it with `STAND_IN_GENERATORS`, which defines the
  same three locals from a fixed password and a zip built here from the same file list.
- **AWS**: a `*_override.tf` file points the aws provider at a moto server running in this
  process. Moto knows no Amazon MQ event sources and no public layers, so `extend_moto` teaches
  it both (see there).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = REPO_ROOT / "src" / "rabbitmq_consumer"
AWS_PROVIDER_PATH = Path("registry.terraform.io") / "hashicorp" / "aws"

# Every AWS service the configuration talks to, each pointed at moto.
AWS_SERVICES = ("cloudwatch", "ec2", "iam", "lambda", "logs", "mq", "secretsmanager", "sns", "sqs", "sts")

# The password the stand-in generators file gives the broker (Amazon MQ's rules: 12-250
# characters, at least 4 distinct, none of , : =).
TEST_BROKER_PASSWORD = "Stand-in_password.1234"

POWERTOOLS_ACCOUNT = "017000801446"
POWERTOOLS_LAYER = re.compile(
    r"^arn:aws:lambda:(?P<region>[a-z0-9-]+):017000801446:layer:"
    r"AWSLambdaPowertoolsPythonV3-(?P<runtime>python3\d+)-(?P<arch>arm64|x86_64):(?P<version>\d+)$"
)

STAND_IN_GENERATORS = """\
# Test-only stand-in for generators.tf (written by tests/terraform_harness.py): the same three
# locals, without hashicorp/random and hashicorp/archive, which are not available offline.
locals {{
  broker_password         = {password}
  lambda_zip_path         = {zip_path}
  lambda_zip_base64sha256 = {zip_sha}
}}
"""

MOTO_OVERRIDE = """\
# Test-only: every AWS call goes to the moto server at {endpoint}.
provider "aws" {{
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
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


def write_cli_config(path: Path, mirror: Path) -> Path:
    """A CLI configuration that installs hashicorp/aws from the mirror and nothing from the network."""
    path.write_text(
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f"    path    = {json.dumps(str(mirror))}\n"
        '    include = ["registry.terraform.io/hashicorp/aws"]\n'
        "  }\n"
        "}\n"
    )
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


def build_lambda_zip(package_dir: Path, files: Sequence[str], zip_path: Path) -> str:
    """Zip `files` as rabbitmq_consumer/<file>, as generators.tf does; return the base64 SHA-256."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in files:
            info = zipfile.ZipInfo(f"rabbitmq_consumer/{name}", date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (package_dir / name).read_bytes())
    return base64.b64encode(hashlib.sha256(zip_path.read_bytes()).digest()).decode()


def stand_in_generators(password: str, zip_path: Path, zip_sha: str) -> str:
    return STAND_IN_GENERATORS.format(
        password=json.dumps(password), zip_path=json.dumps(str(zip_path)), zip_sha=json.dumps(zip_sha)
    )


def moto_override(endpoint: str) -> str:
    endpoints = "\n".join(f"    {service:<14} = {json.dumps(endpoint)}" for service in AWS_SERVICES)
    return MOTO_OVERRIDE.format(endpoint=endpoint, endpoints=endpoints)


def make_workdir(
    destination: Path,
    terraform: str,
    cli_config: Path,
    moto_endpoint: str,
    *,
    password: str = TEST_BROKER_PASSWORD,
    plant_pycache: bool = True,
) -> TerraformWorkdir:
    """Copy the root module and the Lambda package, swap generators.tf, point AWS at moto, init."""
    destination.mkdir(parents=True, exist_ok=True)
    for tf in REPO_ROOT.glob("*.tf"):
        shutil.copy2(tf, destination / tf.name)
    package_copy = destination / "src" / "rabbitmq_consumer"
    shutil.copytree(PACKAGE_DIR, package_copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if plant_pycache:  # so the file selection is shown to leave compiled Python out
        (package_copy / "__pycache__").mkdir()
        (package_copy / "__pycache__" / "handler.cpython-313.pyc").write_bytes(b"\x00not python source")
    files = package_files(package_copy)
    zip_path = destination / "build" / "rabbitmq_consumer.zip"
    zip_path.parent.mkdir()
    zip_sha = build_lambda_zip(package_copy, files, zip_path)
    (destination / "generators.tf").write_text(stand_in_generators(password, zip_path, zip_sha))
    (destination / "moto_override.tf").write_text(moto_override(moto_endpoint))
    workdir = TerraformWorkdir(destination, terraform, cli_config)
    workdir.run("init", "-input=false", "-no-color", "-backend=false", timeout=180).check()
    return workdir


def make_variables_workdir(destination: Path, terraform: str, cli_config: Path) -> TerraformWorkdir:
    """variables.tf alone: a plan evaluates every variable validation and needs no provider.

    Variable validations refer to variables only, so they fail a plan of this file exactly as
    they fail a plan of the whole configuration, in a tenth of a second instead of several.
    """
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO_ROOT / "variables.tf", destination / "variables.tf")
    workdir = TerraformWorkdir(destination, terraform, cli_config)
    workdir.run("init", "-input=false", "-no-color", "-backend=false").check()
    return workdir


# --------------------------------------------------------------------------------------------
# Moto: a server in this process, taught Amazon MQ event sources and the public layers
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def extend_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Teach moto's Lambda backend what the configuration needs and moto 5 lacks."""
    _accept_amazon_mq_event_sources(monkeypatch)
    _accept_public_powertools_layers(monkeypatch)


def _accept_amazon_mq_event_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    """CreateEventSourceMapping with an Amazon MQ broker ARN: moto accepts only SQS, DynamoDB and
    Kinesis sources. Here an `arn:aws:mq:` source is accepted when the broker exists, with
    Lambda's rules for it: exactly one queue, a BASIC_AUTH secret that exists, batch size
    1-10,000 (default 100), no starting position."""
    from moto.awslambda import models as lambda_models
    from moto.core.exceptions import JsonRESTError
    from moto.mq.models import mq_backends
    from moto.secretsmanager.models import secretsmanager_backends

    esm_class: Any = lambda_models.EventSourceMapping  # typed loosely: its properties are replaced below
    original_arn: property = esm_class.__dict__["event_source_arn"]
    original_batch_size: property = esm_class.__dict__["batch_size"]
    original_init = esm_class.__init__
    original_create = lambda_models.LambdaBackend.create_event_source_mapping

    def is_mq(arn: str) -> bool:
        return arn.split(":")[2:3] == ["mq"]

    def set_event_source_arn(self: Any, arn: str) -> None:
        if is_mq(arn):
            self._event_source_arn = arn
            return
        assert original_arn.fset is not None
        original_arn.fset(self, arn)

    def set_batch_size(self: Any, size: int | None) -> None:
        if not is_mq(self.event_source_arn):
            assert original_batch_size.fset is not None
            original_batch_size.fset(self, size)
            return
        if size is not None and not 1 <= int(size) <= 10000:
            raise ValueError("InvalidParameterValueException", f"BatchSize {size} is not between 1 and 10000")
        self._batch_size = 100 if size is None else int(size)

    def init(self: Any, spec: dict[str, Any]) -> None:
        original_init(self, spec)
        if is_mq(self.event_source_arn):
            self.starting_position = spec.get("StartingPosition")

    def create_event_source_mapping(self: Any, spec: dict[str, Any]) -> Any:
        arn = spec.get("EventSourceArn") or ""
        if not is_mq(arn):
            return original_create(self, spec)
        if arn.split(":")[-1] not in mq_backends[self.account_id][self.region_name].brokers:
            raise JsonRESTError("InvalidParameterValueException", f"Broker {arn} not found")
        if len(spec.get("Queues") or []) != 1:
            raise JsonRESTError("InvalidParameterValueException", "Exactly one queue is required for Amazon MQ")
        access = {c["Type"]: c["URI"] for c in spec.get("SourceAccessConfigurations") or []}
        secret = access.get("BASIC_AUTH")
        if not secret or not secretsmanager_backends[self.account_id][self.region_name].secrets.get(secret):
            raise JsonRESTError("InvalidParameterValueException", f"BASIC_AUTH secret {secret!r} not found")
        function = self._lambdas.get_function_by_name_or_arn_with_qualifier(spec["FunctionName"])
        spec.update(RegionName=self.region_name, AccountId=self.account_id, FunctionArn=function.function_arn)
        try:
            esm = esm_class(spec)
        except ValueError as exc:
            raise JsonRESTError(exc.args[0], exc.args[1]) from None
        self._event_source_mappings[esm.uuid] = esm
        return esm

    monkeypatch.setattr(esm_class, "event_source_arn", property(original_arn.fget, set_event_source_arn))
    monkeypatch.setattr(esm_class, "batch_size", property(original_batch_size.fget, set_batch_size))
    monkeypatch.setattr(esm_class, "__init__", init)
    monkeypatch.setattr(lambda_models.LambdaBackend, "create_event_source_mapping", create_event_source_mapping)


def _accept_public_powertools_layers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Layers: moto only knows layers published in its own account. Here the public Powertools
    layers of account 017000801446 are accepted when their region, runtime and architecture
    match the function, as a wrong layer would fail (or break imports) in AWS."""
    from moto.awslambda import models as lambda_models
    from moto.core.exceptions import JsonRESTError

    function_class = lambda_models.LambdaFunction
    original_layers = function_class._get_layers_data
    original_function_init = function_class.__init__

    def check_public_layers(function: Any, arns: Sequence[str]) -> None:
        runtime = (function.run_time or "").replace(".", "")
        for arn in arns:
            match = POWERTOOLS_LAYER.match(arn)
            if (
                not match
                or match["region"] != function.region
                or match["runtime"] != runtime
                or match["arch"] not in function.architectures
            ):
                raise JsonRESTError(
                    "InvalidParameterValueException",
                    f"Layer {arn} does not exist for {function.region}, {runtime}, {function.architectures}",
                )

    def get_layers_data(self: Any, arns: list[str]) -> list[dict[str, Any]]:
        public = [arn for arn in arns if f":{POWERTOOLS_ACCOUNT}:layer:" in arn]
        if hasattr(self, "architectures"):  # an update; on creation, function_init checks them
            check_public_layers(self, public)
        others = [arn for arn in arns if arn not in public]
        found: list[dict[str, Any]] = [{"Arn": arn, "CodeSize": 0} for arn in public]
        return found + ([dict(layer) for layer in original_layers(self, others)] if others else [])

    def function_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_function_init(self, *args, **kwargs)
        check_public_layers(self, [layer["Arn"] for layer in self.layers if f":{POWERTOOLS_ACCOUNT}:" in layer["Arn"]])

    monkeypatch.setattr(function_class, "_get_layers_data", get_layers_data)
    monkeypatch.setattr(function_class, "__init__", function_init)


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on a free loopback port, extended by `extend_moto`; yields its URL."""
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as monkeypatch:
        extend_moto(monkeypatch)
        monkeypatch.setattr(logging.getLogger("werkzeug"), "level", logging.WARNING)  # one line per request
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()
