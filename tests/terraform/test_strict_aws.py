"""The moto double refuses every request that breaks one of the AWS rules in tests/support/strict_aws.py.

Each rule in `strict_aws.RULES` has refusal cases here (a test fails when a rule has none, or a
case names no rule), each sending a request through boto3 that breaks the rule and asserting
AWS's error code, message and HTTP status. Each of `strict_aws.BEHAVIOURS` is observed. Requests
that obey every rule succeed, so the double is strict without being stricter than the
configuration needs.
"""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from support import strict_aws
from support.strict_aws import BEHAVIOURS, RULES
from support.terraform_harness import moto_server

pytestmark = pytest.mark.terraform

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
PASSWORD = "Stand-in_password.1234"
LAYER = f"arn:aws:lambda:{REGION}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:27"
MISSING_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:missing-AbCdEf"
TABLE, OTHER_TABLE = "idempotency", "idempotency-other"  # DynamoDB tables, as Terraform makes them


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class World:
    """Clients of one moto server and the valid resources every case starts from."""

    mq: Any
    lambda_: Any
    secrets: Any
    ec2: Any
    secret_arn: str
    role_arn: str
    function_name: str
    broker_id: str  # 3.13, mq.m7g.medium, public single instance
    broker_arn: str
    broker_42_id: str  # 4.2, mq.m7g.large, public cluster
    private_broker_id: str  # 3.13, private single instance with a security group
    mapping_uuid: str
    subnets: list[str]  # default VPC, one per Availability Zone
    same_az_subnet: str  # default VPC, same zone as subnets[0]
    other_vpc_subnet: str
    events: Any = None
    cloudwatch: Any = None
    dynamodb: Any = None  # with TABLE and OTHER_TABLE, partition key `key` (string)

    def broker_request(self, **overrides: Any) -> dict[str, Any]:
        """A CreateBroker request as the Terraform provider sends it, obeying every rule."""
        request: dict[str, Any] = {
            "BrokerName": unique("broker"),
            "EngineType": "RabbitMQ",
            "EngineVersion": "3.13",
            "HostInstanceType": "mq.m7g.medium",
            "DeploymentMode": "SINGLE_INSTANCE",
            "PubliclyAccessible": True,
            "AutoMinorVersionUpgrade": True,
            "Users": [{"Username": "admin", "Password": PASSWORD}],
            "Logs": {"General": True},
        }
        return without_none(request | overrides)

    def access(self, vhost: str = "/") -> list[dict[str, str]]:
        return [{"Type": "BASIC_AUTH", "URI": self.secret_arn}, {"Type": "VIRTUAL_HOST", "URI": vhost}]

    def mapping_request(self, **overrides: Any) -> dict[str, Any]:
        """A CreateEventSourceMapping request for the broker, obeying every rule."""
        request: dict[str, Any] = {
            "EventSourceArn": self.broker_arn,
            "FunctionName": self.function_name,
            "Queues": ["orders"],
            "SourceAccessConfigurations": self.access(),
            "BatchSize": 10,
            "MaximumBatchingWindowInSeconds": 1,
        }
        return without_none(request | overrides)

    def function_request(self, **overrides: Any) -> dict[str, Any]:
        request: dict[str, Any] = {
            "FunctionName": unique("consumer"),
            "Runtime": "python3.13",
            "Architectures": ["arm64"],
            "Role": self.role_arn,
            "Handler": "handler.lambda_handler",
            "Code": {"ZipFile": handler_zip()},
            "Layers": [LAYER],
        }
        return request | overrides


def without_none(request: dict[str, Any]) -> dict[str, Any]:
    """A None override leaves the member out of the request."""
    return {key: value for key, value in request.items() if value is not None}


def handler_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return None\n")
    return buffer.getvalue()


