"""The Terraform configuration (root *.tf files), verified offline, exactly as shipped.

What runs here: `terraform fmt`, `init` from local provider mirrors (hashicorp/aws, and stand-ins
for hashicorp/random and hashicorp/archive with the real providers' schema: see
tests/support/stand_in_providers), `validate`, `terraform test` over the plan-level rules
(variable validations, preconditions, resource shapes: tests/terraform/*.tftest.hcl, with mocked
providers), `plan` for the defaults, the example tfvars, a 4.x cluster, private mode and the
smallest and fullest configurations, `apply` / `destroy` of four deployments against a moto server
made as strict as AWS (tests/support/strict_aws.py), re-plans after apply, checkov, and checks over
the configuration as Terraform parses it.

No product file is swapped, skipped or rewritten: a working copy holds every root *.tf file
byte for byte, plus test-only `*_override.tf` files (the AWS endpoints; where a test needs it,
a value such as a bad password), and a test fails if any product file is not loaded.

What is NOT covered offline:
- real AWS behaviour beyond the rules in tests/support/strict_aws.py: moto starts no broker and runs no
  event source mapping poller, so permissions, networking, private DNS and teardown timing are
  untested; the public Powertools layers are accepted by pattern, not by existence;
- the real hashicorp/random and hashicorp/archive binaries (their schema is compared in
  tests/terraform/test_stand_in_providers.py), the aws provider versions other than the mirror's
  (5.100.0), and Terraform versions other than the one installed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import boto3
import pytest

from rabbitmq_docs.dashboard_picture import render_svg
from support import strict_aws
from support.stand_in_providers.mirror import build_mirror
from support.terraform_harness import (
    REGION,
    REPO_ROOT,
    TFTEST_DIR,
    HarnessError,
    TerraformResult,
    TerraformWorkdir,
    find_aws_provider_mirror,
    find_terraform,
    make_test_workdir,
    make_workdir,
    moto_server,
    package_files,
    product_files,
    write_cli_config,
)

pytestmark = pytest.mark.terraform

T = TypeVar("T")

CHECKOV_VENV = REPO_ROOT / "build" / "checkov-venv"
CHECKOV_REQUIREMENT = "checkov>=3,<4"

ROOT_MODULE_FILES = sorted(p.name for p in REPO_ROOT.glob("*.tf"))

# The only IAM actions allowed on Resource "*": the poller's network interfaces (Lambda guide),
# X-Ray writes, and a VPC function's network interfaces (AWSLambdaVPCAccessExecutionRole).
POLLER_EC2_ACTIONS = {
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
}
XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
VPC_FUNCTION_ACTIONS = {
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}
STAR_RESOURCE_ACTIONS = POLLER_EC2_ACTIONS | XRAY_ACTIONS | VPC_FUNCTION_ACTIONS
# What each admin function has (bootstrap.tf), by key: bootstrap, metrics, rotation.
ADMIN_FUNCTION_RESOURCES = (
    "aws_cloudwatch_log_group.admin",
    "aws_iam_role.admin",
    "aws_iam_role_policy.admin",
    "aws_lambda_function.admin",
)

OUTPUTS = {
    "region",
    "max_message_size",
    "broker_log_group_name",
    "alarm_names",
    "broker_id",
    "broker_arn",
    "amqps_endpoint",
    "console_url",
    "credentials_secret_arn",
    "dead_letter_bucket",
    "idempotency_table_name",
    "consumer_secret_arn",
    "publisher_secret_arn",
    "monitoring_secret_arn",
    "bootstrap_function_name",
    "metrics_function_name",
    "rotation_function_name",
    "dashboard_url",
    "queue_name",
    "virtual_host",
    "delivery_limit",
    "function_name",
    "log_group_name",
    "dead_letter_queue_url",
    "event_source_mapping_uuids",
    "consumed_queues",
    "publish_exchange",
    "ordering_key",
}

ENVIRONMENT_VARIABLES = {
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_LOG_LEVEL",
    "POWERTOOLS_METRICS_NAMESPACE",
    "DEAD_LETTER_QUEUE_URL",
    "DEAD_LETTER_BUCKET",
    "DELIVERY_LIMIT",
    "ORDERING_KEY",
    "PARALLELISM",
}
# The idempotency extra's settings of the consumer function (idempotency.tf).
IDEMPOTENCY_VARIABLES = {"IDEMPOTENCY_TABLE", "IDEMPOTENCY_KEY", "IDEMPOTENCY_TTL_SECONDS", "IDEMPOTENCY_FAIL_OPEN"}


def required(find: Callable[[], T]) -> T:
    """What `find` finds, or a failed test (never a skip) whose one line says how to fix it."""
    try:
        return find()
    except HarnessError as exc:
        message = str(exc)
    pytest.fail(message, pytrace=False)


def normalized(text: str) -> str:
    """Terraform's diagnostics without box drawing and line wrapping."""
    return " ".join(re.sub(r"[│╷╵├─]", " ", text).split())


def layer_arn(runtime: str, architecture: str, version: int = 27, region: str = REGION) -> str:
    return (
        f"arn:aws:lambda:{region}:017000801446:layer:"
        f"AWSLambdaPowertoolsPythonV3-{runtime.replace('.', '')}-{architecture}:{version}"
    )


# --------------------------------------------------------------------------------------------
# Fixtures: Terraform, the mirror, a moto server, VPCs in it, an initialized working copy
# --------------------------------------------------------------------------------------------


@dataclass
class Network:
    vpc_id: str
    subnets_by_zone: dict[str, list[str]]