def client(endpoint: str, service: str) -> Any:
    # Client-side validation off: the double, not botocore, must refuse what AWS refuses.
    return cast(Any, boto3.client)(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with moto_server() as endpoint:
        secrets, ec2, iam = (client(endpoint, s) for s in ("secretsmanager", "ec2", "iam"))
        secret_arn = secrets.create_secret(
            Name=unique("broker-admin"), SecretString=json.dumps({"username": "admin", "password": PASSWORD})
        )["ARN"]
        role_arn = iam.create_role(
            RoleName=unique("consumer"),
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]
        default_subnets = sorted(
            ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"],
            key=lambda s: s["AvailabilityZone"],
        )
        same_az_subnet = ec2.create_subnet(
            VpcId=default_subnets[0]["VpcId"],
            CidrBlock="172.31.240.0/24",
            AvailabilityZone=default_subnets[0]["AvailabilityZone"],
        )["Subnet"]["SubnetId"]
        other_vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        other_vpc_subnet = ec2.create_subnet(
            VpcId=other_vpc, CidrBlock="10.9.1.0/24", AvailabilityZone=default_subnets[1]["AvailabilityZone"]
        )["Subnet"]["SubnetId"]
        partial = World(
            mq=client(endpoint, "mq"),
            lambda_=client(endpoint, "lambda"),
            secrets=secrets,
            ec2=ec2,
            secret_arn=secret_arn,
            role_arn=role_arn,
            function_name="",
            broker_id="",
            broker_arn="",
            broker_42_id="",
            private_broker_id="",
            mapping_uuid="",
            subnets=[s["SubnetId"] for s in default_subnets],
            same_az_subnet=same_az_subnet,
            other_vpc_subnet=other_vpc_subnet,
        )
        partial.events, partial.cloudwatch = client(endpoint, "events"), client(endpoint, "cloudwatch")
        partial.dynamodb = client(endpoint, "dynamodb")
        for name in (TABLE, OTHER_TABLE):
            partial.dynamodb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        partial.function_name = partial.lambda_.create_function(**partial.function_request())["FunctionName"]
        broker = partial.mq.create_broker(**partial.broker_request())
        partial.broker_id, partial.broker_arn = broker["BrokerId"], broker["BrokerArn"]
        partial.broker_42_id = partial.mq.create_broker(
            **partial.broker_request(
                EngineVersion="4.2", HostInstanceType="mq.m7g.large", DeploymentMode="CLUSTER_MULTI_AZ"
            )
        )["BrokerId"]
        partial.private_broker_id = partial.mq.create_broker(
            **partial.broker_request(
                PubliclyAccessible=False, SubnetIds=partial.subnets[:1], SecurityGroups=["sg-0123456789abcdef0"]
            )
        )["BrokerId"]
        partial.mapping_uuid = partial.lambda_.create_event_source_mapping(**partial.mapping_request())["UUID"]
        yield partial


# --------------------------------------------------------------------------------------------
# Refusals: every rule, broken on purpose
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    name: str
    send: Callable[[World], object]
    code: str
    message: str
    status: int = 400
    ends_with_vpc_id: bool = False  # the message is followed by the id of the VPC the case created
    pattern: bool = False  # the message is a regular expression (a part of it AWS makes up per request)


def bad_request(name: str, send: Callable[[World], object], message: str) -> Refusal:
    return Refusal(name, send, "BadRequestException", message)


def invalid(name: str, send: Callable[[World], object], message: str) -> Refusal:
    return Refusal(name, send, "InvalidParameterValueException", message)


def out_of_model(name: str, send: Callable[[World], object], value: str, member: str, constraint: str) -> Refusal:
    message = f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"
    return Refusal(name, send, "ValidationException", message)


def create_broker(**overrides: Any) -> Callable[[World], object]:
    return lambda w: w.mq.create_broker(**w.broker_request(**overrides))


def create_private_broker(subnets: Callable[[World], list[str]], **overrides: Any) -> Callable[[World], object]:
    return lambda w: w.mq.create_broker(**w.broker_request(PubliclyAccessible=False, SubnetIds=subnets(w), **overrides))


def update_broker(broker: Callable[[World], str], **changes: Any) -> Callable[[World], object]:
    return lambda w: w.mq.update_broker(BrokerId=broker(w), **changes)


def create_mapping(**overrides: Any) -> Callable[[World], object]:
    return lambda w: w.lambda_.create_event_source_mapping(**w.mapping_request(**overrides))


def create_mapping_with(access: Callable[[World], list[dict[str, str]]]) -> Callable[[World], object]:
    return lambda w: w.lambda_.create_event_source_mapping(**w.mapping_request(SourceAccessConfigurations=access(w)))


def update_mapping(**changes: Any) -> Callable[[World], object]:
    return lambda w: w.lambda_.update_event_source_mapping(UUID=w.mapping_uuid, **changes)


def update_mapping_access(access: Callable[[World], list[dict[str, str]]]) -> Callable[[World], object]:
    return lambda w: w.lambda_.update_event_source_mapping(UUID=w.mapping_uuid, SourceAccessConfigurations=access(w))


def public_broker(w: World) -> str:
    return str(w.broker_id)


def cluster_42(w: World) -> str:
    return str(w.broker_42_id)


def private_broker(w: World) -> str:
    return str(w.private_broker_id)


def basic_auth(w: World) -> dict[str, str]:
    return {"Type": "BASIC_AUTH", "URI": w.secret_arn}


T3 = "Broker engine type [RabbitMQ] does not support host instance type [mq.t3.micro]"
VALID_VERSIONS = "Valid values: [4.3, 4.2, 3.13]."
SINGLE_SUBNET = "Specify exactly one subnet for deployment mode [SINGLE_INSTANCE]; {} given."
ONE_USER = "Specify exactly one user for engine type [RABBITMQ]."
BAD_USERNAME = (
    "Username is invalid. Enter a username 2 to 100 characters long that contains only letters, numbers, "
    "dashes, periods and underscores."
)
USERS_API = (
    "The users API does not apply to RabbitMQ brokers. To manage broker users, please use the RabbitMQ web console, "
    "or the management API."
)
ONE_BASIC_AUTH = "Amazon MQ event sources need exactly one BASIC_AUTH source access configuration."
NO_VHOST_UPDATE = (
    "Invalid parameters: VIRTUAL_HOST. The virtual host of an Amazon MQ event source mapping cannot be specified in "
    "an update; create a new event source mapping."
)
GE, LE = "Member must have value greater than or equal to {}", "Member must have value less than or equal to {}"

NO_INVOKE = (
    "Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access "
    "to the principal secretsmanager.amazonaws.com."
)


def allow_secrets_manager(w: World, function_name: str, **overrides: str) -> None:
    w.lambda_.add_permission(
        **{
            "FunctionName": function_name,
            "StatementId": "SecretsManagerRotation",
            "Action": "lambda:InvokeFunction",
            "Principal": "secretsmanager.amazonaws.com",
            "SourceAccount": ACCOUNT,
            **overrides,
        }
    )


def rotate_with(permission: Callable[[World, str], None]) -> Callable[[World], object]:
    """RotateSecret of a new secret with a new function that has only the given permission."""

    def send(w: World) -> object:
        function = w.lambda_.create_function(**w.function_request(FunctionName=unique("rotation")))
        permission(w, function["FunctionName"])
        secret = w.secrets.create_secret(Name=unique("consumer"), SecretString='{"username": "a", "password": "b"}')
        return w.secrets.rotate_secret(
            SecretId=secret["ARN"],
            RotationLambdaARN=function["FunctionArn"],
            RotationRules={"AutomaticallyAfterDays": 30},
            RotateImmediately=False,
        )

    return send


def metric_alarm(shards: int, returned: int = 1, expressions: int = 1) -> Callable[[World], object]:
    """PutMetricAlarm on metric math as the provider sends it: one query per shard's metric, `expressions`
    expressions of which the first `returned` return data."""
    metrics: list[dict[str, Any]] = [
        {
            "Id": f"shard{index}",
            "ReturnData": False,
            "MetricStat": {
                "Metric": {
                    "Namespace": "RabbitMQConsumer",
                    "MetricName": "MessagesReady",
                    "Dimensions": [{"Name": "Queue", "Value": f"orders.shard-{index}"}],
                },
                "Period": 300,
                "Stat": "Minimum",
            },
        }
        for index in range(shards)
    ]
    ids = ", ".join(f"shard{index}" for index in range(shards))
    metrics += [
        {"Id": f"total{index}", "Expression": f"SUM([{ids}])", "ReturnData": index < returned}
        for index in range(expressions)
    ]
    return lambda w: w.cloudwatch.put_metric_alarm(
        AlarmName=unique("backlog"),
        Metrics=metrics,
        EvaluationPeriods=3,
        Threshold=1000,
        ComparisonOperator="GreaterThanThreshold",
    )


def put_dashboard(*widgets: dict[str, Any]) -> Callable[[World], object]:
    return lambda w: w.cloudwatch.put_dashboard(
        DashboardName=unique("dashboard"), DashboardBody=json.dumps({"widgets": list(widgets)})
    )


GROUP_DESCRIPTION = (
    "Invalid security group description. Valid descriptions are strings less than 256 characters from the following "
    "set:  a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*"
)
RULE_DESCRIPTION = (
    "Invalid rule description. Valid descriptions are strings less than 256 characters from the following set:  "
    "a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*"
)


def ec2_invalid(name: str, send: Callable[[World], object], message: str) -> Refusal:
    return Refusal(name, send, "InvalidParameterValue", message)


def vpc_with_dns(w: World, support: bool = True, hostnames: bool = True) -> tuple[str, str]:
    """A new VPC with the given DNS attributes, and a subnet in it."""
    vpc = w.ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    w.ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": support})
    w.ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": hostnames})
    subnet = w.ec2.create_subnet(VpcId=vpc, CidrBlock="10.77.1.0/24")["Subnet"]["SubnetId"]
    return vpc, subnet


def interface_endpoint(w: World, vpc: str, subnet: str, service: str = "lambda", **overrides: Any) -> Any:
    return w.ec2.create_vpc_endpoint(
        **{
            "VpcId": vpc,
            "ServiceName": f"com.amazonaws.{REGION}.{service}",
            "VpcEndpointType": "Interface",
            "SubnetIds": [subnet],
            "PrivateDnsEnabled": True,
            **overrides,
        }
    )


def second_private_dns_endpoint(w: World) -> object:
    vpc, subnet = vpc_with_dns(w)
    interface_endpoint(w, vpc, subnet)
    return interface_endpoint(w, vpc, subnet)


def endpoint_without(support: bool, hostnames: bool) -> Callable[[World], object]:
    def send(w: World) -> object:
        vpc, subnet = vpc_with_dns(w, support, hostnames)
        return interface_endpoint(w, vpc, subnet)

    return send


def group_in_default_vpc(w: World) -> str:
    vpc_id = w.ec2.describe_subnets(SubnetIds=[w.subnets[0]])["Subnets"][0]["VpcId"]
    return str(w.ec2.create_security_group(GroupName=unique("sg"), Description="rules", VpcId=vpc_id)["GroupId"])


def authorize(direction: str, permission: Callable[[str], dict[str, Any]]) -> Callable[[World], object]:
    """AuthorizeSecurityGroupIngress/Egress of one permission (built from a new group's id) on a new group."""

    def send(w: World) -> object:
        group = group_in_default_vpc(w)
        call = (
            w.ec2.authorize_security_group_ingress if direction == "ingress" else w.ec2.authorize_security_group_egress
        )
        return call(GroupId=group, IpPermissions=[permission(group)])

    return send


def tcp(port: int, **source: Any) -> dict[str, Any]:
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, **source}