@dataclass
class Harness:
    terraform: str
    cli_config: Path
    moto_endpoint: str
    tmp: Path
    network: Network

    def workdir(self, name: str, **kwargs: Any) -> TerraformWorkdir:
        return make_workdir(self.tmp / name, self.terraform, self.cli_config, self.moto_endpoint, **kwargs)

    def client(self, service: str) -> Any:
        return cast(Any, boto3.client)(
            service,
            region_name=REGION,
            endpoint_url=self.moto_endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@pytest.fixture(scope="module")
def terraform() -> str:
    return required(find_terraform)


@pytest.fixture(scope="module")
def harness(terraform: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    mirror = required(find_aws_provider_mirror)
    tmp = tmp_path_factory.mktemp("terraform")
    cli_config = write_cli_config(tmp / "terraform.tfrc", mirror, build_mirror(tmp / "stand-in-providers"))
    with moto_server() as endpoint:
        ec2 = boto3.client(
            "ec2",
            region_name=REGION,
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
        for attribute in ("EnableDnsSupport", "EnableDnsHostnames"):
            ec2.modify_vpc_attribute(VpcId=vpc_id, **{attribute: {"Value": True}})
        subnets: dict[str, list[str]] = {}
        for index, zone in enumerate(["a", "b", "c", "a"]):
            subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.20.{index}.0/24", AvailabilityZone=REGION + zone)
            subnets.setdefault(REGION + zone, []).append(subnet["Subnet"]["SubnetId"])
        network = Network(vpc_id, subnets)
        yield Harness(terraform, cli_config, endpoint, tmp, network)


@pytest.fixture(scope="module")
def workdir(harness: Harness, request: pytest.FixtureRequest) -> TerraformWorkdir:
    """One initialized working copy for validate, the plans and the parsed-configuration checks.

    When apply or checkov tests are selected, their deployments and the checkov install start
    here, in the background: they are mostly waiting (on the provider, on PyPI), which the plan
    tests can use."""
    for background in ("deployments", "checkov_install", "terraform_test"):
        if any(background in getattr(item, "fixturenames", ()) for item in request.session.items):
            request.getfixturevalue(background)
    return harness.workdir("plans")


def private_mode(network: Network, zones: int = 1, **extra: Any) -> dict[str, Any]:
    zone_names = sorted(network.subnets_by_zone)[:zones]
    return {
        "publicly_accessible": False,
        "vpc_id": network.vpc_id,
        "subnet_ids": [network.subnets_by_zone[zone][0] for zone in zone_names],
        **extra,
    }


def planned_resources(plan: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Address -> planned values, for every resource in the root module."""
    resources = plan["planned_values"]["root_module"].get("resources", [])
    return {r["address"]: r.get("values", {}) for r in resources}  # all unknown: no values


def managed(addresses: Iterable[str]) -> set[str]:
    """The managed resources among planned addresses (data sources left out)."""
    return {address for address in addresses if not address.startswith("data.")}


def actions(plan: Mapping[str, Any]) -> dict[str, list[str]]:
    return {c["address"]: c["change"]["actions"] for c in plan.get("resource_changes", [])}


# --------------------------------------------------------------------------------------------
# Formatting, init, validate, the package
# --------------------------------------------------------------------------------------------


def test_terraform_files_are_formatted(terraform: str) -> None:
    """`terraform fmt -check -recursive` over the repository."""
    proc = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", "-no-color"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, f"run `terraform fmt -recursive`:\n{proc.stdout}{proc.stderr}"


def admits(constraint: str, version: str) -> bool:
    """Whether a Terraform version constraint of comparisons joined by commas admits `version`."""

    def parts(text: str) -> tuple[int, ...]:
        return tuple(int(part) for part in text.split("."))

    def padded(left: tuple[int, ...], right: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        width = max(len(left), len(right))
        return left + (0,) * (width - len(left)), right + (0,) * (width - len(right))

    compare = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b}
    for clause in constraint.split(","):
        operator, bound = re.fullmatch(r"\s*(>=|<=|>|<)\s*([0-9.]+)\s*", clause).groups()  # type: ignore[union-attr]
        if not compare[operator](*padded(parts(version), parts(bound))):
            return False
    return True


def test_aws_provider_constraint_admits_the_tested_and_the_checked_versions() -> None:
    """versions.tf admits 5.100 (tested here) and 6.x (checked against the upgrade guide), nothing older
    or newer; docs/terraform.md says which is which."""
    text = (REPO_ROOT / "versions.tf").read_text()
    (constraint,) = re.findall(r'source\s*=\s*"hashicorp/aws"\s*\n\s*version\s*=\s*"([^"]+)"', text)
    for version in ("5.100.0", "5.100.1", "6.0.0", "6.38.0", "6.99.9"):
        assert admits(constraint, version), (constraint, version)
    for version in ("5.99.1", "4.67.0", "7.0.0"):
        assert not admits(constraint, version), (constraint, version)
    docs = normalized((REPO_ROOT / "docs" / "terraform.md").read_text())
    assert "5.100.0" in docs
    assert "6.x" in docs


def test_configuration_is_valid(workdir: TerraformWorkdir) -> None:
    """init (done by the fixture, from the mirrors) and validate, on the files as shipped."""
    result = workdir.run("validate", "-no-color").check()
    assert "The configuration is valid" in result.output


def test_working_copy_holds_every_product_file_unmodified(workdir: TerraformWorkdir) -> None:
    """Byte for byte, every root *.tf file; besides them only test-only *_override.tf files."""
    shipped = {tf.name: tf.read_bytes() for tf in product_files()}
    copied = {tf.name: tf.read_bytes() for tf in workdir.path.glob("*.tf") if not tf.name.endswith("_override.tf")}
    assert copied == shipped
    assert {"versions.tf", "main.tf", "bootstrap.tf"} <= set(shipped)


# --------------------------------------------------------------------------------------------
# terraform test: the plan-level rules, in Terraform's own test files
# --------------------------------------------------------------------------------------------


def declared_runs() -> int:
    return sum(len(re.findall(r'^run "', path.read_text(), re.M)) for path in TFTEST_DIR.glob("*.tftest.hcl"))


@pytest.fixture(scope="module")
def terraform_test(harness: Harness) -> Iterator[Future[TerraformResult]]:
    """`terraform test -test-directory=tests/terraform` in a copy laid out as the repository. It
    takes a minute or two, mostly starting providers: it starts early (see `workdir`)."""

    def run() -> TerraformResult:
        workdir = make_test_workdir(harness.tmp / "terraform-test", harness.terraform, harness.cli_config)
        return workdir.run("test", "-test-directory=tests/terraform", "-no-color", timeout=1200)

    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool.submit(run)


def test_terraform_test_runs_pass(terraform_test: Future[TerraformResult]) -> None:
    """Every run of tests/terraform/*.tftest.hcl passes (each variable validation and
    precondition fails the plan it must; the resources have the shapes asserted there), and
    none is skipped: Terraform skips the rest of a file after a failed run."""
    result = terraform_test.result(timeout=1500)
    assert result.returncode == 0, f"terraform test failed:\n{result.output[-8000:]}"
    assert f"Success! {declared_runs()} passed, 0 failed." in result.output, result.output[-3000:]


def declared_blocks(text: str) -> set[str]:
    """The addresses of what a .tf file declares, read from its source with a regular expression
    (independent of Terraform's parser, so a file Terraform did not load shows up as missing)."""
    blocks = set()
    for kind, first, second in re.findall(r'^(resource|data|variable|output)\s+"([^"]+)"(?:\s+"([^"]+)")?', text, re.M):
        blocks.add({"resource": f"{first}.{second}", "data": f"data.{first}.{second}"}.get(kind, f"{kind}.{first}"))
    return blocks


def test_every_product_file_is_loaded(configuration: dict[str, Any]) -> None:
    """Every resource, data source, variable and output of every root *.tf file is in the
    configuration Terraform planned: a file left out (or renamed away from *.tf) fails here."""
    loaded = {r["address"] for r in configuration["resources"]}
    loaded |= {f"variable.{name}" for name in configuration["variables"]}
    loaded |= {f"output.{name}" for name in configuration["outputs"]}
    for tf in product_files():
        declared = declared_blocks(tf.read_text())
        assert declared - loaded == set(), f"{tf.name} declares blocks Terraform did not load"
    assert {"random_password.broker", "data.archive_file.lambda"} <= loaded


@pytest.mark.parametrize(
    ("key", "package", "function"),
    [("consumer", "rabbitmq_consumer", "this"), ("admin", "rabbitmq_admin", 'admin["bootstrap"]')],
)
def test_lambda_packages_hold_their_package_without_compiled_python(
    workdir: TerraformWorkdir, default_plan: dict[str, Any], key: str, package: str, function: str
) -> None:
    """Each zip archive_file builds: every file of its package alone, no __pycache__, and the
    source hash its function is deployed with is the SHA-256 of the zip's bytes."""
    package_dir = REPO_ROOT / "src" / package
    planted = workdir.path / "src" / "rabbitmq_consumer" / "__pycache__"
    assert planted.is_dir(), "the working copy should hold a __pycache__ to leave out"

    files = workdir.console(f'local.lambda_package_files["{key}"]')

    assert files == package_files(package_dir)
    assert "__init__.py" in files
    assert not [f for f in files if "__pycache__" in f or f.endswith((".pyc", ".pyo"))]
    zip_path = workdir.path / "build" / f"{package}.zip"
    with zipfile.ZipFile(zip_path) as archive:
        assert sorted(archive.namelist()) == [f"{package}/{f}" for f in files]
        for name in files:
            assert archive.read(f"{package}/{name}") == (package_dir / name).read_bytes(), name
    planned = planned_resources(default_plan)[f"aws_lambda_function.{function}"]
    assert planned["source_code_hash"] == sha256_base64(zip_path.read_bytes())


def sha256_base64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


# --------------------------------------------------------------------------------------------
# Plans
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_plan(workdir: TerraformWorkdir) -> dict[str, Any]:
    return workdir.plan_json({}, "defaults")


def test_plan_with_defaults(default_plan: dict[str, Any]) -> None:
    """The documented default: public single-instance 3.13 broker on mq.m7g.medium, arm64 function."""
    plan = default_plan
    resources = planned_resources(plan)

    broker = resources["aws_mq_broker.this"]
    assert broker["engine_type"] == "RabbitMQ"
    assert broker["engine_version"] == "3.13"
    assert broker["host_instance_type"] == "mq.m7g.medium"
    assert broker["deployment_mode"] == "SINGLE_INSTANCE"
    assert broker["auto_minor_version_upgrade"] is True
    assert broker["publicly_accessible"] is True
    assert broker["logs"] == [{"audit": None, "general": True}]
    assert broker["tags_all"] == {"Project": "rabbitmq-lambda-consumer"}
    assert broker["timeouts"] == {"create": "60m", "update": "60m", "delete": "60m"}

    function = resources["aws_lambda_function.this"]
    assert function["runtime"] == "python3.13"
    assert function["architectures"] == ["arm64"]
    assert function["handler"] == "rabbitmq_consumer.handler.lambda_handler"
    assert function["layers"] == [layer_arn("python3.13", "arm64")]
    assert function["tracing_config"] == [{"mode": "Active"}]
    assert function["timeout"] == 60

    assert [address for address in resources if address.startswith("aws_lambda_event_source_mapping.")] == [
        'aws_lambda_event_source_mapping.this["0"]'
    ]
    mapping = resources['aws_lambda_event_source_mapping.this["0"]']
    assert mapping["queues"] == ["orders"]
    assert mapping["batch_size"] == 100
    assert mapping["enabled"] is True

    assert resources["aws_cloudwatch_log_group.this"]["retention_in_days"] == 30
    queue = resources["aws_sqs_queue.dead_letter"]
    assert queue["message_retention_seconds"] == 14 * 24 * 3600
    assert queue["sqs_managed_sse_enabled"] is True

    private_only = ("aws_security_group.", "aws_vpc_endpoint.", "aws_vpc_security_group_")
    assert not [address for address in resources if address.startswith(private_only)]
    assert not [address for address in resources if address.startswith(("aws_sns_topic", "aws_sns_topic_subscription"))]
    assert set(plan["planned_values"]["outputs"]) >= OUTPUTS
    assert plan["planned_values"]["outputs"]["max_message_size"]["value"] == 128 * 1024 * 1024


def test_example_tfvars_plan(workdir: TerraformWorkdir) -> None:
    """terraform.tfvars.example, as shipped, is a valid set of inputs."""
    shutil.copy2(REPO_ROOT / "terraform.tfvars.example", workdir.path / "example.tfvars")
    result = workdir.run("plan", "-input=false", "-no-color", "-lock=false", "-var-file=example.tfvars").check()
    assert "mq.m7g.medium" in result.output


def test_plan_private_mode_without_endpoints(harness: Harness, workdir: TerraformWorkdir) -> None:
    plan = workdir.plan_json(private_mode(harness.network, vpc_endpoint_services=[]), "private-no-endpoints")
    resources = planned_resources(plan)
    assert "aws_security_group.broker[0]" in resources
    assert not [a for a in resources if a.startswith(("aws_vpc_endpoint.", "aws_security_group.endpoints"))]
    https_out = resources["aws_vpc_security_group_egress_rule.broker_https_out[0]"]  # through a NAT gateway
    assert (https_out["from_port"], https_out["to_port"], https_out["cidr_ipv4"]) == (443, 443, "0.0.0.0/0")


def test_plan_private_mode_with_some_endpoints(harness: Harness, workdir: TerraformWorkdir) -> None:
    """A VPC that already has Lambda and Secrets Manager endpoints with private DNS: only STS is created
    (a second private-DNS endpoint for a service fails), and the poller and the admin functions reach
    the others through HTTPS out."""
    plan = workdir.plan_json(private_mode(harness.network, vpc_endpoint_services=["sts"]), "private-sts-only")
    resources = planned_resources(plan)
    endpoints = [v["service_name"] for k, v in resources.items() if k.startswith("aws_vpc_endpoint.this")]
    assert endpoints == [f"com.amazonaws.{REGION}.sts"]
    assert {
        "aws_vpc_security_group_egress_rule.broker_to_endpoints[0]",
        "aws_vpc_security_group_ingress_rule.endpoints_from_poller[0]",
        "aws_vpc_security_group_egress_rule.broker_https_out[0]",
        "aws_vpc_security_group_egress_rule.admin_https_out[0]",
    } <= set(resources)
    # The admin functions call Secrets Manager only, which has no endpoint here.
    assert not [a for a in resources if a.startswith(("aws_vpc_security_group_egress_rule.admin_to_endpoints",))]
    assert not [a for a in resources if a.startswith("aws_vpc_security_group_ingress_rule.endpoints_from_admin")]


# --------------------------------------------------------------------------------------------
# The configuration as Terraform parses it
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def configuration(default_plan: dict[str, Any]) -> dict[str, Any]:
    """The root module's configuration, as parsed by Terraform (`terraform show -json` of a plan)."""
    root: dict[str, Any] = default_plan["configuration"]["root_module"]
    return root


def constant(expression: Mapping[str, Any] | None) -> Any:
    return (expression or {}).get("constant_value")


def test_no_iam_statement_has_star_resource_except_network_interfaces_and_xray(configuration: dict[str, Any]) -> None:
    documents = [r for r in configuration["resources"] if r["type"] == "aws_iam_policy_document"]
    # The bucket's resource policy only denies: requests without TLS.
    (bucket_policy,) = [doc for doc in documents if doc["name"] == "dead_letters_bucket"]
    (deny,) = bucket_policy["expressions"]["statement"]
    assert (constant(deny["effect"]), constant(deny["actions"])) == ("Deny", ["s3:*"])
    assert constant(deny["condition"][0]["variable"]) == "aws:SecureTransport"
    documents.remove(bucket_policy)
    statements = [s for doc in documents for s in doc["expressions"].get("statement", [])]
    assert {doc["name"] for doc in documents} == {
        "assume_role",
        "execution",
        "bootstrap",
        "metrics",
        "rotation",
        "admin",
        "large_dead_letters",
        "idempotency",
    }
    # And the admin functions' VpcNetworkInterfaces, a dynamic block (private mode).
    assert len(statements) == 15

    for statement in statements:
        sid = constant(statement.get("sid"))
        resources = statement.get("resources")
        if resources is None:  # the trust policy, which names a principal instead
            assert sid == "LambdaAssumesRole"
            continue
        if "*" in (constant(resources) or []):
            assert constant(resources) == ["*"], sid
            assert set(constant(statement["actions"])) <= STAR_RESOURCE_ACTIONS, sid
        else:
            assert resources.get("references"), f"statement {sid} should name its resource"
        assert not {"not_resources", "not_actions"} & set(statement), sid
        assert constant(statement.get("effect")) in (None, "Allow"), sid

    # Every policy of the role comes from a policy document, none is inline JSON.
    role_policies = [r for r in configuration["resources"] if r["type"] in {"aws_iam_role_policy", "aws_iam_policy"}]
    assert sorted(r["expressions"]["policy"]["references"][0] for r in role_policies) == [
        "data.aws_iam_policy_document.admin",
        "data.aws_iam_policy_document.execution.json",
    ]
    assert not [r for r in configuration["resources"] if r["type"] == "aws_iam_role_policy_attachment"]


def test_event_source_mapping_outlives_what_its_poller_uses(configuration: dict[str, Any]) -> None:
    """Destroy order: the mapping goes first (the provider waits until it is deleted), then the role's
    policy, the consumer's credentials (referenced), the VPC endpoints and the security group rules it
    depends on; and it is created only after the bootstrap ran."""
    (mapping,) = [r for r in configuration["resources"] if r["address"] == "aws_lambda_event_source_mapping.this"]
    assert set(mapping["depends_on"]) == {
        "aws_lambda_invocation.bootstrap",
        "aws_iam_role_policy.this",
        "aws_vpc_endpoint.this",
        "aws_vpc_security_group_ingress_rule.broker_amqps_self",
        "aws_vpc_security_group_egress_rule.broker_amqps_self",
        "aws_vpc_security_group_egress_rule.broker_to_endpoints",
        "aws_vpc_security_group_egress_rule.broker_https_out",
        "aws_vpc_security_group_ingress_rule.endpoints_from_poller",
    }
    # Every security group rule of the poller is among them (not the clients', not the admin functions').
    rules = {r["address"] for r in configuration["resources"] if r["type"].startswith("aws_vpc_security_group_")}
    assert {rule for rule in rules - set(mapping["depends_on"]) if "admin" not in rule} == {
        "aws_vpc_security_group_ingress_rule.broker_clients"
    }


# The bootstrap function's whole configuration, from its environment (rabbitmq_admin reads it).
BOOTSTRAP_ENVIRONMENT = {
    "MANAGEMENT_URL",
    "ADMIN_SECRET_ARN",
    "CONSUMER_SECRET_ARN",
    "PUBLISHER_SECRET_ARN",
    "MONITORING_SECRET_ARN",
    "CONSUMER_USERNAME",
    "PUBLISHER_USERNAME",
    "MONITORING_USERNAME",
    "QUEUE_NAME",
    "VIRTUAL_HOST",
    "DELIVERY_LIMIT",
    "CONSUMER_CONFIGURE_PERMISSION",
    "SHARD_COUNT",
    "ORDERING_KEY",
}


def test_bootstrap_runs_before_the_mapping_with_everything_it_applies(
    configuration: dict[str, Any], default_plan: dict[str, Any], workdir: TerraformWorkdir
) -> None:
    """The bootstrap function's environment holds everything it applies; the invocation's input is a
    trigger only, a hash of that environment and of the code, so a change of either re-runs it; it
    refers to the function (updated first) and waits for what the function needs."""
    resources = {r["address"]: r for r in configuration["resources"]}
    invocation = resources["aws_lambda_invocation.bootstrap"]
    assert set(invocation["expressions"]["input"]["references"]) == {
        'local.admin_functions["bootstrap"].environment',
        'local.admin_functions["bootstrap"]',
        "local.admin_functions",
        'local.lambda_zip["admin"].base64sha256',
        'local.lambda_zip["admin"]',
        "local.lambda_zip",
    }
    assert "triggers" not in invocation["expressions"]
    assert "aws_lambda_function.admin" in " ".join(invocation["expressions"]["function_name"]["references"])
    assert {
        "aws_secretsmanager_secret_version.broker",
        "aws_iam_role_policy.admin",
        "aws_vpc_endpoint.this",
    } <= set(invocation["depends_on"])
    assert resources["aws_lambda_function.this"]["depends_on"] == ["aws_cloudwatch_log_group.this"]

    planned = planned_resources(default_plan)
    bootstrap = planned['aws_lambda_function.admin["bootstrap"]']
    assert bootstrap["timeout"] == 300
    # Before the first apply the ARNs and the URL are unknown, so the plan holds the whole map as
    # unknown: the configuration's own values, through the console.
    environment = 'local.admin_functions["bootstrap"].environment'
    assert set(workdir.console(f"keys({environment})")) == BOOTSTRAP_ENVIRONMENT
    known = ["CONSUMER_USERNAME", "PUBLISHER_USERNAME", "MONITORING_USERNAME", "QUEUE_NAME", "VIRTUAL_HOST"]
    known += ["DELIVERY_LIMIT", "CONSUMER_CONFIGURE_PERMISSION"]
    assert workdir.console(f"{{ for name in {json.dumps(known)} : name => {environment}[name] }}") == {
        "CONSUMER_USERNAME": "lambda-consumer",
        "PUBLISHER_USERNAME": "publisher",
        "MONITORING_USERNAME": "queue-metrics",
        "QUEUE_NAME": "orders",
        "VIRTUAL_HOST": "/",
        "DELIVERY_LIMIT": "20",
        "CONSUMER_CONFIGURE_PERMISSION": "false",
    }


def test_what_a_private_destroy_needs_outlives_it(configuration: dict[str, Any]) -> None:
    """An admin function goes before its role's policy (in private mode Lambda removes its network
    interfaces with the policy's EC2 permissions), and the rotation schedule is configured only once
    Secrets Manager may invoke the rotation function."""
    resources = {r["address"]: r for r in configuration["resources"]}
    assert "aws_iam_role_policy.admin" in resources["aws_lambda_function.admin"]["depends_on"]
    rotation = resources["aws_secretsmanager_secret_rotation.users"]
    assert "aws_lambda_permission.rotation" in rotation["depends_on"]


def test_what_needs_the_bootstrap_waits_for_it(configuration: dict[str, Any]) -> None:
    """The rotations start once the bootstrap stored the users' secrets (a secret without a value
    has nothing to rotate), and the metrics schedule once the monitoring user exists."""
    resources = {r["address"]: r for r in configuration["resources"]}
    rotation = resources["aws_secretsmanager_secret_rotation.users"]
    assert {"aws_lambda_invocation.bootstrap", "aws_iam_role_policy.admin"} <= set(rotation["depends_on"])
    assert rotation["expressions"]["rotate_immediately"]["constant_value"] is False
    schedule = resources["aws_cloudwatch_event_target.metrics"]
    assert "aws_lambda_invocation.bootstrap" in schedule["depends_on"]


def test_every_variable_and_output_is_documented(configuration: dict[str, Any]) -> None:
    for name, variable in configuration["variables"].items():
        assert variable.get("description"), f"variable {name} has no description"
    for name, output in configuration["outputs"].items():
        assert output.get("description"), f"output {name} has no description"
        assert not output.get("sensitive"), name
        references = " ".join(output["expression"].get("references", []))
        assert not re.search(r"password|secret_version", references), name
    assert set(configuration["outputs"]) >= OUTPUTS

    # Types are not in the JSON configuration: read them from the source.
    text = (REPO_ROOT / "variables.tf").read_text()
    blocks = re.findall(r'^variable "(\w+)" \{\n(.*?)^\}', text, re.M | re.S)
    assert {name for name, _ in blocks} == set(configuration["variables"])
    assert not [name for name, body in blocks if not re.search(r"^  type\s+=", body, re.M)]


# --------------------------------------------------------------------------------------------
# The smallest and the fullest configuration: which resources each plans (and later applies)
# --------------------------------------------------------------------------------------------

# The core: main.tf and bootstrap.tf.
SMALLEST_RESOURCES = {
    "random_password.broker",
    "aws_mq_broker.this",
    "aws_secretsmanager_secret.broker",
    "aws_secretsmanager_secret_version.broker",
    "aws_sqs_queue.dead_letter",
    "aws_cloudwatch_log_group.this",
    "aws_iam_role.this",
    "aws_iam_role_policy.this",
    "aws_lambda_function.this",
    "terraform_data.event_source_access",
    'aws_lambda_event_source_mapping.this["0"]',
    "aws_secretsmanager_secret.consumer",
    "aws_secretsmanager_secret.publisher",
    'aws_cloudwatch_log_group.admin["bootstrap"]',
    'aws_iam_role.admin["bootstrap"]',
    'aws_iam_role_policy.admin["bootstrap"]',
    'aws_lambda_function.admin["bootstrap"]',
    "aws_lambda_invocation.bootstrap",
}

# The core and every extra: a private cluster over three zones with the three endpoints and one
# client network, monitoring with an alarm email, rotation, the large dead letters' bucket.
FULLEST_RESOURCES = SMALLEST_RESOURCES | {
    # monitoring.tf
    "aws_secretsmanager_secret.monitoring[0]",
    *(f'{kind}["metrics"]' for kind in ADMIN_FUNCTION_RESOURCES),
    "aws_cloudwatch_event_rule.metrics[0]",
    "aws_cloudwatch_event_target.metrics[0]",
    "aws_lambda_permission.metrics_schedule[0]",
    "aws_sns_topic.alarms[0]",
    "aws_sns_topic_subscription.alarm_email[0]",
    *(
        f"aws_cloudwatch_metric_alarm.{alarm}[0]"
        for alarm in (
            "lambda_errors",
            "dead_letter_queue_not_empty",
            "broker_dead_letter_queue_not_empty",
            "queue_backlog",
            "poller_stopped",
            "metrics_function_failing",
        )
    ),
    "aws_cloudwatch_dashboard.this[0]",
    # credential_rotation.tf
    *(f'{kind}["rotation"]' for kind in ADMIN_FUNCTION_RESOURCES),
    "aws_lambda_permission.rotation[0]",
    *(f'aws_secretsmanager_secret_rotation.users["{role}"]' for role in ("consumer", "publisher", "monitoring")),
    "aws_cloudwatch_metric_alarm.rotation_errors[0]",
    # large_dead_letters.tf
    *(
        f"aws_s3_bucket{suffix}.dead_letters[0]"
        for suffix in (
            "",
            "_public_access_block",
            "_ownership_controls",
            "_server_side_encryption_configuration",
            "_lifecycle_configuration",
            "_policy",
        )
    ),
    # idempotency.tf
    "aws_dynamodb_table.idempotency[0]",
    # shard_count = 4: a mapping per shard queue (main.tf)
    *(f'aws_lambda_event_source_mapping.this["{index}"]' for index in range(1, 4)),
    # private_network.tf
    "aws_security_group.broker[0]",
    "aws_vpc_security_group_ingress_rule.broker_amqps_self[0]",
    "aws_vpc_security_group_egress_rule.broker_amqps_self[0]",
    "aws_vpc_security_group_egress_rule.broker_to_endpoints[0]",
    'aws_vpc_security_group_ingress_rule.broker_clients["10.8.0.0/16:5671"]',
    'aws_vpc_security_group_ingress_rule.broker_clients["10.8.0.0/16:443"]',
    "aws_security_group.endpoints[0]",
    "aws_vpc_security_group_ingress_rule.endpoints_from_poller[0]",
    *(f'aws_vpc_endpoint.this["{service}"]' for service in ("lambda", "secretsmanager", "sts")),
    "aws_security_group.admin[0]",
    "aws_vpc_security_group_egress_rule.admin_to_broker[0]",
    "aws_vpc_security_group_ingress_rule.broker_from_admin[0]",
    "aws_vpc_security_group_egress_rule.admin_to_endpoints[0]",
    "aws_vpc_security_group_ingress_rule.endpoints_from_admin[0]",
}


def test_plan_the_smallest_configuration(workdir: TerraformWorkdir) -> None:
    """Public, every extra off: the core's 18 resources, no more (and test_apply_and_destroy_the_smallest_
    configuration applies it)."""
    plan = workdir.plan_json(SMALLEST, "smallest")
    assert managed(planned_resources(plan)) == SMALLEST_RESOURCES
    assert len(SMALLEST_RESOURCES) == 18


def test_plan_the_fullest_configuration(harness: Harness, workdir: TerraformWorkdir) -> None:
    """A private 4.2 cluster with every extra and 4 shards: 70 resources (applied by
    test_apply_and_destroy_private_cluster)."""
    plan = workdir.plan_json(private_deployment(harness.network), "fullest")
    assert managed(planned_resources(plan)) == FULLEST_RESOURCES
    assert len(FULLEST_RESOURCES) == 70


# --------------------------------------------------------------------------------------------
# Apply and destroy against moto
# --------------------------------------------------------------------------------------------

PUBLIC = {"name_prefix": "rmq-public", "alarm_email": "ops@example.com"}

# The smallest configuration: public, every extra off (the core alone).
SMALLEST = {
    "name_prefix": "rmq-small",
    "enable_monitoring": False,
    "credential_rotation_days": None,
    "enable_large_dead_letters": False,
    "enable_idempotency": False,
}


@dataclass(frozen=True)
class Extras:
    """Which extras a deployment's variables turn on."""

    monitoring: bool
    rotation: bool
    large_dead_letters: bool
    idempotency: bool
    private: bool

    @classmethod
    def of(cls, variables: Mapping[str, Any]) -> Extras:
        return cls(
            monitoring=variables.get("enable_monitoring", True),
            rotation=variables.get("credential_rotation_days", 30) is not None,
            large_dead_letters=variables.get("enable_large_dead_letters", True),
            idempotency=variables.get("enable_idempotency", True),
            private=variables.get("publicly_accessible") is False,
        )

    def absent_outputs(self) -> set[str]:
        """The outputs of the extras that are off, which Terraform leaves out (they are null)."""
        absent = set() if self.rotation else {"rotation_function_name"}
        absent |= set() if self.large_dead_letters else {"dead_letter_bucket"}
        absent |= set() if self.idempotency else {"idempotency_table_name"}
        if not self.monitoring:
            absent |= {"metrics_function_name", "monitoring_secret_arn", "dashboard_url"}
        return absent


def private_deployment(network: Network) -> dict[str, Any]:
    """The fullest configuration: a private 4.2 cluster with every extra on, alarms by email, and the
    region set rather than taken from the environment."""
    return private_mode(
        network,
        zones=3,
        region=REGION,
        alarm_email="ops@example.com",
        name_prefix="rmq-private",
        engine_version="4.2",
        instance_type="mq.m7g.large",
        deployment_mode="CLUSTER_MULTI_AZ",
        lambda_runtime="python3.12",
        lambda_architecture="x86_64",
        powertools_layer_version=31,
        queue_name="payments",
        virtual_host="prod",
        batch_size=10,
        maximum_batching_window_in_seconds=5,
        delivery_limit=5,
        credential_rotation_days=7,
        monitoring_username="metrics-reader",
        idempotency_key="json:order.id",
        idempotency_ttl_days=3,
        idempotency_fail_open=True,
        broker_ingress_cidr_blocks=["10.8.0.0/16"],
        shard_count=4,
        ordering_key="header:customer-id",
        tags={"Project": "rmq-test", "Stack": "private"},
    )


@dataclass
class Deployment:
    workdir: TerraformWorkdir
    variables: dict[str, Any]
    apply: TerraformResult
    outputs: dict[str, Any]
    code_sha256: str  # of the zip the apply uploaded (the plans after it may rebuild the zip)
    password: str  # the generated broker password, from the state
    plans: dict[str, Any]
    resources: set[str]  # the managed resources in the state after apply
    replan: TerraformResult  # a plan with the same variables after apply (-detailed-exitcode)


def deploy(
    harness: Harness,
    name: str,
    variables: dict[str, Any],
    then: Callable[[TerraformWorkdir], dict[str, Any]] | None = None,
) -> Deployment:
    """Apply in a fresh working copy; then (only planning, so AWS is left as applied) run `then`."""
    workdir = harness.workdir(name)
    var_file = workdir.write_vars("deployment", variables)
    result = workdir.run("apply", "-input=false", "-no-color", "-auto-approve", f"-var-file={var_file}", timeout=600)
    outputs: dict[str, Any] = {}
    plans: dict[str, Any] = {}
    resources: set[str] = set()
    replan = result
    password = ""
    code_sha256 = sha256_base64((workdir.path / "build" / "rabbitmq_consumer.zip").read_bytes())
    if result.returncode == 0:
        shown = json.loads(workdir.run("output", "-json", "-no-color").check().stdout)
        outputs = {k: v["value"] for k, v in shown.items()}
        state = json.loads(workdir.run("show", "-json", "-no-color").check().stdout)
        resources = {r["address"] for r in state["values"]["root_module"]["resources"] if r["mode"] == "managed"}
        (generated,) = [
            r for r in state["values"]["root_module"]["resources"] if r["address"] == "random_password.broker"
        ]
        password = generated["values"]["result"]
        replan = workdir.run(
            "plan", "-input=false", "-no-color", "-lock=false", "-detailed-exitcode", f"-var-file={var_file}"
        )
        plans = then(workdir) if then else {}
    return Deployment(workdir, variables, result, outputs, code_sha256, password, plans, resources, replan)


def plans_after_public_apply(workdir: TerraformWorkdir) -> dict[str, Any]:
    """Re-plans of the applied public deployment: unchanged; a new admin username or password
    (users are set at creation only); a new vhost; a new secret; a batch size and a code change."""

    def detailed(*args: str) -> TerraformResult:
        return workdir.run("plan", "-input=false", "-no-color", "-lock=false", "-detailed-exitcode", *args)

    unchanged = detailed("-var-file=deployment.tfvars.json")
    username = detailed(f"-var-file={workdir.write_vars('username', {**PUBLIC, 'broker_username': 'ops-admin'})}")
    override = workdir.path / "password_override.tf"
    override.write_text('locals {\n  broker_password = "An0ther-generated.password"\n}\n')
    password = detailed("-var-file=deployment.tfvars.json")
    override.unlink()
    vhost = workdir.plan_json({**PUBLIC, "virtual_host": "staging"}, "vhost")
    workdir.run(
        "plan",
        "-input=false",
        "-no-color",
        "-lock=false",
        "-var-file=deployment.tfvars.json",
        "-replace=aws_secretsmanager_secret.consumer",
        "-out=new-secret.tfplan",
    ).check()
    new_secret_plan = json.loads(workdir.run("show", "-json", "-no-color", "new-secret.tfplan").check().stdout)
    configure = workdir.plan_json({**PUBLIC, "consumer_configure_permission": True}, "configure")
    consumer = workdir.plan_json({**PUBLIC, "consumer_username": "lambda-reader"}, "consumer-username")
    handler = workdir.path / "src" / "rabbitmq_consumer" / "handler.py"
    handler.write_text(handler.read_text() + "\n# changed\n")
    change = workdir.plan_json({**PUBLIC, "batch_size": 500}, "change")
    new_hash = sha256_base64((workdir.path / "build" / "rabbitmq_consumer.zip").read_bytes())
    admin_module = workdir.path / "src" / "rabbitmq_admin" / "__init__.py"
    admin_module.write_text(admin_module.read_text() + "\n# changed\n")
    admin_code = workdir.plan_json(PUBLIC, "admin-code")
    return {
        "configure": configure,
        "consumer_username": consumer,
        "admin_code": admin_code,
        "unchanged": unchanged,
        "username": username,
        "password": password,
        "vhost": vhost,
        "new_secret": new_secret_plan,
        "change": change,
        "new_hash": new_hash,
    }


def private_behind_nat(network: Network) -> dict[str, Any]:
    """Private single-instance 4.3 broker whose VPC reaches AWS through a NAT gateway: no endpoints;
    monitoring on, but no rotation and no bucket; a disabled mapping."""
    return private_mode(
        network,
        name_prefix="rmq-nat",
        vpc_endpoint_services=[],
        engine_version="4.3",
        instance_type="mq.m7g.medium",
        credential_rotation_days=None,  # no rotation function, no schedule
        enable_large_dead_letters=False,
        event_source_mapping_enabled=False,
    )


@pytest.fixture(scope="module")
def deployments(harness: Harness) -> Iterator[dict[str, Future[Deployment]]]:
    """The deployments applied at once: most of an apply against moto is the provider waiting."""
    with ThreadPoolExecutor(max_workers=3) as pool:
        yield {
            "public": pool.submit(deploy, harness, "public", PUBLIC, plans_after_public_apply),
            "private": pool.submit(deploy, harness, "private", private_deployment(harness.network)),
            "nat": pool.submit(deploy, harness, "nat", private_behind_nat(harness.network)),
            "smallest": pool.submit(deploy, harness, "smallest", SMALLEST),
        }


def applied(deployments: dict[str, Future[Deployment]], name: str) -> Deployment:
    deployment = deployments[name].result(timeout=900)
    assert deployment.apply.returncode == 0, deployment.apply.output[-6000:]
    return deployment


def destroy(deployment: Deployment) -> None:
    """Destroy, check the state is empty, and that the mapping was gone before what its poller uses."""
    var_file = deployment.workdir.path / "deployment.tfvars.json"
    result = deployment.workdir.run(
        "destroy", "-input=false", "-no-color", "-auto-approve", "-refresh=false", f"-var-file={var_file}"
    )
    result.check()
    state = json.loads(deployment.workdir.run("show", "-json", "-no-color").check().stdout)
    assert not state.get("values", {}).get("root_module", {}).get("resources"), "state not empty after destroy"

    log = result.output
    mapping_gone = max(
        match.end()
        for match in re.finditer(r'aws_lambda_event_source_mapping\.this\["\d+"\]: Destruction complete', log)
    )
    poller_needs = ["aws_iam_role_policy.this", "aws_secretsmanager_secret.consumer", "aws_mq_broker.this"]
    poller_needs += sorted(set(re.findall(r'(aws_vpc_endpoint\.this\["\w+"\]): Destroying', log)))
    for address in poller_needs:
        assert log.index(f"{address}: Destroying") > mapping_gone, f"{address} destroyed before the mapping was gone"


def role_statements(harness: Harness, role_name: str) -> list[dict[str, Any]]:
    iam = harness.client("iam")
    assert iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"] == []
    names = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    assert names == [role_name], "one inline policy"
    document = iam.get_role_policy(RoleName=role_name, PolicyName=names[0])["PolicyDocument"]
    if isinstance(document, str):
        document = json.loads(document)
    statements: list[dict[str, Any]] = document["Statement"]
    return statements


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def assert_common(
    harness: Harness, deployment: Deployment, runtime: str, architecture: str, layer_version: int
) -> None:
    """What every deployment must show through the AWS APIs."""
    out, variables = deployment.outputs, deployment.variables
    extras = Extras.of(variables)
    # Terraform leaves null outputs out: those of the extras that are off.
    absent = extras.absent_outputs()
    assert set(out) >= OUTPUTS - absent
    assert not absent & set(out), "an extra that is off left an output"
    assert out["region"] == REGION
    assert deployment.password not in json.dumps(out)

    assert_mappings(harness, deployment)

    # The admin secret, for people and the bootstrap.
    secret = harness.client("secretsmanager").get_secret_value(SecretId=out["credentials_secret_arn"])
    assert json.loads(secret["SecretString"]) == {
        "username": variables.get("broker_username", "admin"),
        "password": deployment.password,
    }
    # The generated password obeys the rules of random_password.broker and Amazon MQ's own.
    password = deployment.password
    assert len(password) == 32
    assert re.search(r"[a-z]", password)
    assert re.search(r"[A-Z]", password)
    assert re.search(r"[0-9]", password)
    assert re.search(r"[-_.~]", password)
    assert re.fullmatch(r"[A-Za-z0-9._~-]+", password)

    assert_function(harness, deployment, runtime, architecture, layer_version)
    assert_role(harness, deployment)
    assert_admin_functions(harness, deployment)

    # Dead-letter queue and logs.
    sqs = harness.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=out["dead_letter_queue_url"], AttributeNames=["All"])["Attributes"]
    assert attributes["MessageRetentionPeriod"] == str(14 * 24 * 3600)
    assert attributes["SqsManagedSseEnabled"] == "true"
    groups = harness.client("logs").describe_log_groups(logGroupNamePrefix=out["log_group_name"])["logGroups"]
    assert [(g["logGroupName"], g.get("retentionInDays")) for g in groups] == [(out["log_group_name"], 30)]

    if not extras.large_dead_letters:
        assert "DEAD_LETTER_BUCKET" not in environment_of(harness, out)
        return
    # The bucket for large dead letters: private, encrypted, TLS only, expiring.
    s3, bucket = harness.client("s3"), out["dead_letter_bucket"]
    assert environment_of(harness, out)["DEAD_LETTER_BUCKET"] == bucket
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(
        block[flag] for flag in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    )
    (encryption,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert encryption["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    expiry, _abort_uploads = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert (expiry["Filter"]["Prefix"], expiry["Expiration"]["Days"], expiry["Status"]) == (
        "dead-letters/",
        15,
        "Enabled",
    )
    (deny,) = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert (deny["Effect"], deny["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})


def assert_mappings(harness: Harness, deployment: Deployment) -> None:
    """The event source mappings, one per consumed queue (the shards' with shard_count): broker, queue,
    virtual host, credentials, batching."""
    out, variables = deployment.outputs, deployment.variables
    lambda_ = harness.client("lambda")
    queue, shards = variables.get("queue_name", "orders"), variables.get("shard_count", 1)
    consumed = [queue] if shards == 1 else [f"{queue}.shard-{index}" for index in range(shards)]
    assert out["consumed_queues"] == consumed
    assert out["publish_exchange"] == ("" if shards == 1 else queue)
    assert sorted(out["event_source_mapping_uuids"]) == sorted(consumed)
    for consumed_queue, uuid in out["event_source_mapping_uuids"].items():
        mapping = lambda_.get_event_source_mapping(UUID=uuid)
        assert mapping["EventSourceArn"] == out["broker_arn"]
        assert mapping["FunctionArn"].endswith(f":function:{out['function_name']}")
        assert mapping["Queues"] == [consumed_queue]
        access = sorted((c["Type"], c["URI"]) for c in mapping["SourceAccessConfigurations"])
        assert access == [
            ("BASIC_AUTH", out["consumer_secret_arn"]),
            ("VIRTUAL_HOST", variables.get("virtual_host", "/")),
        ]
        assert mapping["BatchSize"] == variables.get("batch_size", 100)
        assert mapping.get("StartingPosition") is None


def environment_of(harness: Harness, out: Mapping[str, Any]) -> dict[str, str]:
    function = harness.client("lambda").get_function_configuration(FunctionName=out["function_name"])
    environment: dict[str, str] = function["Environment"]["Variables"]
    return environment


def assert_bootstrap_invoked_once(harness: Harness, deployment: Deployment, console_url: str) -> dict[str, str]:
    """The bootstrap function's environment holds its whole configuration; it was invoked once, with a
    trigger and no configuration: the hash of that environment and of the code it runs. Returns the
    environment."""
    out, variables = deployment.outputs, deployment.variables
    lambda_ = harness.client("lambda")
    bootstrap_environment = {
        "MANAGEMENT_URL": console_url,
        "ADMIN_SECRET_ARN": out["credentials_secret_arn"],
        "CONSUMER_SECRET_ARN": out["consumer_secret_arn"],
        "PUBLISHER_SECRET_ARN": out["publisher_secret_arn"],
        "CONSUMER_USERNAME": variables.get("consumer_username", "lambda-consumer"),
        "PUBLISHER_USERNAME": variables.get("publisher_username", "publisher"),
        "QUEUE_NAME": variables.get("queue_name", "orders"),
        "VIRTUAL_HOST": variables.get("virtual_host", "/"),
        "DELIVERY_LIMIT": str(variables.get("delivery_limit", 20)),
        "CONSUMER_CONFIGURE_PERMISSION": str(variables.get("consumer_configure_permission", False)).lower(),
        "SHARD_COUNT": str(variables.get("shard_count", 1)),
        "ORDERING_KEY": variables.get("ordering_key", "none"),
    }
    if Extras.of(variables).monitoring:  # the monitoring user comes with the metrics function
        bootstrap_environment["MONITORING_SECRET_ARN"] = out["monitoring_secret_arn"]
        bootstrap_environment["MONITORING_USERNAME"] = variables.get("monitoring_username", "queue-metrics")
    # Invoked once, with a trigger and no configuration: the hash of the environment and the code the
    # function runs with (Terraform's jsonencode: sorted keys, no spaces).
    bootstrap = lambda_.get_function_configuration(FunctionName=out["bootstrap_function_name"])
    assert bootstrap["Timeout"] == 300
    hashed = json.dumps(
        {"code": bootstrap["CodeSha256"], "environment": bootstrap["Environment"]["Variables"]},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    invocations = [i.payload for i in strict_aws.INVOCATIONS if i.function_name == out["bootstrap_function_name"]]
    assert invocations == [{"trigger": hashlib.sha256(hashed.encode()).hexdigest()}]
    assert bootstrap["Environment"]["Variables"] == bootstrap_environment
    return bootstrap_environment


def assert_admin_functions(harness: Harness, deployment: Deployment) -> None:
    """The bootstrap function, and the metrics and rotation functions of the extras that are on: one
    package without layers (boto3 from the runtime), a role each with exactly its secrets; the
    bootstrap invoked once with everything it applies; the metrics function on a one-minute
    schedule; rotation configured on the user secrets (the double records invocations instead of
    running them: tests/admin run the code against a real broker)."""
    out, variables = deployment.outputs, deployment.variables
    prefix = variables["name_prefix"]
    (instance,) = harness.client("mq").describe_broker(BrokerId=out["broker_id"])["BrokerInstances"]
    lambda_ = harness.client("lambda")
    queue = variables.get("queue_name", "orders")
    bootstrap_environment = assert_bootstrap_invoked_once(harness, deployment, instance["ConsoleURL"])
    extras = Extras.of(variables)
    rotation, private = extras.rotation, extras.private
    user_secrets = [out["consumer_secret_arn"], out["publisher_secret_arn"]]
    user_secrets += [out["monitoring_secret_arn"]] if extras.monitoring else []
    admin_secret = out["credentials_secret_arn"]

    secret_statements: dict[str, dict[str, tuple[list[str], list[str]]]] = {
        "bootstrap": {
            "ReadAdminCredentials": (["secretsmanager:GetSecretValue"], [admin_secret]),
            "WriteUserCredentials": (["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"], user_secrets),
        },
    }
    if extras.monitoring:
        secret_statements["metrics"] = {
            "ReadMonitoringCredentials": (["secretsmanager:GetSecretValue"], [out["monitoring_secret_arn"]])
        }
    if rotation:
        secret_statements["rotation"] = {
            "ReadAdminCredentials": (["secretsmanager:GetSecretValue"], [admin_secret]),
            "RotateUserCredentials": (
                [
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:PutSecretValue",
                    "secretsmanager:UpdateSecretVersionStage",
                ],
                user_secrets,
            ),
        }
    environments = {
        "bootstrap": bootstrap_environment,
        "metrics": {
            "MANAGEMENT_URL": instance["ConsoleURL"],
            "MONITORING_SECRET_ARN": out.get("monitoring_secret_arn"),
            "VIRTUAL_HOST": variables.get("virtual_host", "/"),
            "QUEUES": ",".join([*out["consumed_queues"], f"{queue}.dlq"]),  # each shard queue's, with shards
            "METRICS_NAMESPACE": "RabbitMQConsumer",
        },
        "rotation": {"MANAGEMENT_URL": instance["ConsoleURL"], "ADMIN_SECRET_ARN": admin_secret},
    }
    for name, statements_ in secret_statements.items():
        function = lambda_.get_function_configuration(FunctionName=f"{prefix}-{name}")
        assert function["Handler"] == f"rabbitmq_admin.{name}_handler.lambda_handler"
        assert not function.get("Layers"), f"{name}: the admin package needs no layer (boto3 is the runtime's)"
        assert function.get("Environment", {}).get("Variables") == environments[name], name
        assert bool(function.get("VpcConfig", {}).get("SubnetIds")) is private, name
        log_group_arn = f"arn:aws:logs:{REGION}:123456789012:log-group:/aws/lambda/{prefix}-{name}:*"
        expected = {**statements_, "WriteOwnLogs": (["logs:CreateLogStream", "logs:PutLogEvents"], [log_group_arn])}
        if private:
            expected["VpcNetworkInterfaces"] = (sorted(VPC_FUNCTION_ACTIONS), ["*"])
        statements = {s["Sid"]: s for s in role_statements(harness, f"{prefix}-{name}")}
        assert set(statements) == set(expected), name
        for sid, (actions_, resources) in expected.items():
            assert sorted(as_list(statements[sid]["Action"])) == sorted(actions_), (name, sid)
            assert sorted(as_list(statements[sid]["Resource"])) == sorted(resources), (name, sid)
    functions = {
        f["FunctionName"] for f in lambda_.list_functions()["Functions"] if f["FunctionName"].startswith(prefix)
    }
    assert functions == {f"{prefix}-consumer"} | {f"{prefix}-{name}" for name in secret_statements}
    assert ("rotation_function_name" in out) is rotation

    events = harness.client("events")
    if not extras.monitoring:
        assert not events.list_rules(NamePrefix=prefix)["Rules"]
        assert_rotation(harness, deployment, user_secrets)
        return
    # The metrics function, every minute, allowed for that rule only.
    rule = events.describe_rule(Name=f"{prefix}-queue-metrics")
    assert rule["ScheduleExpression"] == "rate(1 minute)"
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    metrics_arn = lambda_.get_function_configuration(FunctionName=out["metrics_function_name"])["FunctionArn"]
    assert target["Arn"] == metrics_arn
    (allow,) = json.loads(lambda_.get_policy(FunctionName=out["metrics_function_name"])["Policy"])["Statement"]
    assert (allow["Principal"], allow["Condition"]["ArnLike"]["AWS:SourceArn"]) == (
        {"Service": "events.amazonaws.com"},
        rule["Arn"],
    )

    assert_rotation(harness, deployment, user_secrets)


def assert_rotation(harness: Harness, deployment: Deployment, user_secrets: list[str]) -> None:
    """Rotation: each user secret, after the configured days, by the rotation function; on apply
    Secrets Manager ran only testSecret (RotateImmediately false), on a copy of the current value."""
    out, variables = deployment.outputs, deployment.variables
    rotation = Extras.of(variables).rotation
    lambda_ = harness.client("lambda")
    secrets = harness.client("secretsmanager")
    tested = [
        i.payload for i in strict_aws.INVOCATIONS if rotation and i.function_name == out["rotation_function_name"]
    ]
    for arn in user_secrets:
        described = secrets.describe_secret(SecretId=arn)
        assert described.get("RotationEnabled", False) is rotation, arn
        if rotation:
            rotation_arn = lambda_.get_function_configuration(FunctionName=out["rotation_function_name"])
            assert described["RotationLambdaARN"] == rotation_arn["FunctionArn"]
            assert described["RotationRules"]["AutomaticallyAfterDays"] == variables.get("credential_rotation_days", 30)
            assert [t["Step"] for t in tested if t["SecretId"] == described["Name"]] == ["testSecret"]


def assert_function(
    harness: Harness, deployment: Deployment, runtime: str, architecture: str, layer_version: int
) -> None:
    """Runtime, architecture, the Powertools layer for both and the region, tracing, code, environment, tags, and
    the idempotency table the environment names."""
    out, variables = deployment.outputs, deployment.variables
    lambda_ = harness.client("lambda")
    function = lambda_.get_function_configuration(FunctionName=out["function_name"])
    assert function["Runtime"] == runtime
    assert function["Architectures"] == [architecture]
    assert function["Handler"] == "rabbitmq_consumer.handler.lambda_handler"
    assert [layer["Arn"] for layer in function["Layers"]] == [layer_arn(runtime, architecture, layer_version)]
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert function["CodeSha256"] == deployment.code_sha256
    environment = function["Environment"]["Variables"]
    extras = Extras.of(variables)
    expected = ENVIRONMENT_VARIABLES - (set() if extras.large_dead_letters else {"DEAD_LETTER_BUCKET"})
    assert set(environment) == expected | (IDEMPOTENCY_VARIABLES if extras.idempotency else set())
    assert environment["DEAD_LETTER_QUEUE_URL"] == out["dead_letter_queue_url"]
    assert environment["DELIVERY_LIMIT"] == str(variables.get("delivery_limit", 20)) == str(out["delivery_limit"])
    assert environment["POWERTOOLS_LOG_LEVEL"] == "INFO"
    assert environment["POWERTOOLS_SERVICE_NAME"] == "rabbitmq-consumer"
    assert environment["POWERTOOLS_METRICS_NAMESPACE"] == "RabbitMQConsumer"
    tags = lambda_.list_tags(Resource=function["FunctionArn"])["Tags"]
    assert tags.items() >= variables.get("tags", {"Project": "rabbitmq-lambda-consumer"}).items()
    assert_idempotency_table(harness, deployment)


def assert_role(harness: Harness, deployment: Deployment) -> None:
    """One inline policy; every statement scoped to its resource but the two "*" ones."""
    out, prefix = deployment.outputs, deployment.variables["name_prefix"]
    role_name = f"{prefix}-consumer"
    function = harness.client("lambda").get_function_configuration(FunctionName=out["function_name"])
    assert function["Role"].split("/")[-1] == role_name
    sqs = harness.client("sqs")
    queue_arn = sqs.get_queue_attributes(QueueUrl=out["dead_letter_queue_url"], AttributeNames=["QueueArn"])
    log_group_arn = f"arn:aws:logs:{REGION}:123456789012:log-group:{out['log_group_name']}:*"
    expected = {
        "DescribeBroker": (["mq:DescribeBroker"], [out["broker_arn"]]),
        "ReadConsumerCredentials": (["secretsmanager:GetSecretValue"], [out["consumer_secret_arn"]]),
        "WriteOwnLogs": (["logs:CreateLogStream", "logs:PutLogEvents"], [log_group_arn]),
        "SendDeadLetters": (["sqs:SendMessage"], [queue_arn["Attributes"]["QueueArn"]]),
        "PollerNetworkInterfaces": (sorted(POLLER_EC2_ACTIONS), ["*"]),
        "WriteTraces": (sorted(XRAY_ACTIONS), ["*"]),
    }
    if Extras.of(deployment.variables).large_dead_letters:
        bucket_objects = f"arn:aws:s3:::{out['dead_letter_bucket']}/dead-letters/*"
        expected["OffloadLargeDeadLetters"] = (["s3:PutObject"], [bucket_objects])
    if Extras.of(deployment.variables).idempotency:
        table_arn = f"arn:aws:dynamodb:{REGION}:123456789012:table/{out['idempotency_table_name']}"
        expected["IdempotencyRecords"] = (["dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"], [table_arn])
    statements = {s["Sid"]: s for s in role_statements(harness, role_name)}
    assert set(statements) == set(expected)
    for sid, (actions_, resources) in expected.items():
        assert sorted(as_list(statements[sid]["Action"])) == sorted(actions_), sid
        assert as_list(statements[sid]["Resource"]) == resources, sid
        assert statements[sid]["Effect"] == "Allow"


def assert_idempotency_table(harness: Harness, deployment: Deployment) -> None:
    """The table as DynamoDB holds it: the function's key, on demand, TTL on expiresAt, an AWS owned key, no
    point-in-time recovery; the function's settings name it."""
    out, variables = deployment.outputs, deployment.variables
    if not Extras.of(variables).idempotency:
        assert not IDEMPOTENCY_VARIABLES & set(environment_of(harness, out))
        return
    dynamodb, name = harness.client("dynamodb"), out["idempotency_table_name"]
    assert name == f"{variables['name_prefix']}-idempotency"
    table = dynamodb.describe_table(TableName=name)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "key", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "key", "AttributeType": "S"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert "SSEDescription" not in table  # DynamoDB describes no SSE for the AWS owned key
    ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expiresAt")
    backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"
    environment = environment_of(harness, out)
    assert {name: environment[name] for name in IDEMPOTENCY_VARIABLES} == {
        "IDEMPOTENCY_TABLE": name,
        "IDEMPOTENCY_KEY": variables.get("idempotency_key", "message-id"),
        "IDEMPOTENCY_TTL_SECONDS": str(variables.get("idempotency_ttl_days", 7) * 86400),
        "IDEMPOTENCY_FAIL_OPEN": str(variables.get("idempotency_fail_open", False)).lower(),
    }


def assert_alarms(harness: Harness, deployment: Deployment, topic_arn: str | None, poller_alarm: bool) -> None:
    """The queue alarms read the metrics function's metrics (no AWS/AmazonMQ: blind on 4.x), and
    missing data breaches; the monitor's own failure or silence alarms too."""
    out, prefix = deployment.outputs, deployment.variables["name_prefix"]
    queue = deployment.variables.get("queue_name", "orders")
    vhost = deployment.variables.get("virtual_host", "/")
    alarms = {
        a["AlarmName"]: a for a in harness.client("cloudwatch").describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]
    }
    expected = {
        f"{prefix}-consumer-errors",
        f"{prefix}-dead-letters-not-empty",
        f"{prefix}-broker-dlq-not-empty",
        f"{prefix}-queue-backlog",
        f"{prefix}-metrics-failing",
    }
    if poller_alarm:
        expected.add(f"{prefix}-poller-stopped")
    if Extras.of(deployment.variables).rotation:
        expected.add(f"{prefix}-rotation-errors")
    assert set(alarms) == expected
    assert sorted(out["alarm_names"]) == sorted(expected)
    assert not [a for a in alarms.values() if a.get("Namespace", "").startswith("AWS/AmazonMQ")]
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == ([topic_arn] if topic_arn else []), alarm["AlarmName"]

    def dimensions(alarm: Mapping[str, Any]) -> dict[str, str]:
        return {d["Name"]: d["Value"] for d in alarm["Dimensions"]}

    shards = deployment.variables.get("shard_count", 1)
    queue_alarms = {f"{prefix}-broker-dlq-not-empty": ("MessagesReady", f"{queue}.dlq", "GreaterThanThreshold", 0)}
    if shards == 1:
        queue_alarms[f"{prefix}-queue-backlog"] = ("MessagesReady", queue, "GreaterThanThreshold", 1000)
    if poller_alarm and shards == 1:
        queue_alarms[f"{prefix}-poller-stopped"] = ("Consumers", queue, "LessThanThreshold", 1)
    # With shards, the backlog is their sum and the poller alarm watches the shard with the fewest
    # consumers: metric math over one metric per shard queue.
    math_alarms = {}
    if shards > 1:
        math_alarms[f"{prefix}-queue-backlog"] = ("MessagesReady", "SUM", "GreaterThanThreshold", 1000)
    if poller_alarm and shards > 1:
        math_alarms[f"{prefix}-poller-stopped"] = ("Consumers", "MIN", "LessThanThreshold", 1)
    for name, (metric, function, operator, threshold) in math_alarms.items():
        alarm = alarms[name]
        queries = {q["Id"]: q for q in alarm["Metrics"]}
        ids = [f"shard{index}" for index in range(shards)]
        (returned,) = [q for q in queries.values() if q.get("ReturnData")]
        assert returned["Expression"] == f"{function}([{', '.join(ids)}])", name
        for index, query_id in enumerate(ids):
            stat = queries[query_id]["MetricStat"]
            assert (stat["Metric"]["Namespace"], stat["Metric"]["MetricName"]) == ("RabbitMQConsumer", metric), name
            assert dimensions(stat["Metric"]) == {"VirtualHost": vhost, "Queue": f"{queue}.shard-{index}"}, name
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == (operator, threshold), name
        assert alarm["TreatMissingData"] == "breaching", name
    for name, (metric, queue_name, operator, threshold) in queue_alarms.items():
        alarm = alarms[name]
        assert (alarm["Namespace"], alarm["MetricName"]) == ("RabbitMQConsumer", metric), name
        assert dimensions(alarm) == {"VirtualHost": vhost, "Queue": queue_name}, name
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == (operator, threshold), name
        assert alarm["TreatMissingData"] == "breaching", name
    assert dimensions(alarms[f"{prefix}-dead-letters-not-empty"]) == {
        "QueueName": out["dead_letter_queue_url"].rsplit("/", 1)[-1]
    }
    assert dimensions(alarms[f"{prefix}-consumer-errors"]) == {"FunctionName": out["function_name"]}
    monitor = alarms[f"{prefix}-metrics-failing"]
    queries = {q["Id"]: q for q in monitor["Metrics"]}
    assert queries["failing"]["Expression"] == "IF(FILL(errors, 0) > 0 OR FILL(invocations, 0) == 0, 1, 0)"
    assert {queries[q]["MetricStat"]["Metric"]["MetricName"] for q in ("errors", "invocations")} == {
        "Errors",
        "Invocations",
    }
    assert monitor["TreatMissingData"] == "breaching"


def assert_dashboard(harness: Harness, deployment: Deployment) -> None:
    """The dashboard the apply created (the double checks its body as CloudWatch does) shows every
    queue metric the metrics function publishes and every alarm; docs/dashboard.svg is drawn from it."""
    out, prefix = deployment.outputs, deployment.variables["name_prefix"]
    body = json.loads(harness.client("cloudwatch").get_dashboard(DashboardName=prefix)["DashboardBody"])
    assert out["dashboard_url"] == (
        f"https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}#dashboards/dashboard/{prefix}"
    )
    metrics = [m for w in body["widgets"] if w["type"] == "metric" for m in w["properties"]["metrics"]]
    queue_metrics = {(m[1], m[5]) for m in metrics if m[0] == "RabbitMQConsumer" and m[2] == "VirtualHost"}
    names = ("MessagesReady", "MessagesUnacknowledged", "Consumers", "PublishRate", "DeliverRate")
    assert queue_metrics >= {(name, "orders") for name in names} | {("MessagesReady", "orders.dlq")}
    (alarm_widget,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    assert sorted(arn.split(":alarm:")[-1] for arn in alarm_widget["properties"]["alarms"]) == sorted(
        out["alarm_names"]
    )
    # The README's picture, drawn from this body with the default names.
    picture = render_svg(body, replace={prefix: "rabbitmq-lambda"})
    committed = REPO_ROOT / "docs" / "dashboard.svg"
    if not committed.is_file() or committed.read_text() != picture:
        drawn = REPO_ROOT / "build" / "dashboard.svg"
        drawn.parent.mkdir(exist_ok=True)
        drawn.write_text(picture)
        pytest.fail(f"docs/dashboard.svg is not drawn from the dashboard's definition: copy {drawn} there")


def assert_nothing_left(harness: Harness, prefix: str) -> None:
    lambda_ = harness.client("lambda")
    assert not [f for f in lambda_.list_functions()["Functions"] if f["FunctionName"].startswith(prefix)]
    assert not [m for m in lambda_.list_event_source_mappings()["EventSourceMappings"] if prefix in m["FunctionArn"]]
    assert not [b for b in harness.client("mq").list_brokers()["BrokerSummaries"] if b["BrokerName"].startswith(prefix)]
    assert not [
        s for s in harness.client("secretsmanager").list_secrets()["SecretList"] if s["Name"].startswith(prefix)
    ]
    assert not harness.client("sqs").list_queues(QueueNamePrefix=prefix).get("QueueUrls")
    assert not [b for b in harness.client("s3").list_buckets()["Buckets"] if b["Name"].startswith(prefix)]
    assert not [n for n in harness.client("dynamodb").list_tables()["TableNames"] if n.startswith(prefix)]
    assert not harness.client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{prefix}")["logGroups"]
    assert not harness.client("cloudwatch").describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]
    assert not harness.client("cloudwatch").list_dashboards(DashboardNamePrefix=prefix)["DashboardEntries"]
    assert not harness.client("events").list_rules(NamePrefix=prefix)["Rules"]
    assert not [r for r in harness.client("iam").list_roles()["Roles"] if r["RoleName"].startswith(prefix)]
    assert not [t for t in harness.client("sns").list_topics()["Topics"] if f":{prefix}-" in t["TopicArn"]]
    ec2 = harness.client("ec2")
    assert not [g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"].startswith(prefix)]
    endpoints = ec2.describe_vpc_endpoints()["VpcEndpoints"]
    assert not [
        e
        for e in endpoints
        if e["State"].lower() != "deleted" and any(t["Value"].startswith(prefix) for t in e.get("Tags", []))
    ]


def assert_replans_after_public_apply(deployment: Deployment) -> None:
    """What the plans after the public apply (plans_after_public_apply) would change, and why."""
    # Applied again, nothing changes (no drift between what is sent and what is read back, with
    # a double that, like AWS, never returns the broker's users).
    unchanged = deployment.plans["unchanged"]
    assert unchanged.returncode == 0, unchanged.output[-4000:]

    # Users are set at creation only: a new admin username or password changes nothing at all
    # (neither the broker nor the secret, which would then disagree with the broker).
    for change in ("username", "password"):
        result = deployment.plans[change]
        assert result.returncode == 0, f"{change}: {result.output[-4000:]}"

    # A new credentials secret replaces the mapping (the provider would re-send VIRTUAL_HOST).
    secret = {c["address"]: c for c in deployment.plans["new_secret"]["resource_changes"]}
    assert secret['aws_lambda_event_source_mapping.this["0"]']["change"]["actions"] == ["delete", "create"]
    assert secret['aws_lambda_event_source_mapping.this["0"]']["action_reason"] == "replace_by_triggers"

    # A new virtual host replaces the mapping and runs the bootstrap again; nothing else is replaced.
    vhost = actions(deployment.plans["vhost"])
    assert vhost['aws_lambda_event_source_mapping.this["0"]'] == ["delete", "create"]
    reasons = {c["address"]: c.get("action_reason") for c in deployment.plans["vhost"]["resource_changes"]}
    assert reasons['aws_lambda_event_source_mapping.this["0"]'] == "replace_by_triggers"
    replaced = sorted(address for address, a in vhost.items() if "delete" in a)
    assert replaced == ['aws_lambda_event_source_mapping.this["0"]', "aws_lambda_invocation.bootstrap"]  # runs again

    # A new bootstrap setting or admin code updates the function and invokes it again; a new consumer
    # user name also replaces the mapping, whose poller then reads the secret afresh.
    for plan in ("configure", "consumer_username", "admin_code"):
        planned = actions(deployment.plans[plan])
        assert planned['aws_lambda_function.admin["bootstrap"]'] == ["update"], plan
        assert planned["aws_lambda_invocation.bootstrap"] == ["delete", "create"], plan
    changed = {c["address"]: c for c in deployment.plans["configure"]["resource_changes"]}
    variables_after = changed['aws_lambda_function.admin["bootstrap"]']["change"]["after"]["environment"][0]
    assert variables_after["variables"]["CONSUMER_CONFIGURE_PERMISSION"] == "true"
    assert actions(deployment.plans["configure"])['aws_lambda_event_source_mapping.this["0"]'] == ["no-op"]
    renamed = {c["address"]: c for c in deployment.plans["consumer_username"]["resource_changes"]}
    assert renamed['aws_lambda_event_source_mapping.this["0"]']["change"]["actions"] == ["delete", "create"]
    assert renamed['aws_lambda_event_source_mapping.this["0"]']["action_reason"] == "replace_by_triggers"

    # A batch size is changed in place; a code change redeploys the function (source hash).
    changes = {c["address"]: c["change"] for c in deployment.plans["change"]["resource_changes"]}
    assert changes['aws_lambda_event_source_mapping.this["0"]']["actions"] == ["update"]
    assert changes['aws_lambda_event_source_mapping.this["0"]']["after"]["batch_size"] == 500
    assert changes["aws_lambda_function.this"]["actions"] == ["update"]
    assert changes["aws_lambda_function.this"]["after"]["source_code_hash"] == deployment.plans["new_hash"]


def test_apply_and_destroy_public_default(harness: Harness, deployments: dict[str, Future[Deployment]]) -> None:
    """The documented flow (defaults, plus an alarm email): apply, inspect, re-plan, destroy."""
    deployment = applied(deployments, "public")
    out = deployment.outputs

    broker = harness.client("mq").describe_broker(BrokerId=out["broker_id"])
    assert broker["BrokerArn"] == out["broker_arn"]
    assert (broker["EngineType"].lower(), broker["EngineVersion"], broker["HostInstanceType"]) == (
        "rabbitmq",
        "3.13",
        "mq.m7g.medium",
    )
    assert broker["DeploymentMode"] == "SINGLE_INSTANCE"
    assert broker["PubliclyAccessible"] is True
    assert broker["AutoMinorVersionUpgrade"] is True
    assert broker["Logs"]["General"] is True
    assert broker["Tags"] == {"Project": "rabbitmq-lambda-consumer"}
    assert not broker.get("SecurityGroups")
    # The outputs pick the AMQPS endpoint and the console from what DescribeBroker reports.
    (instance,) = broker["BrokerInstances"]
    assert out["amqps_endpoint"] in instance["Endpoints"]
    assert out["amqps_endpoint"].startswith("amqps://")
    assert out["console_url"] == instance["ConsoleURL"]
    assert out["broker_log_group_name"] == f"/aws/amazonmq/broker/{out['broker_id']}/general"
    assert (out["region"], out["queue_name"], out["virtual_host"], out["delivery_limit"]) == (REGION, "orders", "/", 20)

    assert_common(harness, deployment, "python3.13", "arm64", 27)
    (uuid,) = out["event_source_mapping_uuids"].values()
    assert harness.client("lambda").get_event_source_mapping(UUID=uuid)["State"] == "Enabled"

    subscriptions = harness.client("sns").list_subscriptions_by_topic(TopicArn=out["alarm_topic_arn"])["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", "ops@example.com")]
    assert_alarms(harness, deployment, out["alarm_topic_arn"], poller_alarm=True)
    assert_dashboard(harness, deployment)

    assert_replans_after_public_apply(deployment)

    destroy(deployment)
    assert_nothing_left(harness, "rmq-public")


def test_apply_and_destroy_private_cluster(harness: Harness, deployments: dict[str, Future[Deployment]]) -> None:
    """The fullest configuration: a private 4.2 cluster with endpoints and every extra, x86_64/python3.12,
    on another vhost; exactly the planned resources, nothing to change on a second plan."""
    deployment = applied(deployments, "private")
    assert deployment.resources == FULLEST_RESOURCES
    assert deployment.replan.returncode == 0, deployment.replan.output[-4000:]
    out, variables = deployment.outputs, deployment.variables
    ec2 = harness.client("ec2")

    broker = harness.client("mq").describe_broker(BrokerId=out["broker_id"])
    assert (broker["EngineVersion"], broker["HostInstanceType"], broker["DeploymentMode"]) == (
        "4.2",
        "mq.m7g.large",
        "CLUSTER_MULTI_AZ",
    )
    assert broker["PubliclyAccessible"] is False
    assert sorted(broker["SubnetIds"]) == sorted(variables["subnet_ids"])
    (broker_sg,) = broker["SecurityGroups"]

    groups = {
        g["GroupId"]: g
        for g in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [variables["vpc_id"]]}])[
            "SecurityGroups"
        ]
    }
    endpoints_sg = next(g for g in groups.values() if g["GroupName"].startswith("rmq-private-endpoints-"))
    (admin_sg,) = harness.client("lambda").get_function_configuration(FunctionName=out["bootstrap_function_name"])[
        "VpcConfig"
    ]["SecurityGroupIds"]
    rules = ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [broker_sg, endpoints_sg["GroupId"], admin_sg]}]
    )["SecurityGroupRules"]

    def rule_set(group: str, egress: bool) -> set[tuple[int, str]]:
        return {
            (r["FromPort"], r.get("ReferencedGroupInfo", {}).get("GroupId") or r.get("CidrIpv4", ""))
            for r in rules
            if r["GroupId"] == group and r["IsEgress"] is egress and r["IpProtocol"] == "tcp"
        }

    assert rule_set(broker_sg, egress=False) == {
        (5671, broker_sg),
        (5671, "10.8.0.0/16"),
        (443, "10.8.0.0/16"),
        (443, admin_sg),  # the management API, for the admin functions
    }
    assert rule_set(broker_sg, egress=True) == {(5671, broker_sg), (443, endpoints_sg["GroupId"])}
    assert rule_set(endpoints_sg["GroupId"], egress=False) == {(443, broker_sg), (443, admin_sg)}
    assert rule_set(admin_sg, egress=False) == set()
    assert rule_set(admin_sg, egress=True) == {(443, broker_sg), (443, endpoints_sg["GroupId"])}

    endpoints = [
        e
        for e in ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [variables["vpc_id"]]}])[
            "VpcEndpoints"
        ]
        if e["State"].lower() != "deleted"
    ]
    assert sorted(e["ServiceName"] for e in endpoints) == [
        f"com.amazonaws.{REGION}.{s}" for s in ("lambda", "secretsmanager", "sts")
    ]
    for endpoint in endpoints:
        assert endpoint["VpcEndpointType"] == "Interface"
        assert endpoint["PrivateDnsEnabled"] is True
        assert sorted(endpoint["SubnetIds"]) == sorted(variables["subnet_ids"])
        assert [g["GroupId"] for g in endpoint["Groups"]] == [endpoints_sg["GroupId"]]

    assert_common(harness, deployment, "python3.12", "x86_64", 31)
    for uuid in out["event_source_mapping_uuids"].values():  # one per shard
        mapping = harness.client("lambda").get_event_source_mapping(UUID=uuid)
        assert (mapping["State"], mapping["MaximumBatchingWindowInSeconds"]) == ("Enabled", 5)
    assert_alarms(harness, deployment, out["alarm_topic_arn"], poller_alarm=True)
    # The dashboard (its body checked by the double as CloudWatch checks it) has a line per shard queue.
    body = json.loads(harness.client("cloudwatch").get_dashboard(DashboardName="rmq-private")["DashboardBody"])
    metrics = [m for w in body["widgets"] if w["type"] == "metric" for m in w["properties"]["metrics"]]
    lines = {(m[1], m[5], m[-1]["label"]) for m in metrics if m[0] == "RabbitMQConsumer"}
    shards = [(f"payments.shard-{index}", f"shard-{index}") for index in range(4)]
    names = ("MessagesReady", "DeliverRate", "Consumers", "Processed")
    assert {(name, queue, label) for name in names for queue, label in shards} <= lines
    stacked = sorted(w["properties"]["title"] for w in body["widgets"] if w["properties"].get("stacked"))
    assert stacked == [
        "Function: messages processed per shard (stacked)",
        "Shards of payments: delivered (messages/s, stacked)",
        "Shards of payments: ready messages (stacked: the backlog)",
    ]

    destroy(deployment)
    assert_nothing_left(harness, "rmq-private")


def test_apply_and_destroy_private_broker_behind_a_nat_gateway(
    harness: Harness, deployments: dict[str, Future[Deployment]]
) -> None:
    """Without endpoints, the broker's group lets the poller out on HTTPS (to a NAT gateway) instead."""
    deployment = applied(deployments, "nat")
    out, variables = deployment.outputs, deployment.variables
    ec2 = harness.client("ec2")

    broker = harness.client("mq").describe_broker(BrokerId=out["broker_id"])
    assert (broker["EngineVersion"], broker["HostInstanceType"]) == ("4.3", "mq.m7g.medium")
    assert broker["PubliclyAccessible"] is False
    assert broker["SubnetIds"] == variables["subnet_ids"]
    (broker_sg,) = broker["SecurityGroups"]
    (admin_sg,) = harness.client("lambda").get_function_configuration(FunctionName=out["bootstrap_function_name"])[
        "VpcConfig"
    ]["SecurityGroupIds"]

    def egress(group: str) -> set[tuple[int, str]]:
        rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
        return {
            (r["FromPort"], r.get("ReferencedGroupInfo", {}).get("GroupId") or r.get("CidrIpv4", ""))
            for r in rules["SecurityGroupRules"]
            if r["IsEgress"]
        }

    assert egress(broker_sg) == {(5671, broker_sg), (443, "0.0.0.0/0")}
    assert egress(admin_sg) == {(443, broker_sg), (443, "0.0.0.0/0")}
    assert not [
        g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"].startswith("rmq-nat-endpoints")
    ]
    assert_common(harness, deployment, "python3.13", "arm64", 27)
    (uuid,) = out["event_source_mapping_uuids"].values()
    assert harness.client("lambda").get_event_source_mapping(UUID=uuid)["State"] == "Disabled"
    assert out.get("alarm_topic_arn") is None  # `terraform output` leaves null outputs out
    assert_alarms(harness, deployment, None, poller_alarm=False)  # no poller alarm for a disabled mapping

    destroy(deployment)
    assert_nothing_left(harness, "rmq-nat")


def test_apply_and_destroy_the_smallest_configuration(
    harness: Harness, deployments: dict[str, Future[Deployment]]
) -> None:
    """The core alone (public, every extra off): exactly the planned resources, a working mapping and
    bootstrap, no alarm, no bucket, no rotation; nothing to change on a second plan."""
    deployment = applied(deployments, "smallest")
    assert deployment.resources == SMALLEST_RESOURCES
    assert deployment.replan.returncode == 0, deployment.replan.output[-4000:]
    out = deployment.outputs
    assert_common(harness, deployment, "python3.13", "arm64", 27)
    assert out["alarm_names"] == []
    assert not harness.client("cloudwatch").describe_alarms(AlarmNamePrefix="rmq-small")["MetricAlarms"]

    destroy(deployment)
    assert_nothing_left(harness, "rmq-small")


def test_every_resource_block_is_applied(
    configuration: dict[str, Any], deployments: dict[str, Future[Deployment]]
) -> None:
    """Between them, the deployments above create every resource the configuration declares."""
    declared = {r["address"] for r in configuration["resources"] if r["mode"] == "managed"}
    created = {re.sub(r"\[.*\]$", "", a) for name in deployments for a in applied(deployments, name).resources}
    assert declared - created == set()


# --------------------------------------------------------------------------------------------
# checkov
# --------------------------------------------------------------------------------------------


def install_checkov() -> Path:
    """checkov 3.x in its own virtual environment (build/checkov-venv), created on first use."""
    checkov = CHECKOV_VENV / "bin" / "checkov"
    if checkov.exists():
        return checkov
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(CHECKOV_VENV)], check=True, capture_output=True)
        subprocess.run(
            [str(CHECKOV_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", CHECKOV_REQUIREMENT],
            check=True,
            capture_output=True,
            text=True,
            timeout=900,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(CHECKOV_VENV, ignore_errors=True)
        detail = str(exc.stderr or "")[-300:].strip().replace("\n", " ")
        raise HarnessError(
            f"could not install {CHECKOV_REQUIREMENT!r} into {CHECKOV_VENV}: PyPI must be reachable once ({detail})"
        ) from None
    return checkov


@pytest.fixture(scope="module")
def checkov_install() -> Iterator[Future[Path]]:
    """Installing checkov takes a minute the first time; it starts early (see `workdir`)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool.submit(install_checkov)


def test_checkov_reports_no_failed_checks(tmp_path: Path, checkov_install: Future[Path]) -> None:
    """checkov over the root module (the real random_password and archive_file included), with inline skips only."""
    checkov = required(lambda: checkov_install.result(timeout=900))
    for name in ROOT_MODULE_FILES:
        shutil.copy2(REPO_ROOT / name, tmp_path / name)
    proc = subprocess.run(
        [
            str(checkov),
            "--directory",
            str(tmp_path),
            "--framework",
            "terraform",
            "--skip-download",
            "--compact",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = json.loads(proc.stdout)
    results = report["results"]
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in results["failed_checks"]]
    assert failed == [], "\n".join(failed)
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 50, "checkov checked almost nothing"

    # Every skip is an inline #checkov:skip with a reason, and every inline skip is still needed.
    skipped = results["skipped_checks"]
    assert all(len((c.get("check_result") or {}).get("suppress_comment", "")) >= 40 for c in skipped), skipped
    inline = set()
    for name in ROOT_MODULE_FILES:
        inline |= set(re.findall(r"#checkov:skip=(CKV2?_AWS_\d+):", (REPO_ROOT / name).read_text()))
    assert {c["check_id"] for c in skipped} == inline