def modify_rule_description(description: str) -> Callable[[World], object]:
    """ModifySecurityGroupRules, as the provider updates an aws_vpc_security_group_*_rule's description."""

    def send(w: World) -> object:
        group = group_in_default_vpc(w)
        (rule,) = w.ec2.authorize_security_group_ingress(
            GroupId=group, IpPermissions=[tcp(5671, IpRanges=[{"CidrIp": "10.8.0.0/16", "Description": "AMQPS"}])]
        )["SecurityGroupRules"]
        return w.ec2.modify_security_group_rules(
            GroupId=group,
            SecurityGroupRules=[
                {
                    "SecurityGroupRuleId": rule["SecurityGroupRuleId"],
                    "SecurityGroupRule": {**tcp(5671), "CidrIpv4": "10.8.0.0/16", "Description": description},
                }
            ],
        )

    return send


def key(value: str) -> dict[str, Any]:
    return {"key": {"S": value}}


def put(value: str, **attributes: Any) -> dict[str, Any]:
    return {"PutRequest": {"Item": {**key(value), **attributes}}}


def batch_get(keys: Callable[[], dict[str, list[dict[str, Any]]]]) -> Callable[[World], object]:
    return lambda w: w.dynamodb.batch_get_item(RequestItems={table: {"Keys": ks} for table, ks in keys().items()})


def batch_write(*requests: dict[str, Any]) -> Callable[[World], object]:
    return lambda w: w.dynamodb.batch_write_item(RequestItems={TABLE: list(requests)})


def transact(*actions: dict[str, Any]) -> Callable[[World], object]:
    return lambda w: w.dynamodb.transact_write_items(TransactItems=list(actions))


def dynamodb_invalid(name: str, send: Callable[[World], object], message: str, pattern: bool = False) -> Refusal:
    return Refusal(name, send, "ValidationException", message, pattern=pattern)


DUPLICATE_KEYS = "Provided list of item keys contains duplicates"
LONG_KEY = "é" * 1025  # 2050 bytes in UTF-8, 1025 characters
HASHKEY_TOO_LONG = (
    "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes"
)


REFUSALS: dict[str, tuple[Refusal, ...]] = {
    "mq-instance-type": (
        bad_request("t3-single-instance", create_broker(HostInstanceType="mq.t3.micro"), T3),
        bad_request("t3-cluster", create_broker(HostInstanceType="mq.t3.micro", DeploymentMode="CLUSTER_MULTI_AZ"), T3),
        bad_request(
            "m4-large",
            create_broker(HostInstanceType="mq.m4.large"),
            "Broker engine type [RabbitMQ] does not support host instance type [mq.m4.large]",
        ),
        bad_request(
            "m5-medium",
            create_broker(HostInstanceType="mq.m5.medium"),
            "Broker engine type [RabbitMQ] does not support host instance type [mq.m5.medium]",
        ),
    ),
    "mq-engine-version": (
        bad_request(
            "3.12-out-of-support",
            create_broker(EngineVersion="3.12"),
            f"Broker engine version [3.12] is invalid for broker engine type [RABBITMQ]. {VALID_VERSIONS}",
        ),
        bad_request(
            "patch-version",
            create_broker(EngineVersion="3.13.2"),
            f"Broker engine version [3.13.2] is invalid for broker engine type [RABBITMQ]. {VALID_VERSIONS}",
        ),
        bad_request(
            "patch-version-on-update",
            update_broker(public_broker, EngineVersion="3.13.7"),
            f"Broker engine version [3.13.7] is invalid for broker engine type [RABBITMQ]. {VALID_VERSIONS}",
        ),
    ),
    "mq-rabbitmq4-on-m7g": (
        bad_request(
            "4.2-on-m5",
            create_broker(EngineVersion="4.2", HostInstanceType="mq.m5.large", DeploymentMode="CLUSTER_MULTI_AZ"),
            "Broker engine version [4.2] does not support host instance type [mq.m5.large]. "
            "RabbitMQ 4 runs on mq.m7g instance types only.",
        ),
        bad_request(
            "4.2-moved-to-m5",
            update_broker(cluster_42, HostInstanceType="mq.m5.xlarge"),
            "Broker engine version [4.2] does not support host instance type [mq.m5.xlarge]. "
            "RabbitMQ 4 runs on mq.m7g instance types only.",
        ),
    ),
    "mq-auto-minor-version-upgrade": (
        bad_request(
            "create-without",
            create_broker(AutoMinorVersionUpgrade=False),
            "Brokers on [RabbitMQ] version [3.13] must have [autoMinorVersionUpgrade] set to [true].",
        ),
        bad_request(
            "update-turns-off",
            update_broker(cluster_42, AutoMinorVersionUpgrade=False),
            "Brokers on [RabbitMQ] version [4.2] must have [autoMinorVersionUpgrade] set to [true].",
        ),
    ),
    "mq-no-audit-log": (
        bad_request(
            "audit-false",
            create_broker(Logs={"General": True, "Audit": False}),
            "Audit logging is not supported for RabbitMQ brokers.",
        ),
        bad_request(
            "audit-on-update",
            update_broker(public_broker, Logs={"General": True, "Audit": True}),
            "Audit logging is not supported for RabbitMQ brokers.",
        ),
    ),
    "mq-public-no-security-groups": (
        bad_request(
            "public-with-group",
            create_broker(SecurityGroups=["sg-0123456789abcdef0"]),
            "Broker with [publiclyAccessible] set to true does not support specifying [securityGroups]",
        ),
    ),
    "mq-subnet-count": (
        bad_request(
            "private-single-two-subnets", create_private_broker(lambda w: w.subnets[:2]), SINGLE_SUBNET.format(2)
        ),
        bad_request("private-single-no-subnet", create_private_broker(lambda w: []), SINGLE_SUBNET.format(0)),
        bad_request(
            "public-single-two-subnets", create_broker(SubnetIds=["subnet-a", "subnet-b"]), SINGLE_SUBNET.format(2)
        ),
        bad_request(
            "private-cluster-no-subnet",
            create_private_broker(lambda w: [], DeploymentMode="CLUSTER_MULTI_AZ"),
            "Specify at least one subnet for a broker of deployment mode [CLUSTER_MULTI_AZ] without public "
            "accessibility.",
        ),
    ),
    "mq-subnets": (
        bad_request(
            "missing-subnet",
            create_private_broker(lambda w: ["subnet-0000000000"]),
            "Subnet [subnet-0000000000] does not exist.",
        ),
        bad_request(
            "two-vpcs",
            create_private_broker(lambda w: [w.subnets[0], w.other_vpc_subnet], DeploymentMode="CLUSTER_MULTI_AZ"),
            "Subnets must belong to the same VPC.",
        ),
        bad_request(
            "one-zone",
            create_private_broker(lambda w: [w.subnets[0], w.same_az_subnet], DeploymentMode="CLUSTER_MULTI_AZ"),
            "Subnets must be in different Availability Zones.",
        ),
    ),
    "mq-deployment-mode": (
        bad_request(
            "active-standby",
            create_broker(DeploymentMode="ACTIVE_STANDBY_MULTI_AZ"),
            "Broker engine type [RabbitMQ] does not support deployment mode [ACTIVE_STANDBY_MULTI_AZ].",
        ),
    ),
    "mq-exactly-one-user": (
        bad_request("no-user", create_broker(Users=[]), ONE_USER),
        bad_request(
            "two-users",
            create_broker(
                Users=[{"Username": "admin", "Password": PASSWORD}, {"Username": "app", "Password": PASSWORD}]
            ),
            ONE_USER,
        ),
    ),
    "mq-username": (
        bad_request(
            "guest",
            create_broker(Users=[{"Username": "guest", "Password": PASSWORD}]),
            "Username [guest] is not allowed for RabbitMQ brokers.",
        ),
        bad_request("one-character", create_broker(Users=[{"Username": "a", "Password": PASSWORD}]), BAD_USERNAME),
        bad_request("tilde", create_broker(Users=[{"Username": "admin~1", "Password": PASSWORD}]), BAD_USERNAME),
        bad_request(
            "101-characters", create_broker(Users=[{"Username": "a" * 101, "Password": PASSWORD}]), BAD_USERNAME
        ),
    ),
    "mq-password": (
        bad_request(
            "11-characters",
            create_broker(Users=[{"Username": "admin", "Password": "Abcdefgh123"}]),
            "Password is invalid. Enter a password 12 to 250 characters long.",
        ),
        bad_request(
            "251-characters",
            create_broker(Users=[{"Username": "admin", "Password": "Abcd" * 62 + "xyz"}]),
            "Password is invalid. Enter a password 12 to 250 characters long.",
        ),
        bad_request(
            "colon",
            create_broker(Users=[{"Username": "admin", "Password": "Stand-in:password.1234"}]),
            "Make sure your password doesn't contain invalid characters [, :=].",
        ),
        bad_request(
            "three-distinct",
            create_broker(Users=[{"Username": "admin", "Password": "abcabcabcabc"}]),
            "Password is invalid. Enter a password with at least 4 unique characters.",
        ),
    ),
    "mq-user-api-activemq-only": tuple(
        Refusal(operation, send, "ConflictException", USERS_API, 409)
        for operation, send in (
            ("create-user", lambda w: w.mq.create_user(BrokerId=w.broker_id, Username="app", Password=PASSWORD)),
            (
                "update-user",
                lambda w: w.mq.update_user(BrokerId=w.broker_id, Username="admin", Password=PASSWORD + "x"),
            ),
            ("delete-user", lambda w: w.mq.delete_user(BrokerId=w.broker_id, Username="admin")),
        )
    ),
    "mq-update-security-groups": (
        bad_request(
            "new-group",
            update_broker(private_broker, SecurityGroups=["sg-0fedcba9876543210"]),
            "Changing security groups is not supported for RabbitMQ brokers.",
        ),
    ),
    "mq-update-instance-type": (
        bad_request(
            "to-t3",
            update_broker(public_broker, HostInstanceType="mq.t3.micro"),
            "Downgrading from current instance type [mq.m7g.medium] to requested instance type [mq.t3.micro] is not "
            "supported for RabbitMQ brokers.",
        ),
    ),
    "mq-update-engine-upgrade-path": (
        bad_request(
            "3.13-to-4.3",
            update_broker(public_broker, EngineVersion="4.3"),
            "Upgrading from current engine version [3.13] to requested engine version [4.3] is not supported for "
            "RabbitMQ brokers. Upgrade to [4.2] first.",
        ),
        bad_request(
            "4.2-to-3.13",
            update_broker(cluster_42, EngineVersion="3.13"),
            "Downgrading from current engine version [4.2] to requested engine version [3.13] is not supported for "
            "RabbitMQ brokers.",
        ),
    ),
    "esm-mq-broker-exists": (
        invalid(
            "missing-broker",
            lambda w: w.lambda_.create_event_source_mapping(
                **w.mapping_request(EventSourceArn=f"arn:aws:mq:{REGION}:{ACCOUNT}:broker:gone:b-{uuid.UUID(int=0)}")
            ),
            f"The event source broker arn:aws:mq:{REGION}:{ACCOUNT}:broker:gone:b-{uuid.UUID(int=0)} does not exist.",
        ),
    ),
    "esm-mq-one-queue": (
        invalid("no-queues", create_mapping(Queues=None), "Queues is required for an Amazon MQ event source."),
        out_of_model(
            "empty-queues",
            create_mapping(Queues=[]),
            "[]",
            "queues",
            "Member must have length greater than or equal to 1",
        ),
        out_of_model(
            "two-queues",
            create_mapping(Queues=["orders", "payments"]),
            "[orders, payments]",
            "queues",
            "Member must have length less than or equal to 1",
        ),
    ),
    "esm-mq-basic-auth": (
        invalid("no-basic-auth", create_mapping_with(lambda w: [{"Type": "VIRTUAL_HOST", "URI": "/"}]), ONE_BASIC_AUTH),
        invalid("two-basic-auth", create_mapping_with(lambda w: [basic_auth(w), basic_auth(w)]), ONE_BASIC_AUTH),
        invalid(
            "missing-secret",
            create_mapping_with(lambda w: [{"Type": "BASIC_AUTH", "URI": MISSING_SECRET}]),
            f"The BASIC_AUTH secret {MISSING_SECRET} does not exist.",
        ),
        invalid(
            "missing-secret-on-update",
            update_mapping_access(lambda w: [{"Type": "BASIC_AUTH", "URI": MISSING_SECRET}]),
            f"The BASIC_AUTH secret {MISSING_SECRET} does not exist.",
        ),
    ),
    "esm-mq-access-types": (
        invalid(
            "vpc-subnet",
            create_mapping_with(lambda w: [basic_auth(w), {"Type": "VPC_SUBNET", "URI": "subnet:subnet-0123"}]),
            "Unsupported source access configuration type for Amazon MQ (RabbitMQ): VPC_SUBNET.",
        ),
        invalid(
            "two-virtual-hosts",
            create_mapping_with(
                lambda w: [basic_auth(w), {"Type": "VIRTUAL_HOST", "URI": "/"}, {"Type": "VIRTUAL_HOST", "URI": "prod"}]
            ),
            "Amazon MQ event sources take at most one VIRTUAL_HOST source access configuration.",
        ),
        invalid(
            "sasl-on-update",
            update_mapping_access(lambda w: [basic_auth(w), {"Type": "SASL_SCRAM_512_AUTH", "URI": w.secret_arn}]),
            "Unsupported source access configuration type for Amazon MQ (RabbitMQ): SASL_SCRAM_512_AUTH.",
        ),
    ),
    "esm-mq-batch-size": (
        out_of_model("zero", create_mapping(BatchSize=0), "0", "batchSize", GE.format(1)),
        out_of_model("10001", create_mapping(BatchSize=10001), "10001", "batchSize", LE.format(10000)),
        out_of_model("10001-on-update", update_mapping(BatchSize=10001), "10001", "batchSize", LE.format(10000)),
    ),
    "esm-mq-batching-window": (
        out_of_model(
            "negative",
            create_mapping(MaximumBatchingWindowInSeconds=-1),
            "-1",
            "maximumBatchingWindowInSeconds",
            GE.format(0),
        ),
        out_of_model(
            "301",
            create_mapping(MaximumBatchingWindowInSeconds=301),
            "301",
            "maximumBatchingWindowInSeconds",
            LE.format(300),
        ),
        out_of_model(
            "301-on-update",
            update_mapping(MaximumBatchingWindowInSeconds=301),
            "301",
            "maximumBatchingWindowInSeconds",
            LE.format(300),
        ),
    ),
    "esm-mq-no-starting-position": (
        invalid(
            "latest",
            create_mapping(StartingPosition="LATEST"),
            "StartingPosition is not valid for Amazon MQ event sources.",
        ),
    ),
    "esm-mq-update-no-virtual-host": (
        invalid("same-vhost", update_mapping_access(lambda w: w.access("/")), NO_VHOST_UPDATE),
        invalid("new-vhost", update_mapping_access(lambda w: w.access("prod")), NO_VHOST_UPDATE),
    ),
    "lambda-powertools-layer": (
        invalid(
            "x86-layer-on-arm64",
            lambda w: w.lambda_.create_function(**w.function_request(Layers=[LAYER.replace("arm64", "x86_64")])),
            f"Layer {LAYER.replace('arm64', 'x86_64')} does not exist for {REGION}, python313, ['arm64']",
        ),
        invalid(
            "other-region",
            lambda w: w.lambda_.create_function(**w.function_request(Layers=[LAYER.replace(REGION, "us-east-1")])),
            f"Layer {LAYER.replace(REGION, 'us-east-1')} does not exist for {REGION}, python313, ['arm64']",
        ),
        invalid(
            "python312-layer-on-update",
            lambda w: w.lambda_.update_function_configuration(
                FunctionName=w.function_name, Layers=[LAYER.replace("python313", "python312")]
            ),
            f"Layer {LAYER.replace('python313', 'python312')} does not exist for {REGION}, python313, ['arm64']",
        ),
    ),
    "lambda-invoke-json-payload": (
        Refusal(
            "not-json",
            lambda w: w.lambda_.invoke(FunctionName=w.function_name, Payload=b"{not json"),
            "InvalidRequestContentException",
            "Could not parse request body into json",
        ),
    ),
    "events-rate-expression": tuple(
        Refusal(
            expression,
            lambda w, e=expression: w.events.put_rule(Name=unique("schedule"), ScheduleExpression=e),  # type: ignore[misc]
            "ValidationException",
            "Parameter ScheduleExpression is not valid.",
        )
        for expression in ("rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "rate(1 second)")
    ),
    "secretsmanager-rotation-invoke-permission": (
        Refusal("no-function-policy", rotate_with(lambda w, name: None), "AccessDeniedException", NO_INVOKE),
        Refusal(
            "other-source-account",
            rotate_with(lambda w, name: allow_secrets_manager(w, name, SourceAccount="111122223333")),
            "AccessDeniedException",
            NO_INVOKE,
        ),
        Refusal(
            "other-principal",
            rotate_with(lambda w, name: allow_secrets_manager(w, name, Principal="events.amazonaws.com")),
            "AccessDeniedException",
            NO_INVOKE,
        ),
    ),
    "lambda-description-length": (
        out_of_model(
            "257-on-create",
            lambda w: w.lambda_.create_function(**w.function_request(Description="d" * 257)),
            "d" * 257,
            "description",
            "Member must have length less than or equal to 256",
        ),
        out_of_model(
            "257-on-update",
            lambda w: w.lambda_.update_function_configuration(FunctionName=w.function_name, Description="u" * 257),
            "u" * 257,
            "description",
            "Member must have length less than or equal to 256",
        ),
    ),
    "ec2-security-group-description": (
        ec2_invalid(
            "apostrophe",
            lambda w: w.ec2.create_security_group(GroupName=unique("sg"), Description="the broker's group"),
            GROUP_DESCRIPTION,
        ),
        ec2_invalid(
            "beyond-ascii",
            lambda w: w.ec2.create_security_group(GroupName=unique("sg"), Description="Zugang für den Broker"),
            GROUP_DESCRIPTION,
        ),
        ec2_invalid(
            "256-characters",
            lambda w: w.ec2.create_security_group(GroupName=unique("sg"), Description="g" * 256),
            GROUP_DESCRIPTION,
        ),
    ),
    "ec2-security-group-rule-description": (
        ec2_invalid(
            "apostrophe-on-a-cidr-ingress",
            authorize("ingress", lambda g: tcp(443, IpRanges=[{"CidrIp": "10.8.0.0/16", "Description": "VPN's"}])),
            RULE_DESCRIPTION,
        ),
        ec2_invalid(
            "apostrophe-on-a-group-egress",
            authorize(
                "egress",
                lambda g: tcp(443, UserIdGroupPairs=[{"GroupId": g, "Description": "the broker's management API"}]),
            ),
            RULE_DESCRIPTION,
        ),
        ec2_invalid(
            "arrow-on-a-group-ingress",
            authorize(
                "ingress", lambda g: tcp(5671, UserIdGroupPairs=[{"GroupId": g, "Description": "poller -> broker"}])
            ),
            RULE_DESCRIPTION,
        ),
        ec2_invalid("apostrophe-on-modify", modify_rule_description("the VPN's clients"), RULE_DESCRIPTION),
    ),
    "ec2-endpoint-private-dns-conflict": (
        Refusal(
            "second-lambda-endpoint",
            second_private_dns_endpoint,
            "InvalidParameter",
            "private-dns-enabled cannot be set because there is already a conflicting DNS domain for "
            f"lambda.{REGION}.amazonaws.com in the VPC ",
            ends_with_vpc_id=True,
        ),
    ),
    "ec2-endpoint-private-dns-vpc-attributes": tuple(
        Refusal(
            name,
            endpoint_without(support, hostnames),
            "InvalidParameter",
            "Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC attributes set to true "
            "for ",
            ends_with_vpc_id=True,
        )
        for name, support, hostnames in (("no-dns-hostnames", True, False), ("no-dns-support", False, True))
    ),
    "cloudwatch-dashboard-body": (
        Refusal(
            "metric-widget-without-region",
            put_dashboard({"type": "metric", "properties": {"metrics": [["AWS/SQS", "NumberOfMessagesSent"]]}}),
            "InvalidParameterInput",
            "The field DashboardBody is invalid: /widgets/0/properties/region: required for a metric widget",
        ),
        Refusal(
            "wider-than-the-grid",
            put_dashboard({"type": "text", "width": 25, "properties": {"markdown": "x"}}),
            "InvalidParameterInput",
            "The field DashboardBody is invalid: /widgets/0/width: should be an integer from 1 to 24",
        ),
        Refusal(
            "dimension-without-value",
            put_dashboard(
                {
                    "type": "metric",
                    "properties": {"region": REGION, "metrics": [["AWS/SQS", "NumberOfMessagesSent", "QueueName"]]},
                }
            ),
            "InvalidParameterInput",
            "The field DashboardBody is invalid: /widgets/0/properties/metrics/0: should be namespace, metric name, "
            "pairs",
        ),
        Refusal(
            "alarm-names-not-arns",
            put_dashboard({"type": "alarm", "properties": {"alarms": ["my-alarm"]}}),
            "InvalidParameterInput",
            "The field DashboardBody is invalid: /widgets/0/properties/alarms: should list alarm ARNs",
        ),
    ),
    "cloudwatch-alarm-metric-queries": tuple(
        Refusal(
            name,
            send,
            "ValidationError",
            "An alarm takes at most 20 metric data queries, at most 10 of them with a MetricStat, and exactly one with "
            f"ReturnData true: got {got}",
        )
        for name, send, got in (
            ("eleven-metrics", metric_alarm(11), "12 queries, 11 MetricStat, 1 returning data"),
            ("twenty-one-queries", metric_alarm(10, expressions=11), "21 queries, 10 MetricStat, 1 returning data"),
            ("none-returns-data", metric_alarm(4, returned=0), "5 queries, 4 MetricStat, 0 returning data"),
            (
                "two-return-data",
                metric_alarm(4, returned=2, expressions=2),
                "6 queries, 4 MetricStat, 2 returning data",
            ),
        )
    ),
    "dynamodb-batch-get-100-keys": (
        dynamodb_invalid(
            "101-keys-of-one-table",
            batch_get(lambda: {TABLE: [key(f"k{index}") for index in range(101)]}),
            f"1 validation error detected: Value at 'requestItems.{TABLE}.member.keys' failed to satisfy constraint: "
            "Member must have length less than or equal to 100",
        ),
        dynamodb_invalid(
            "60-keys-of-each-of-two-tables",
            batch_get(lambda: {name: [key(f"k{index}") for index in range(60)] for name in (TABLE, OTHER_TABLE)}),
            "Too many items requested for the BatchGetItem call",
        ),
    ),
    "dynamodb-batch-get-duplicate-keys": (
        dynamodb_invalid("one-key-twice", batch_get(lambda: {TABLE: [key("a"), key("b"), key("a")]}), DUPLICATE_KEYS),
    ),
    "dynamodb-batch-write-25-requests": (
        dynamodb_invalid(
            "26-puts",
            batch_write(*(put(f"k{index}") for index in range(26))),
            re.escape(f"1 validation error detected: Value '{{{TABLE}=[")
            + ", ".join([r"com\.amazonaws\.dynamodb\.v20120810\.WriteRequest@[0-9a-f]{8}"] * 26)
            + re.escape(
                "]}' at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must "
                "have length less than or equal to 25, Member must have length greater than or equal to 1]"
            ),
            pattern=True,
        ),
    ),
    "dynamodb-batch-write-one-request-per-item": (
        dynamodb_invalid(
            "two-puts-of-one-key-with-other-attributes",
            batch_write(put("a", expiresAt={"N": "1"}), put("a", expiresAt={"N": "2"})),
            DUPLICATE_KEYS,
        ),
        dynamodb_invalid(
            "a-put-and-a-delete-of-one-key", batch_write(put("a"), {"DeleteRequest": {"Key": key("a")}}), DUPLICATE_KEYS
        ),
    ),
    "dynamodb-item-size": (
        dynamodb_invalid(
            "an-item-over-400-KB",
            batch_write(put("big", body={"S": "x" * (400 * 1024)})),
            "Item size has exceeded the maximum allowed size",
        ),
    ),
    "dynamodb-partition-key-size": (
        dynamodb_invalid("a-2050-byte-key-written", batch_write(put(LONG_KEY)), HASHKEY_TOO_LONG),
        dynamodb_invalid("a-2050-byte-key-read", batch_get(lambda: {TABLE: [key(LONG_KEY)]}), HASHKEY_TOO_LONG),
    ),
    "dynamodb-transaction-100-actions": (
        dynamodb_invalid(
            "101-puts",
            transact(*({"Put": {"TableName": TABLE, "Item": key(f"t{index}")}} for index in range(101))),
            "1 validation error detected at 'transactItems' failed to satisfy constraint: Member must have length "
            "less than or equal to 100.",
        ),
    ),
    "dynamodb-transaction-one-action-per-item": (
        dynamodb_invalid(
            "a-put-and-a-condition-check-on-one-item",
            transact(
                {"Put": {"TableName": TABLE, "Item": key("t")}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": key("t"),
                        "ConditionExpression": "attribute_exists(#k)",
                        "ExpressionAttributeNames": {"#k": "key"},
                    }
                },
            ),
            "Transaction request cannot include multiple operations on one item",
        ),
    ),
}


def test_every_rule_has_a_refusal_case() -> None:
    assert sorted(REFUSALS) == sorted(rule.id for rule in RULES)
    assert all(REFUSALS.values())


def test_rules_name_their_source_and_enforcer() -> None:
    ids = [rule.id for rule in (*RULES, *BEHAVIOURS)]
    assert len(ids) == len(set(ids))
    for rule in (*RULES, *BEHAVIOURS):
        assert rule.rule, rule.id
        assert rule.service_operation, rule.id
        assert rule.source, rule.id
        assert re.search(r"https://|API model", rule.source), rule.id
        assert callable(getattr(strict_aws, rule.enforced_by, None)), rule.id


@pytest.mark.parametrize(
    "refusal",
    [pytest.param(refusal, id=f"{rule_id}/{refusal.name}") for rule_id, cases in REFUSALS.items() for refusal in cases],
)
def test_double_refuses(world: World, refusal: Refusal) -> None:
    with pytest.raises(ClientError) as caught:
        refusal.send(world)
    error = caught.value.response
    code, message = error["Error"]["Code"], error["Error"]["Message"]
    if refusal.ends_with_vpc_id:
        assert re.fullmatch(r"vpc-[0-9a-f]+", message.removeprefix(refusal.message)), message
        message = refusal.message
    if refusal.pattern:
        assert re.fullmatch(refusal.message, message), message
        message = refusal.message
    assert (code, message) == (refusal.code, refusal.message)
    assert error["ResponseMetadata"]["HTTPStatusCode"] == refusal.status


# --------------------------------------------------------------------------------------------
# Requests that obey every rule succeed
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({}, id="3.13-m7g.medium-single-public"),
        pytest.param(
            {"EngineVersion": "4.2", "HostInstanceType": "mq.m7g.large", "DeploymentMode": "CLUSTER_MULTI_AZ"},
            id="4.2-m7g.large-cluster-public",
        ),
        pytest.param(
            {"EngineVersion": "4.3", "HostInstanceType": "mq.m7g.medium", "DeploymentMode": "CLUSTER_MULTI_AZ"},
            id="4.3-m7g.medium-cluster-public",
        ),
        pytest.param({"HostInstanceType": "mq.m5.large", "Logs": {"General": False}}, id="3.13-m5.large-single-public"),
    ],
)
def test_valid_public_broker_is_created(world: World, overrides: dict[str, Any]) -> None:
    request = world.broker_request(**overrides)
    broker = world.mq.describe_broker(BrokerId=world.mq.create_broker(**request)["BrokerId"])
    assert broker["BrokerState"] == "RUNNING"
    assert (broker["EngineVersion"], broker["HostInstanceType"], broker["DeploymentMode"]) == (
        request["EngineVersion"],
        request["HostInstanceType"],
        request["DeploymentMode"],
    )


def test_valid_private_brokers_are_created(world: World) -> None:
    single = world.mq.create_broker(
        **world.broker_request(PubliclyAccessible=False, SubnetIds=world.subnets[1:2], SecurityGroups=["sg-0a"])
    )
    cluster = world.mq.create_broker(
        **world.broker_request(
            EngineVersion="4.2",
            HostInstanceType="mq.m7g.large",
            DeploymentMode="CLUSTER_MULTI_AZ",
            PubliclyAccessible=False,
            SubnetIds=world.subnets[:3],
            SecurityGroups=["sg-0a"],
        )
    )
    assert world.mq.describe_broker(BrokerId=single["BrokerId"])["SubnetIds"] == world.subnets[1:2]
    assert sorted(world.mq.describe_broker(BrokerId=cluster["BrokerId"])["SubnetIds"]) == sorted(world.subnets[:3])


def test_valid_broker_updates_are_accepted(world: World) -> None:
    broker_id = world.mq.create_broker(**world.broker_request(HostInstanceType="mq.m7g.large"))["BrokerId"]
    world.mq.update_broker(BrokerId=broker_id, EngineVersion="4.2", Logs={"General": False})
    world.mq.reboot_broker(BrokerId=broker_id)
    world.mq.update_broker(BrokerId=broker_id, EngineVersion="4.3", HostInstanceType="mq.m7g.xlarge")
    world.mq.update_broker(BrokerId=world.private_broker_id, SecurityGroups=["sg-0123456789abcdef0"])  # unchanged


def test_valid_mapping_is_created_and_updated(world: World) -> None:
    created = world.lambda_.get_event_source_mapping(UUID=world.mapping_uuid)
    assert (created["Queues"], created["SourceAccessConfigurations"]) == (["orders"], world.access())
    updated = world.lambda_.update_event_source_mapping(UUID=world.mapping_uuid, BatchSize=250, Enabled=False)
    assert (updated["BatchSize"], updated["SourceAccessConfigurations"]) == (250, world.access())
    assert world.lambda_.get_event_source_mapping(UUID=world.mapping_uuid)["BatchSize"] == 250


# --------------------------------------------------------------------------------------------
# Behaviours: what AWS returns or does by itself
# --------------------------------------------------------------------------------------------


def observe_no_users(w: World) -> None:
    broker_id = w.mq.create_broker(**w.broker_request())["BrokerId"]
    assert w.mq.describe_broker(BrokerId=broker_id)["Users"] == []
    assert w.mq.list_users(BrokerId=broker_id)["Users"] == []
    with pytest.raises(ClientError) as caught:
        w.mq.describe_user(BrokerId=broker_id, Username="admin")
    assert caught.value.response["Error"]["Code"] == "NotFoundException"


def observe_broker_identity(w: World) -> None:
    request = w.broker_request()
    created = w.mq.create_broker(**request)
    broker_id = created["BrokerId"]
    assert re.fullmatch(r"b-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", broker_id)
    assert created["BrokerArn"] == f"arn:aws:mq:{REGION}:{ACCOUNT}:broker:{request['BrokerName']}:{broker_id}"
    host = f"{broker_id}.mq.{REGION}.amazonaws.com"
    [instance] = w.mq.describe_broker(BrokerId=broker_id)["BrokerInstances"]
    assert (instance["Endpoints"], instance["ConsoleURL"]) == ([f"amqps://{host}:5671"], f"https://{host}")


def observe_pending_until_reboot(w: World) -> None:
    broker_id = w.mq.create_broker(**w.broker_request(HostInstanceType="mq.m7g.large"))["BrokerId"]
    w.mq.update_broker(BrokerId=broker_id, EngineVersion="4.2", HostInstanceType="mq.m7g.xlarge")
    pending = w.mq.describe_broker(BrokerId=broker_id)
    assert (pending["EngineVersion"], pending["PendingEngineVersion"]) == ("3.13", "4.2")
    assert (pending["HostInstanceType"], pending["PendingHostInstanceType"]) == ("mq.m7g.large", "mq.m7g.xlarge")
    w.mq.reboot_broker(BrokerId=broker_id)
    rebooted = w.mq.describe_broker(BrokerId=broker_id)
    assert (rebooted["EngineVersion"], rebooted["HostInstanceType"]) == ("4.2", "mq.m7g.xlarge")
    assert "PendingEngineVersion" not in rebooted
    assert "PendingHostInstanceType" not in rebooted


def observe_mapping_defaults(w: World) -> None:
    request = w.mapping_request()
    del request["BatchSize"], request["MaximumBatchingWindowInSeconds"]
    mapping = w.lambda_.create_event_source_mapping(**request)
    assert mapping["BatchSize"] == 100
    assert "StartingPosition" not in mapping
    other_secret = w.secrets.create_secret(Name=unique("rotated"), SecretString="{}")["ARN"]
    access = [{"Type": "BASIC_AUTH", "URI": other_secret}]
    updated = w.lambda_.update_event_source_mapping(UUID=mapping["UUID"], SourceAccessConfigurations=access)
    assert updated["SourceAccessConfigurations"] == [*access, {"Type": "VIRTUAL_HOST", "URI": "/"}]


def observe_invocation_recorded(w: World) -> None:
    before = len(strict_aws.INVOCATIONS)
    answer = w.lambda_.invoke(FunctionName=w.function_name, Payload=json.dumps({"queue": "orders"}).encode())
    assert (answer["StatusCode"], answer.get("FunctionError"), answer["Payload"].read()) == (200, None, b"{}")
    assert strict_aws.INVOCATIONS[before:] == [strict_aws.Invocation(w.function_name, {"queue": "orders"})]

    # A registered effect runs with the payload and the invoked function's own environment.
    seen: list[tuple[Any, dict[str, str]]] = []
    handler = "effect.lambda_handler"
    function = w.lambda_.create_function(
        **w.function_request(Handler=handler, Environment={"Variables": {"QUEUE_NAME": "orders"}})
    )
    strict_aws.INVOCATION_EFFECTS[handler] = lambda payload, environment: seen.append((payload, dict(environment)))
    try:
        w.lambda_.invoke(FunctionName=function["FunctionName"], Payload=b'{"trigger": "t"}')
    finally:
        del strict_aws.INVOCATION_EFFECTS[handler]
    assert seen == [({"trigger": "t"}, {"QUEUE_NAME": "orders"})]


def observe_function_vpc(w: World) -> None:
    vpc_id = w.ec2.describe_subnets(SubnetIds=[w.subnets[0]])["Subnets"][0]["VpcId"]
    group = w.ec2.create_security_group(GroupName=unique("fn"), Description="fn", VpcId=vpc_id)["GroupId"]
    request = w.function_request(VpcConfig={"SubnetIds": [w.subnets[0]], "SecurityGroupIds": [group]})
    created = w.lambda_.create_function(**request)
    assert created["VpcConfig"]["VpcId"] == vpc_id
    configuration = w.lambda_.get_function_configuration(FunctionName=request["FunctionName"])
    assert configuration["VpcConfig"]["VpcId"] == vpc_id


def observe_rule_descriptions(w: World) -> None:
    """Each rule comes back with its Description, one referencing another group too."""
    group = w.ec2.create_security_group(GroupName=unique("sg"), Description="the group")["GroupId"]
    w.ec2.authorize_security_group_ingress(
        GroupId=group, IpPermissions=[tcp(5671, UserIdGroupPairs=[{"GroupId": group, "Description": "from itself"}])]
    )
    w.ec2.authorize_security_group_egress(
        GroupId=group, IpPermissions=[tcp(443, IpRanges=[{"CidrIp": "0.0.0.0/0", "Description": "to anywhere"}])]
    )
    rules = w.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
    described = {(r["IsEgress"], r["FromPort"], r.get("Description")) for r in rules["SecurityGroupRules"]}
    assert {(False, 5671, "from itself"), (True, 443, "to anywhere")} <= described


def observe_unprocessed(w: World) -> None:
    read = {"ConsistentRead": True, "ProjectionExpression": "#k", "ExpressionAttributeNames": {"#k": "key"}}
    # Throttled: the last key of a read and the last request of a write come back unprocessed.
    w.dynamodb.batch_write_item(RequestItems={TABLE: [put("u1"), put("u2")]})
    strict_aws.DYNAMODB_THROTTLE.calls = 2
    try:
        got = w.dynamodb.batch_get_item(RequestItems={TABLE: {"Keys": [key("u1"), key("u2")], **read}})
        written = w.dynamodb.batch_write_item(RequestItems={TABLE: [put("u3"), put("u4")]})
    finally:
        strict_aws.DYNAMODB_THROTTLE.calls = 0
    assert got["Responses"] == {TABLE: [key("u1")]}
    assert got["UnprocessedKeys"] == {TABLE: {"Keys": [key("u2")], **read}}
    assert written["UnprocessedItems"] == {TABLE: [put("u4")]}
    stored = w.dynamodb.batch_get_item(RequestItems={TABLE: {"Keys": [key("u3"), key("u4")]}})["Responses"][TABLE]
    assert stored == [key("u3")]
    # Past 16 MB of response: the keys left over, with the request's attributes.
    big = [f"big-{index}" for index in range(43)]  # 43 items of about 400,000 bytes: 17.2 MB
    for start in range(0, len(big), 25):
        batch_write(*(put(name, body={"S": "x" * 399_900}) for name in big[start : start + 25]))(w)
    got = w.dynamodb.batch_get_item(RequestItems={TABLE: {"Keys": [key(name) for name in big], "ConsistentRead": True}})
    left = got["UnprocessedKeys"][TABLE]
    assert left["ConsistentRead"] is True
    read_keys = [item["key"]["S"] for item in got["Responses"][TABLE]]
    assert left["Keys"]
    assert sorted(read_keys + [k["key"]["S"] for k in left["Keys"]]) == sorted(big)


OBSERVATIONS: dict[str, Callable[[World], None]] = {
    "mq-describe-no-users": observe_no_users,
    "mq-broker-identity": observe_broker_identity,
    "mq-update-pending-until-reboot": observe_pending_until_reboot,
    "esm-mq-defaults": observe_mapping_defaults,
    "lambda-invoke-recorded": observe_invocation_recorded,
    "lambda-vpc-config-vpc-id": observe_function_vpc,
    "ec2-rule-description-returned": observe_rule_descriptions,
    "dynamodb-unprocessed": observe_unprocessed,
}


def test_every_behaviour_is_observed() -> None:
    assert sorted(OBSERVATIONS) == sorted(behaviour.id for behaviour in BEHAVIOURS)


@pytest.mark.parametrize("behaviour", sorted(OBSERVATIONS))
def test_double_behaves_like_aws(world: World, behaviour: str) -> None:
    OBSERVATIONS[behaviour](world)


def test_valid_schedule_rotation_and_dashboard_are_accepted(world: World) -> None:
    for expression in ("rate(1 minute)", "rate(5 minutes)", "rate(1 day)", "cron(0 12 * * ? *)"):
        world.events.put_rule(Name=unique("schedule"), ScheduleExpression=expression)
    rotation = cast(dict[str, Any], rotate_with(allow_secrets_manager)(world))
    assert world.secrets.describe_secret(SecretId=rotation["ARN"])["RotationEnabled"] is True
    put_dashboard(
        {
            "type": "metric",
            "x": 0,
            "width": 24,
            "height": 6,
            "properties": {
                "region": REGION,
                "metrics": [["AWS/SQS", "NumberOfMessagesSent", "QueueName", "orders", {"label": "Sent"}]],
            },
        },
        {"type": "alarm", "properties": {"alarms": [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:backlog"]}},
    )(world)
    metric_alarm(10, expressions=10)(world)  # ten shards' metrics and their sum: as many as an alarm takes


def test_valid_descriptions_and_endpoints_are_accepted(world: World) -> None:
    """Every character of the allowed set, 255 of them at most; 256 characters of a function description; one
    private-DNS endpoint per service, and a second one for the same service without private DNS."""
    allowed = "Az09 ._-:/()#,@[]+=&;{}!$*"
    group = world.ec2.create_security_group(GroupName=unique("sg"), Description=allowed)["GroupId"]
    world.ec2.create_security_group(GroupName=unique("sg"), Description="g" * 255)
    world.ec2.authorize_security_group_ingress(
        GroupId=group, IpPermissions=[tcp(443, UserIdGroupPairs=[{"GroupId": group, "Description": allowed}])]
    )
    world.ec2.authorize_security_group_egress(
        GroupId=group, IpPermissions=[tcp(443, IpRanges=[{"CidrIp": "0.0.0.0/0", "Description": "r" * 255}])]
    )
    modify_rule_description(allowed)(world)
    world.lambda_.create_function(**world.function_request(Description="d" * 256))
    world.lambda_.update_function_configuration(FunctionName=world.function_name, Description="u" * 256)

    vpc, subnet = vpc_with_dns(world)
    interface_endpoint(world, vpc, subnet, "lambda")
    interface_endpoint(world, vpc, subnet, "sts")
    interface_endpoint(world, vpc, subnet, "lambda", PrivateDnsEnabled=False)
    endpoints = world.ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"]
    assert sorted((e["ServiceName"].rsplit(".", 1)[-1], e["PrivateDnsEnabled"]) for e in endpoints) == [
        ("lambda", False),
        ("lambda", True),
        ("sts", True),
    ]
    # Once deleted, an endpoint no longer holds the service's name.
    (first,) = [e["VpcEndpointId"] for e in endpoints if e["PrivateDnsEnabled"] and e["ServiceName"].endswith("lambda")]
    world.ec2.delete_vpc_endpoints(VpcEndpointIds=[first])
    interface_endpoint(world, vpc, subnet, "lambda")


def test_valid_dynamodb_requests_are_accepted(world: World) -> None:
    """The limits themselves: 100 keys over two tables, 25 puts, a 2048-byte key, an item of 400,000 bytes
    (moto's own measure refuses 405,000), a transaction of 100 actions."""
    batch_get(lambda: {TABLE: [key(f"v{index}") for index in range(50)], OTHER_TABLE: [key("v0")]})(world)
    batch_write(*(put(f"v{index}") for index in range(24)), put("é" * 1024))(world)
    batch_write(put("large", body={"S": "x" * 399_980}))(world)
    transact(*({"Put": {"TableName": TABLE, "Item": key(f"tx{index}")}} for index in range(100)))(world)
    got = world.dynamodb.batch_get_item(RequestItems={TABLE: {"Keys": [key("v0"), key("é" * 1024), key("tx99")]}})
    assert sorted(item["key"]["S"] for item in got["Responses"][TABLE]) == sorted(["v0", "é" * 1024, "tx99"])
