"""Make the moto test double at least as strict as AWS on every rule this project relies on.

Moto is kinder than AWS: it creates a RabbitMQ broker on any instance type and engine version,
returns RabbitMQ users from DescribeBroker, knows no Amazon MQ event sources and no public
layers. A Terraform apply that passes against such a double proves nothing about the first real
apply. `RULES` lists every AWS refusal the configuration depends on, each with its source;
`BEHAVIOURS` lists what AWS returns or does by itself where moto differs. `extend_moto` installs
the moto patches that enforce both, and tests/terraform/test_strict_aws.py breaks every rule on purpose.

Sources marked "field report" are real error texts seen in public applies; "text unconfirmed"
means AWS documents the rule but no public record of its exact error text was found, so the
text here is ours (the error code and HTTP status are AWS's).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import pytest


@dataclass(frozen=True)
class Rule:
    id: str
    service_operation: str
    rule: str
    source: str
    enforced_by: str  # the function of this module that enforces it


MQ_GUIDE = "https://docs.aws.amazon.com/amazon-mq/latest/developer-guide"
MQ_API_MODEL = "Amazon MQ API model (botocore data/mq/2017-11-27/service-2.json, the Amazon MQ REST API Reference)"
LAMBDA_API_MODEL = "Lambda API model (botocore data/lambda/2015-03-31/service-2.json, the Lambda API Reference)"
PROVIDER = "https://github.com/hashicorp/terraform-provider-aws"
EC2_API_REFERENCE = "https://docs.aws.amazon.com/AWSEC2/latest/APIReference"
DYNAMODB_API = "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference"
DYNAMODB_QUOTAS = (
    "DynamoDB developer guide 'Service, account, and table quotas' "
    "(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html)"
)

RULES: tuple[Rule, ...] = (
    Rule(
        "mq-instance-type",
        "mq:CreateBroker",
        "RabbitMQ runs only on mq.m5.{large,xlarge,2xlarge,4xlarge} and "
        "mq.m7g.{medium,large,xlarge,2xlarge,4xlarge,8xlarge,12xlarge,16xlarge}, in every deployment mode "
        "(mq.m7g.medium included in clusters); mq.t3.* is refused: "
        "BadRequestException 'Broker engine type [RabbitMQ] does not support host instance type [mq.t3.micro]'.",
        "Field report: that exact error in real applies of several public projects and in the provider's "
        f"acceptance-test logs ({PROVIDER}/pull/47686); sizes: Amazon MQ guide 'Amazon MQ for RabbitMQ sizing "
        f"guidelines' ({MQ_GUIDE}/rabbitmq-sizing-guidelines.html) and 'Default resource limits' "
        f"({MQ_GUIDE}/rabbitmq-resource-limits-configuration.html), whose m7g cluster table lists mq.m7g.medium.",
        "_check_instance_type",
    ),
    Rule(
        "mq-engine-version",
        "mq:CreateBroker, mq:UpdateBroker",
        "EngineVersion is a version Amazon MQ offers, major.minor only: 3.13, 4.2, 4.3. 3.12 and older are "
        "past end of support; a patch version ('3.13.7') is refused: BadRequestException "
        "'Broker engine version [3.13.7] is invalid for broker engine type [RABBITMQ]. Valid values: [3.13]' "
        "(today's list: [4.3, 4.2, 3.13]).",
        f"Field report: {PROVIDER}/issues/42516 (exact text); Amazon MQ guide 'Managing Amazon MQ for RabbitMQ "
        f"engine versions' ({MQ_GUIDE}/rabbitmq-version-management.html: 'you only need to specify the major and "
        f"minor version numbers'), 'RabbitMQ 4' and 'RabbitMQ 4.3' ({MQ_GUIDE}/rabbitmq-43.html).",
        "_check_engine_version",
    ),
    Rule(
        "mq-rabbitmq4-on-m7g",
        "mq:CreateBroker, mq:UpdateBroker",
        "RabbitMQ 4.x (4.2, 4.3) runs only on mq.m7g.* instance types.",
        f"Amazon MQ guide 'Managing Amazon MQ for RabbitMQ engine versions' and 'In-place upgrade from RabbitMQ 3 "
        f"to 4' ({MQ_GUIDE}/upgrading-rabbitmq-v3-to-v4-inplace.html: 'RabbitMQ 4.2 requires the mq.m7g instance "
        "type'). Text unconfirmed.",
        "_check_instance_type",
    ),
    Rule(
        "mq-auto-minor-version-upgrade",
        "mq:CreateBroker, mq:UpdateBroker",
        "RabbitMQ 3.13 and later need AutoMinorVersionUpgrade=true: BadRequestException "
        "'Brokers on [RabbitMQ] version [3.13] must have [autoMinorVersionUpgrade] set to [true].' "
        "(The API defaults it to true; the Terraform provider defaults it to false and always sends it.)",
        f"{MQ_API_MODEL}: CreateBrokerRequest.AutoMinorVersionUpgrade 'Must be set to true ... for RabbitMQ "
        f"brokers version 3.13 and above'; exact text: field report in {PROVIDER}/issues/42516.",
        "_check_auto_minor_version_upgrade",
    ),
    Rule(
        "mq-no-audit-log",
        "mq:CreateBroker, mq:UpdateBroker",
        "RabbitMQ brokers take no audit log setting at all, not even false: BadRequestException "
        "'Audit logging is not supported for RabbitMQ brokers.'",
        f"{MQ_API_MODEL}: Logs.Audit 'Does not apply to RabbitMQ brokers'; exact text: field report "
        "https://github.com/ansible-collections/community.aws/issues/2130 (refused with audit=false too); "
        f"the provider omits audit for RabbitMQ (internal/service/mq/broker.go expandLogs).",
        "_check_logs",
    ),
    Rule(
        "mq-public-no-security-groups",
        "mq:CreateBroker",
        "A publicly accessible broker takes no security groups: BadRequestException "
        "'Broker with [publiclyAccessible] set to true does not support specifying [securityGroups]'.",
        "Field report (exact text): https://github.com/cloudposse/terraform-aws-mq-broker/pull/42.",
        "_check_network",
    ),
    Rule(
        "mq-subnet-count",
        "mq:CreateBroker",
        "SINGLE_INSTANCE takes exactly one subnet when private and at most one when public; a private "
        "CLUSTER_MULTI_AZ broker needs at least one subnet.",
        f"{MQ_API_MODEL}: CreateBrokerRequest.SubnetIds ('A SINGLE_INSTANCE deployment requires one subnet ... "
        "Deployment without public accessibility requires at least one subnet'). Text unconfirmed.",
        "_check_network",
    ),
    Rule(
        "mq-subnets",
        "mq:CreateBroker",
        "Every subnet exists, all are in one VPC ('Subnets must belong to the same VPC.'), each in a "
        "different Availability Zone.",
        f"{MQ_API_MODEL}: CreateBrokerRequest.SubnetIds ('the subnets must be in different Availability Zones'); "
        "same-VPC text: field report https://github.com/aws-controllers-k8s/community/issues/1517. Texts for a "
        "missing subnet and for two subnets in one zone unconfirmed.",
        "_check_subnets",
    ),
    Rule(
        "mq-deployment-mode",
        "mq:CreateBroker",
        "RabbitMQ takes SINGLE_INSTANCE or CLUSTER_MULTI_AZ; ACTIVE_STANDBY_MULTI_AZ is ActiveMQ only.",
        f"{MQ_API_MODEL}: CreateBrokerRequest.SubnetIds ('An ACTIVE_STANDBY_MULTI_AZ Amazon MQ for ActiveMQ "
        f"deployment'); Amazon MQ guide 'Deployment options for Amazon MQ for RabbitMQ brokers' "
        f"({MQ_GUIDE}/rabbitmq-broker-architecture.html). Text unconfirmed.",
        "_check_create_broker",
    ),
    Rule(
        "mq-exactly-one-user",
        "mq:CreateBroker",
        "A RabbitMQ broker with simple authentication is created with exactly one (administrative) user: "
        "BadRequestException 'Specify exactly one user for engine type [RABBITMQ].'",
        f"{MQ_API_MODEL}: User ('one and only one administrative user is accepted'); exact text: field reports "
        f"{PROVIDER}/issues/41374 and https://github.com/cloudposse/terraform-aws-mq-broker/issues/21.",
        "_check_users",
    ),
    Rule(
        "mq-username",
        "mq:CreateBroker",
        "The RabbitMQ username is 2-100 characters of letters, digits, '-', '.', '_' (no '~') and not 'guest'.",
        f"{MQ_API_MODEL}: User.Username; Amazon MQ guide 'Best practices for broker setup and connection "
        f"management' ({MQ_GUIDE}/best-practices-broker-setup.html: 'does not support the username \"guest\"'). "
        "Text unconfirmed.",
        "_check_users",
    ),
    Rule(
        "mq-password",
        "mq:CreateBroker",
        "The password is 12-250 characters with at least 4 distinct ones and none of ',', ':', '='.",
        f"{MQ_API_MODEL}: User.Password; length text: field report 'Password is invalid. Enter a password 12 to "
        "250 characters long.' (https://github.com/awslabs/aws-servicebroker/pull/147); forbidden-characters "
        "text: field report https://github.com/awslabs/aws-servicebroker/issues/148; distinct-characters text "
        f"unconfirmed. The provider checks the same (broker.go ValidBrokerPassword).",
        "_check_users",
    ),
    Rule(
        "mq-user-api-activemq-only",
        "mq:CreateUser, mq:UpdateUser, mq:DeleteUser",
        "Broker users are managed through the Amazon MQ API for ActiveMQ only: ConflictException (HTTP 409) "
        "'The users API does not apply to RabbitMQ brokers. To manage broker users, please use the RabbitMQ web "
        "console, or the management API.'",
        "Field report (exact text, from CreateUser): https://github.com/alphagov/govuk-infrastructure/pull/4002 "
        f"(provider 6.38 began calling it); {MQ_API_MODEL}: CreateUser 'Creates a new ActiveMQ user', User ('All "
        "subsequent broker users are created by making RabbitMQ API calls'). Assumed the same for UpdateUser and "
        "DeleteUser.",
        "_refuse_rabbitmq_user_api",
    ),
    Rule(
        "mq-update-security-groups",
        "mq:UpdateBroker",
        "A RabbitMQ broker's security groups cannot change: BadRequestException "
        "'Changing security groups is not supported for RabbitMQ brokers.'",
        f"Field reports (exact text): {PROVIDER}/issues/33514, "
        "https://github.com/cloudposse/terraform-aws-mq-broker/issues/61.",
        "_check_update_broker",
    ),
    Rule(
        "mq-update-instance-type",
        "mq:UpdateBroker",
        "The new host instance type is one RabbitMQ runs on; a move to mq.t3.* is refused: "
        "'Downgrading from current instance type [mq.m5.large] to requested instance type [mq.t3.micro] is not "
        "supported for RabbitMQ brokers.'",
        "Field report (exact text): https://github.com/alphagov/govuk-infrastructure/pull/1858; Amazon MQ guide "
        "'sizing guidelines' ('You cannot downgrade a broker from an mq.m5 or mq.m7g instance type to an "
        "mq.t3.micro instance type').",
        "_check_instance_type",
    ),
    Rule(
        "mq-update-engine-upgrade-path",
        "mq:UpdateBroker",
        "Engine versions only go up, one step at a time: 3.13 -> 4.2 -> 4.3 (no 3.13 -> 4.3, no downgrade).",
        f"Amazon MQ guide 'RabbitMQ 4.3' ({MQ_GUIDE}/rabbitmq-43.html: 'You cannot upgrade directly from RabbitMQ "
        f"3.13 to 4.3'), 'In-place upgrade from RabbitMQ 3 to 4'; no downgrade: {PROVIDER}/issues/21651. "
        "Texts unconfirmed.",
        "_check_engine_version",
    ),
    Rule(
        "esm-mq-broker-exists",
        "lambda:CreateEventSourceMapping",
        "An Amazon MQ event source is an existing broker.",
        f"{LAMBDA_API_MODEL}: EventSourceArn ('Amazon MQ - The ARN of the broker'). Text unconfirmed.",
        "_check_create_mapping",
    ),
    Rule(
        "esm-mq-one-queue",
        "lambda:CreateEventSourceMapping",
        "Exactly one queue: Queues is required for Amazon MQ and holds one name (model: min 1, max 1).",
        f"{LAMBDA_API_MODEL}: Queues (list min 1 max 1, '(MQ) The name of the Amazon MQ broker destination queue "
        "to consume'); modelled constraints fail with ValidationException '1 validation error detected: ...'. "
        "Text for a missing Queues unconfirmed.",
        "_check_create_mapping",
    ),
    Rule(
        "esm-mq-basic-auth",
        "lambda:CreateEventSourceMapping, lambda:UpdateEventSourceMapping",
        "SourceAccessConfigurations hold exactly one BASIC_AUTH, naming a Secrets Manager secret that exists.",
        "Lambda guide 'Using Lambda with Amazon MQ' (https://docs.aws.amazon.com/lambda/latest/dg/with-mq.html); "
        f"{LAMBDA_API_MODEL}: SourceAccessConfiguration.Type ('BASIC_AUTH - (Amazon MQ) The Secrets Manager "
        "secret that stores your broker credentials'). Text unconfirmed.",
        "_check_access_configurations",
    ),
    Rule(
        "esm-mq-access-types",
        "lambda:CreateEventSourceMapping, lambda:UpdateEventSourceMapping",
        "A RabbitMQ mapping takes BASIC_AUTH and at most one VIRTUAL_HOST; every other type (VPC_SUBNET, "
        "SASL_*, CLIENT_CERTIFICATE_TLS_AUTH, ...) belongs to Kafka.",
        f"{LAMBDA_API_MODEL}: SourceAccessConfiguration.Type. Text unconfirmed.",
        "_check_access_configurations",
    ),
    Rule(
        "esm-mq-batch-size",
        "lambda:CreateEventSourceMapping, lambda:UpdateEventSourceMapping",
        "BatchSize is 1-10,000 (default 100).",
        f"{LAMBDA_API_MODEL}: BatchSize (min 1 max 10000; 'Amazon MQ (ActiveMQ and RabbitMQ) - Default 100. Max "
        "10,000'); error format of modelled constraints: ValidationException '1 validation error detected: "
        "Value ... at 'batchSize' failed to satisfy constraint: ...'.",
        "_check_bounds",
    ),
    Rule(
        "esm-mq-batching-window",
        "lambda:CreateEventSourceMapping, lambda:UpdateEventSourceMapping",
        "MaximumBatchingWindowInSeconds is 0-300 (for Amazon MQ the default is 500 ms, which the integer field "
        "cannot express again once changed).",
        f"{LAMBDA_API_MODEL}: MaximumBatchingWindowInSeconds (min 0 max 300; 'For ... Amazon MQ ... the default "
        "batching window is 500 ms').",
        "_check_bounds",
    ),
    Rule(
        "esm-mq-no-starting-position",
        "lambda:CreateEventSourceMapping",
        "Amazon MQ mappings take no StartingPosition (a stream setting).",
        f"{LAMBDA_API_MODEL}: StartingPosition ('Required for Amazon Kinesis and Amazon DynamoDB Stream event "
        "sources', AT_TIMESTAMP for streams and Kafka only). Text unconfirmed.",
        "_check_create_mapping",
    ),
    Rule(
        "esm-mq-update-no-virtual-host",
        "lambda:UpdateEventSourceMapping",
        "An update may not name VIRTUAL_HOST at all, changed or not: a new vhost needs a new mapping.",
        f"{LAMBDA_API_MODEL}: SourceAccessConfiguration.Type ('VIRTUAL_HOST ... This property cannot be specified "
        "in an UpdateEventSourceMapping API call'); field report 'Invalid parameters: VIRTUAL_HOST' on every "
        "update of an unchanged mapping: https://github.com/serverless/serverless/issues/11733. Text unconfirmed.",
        "_check_access_configurations",
    ),
    Rule(
        "lambda-powertools-layer",
        "lambda:CreateFunction, lambda:UpdateFunctionConfiguration",
        "A public Powertools for AWS Lambda (Python) V3 layer matches the function's region, runtime and "
        "architecture (a wrong one does not exist there, or breaks imports).",
        "Powertools for AWS Lambda (Python) docs, 'Lambda Layer' "
        "(https://docs.powertools.aws.dev/lambda/python/latest/#lambda-layer): "
        "arn:aws:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-{python3.x}-{arch}:{version}. "
        "Text unconfirmed.",
        "_check_public_layers",
    ),
    Rule(
        "lambda-invoke-json-payload",
        "lambda:Invoke",
        "The payload of an invocation is JSON: InvalidRequestContentException 'Could not parse request body "
        "into json', HTTP 400.",
        f"{LAMBDA_API_MODEL}: Invoke errors, InvalidRequestContentException ('The request body could not be "
        "parsed as JSON'). Text unconfirmed.",
        "_record_invocations",
    ),
    Rule(
        "events-rate-expression",
        "events:PutRule",
        "A rate expression is rate(<positive integer> <unit>), the unit singular for 1 and plural above: "
        "rate(1 minute), rate(5 minutes); rate(1 minutes) and rate(5 minute) are refused: ValidationException "
        "'Parameter ScheduleExpression is not valid.' (moto accepts both).",
        "EventBridge guide 'Rate expressions reference' "
        "(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rate-expressions.html), Limitations. "
        "Text: moto's message for other invalid expressions; AWS's own unconfirmed.",
        "_check_rate_expression",
    ),
    Rule(
        "secretsmanager-rotation-invoke-permission",
        "secretsmanager:RotateSecret",
        "Secrets Manager checks, when a rotation function is set, that the function's resource policy lets "
        "secretsmanager.amazonaws.com call lambda:InvokeFunction (and, with an aws:SourceAccount condition, from "
        "this account): AccessDeniedException otherwise (moto does not check).",
        "Secrets Manager guide 'Troubleshoot rotation' ('I get access denied when trying to configure rotation': "
        "'Secrets Manager checks the permissions of the function') and 'Permissions for rotation' "
        "(https://docs.aws.amazon.com/secretsmanager/latest/userguide/"
        "rotating-secrets-required-permissions-function.html). Exact text unconfirmed.",
        "_check_rotation_permission",
    ),
    Rule(
        "lambda-description-length",
        "lambda:CreateFunction, lambda:UpdateFunctionConfiguration",
        "A function's Description holds at most 256 characters: ValidationException '1 validation error detected: "
        "Value '...' at 'description' failed to satisfy constraint: Member must have length less than or equal to "
        "256' (moto accepts any length).",
        f"{LAMBDA_API_MODEL}: Description (string, max 256); error format of modelled constraints as for BatchSize. "
        "Text unconfirmed.",
        "_check_function_description",
    ),
    Rule(
        "ec2-security-group-description",
        "ec2:CreateSecurityGroup",
        "A security group's description is at most 255 characters of a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$* "
        "(no apostrophe, no character beyond ASCII): InvalidParameterValue 'Invalid security group description. "
        "Valid descriptions are strings less than 256 characters from the following set:  "
        "a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*' (moto accepts anything; the provider checks nothing at plan time).",
        f"{EC2_API_REFERENCE}/API_CreateSecurityGroup.html (GroupDescription: 'Valid characters: a-z, A-Z, 0-9, "
        "spaces, and ._-:/()#,@[]+=&;{}!$*'); exact text: field report "
        "https://github.com/cds-snc/notification-terraform/pull/561.",
        "_check_group_description",
    ),
    Rule(
        "ec2-security-group-rule-description",
        "ec2:AuthorizeSecurityGroupIngress, ec2:AuthorizeSecurityGroupEgress, ec2:ModifySecurityGroupRules",
        "A security group rule's description (of an IP range, a referenced group or a prefix list) is at most 255 "
        "characters of the same set: InvalidParameterValue 'Invalid rule description. Valid descriptions are "
        "strings less than 256 characters from the following set:  a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*'. The "
        "aws_vpc_security_group_*_rule resources send it unchecked.",
        f"{EC2_API_REFERENCE}/API_IpRange.html and API_UserIdGroupPair.html (Description: 'Allowed characters are "
        "a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*'); exact text from AuthorizeSecurityGroupIngress for an "
        "aws_vpc_security_group_ingress_rule: field report "
        "https://github.com/agentic-community/mcp-gateway-registry/pull/1728 (also "
        "https://github.com/aws-cloudformation/cfn-lint/issues/173). Text for ModifySecurityGroupRules unconfirmed.",
        "_check_rule_description",
    ),
    Rule(
        "ec2-endpoint-private-dns-conflict",
        "ec2:CreateVpcEndpoint",
        "A VPC holds at most one interface endpoint with private DNS per service: InvalidParameter "
        "'private-dns-enabled cannot be set because there is already a conflicting DNS domain for "
        "<service>.<region>.amazonaws.com in the VPC <vpc-id>' (moto creates the second one).",
        "Field report (exact text): https://github.com/hashicorp/terraform-provider-aws/issues/17535; "
        f"{EC2_API_REFERENCE}/API_CreateVpcEndpoint.html (PrivateDnsEnabled: a private hosted zone for the "
        "service's default DNS name).",
        "_check_endpoint_private_dns",
    ),
    Rule(
        "ec2-endpoint-private-dns-vpc-attributes",
        "ec2:CreateVpcEndpoint",
        "An interface endpoint with private DNS needs the VPC's enableDnsSupport and enableDnsHostnames: "
        "InvalidParameter 'Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC attributes "
        "set to true for <vpc-id>' (moto creates it).",
        f"{EC2_API_REFERENCE}/API_CreateVpcEndpoint.html (PrivateDnsEnabled: 'To use a private hosted zone, you "
        "must set the following VPC attributes to true: enableDnsHostnames and enableDnsSupport'); text: the GuardDuty "
        "User Guide's runtime coverage troubleshooting for Amazon ECS, 'VPC Endpoint Creation Failed' (quoted from "
        "EC2 with status 400; its page address not checked). Error code unconfirmed.",
        "_check_endpoint_private_dns",
    ),
    Rule(
        "cloudwatch-dashboard-body",
        "cloudwatch:PutDashboard",
        "DashboardBody is a JSON object with a widgets array (0-500); each widget has a type and properties, x "
        "0-23, width 1-24, height 1-1000; a metric widget has a region and metrics arrays of namespace, metric "
        "name and dimension name/value pairs with an optional options object last; an alarm widget lists alarm "
        "ARNs. InvalidParameterInput with DashboardValidationMessages otherwise (moto stores any string).",
        "CloudWatch API Reference 'Dashboard Body Structure and Syntax' "
        "(https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html) "
        "and PutDashboard. Text unconfirmed.",
        "_check_dashboard_body",
    ),
    Rule(
        "cloudwatch-alarm-metric-queries",
        "cloudwatch:PutMetricAlarm",
        "An alarm on metric math holds at most 20 metric data queries, at most 10 of them with a MetricStat (a "
        "metric to read) and exactly one returning data: ValidationError otherwise (moto stores any number). "
        "What bounds the shards whose metrics one alarm adds up (shard_count).",
        "CloudWatch API Reference, MetricDataQuery (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/"
        "API_MetricDataQuery.html: 'A single PutMetricAlarm call can include up to 20 MetricDataQuery structures in "
        "the array. The 20 structures can include as many as 10 structures that contain a MetricStat parameter ... "
        "Of those Expression structures, one must have true as the value for ReturnData'). Text unconfirmed.",
        "_check_alarm_metric_queries",
    ),
    Rule(
        "dynamodb-batch-get-100-keys",
        "dynamodb:BatchGetItem",
        'At most 100 keys in one BatchGetItem: ValidationException "1 validation error detected: Value at '
        "'requestItems.<table>.member.keys' failed to satisfy constraint: Member must have length less than or equal "
        "to 100\" for one table, 'Too many items requested for the BatchGetItem call' across tables (moto 5.2 "
        "refuses both too).",
        f"{DYNAMODB_API}/API_BatchGetItem.html ('as many as 100 items'; 'If you request more than 100 items, "
        f'BatchGetItem returns a ValidationException with the message "Too many items requested for the '
        f"BatchGetItem call.\"'); {DYNAMODB_QUOTAS}; the two texts: https://github.com/getmoto/moto/issues/3046 "
        "(checked against DynamoDB by moto's maintainer).",
        "_check_batch_get_item",
    ),
    Rule(
        "dynamodb-batch-get-duplicate-keys",
        "dynamodb:BatchGetItem",
        "No key twice in one BatchGetItem: ValidationException 'Provided list of item keys contains duplicates' "
        "(moto 5.2 refuses it too).",
        "Field report (exact text): https://github.com/boto/boto3/issues/4131; "
        "https://github.com/scylladb/scylladb/issues/10757 (DynamoDB refuses it, though the API reference does not "
        "say so).",
        "_check_batch_get_item",
    ),
    Rule(
        "dynamodb-batch-write-25-requests",
        "dynamodb:BatchWriteItem",
        'At most 25 put or delete requests in one BatchWriteItem: ValidationException "1 validation error detected: '
        "Value '{<table>=[com.amazonaws.dynamodb.v20120810.WriteRequest@<hash>, ...]}' at 'requestItems' failed to "
        "satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, "
        'Member must have length greater than or equal to 1]" (moto 5.2 writes any number).',
        f"{DYNAMODB_API}/API_BatchWriteItem.html ('as many as 25 put or delete requests'; 'There are more than "
        f"25 requests in the batch'); {DYNAMODB_QUOTAS}; exact text: field reports "
        "https://github.com/boto/boto3/issues/483 and "
        "https://github.com/elegantdevelopment/aws-cdk-dynamodb-seeder/issues/3.",
        "_check_batch_write_item",
    ),
    Rule(
        "dynamodb-batch-write-one-request-per-item",
        "dynamodb:BatchWriteItem",
        "No two requests on one item (same key) in one BatchWriteItem, whatever their other attributes, a put and "
        "a delete included: ValidationException 'Provided list of item keys contains duplicates' (moto 5.2 refuses "
        "only two identical puts or two identical deletes).",
        f"{DYNAMODB_API}/API_BatchWriteItem.html ('You try to perform multiple operations on the same item in the "
        "same BatchWriteItem request. For example, you cannot put and delete the same item'); exact text for puts "
        "of one key with other attributes: https://github.com/boto/boto3/pull/605 (a maintainer's comment) and "
        "https://github.com/feast-dev/feast/issues/2483; for a put and a delete unconfirmed.",
        "_check_batch_write_item",
    ),
    Rule(
        "dynamodb-item-size",
        "dynamodb:BatchWriteItem",
        "An item is at most 400 KB (409,600 bytes: attribute names' UTF-8 length plus values' sizes): "
        "ValidationException 'Item size has exceeded the maximum allowed size'. Moto 5.2 refuses items over "
        "405,000 bytes of its own measure, a little stricter than DynamoDB.",
        f"{DYNAMODB_QUOTAS} ('Item size'); developer guide 'Item sizes and formats' "
        "(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html); exact "
        "text: field reports https://github.com/wcmc-its/ReCiter/issues/205 and "
        "https://github.com/amazon-archives/aws-dynamodb-session-tomcat/issues/4.",
        "_check_batch_write_item",
    ),
    Rule(
        "dynamodb-partition-key-size",
        "dynamodb:BatchGetItem, dynamodb:BatchWriteItem",
        "A partition key value is at most 2048 bytes (UTF-8), read or written: ValidationException 'One or more "
        "parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes' (no space "
        "before 2048, as DynamoDB writes it; moto 5.2 refuses writes too, not reads).",
        f"{DYNAMODB_QUOTAS} ('Partition key length': 'The maximum length is 2048 bytes'); exact text: field reports "
        "https://github.com/facebook/ThreatExchange/issues/1324 (a Query), "
        "https://github.com/nextauthjs/next-auth/issues/5827 (a read) and "
        "https://github.com/amazon-archives/dynamodb-janusgraph-storage-backend/issues/296 (a write).",
        "_check_key_sizes",
    ),
    Rule(
        "dynamodb-transaction-100-actions",
        "dynamodb:TransactWriteItems",
        "At most 100 actions in one TransactWriteItems (25 until September 2022): ValidationException "
        "\"1 validation error detected at 'transactItems' failed to satisfy constraint: Member must have length less "
        'than or equal to 100." (moto 5.2 refuses it too).',
        f"{DYNAMODB_API}/API_TransactWriteItems.html (TransactItems: 'Array Members: Minimum number of 1 item. "
        "Maximum number of 100 items'); https://aws.amazon.com/about-aws/whats-new/2022/09/"
        "amazon-dynamodb-supports-100-actions-per-transaction/. Text: moto's; DynamoDB's unconfirmed.",
        "_check_transact_write_items",
    ),
    Rule(
        "dynamodb-transaction-one-action-per-item",
        "dynamodb:TransactWriteItems",
        "No two actions of one transaction on one item: ValidationException 'Transaction request cannot include "
        "multiple operations on one item' (moto 5.2 refuses it too).",
        f"{DYNAMODB_API}/API_TransactWriteItems.html ('no two actions can target the same item'). Text: moto's; "
        "DynamoDB's unconfirmed.",
        "_check_transact_write_items",
    ),
)

# What AWS returns or does by itself where moto would differ; no request can break these, so the
# tests observe them instead.
BEHAVIOURS: tuple[Rule, ...] = (
    Rule(
        "ec2-rule-description-returned",
        "ec2:DescribeSecurityGroupRules",
        "Each rule comes back with its Description, whatever it references: an IP range, or another security group "
        "(moto returns an IP range's only, so every re-plan of a group-to-group aws_vpc_security_group_*_rule would "
        "add its description again).",
        f"{EC2_API_REFERENCE}/API_SecurityGroupRule.html (SecurityGroupRule: Description, 'The security group rule "
        "description', beside CidrIpv4, CidrIpv6, PrefixListId and ReferencedGroupInfo).",
        "_describe_rule_descriptions",
    ),
    Rule(
        "mq-describe-no-users",
        "mq:DescribeBroker, mq:ListUsers",
        "DescribeBroker never returns RabbitMQ users (an empty list), so Terraform cannot see user drift; the "
        "provider suppresses user diffs once the broker exists.",
        "https://github.com/aws/aws-sdk/issues/32 and https://github.com/aws/aws-sdk-go/issues/3625; "
        f"{MQ_API_MODEL}: UserSummary 'Does not apply to RabbitMQ brokers'; provider "
        "internal/service/mq/broker.go (user DiffSuppressFunc).",
        "_store_no_rabbitmq_users",
    ),
    Rule(
        "mq-broker-identity",
        "mq:CreateBroker, mq:DescribeBroker",
        "Broker id 'b-<uuid>'; ARN arn:aws:mq:<region>:<account>:broker:<name>:<id>; a RabbitMQ broker has one "
        "endpoint, amqps://<id>.mq.<region>.amazonaws.com:5671, and console https://<id>.mq.<region>.amazonaws.com "
        "(moto: a 6-hex id, an ARN without the name, amqps://mockmq:5671).",
        "DescribeBroker output quoted in https://github.com/aws/aws-sdk/issues/32; Amazon MQ guide 'Broker' "
        f"({MQ_GUIDE}/broker.html: ARN format).",
        "_shape_rabbitmq_broker",
    ),
    Rule(
        "mq-update-pending-until-reboot",
        "mq:UpdateBroker, mq:RebootBroker",
        "A new engine version or host instance type is pending (PendingEngineVersion, PendingHostInstanceType) "
        "until the broker reboots; DescribeBroker reports the old value until then.",
        f"Amazon MQ guide 'In-place upgrade from RabbitMQ 3 to 4' ('set the pending engine version ... Reboot the "
        f"broker to apply'), 'Upgrading an Amazon MQ broker instance type' ({MQ_GUIDE}/upgrading-instance-type.html); "
        "provider broker.go reboots only with apply_immediately.",
        "_hold_changes_until_reboot",
    ),
    Rule(
        "lambda-invoke-recorded",
        "lambda:Invoke",
        "Moto cannot run a function without Docker. The double records every synchronous Invoke (function and "
        "payload, in INVOCATIONS) and answers as a function that returned {} would: 200 with no function error. "
        "The function's own behaviour is tested against a real broker (tests/test_bootstrap*.py), not here; only "
        "what a run leaves in AWS that the rest of the apply meets runs for real (INVOCATION_EFFECTS, given the "
        "payload and the function's environment: the bootstrap stores the users' secrets, which the secret "
        "rotations then find).",
        f"{LAMBDA_API_MODEL}: Invoke (RequestResponse returns the function's result with status 200; "
        "X-Amz-Function-Error only when the function failed).",
        "_record_invocations",
    ),
    Rule(
        "lambda-vpc-config-vpc-id",
        "lambda:CreateFunction, lambda:GetFunctionConfiguration",
        "A function's VpcConfig.VpcId is the VPC of its subnets (moto reports a fixed 'vpc-123abc', so the "
        "provider's replace_security_groups_on_destroy cannot find that VPC's default security group).",
        f"{LAMBDA_API_MODEL}: VpcConfigResponse.VpcId 'The ID of the VPC'.",
        "_report_function_vpc",
    ),
    Rule(
        "esm-mq-defaults",
        "lambda:CreateEventSourceMapping, lambda:UpdateEventSourceMapping",
        "An Amazon MQ mapping defaults to BatchSize 100 and has no StartingPosition (moto would say TRIM_HORIZON); "
        "an update leaves the mapping's VIRTUAL_HOST as it was.",
        f"{LAMBDA_API_MODEL}: BatchSize, StartingPosition, SourceAccessConfiguration.Type.",
        "_accept_amazon_mq_event_sources",
    ),
    Rule(
        "dynamodb-unprocessed",
        "dynamodb:BatchGetItem, dynamodb:BatchWriteItem",
        "What a batch call could not do comes back, not as an error: BatchGetItem's keys past 16 MB of response or "
        "throttled as UnprocessedKeys (each table's keys with the request's ConsistentRead, ProjectionExpression "
        "and ExpressionAttributeNames), BatchWriteItem's throttled requests as UnprocessedItems. Moto leaves keys "
        "past 16 MB unprocessed itself (without the request's attributes: the double adds them) but never "
        "throttles; the double throttles the calls a test asks it to (DYNAMODB_THROTTLE).",
        f"{DYNAMODB_API}/API_BatchGetItem.html (UnprocessedKeys, KeysAndAttributes: 'If you request more than 16 "
        f"MB ... returns a partial result'); {DYNAMODB_API}/API_BatchWriteItem.html (UnprocessedItems: 'If "
        "DynamoDB returns any unprocessed items, you should retry the batch operation on those items ... with "
        "exponential backoff').",
        "_throttle_batches",
    ),
)

# Amazon MQ instance types for RabbitMQ (sizing guidelines and default resource limits pages).
M5_TYPES = frozenset(f"mq.m5.{size}" for size in ("large", "xlarge", "2xlarge", "4xlarge"))
M7G_TYPES = frozenset(
    f"mq.m7g.{size}" for size in ("medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")
)
RABBITMQ_INSTANCE_TYPES = M5_TYPES | M7G_TYPES

# Newest first, as AWS lists valid values; each version's only in-place upgrade target.
RABBITMQ_ENGINE_VERSIONS = ("4.3", "4.2", "3.13")
RABBITMQ_UPGRADES = {"3.13": "4.2", "4.2": "4.3"}

RABBITMQ_USERNAME = re.compile(r"^[A-Za-z0-9._-]{2,100}$")
MQ_ACCESS_TYPES = frozenset({"BASIC_AUTH", "VIRTUAL_HOST"})

POWERTOOLS_ACCOUNT = "017000801446"
POWERTOOLS_LAYER = re.compile(
    r"^arn:aws:lambda:(?P<region>[a-z0-9-]+):017000801446:layer:"
    r"AWSLambdaPowertoolsPythonV3-(?P<runtime>python3\d+)-(?P<arch>arm64|x86_64):(?P<version>\d+)$"
)


def extend_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Install every patch that makes moto as strict as AWS on `RULES` and as AWS-like on `BEHAVIOURS`."""
    _strict_amazon_mq(monkeypatch)
    _accept_amazon_mq_event_sources(monkeypatch)
    _accept_public_powertools_layers(monkeypatch)
    _record_invocations(monkeypatch)
    _report_function_vpc(monkeypatch)
    _strict_function_descriptions(monkeypatch)
    _strict_ec2(monkeypatch)
    _describe_rule_descriptions(monkeypatch)
    _strict_schedules_rotation_and_dashboards(monkeypatch)
    _strict_dynamodb(monkeypatch)


# --------------------------------------------------------------------------------------------
# Amazon MQ
# --------------------------------------------------------------------------------------------


def _bad_request(message: str, attribute: str) -> Exception:
    """Amazon MQ's error: BadRequestException (HTTP 400) with the offending request attribute."""
    from moto.mq.exceptions import BadRequestException

    error = BadRequestException(message)
    error.error_attribute = attribute  # type: ignore[attr-defined]  # serialized as errorAttribute
    return error


def _is_rabbitmq(engine_type: str | None) -> bool:
    return (engine_type or "").upper() == "RABBITMQ"


def _check_create_broker(request: Mapping[str, Any]) -> None:
    """CreateBroker for RabbitMQ, checked in the order a request's mistakes are most telling."""
    if request["deployment_mode"] not in ("SINGLE_INSTANCE", "CLUSTER_MULTI_AZ"):
        raise _bad_request(
            f"Broker engine type [RabbitMQ] does not support deployment mode [{request['deployment_mode']}].",
            "deploymentMode",
        )
    _check_instance_type(request["engine_version"], request["host_instance_type"], current=None)
    _check_engine_version(request["engine_version"], current=None)
    _check_auto_minor_version_upgrade(request["engine_version"], request["auto_minor_version_upgrade"])
    _check_logs(request["logs"])
    _check_network(request)
    _check_users(request["users"])


def _check_engine_version(version: str, current: str | None) -> None:
    if version not in RABBITMQ_ENGINE_VERSIONS:
        raise _bad_request(
            f"Broker engine version [{version}] is invalid for broker engine type [RABBITMQ]. "
            f"Valid values: [{', '.join(RABBITMQ_ENGINE_VERSIONS)}].",
            "engineVersion",
        )
    if current is None or version == current:
        return
    if RABBITMQ_ENGINE_VERSIONS.index(version) > RABBITMQ_ENGINE_VERSIONS.index(current):
        raise _bad_request(
            f"Downgrading from current engine version [{current}] to requested engine version [{version}] is not "
            "supported for RabbitMQ brokers.",
            "engineVersion",
        )
    if RABBITMQ_UPGRADES.get(current) != version:
        raise _bad_request(
            f"Upgrading from current engine version [{current}] to requested engine version [{version}] is not "
            f"supported for RabbitMQ brokers. Upgrade to [{RABBITMQ_UPGRADES[current]}] first.",
            "engineVersion",
        )


def _check_instance_type(version: str, instance_type: str, current: str | None) -> None:
    if instance_type not in RABBITMQ_INSTANCE_TYPES:
        if current is not None:
            raise _bad_request(
                f"Downgrading from current instance type [{current}] to requested instance type [{instance_type}] "
                "is not supported for RabbitMQ brokers.",
                "hostInstanceType",
            )
        raise _bad_request(
            f"Broker engine type [RabbitMQ] does not support host instance type [{instance_type}]",
            "hostInstanceType",
        )
    if version.startswith("4.") and instance_type not in M7G_TYPES:
        raise _bad_request(
            f"Broker engine version [{version}] does not support host instance type [{instance_type}]. "
            "RabbitMQ 4 runs on mq.m7g instance types only.",
            "hostInstanceType",
        )


def _check_auto_minor_version_upgrade(version: str, enabled: bool) -> None:
    if not enabled:  # every offered version is 3.13 or later
        raise _bad_request(
            f"Brokers on [RabbitMQ] version [{version}] must have [autoMinorVersionUpgrade] set to [true].",
            "autoMinorVersionUpgrade",
        )


def _check_logs(logs: Mapping[str, Any] | None) -> None:
    if logs and logs.get("Audit") is not None:
        raise _bad_request("Audit logging is not supported for RabbitMQ brokers.", "logs")


def _check_network(request: Mapping[str, Any]) -> None:
    public, mode = bool(request["publicly_accessible"]), request["deployment_mode"]
    subnets: Sequence[str] = request["subnet_ids"] or []
    if public and request["security_groups"]:
        raise _bad_request(
            "Broker with [publiclyAccessible] set to true does not support specifying [securityGroups]",
            "securityGroups",
        )
    if mode == "SINGLE_INSTANCE" and (len(subnets) > 1 or (not public and len(subnets) != 1)):
        raise _bad_request(
            f"Specify exactly one subnet for deployment mode [SINGLE_INSTANCE]; {len(subnets)} given.", "subnetIds"
        )
    if mode == "CLUSTER_MULTI_AZ" and not public and not subnets:
        raise _bad_request(
            "Specify at least one subnet for a broker of deployment mode [CLUSTER_MULTI_AZ] without public "
            "accessibility.",
            "subnetIds",
        )
    _check_subnets(request["account_id"], request["region"], subnets)


def _check_subnets(account_id: str, region: str, subnet_ids: Sequence[str]) -> None:
    from moto.ec2.models import ec2_backends

    ec2 = ec2_backends[account_id][region]
    found = {subnet.id: subnet for subnet in ec2.describe_subnets()}
    missing = [subnet_id for subnet_id in subnet_ids if subnet_id not in found]
    if missing:
        raise _bad_request(f"Subnet [{missing[0]}] does not exist.", "subnetIds")
    subnets = [found[subnet_id] for subnet_id in subnet_ids]
    if len({subnet.vpc_id for subnet in subnets}) > 1:
        raise _bad_request("Subnets must belong to the same VPC.", "subnetIds")
    if len({subnet.availability_zone for subnet in subnets}) < len(subnets):
        raise _bad_request("Subnets must be in different Availability Zones.", "subnetIds")


def _check_users(users: Sequence[Mapping[str, Any]]) -> None:
    if len(users) != 1:
        raise _bad_request("Specify exactly one user for engine type [RABBITMQ].", "users")
    username, password = users[0].get("Username") or "", users[0].get("Password") or ""
    if username.lower() == "guest":
        raise _bad_request("Username [guest] is not allowed for RabbitMQ brokers.", "username")
    if not RABBITMQ_USERNAME.match(username):
        raise _bad_request(
            "Username is invalid. Enter a username 2 to 100 characters long that contains only letters, numbers, "
            "dashes, periods and underscores.",
            "username",
        )
    if not 12 <= len(password) <= 250:
        raise _bad_request("Password is invalid. Enter a password 12 to 250 characters long.", "password")
    if re.search(r"[,:=]", password):
        raise _bad_request("Make sure your password doesn't contain invalid characters [, :=].", "password")
    if len(set(password)) < 4:
        raise _bad_request("Password is invalid. Enter a password with at least 4 unique characters.", "password")


def _check_update_broker(broker: Any, request: Mapping[str, Any]) -> None:
    """UpdateBroker for a RabbitMQ broker, judged against the state it will reach (pending changes too)."""
    version = broker.pending_engine_version or broker.engine_version
    instance_type = broker.pending_host_instance_type or broker.host_instance_type
    groups = request.get("security_groups")
    if groups and sorted(groups) != sorted(broker.security_groups or []):
        raise _bad_request("Changing security groups is not supported for RabbitMQ brokers.", "securityGroups")
    if request.get("engine_version"):
        _check_engine_version(request["engine_version"], current=version)
        version = request["engine_version"]
    instance_type = request.get("host_instance_type") or instance_type
    _check_instance_type(version, instance_type, current=broker.host_instance_type)
    enabled = request.get("auto_minor_version_upgrade")
    _check_auto_minor_version_upgrade(version, broker.auto_minor_version_upgrade if enabled is None else enabled)
    _check_logs(request.get("logs"))


def _refuse_rabbitmq_user_api(broker: Any) -> None:
    from moto.mq.exceptions import ConflictException

    if _is_rabbitmq(broker.engine_type):
        raise ConflictException(
            "The users API does not apply to RabbitMQ brokers. To manage broker users, please use the RabbitMQ web "
            "console, or the management API."
        )


def _store_no_rabbitmq_users(broker: Any) -> None:
    broker._users.clear()


def _shape_rabbitmq_broker(broker: Any, account_id: str, region: str) -> None:
    from moto.moto_api._internal import mock_random
    from moto.utilities.utils import get_partition

    broker.id = f"b-{mock_random.uuid4()}"
    broker.arn = f"arn:{get_partition(region)}:mq:{region}:{account_id}:broker:{broker.name}:{broker.id}"
    host = f"{broker.id}.mq.{region}.amazonaws.com"
    for instance in broker.instances:
        instance.update(consoleURL=f"https://{host}", endpoints=[f"amqps://{host}:5671"])


def _hold_changes_until_reboot(broker: Any, engine_version: str | None, host_instance_type: str | None) -> None:
    if engine_version and engine_version != broker.engine_version:
        broker.pending_engine_version = engine_version
    if host_instance_type and host_instance_type != broker.host_instance_type:
        broker.pending_host_instance_type = host_instance_type


def _strict_amazon_mq(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wrap moto's MQ backend: RabbitMQ requests are checked first, then handed to moto unchanged."""
    from moto.mq import models as mq_models

    backend_class = mq_models.MQBackend
    broker_class = mq_models.Broker
    original_create = backend_class.create_broker
    original_update = backend_class.update_broker
    original_broker_init = broker_class.__init__
    original_broker_update = broker_class.update
    original_reboot = broker_class.reboot

    def create_broker(self: Any, **request: Any) -> tuple[str, str]:
        if _is_rabbitmq(request["engine_type"]):
            # The API's own defaults: the latest version, automatic minor upgrades on.
            request["engine_version"] = request["engine_version"] or RABBITMQ_ENGINE_VERSIONS[0]
            if request["auto_minor_version_upgrade"] is None:
                request["auto_minor_version_upgrade"] = True
            _check_create_broker({**request, "account_id": self.account_id, "region": self.region_name})
        result: tuple[str, str] = original_create(self, **request)
        return result

    def update_broker(self: Any, **request: Any) -> None:
        broker = self.describe_broker(request["broker_id"])
        if _is_rabbitmq(broker.engine_type):
            _check_update_broker(broker, request)
        original_update(self, **request)

    def broker_init(self: Any, **kwargs: Any) -> None:
        original_broker_init(self, **kwargs)
        self.pending_engine_version = None
        self.pending_host_instance_type = None
        if _is_rabbitmq(self.engine_type):
            _store_no_rabbitmq_users(self)
            _shape_rabbitmq_broker(self, kwargs["account_id"], kwargs["region"])

    def broker_update(self: Any, **changes: Any) -> None:
        if _is_rabbitmq(self.engine_type):
            _hold_changes_until_reboot(self, changes.pop("engine_version"), changes.pop("host_instance_type"))
            changes.update(engine_version=None, host_instance_type=None)
        original_broker_update(self, **changes)

    def reboot(self: Any) -> None:
        original_reboot(self)
        self.engine_version = self.pending_engine_version or self.engine_version
        self.host_instance_type = self.pending_host_instance_type or self.host_instance_type
        self.pending_engine_version = self.pending_host_instance_type = None

    def user_call(name: str) -> Callable[..., Any]:
        original = getattr(backend_class, name)

        def call(self: Any, broker_id: str, *args: Any, **kwargs: Any) -> Any:
            _refuse_rabbitmq_user_api(self.describe_broker(broker_id))
            return original(self, broker_id, *args, **kwargs)

        return call

    monkeypatch.setattr(backend_class, "create_broker", create_broker)
    monkeypatch.setattr(backend_class, "update_broker", update_broker)
    for name in ("create_user", "update_user", "delete_user"):
        monkeypatch.setattr(backend_class, name, user_call(name))
    monkeypatch.setattr(broker_class, "__init__", broker_init)
    monkeypatch.setattr(broker_class, "update", broker_update)
    monkeypatch.setattr(broker_class, "reboot", reboot)


# --------------------------------------------------------------------------------------------
# Lambda: Amazon MQ event sources
# --------------------------------------------------------------------------------------------


def _invalid(message: str) -> Exception:
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError("InvalidParameterValueException", message)


def _validation(value: object, member: str, constraint: str) -> Exception:
    """Lambda's error for a value outside the API model's constraints."""
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError(
        "ValidationException",
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}",
    )


def _is_mq(arn: str | None) -> bool:
    return (arn or "").split(":")[2:3] == ["mq"]


def _check_bounds(spec: Mapping[str, Any]) -> None:
    for key, member, low, high in (
        ("BatchSize", "batchSize", 1, 10000),
        ("MaximumBatchingWindowInSeconds", "maximumBatchingWindowInSeconds", 0, 300),
    ):
        value = spec.get(key)
        if value is not None and value < low:
            raise _validation(value, member, f"Member must have value greater than or equal to {low}")
        if value is not None and value > high:
            raise _validation(value, member, f"Member must have value less than or equal to {high}")


def _check_access_configurations(
    account_id: str, region: str, configurations: Sequence[Mapping[str, str]], *, update: bool
) -> None:
    from moto.secretsmanager.models import secretsmanager_backends

    types = [c.get("Type") for c in configurations]
    if update and "VIRTUAL_HOST" in types:
        raise _invalid(
            "Invalid parameters: VIRTUAL_HOST. The virtual host of an Amazon MQ event source mapping cannot be "
            "specified in an update; create a new event source mapping."
        )
    unsupported = sorted({str(t) for t in types} - MQ_ACCESS_TYPES)
    if unsupported:
        raise _invalid(f"Unsupported source access configuration type for Amazon MQ (RabbitMQ): {unsupported[0]}.")
    if types.count("BASIC_AUTH") != 1:
        raise _invalid("Amazon MQ event sources need exactly one BASIC_AUTH source access configuration.")
    if types.count("VIRTUAL_HOST") > 1:
        raise _invalid("Amazon MQ event sources take at most one VIRTUAL_HOST source access configuration.")
    secret = next(c.get("URI") for c in configurations if c.get("Type") == "BASIC_AUTH")
    if not secret or not secretsmanager_backends[account_id][region].secrets.get(secret):
        raise _invalid(f"The BASIC_AUTH secret {secret} does not exist.")


def _check_create_mapping(account_id: str, region: str, spec: Mapping[str, Any]) -> None:
    from moto.mq.models import mq_backends

    arn = spec["EventSourceArn"]
    if arn.split(":")[-1] not in mq_backends[account_id][region].brokers:
        raise _invalid(f"The event source broker {arn} does not exist.")
    queues = spec.get("Queues")
    if not queues:
        if queues is None:
            raise _invalid("Queues is required for an Amazon MQ event source.")
        raise _validation("[]", "queues", "Member must have length greater than or equal to 1")
    if len(queues) > 1:
        raise _validation(f"[{', '.join(queues)}]", "queues", "Member must have length less than or equal to 1")
    if spec.get("StartingPosition"):
        raise _invalid("StartingPosition is not valid for Amazon MQ event sources.")
    _check_access_configurations(account_id, region, spec.get("SourceAccessConfigurations") or [], update=False)
    _check_bounds(spec)


def _accept_amazon_mq_event_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    """Moto's Lambda accepts only SQS, DynamoDB and Kinesis sources: accept an Amazon MQ broker ARN, with
    Lambda's rules for it, and make UpdateEventSourceMapping work for such mappings."""
    from moto.awslambda import models as lambda_models

    esm_class: Any = lambda_models.EventSourceMapping  # typed loosely: its properties are replaced below
    original_arn: property = esm_class.__dict__["event_source_arn"]
    original_batch_size: property = esm_class.__dict__["batch_size"]
    original_init = esm_class.__init__
    original_create = lambda_models.LambdaBackend.create_event_source_mapping
    original_update = lambda_models.LambdaBackend.update_event_source_mapping

    def set_event_source_arn(self: Any, arn: str) -> None:
        if _is_mq(arn):
            self._event_source_arn = arn
            return
        assert original_arn.fset is not None
        original_arn.fset(self, arn)

    def set_batch_size(self: Any, size: int | None) -> None:
        if not _is_mq(self.event_source_arn):
            assert original_batch_size.fset is not None
            original_batch_size.fset(self, size)
            return
        self._batch_size = 100 if size is None else int(size)  # bounds: _check_bounds

    def init(self: Any, spec: dict[str, Any]) -> None:
        original_init(self, spec)
        if _is_mq(self.event_source_arn):
            self.starting_position = None  # moto defaults non-SQS sources to TRIM_HORIZON

    def create_event_source_mapping(self: Any, spec: dict[str, Any]) -> Any:
        if not _is_mq(spec.get("EventSourceArn")):
            return original_create(self, spec)
        _check_create_mapping(self.account_id, self.region_name, spec)
        function = self._lambdas.get_function_by_name_or_arn_with_qualifier(spec["FunctionName"])
        spec.update(RegionName=self.region_name, AccountId=self.account_id, FunctionArn=function.function_arn)
        esm = esm_class(spec)
        self._event_source_mappings[esm.uuid] = esm
        return esm

    def update_event_source_mapping(self: Any, uuid: str, spec: dict[str, Any]) -> Any:
        esm = self.get_event_source_mapping(uuid)
        if esm is None or not _is_mq(esm.event_source_arn):
            return original_update(self, uuid, spec)
        _check_bounds(spec)
        if "SourceAccessConfigurations" in spec:
            given = spec["SourceAccessConfigurations"] or []
            _check_access_configurations(self.account_id, self.region_name, given, update=True)
            kept = [c for c in esm.source_access_config or [] if c.get("Type") == "VIRTUAL_HOST"]
            spec["SourceAccessConfigurations"] = [*given, *kept]
        return original_update(self, uuid, spec)

    monkeypatch.setattr(esm_class, "event_source_arn", property(original_arn.fget, set_event_source_arn))
    monkeypatch.setattr(esm_class, "batch_size", property(original_batch_size.fget, set_batch_size))
    monkeypatch.setattr(esm_class, "__init__", init)
    monkeypatch.setattr(lambda_models.LambdaBackend, "create_event_source_mapping", create_event_source_mapping)
    monkeypatch.setattr(lambda_models.LambdaBackend, "update_event_source_mapping", update_event_source_mapping)


# --------------------------------------------------------------------------------------------
# Lambda: public Powertools layers
# --------------------------------------------------------------------------------------------


def _check_public_layers(function: Any, arns: Sequence[str]) -> None:
    runtime = (function.run_time or "").replace(".", "")
    for arn in arns:
        match = POWERTOOLS_LAYER.match(arn)
        if (
            not match
            or match["region"] != function.region
            or match["runtime"] != runtime
            or match["arch"] not in function.architectures
        ):
            raise _invalid(f"Layer {arn} does not exist for {function.region}, {runtime}, {function.architectures}")


def _accept_public_powertools_layers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Moto only knows layers published in its own account: accept the public Powertools layers of
    account 017000801446 when their region, runtime and architecture match the function."""
    from moto.awslambda import models as lambda_models

    function_class = lambda_models.LambdaFunction
    original_layers = function_class._get_layers_data
    original_function_init = function_class.__init__

    def get_layers_data(self: Any, arns: list[str]) -> list[dict[str, Any]]:
        public = [arn for arn in arns if f":{POWERTOOLS_ACCOUNT}:layer:" in arn]
        if hasattr(self, "architectures"):  # an update; on creation, function_init checks them
            _check_public_layers(self, public)
        others = [arn for arn in arns if arn not in public]
        found: list[dict[str, Any]] = [{"Arn": arn, "CodeSize": 0} for arn in public]
        return found + ([dict(layer) for layer in original_layers(self, others)] if others else [])

    def function_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_function_init(self, *args, **kwargs)
        _check_public_layers(self, [layer["Arn"] for layer in self.layers if f":{POWERTOOLS_ACCOUNT}:" in layer["Arn"]])

    monkeypatch.setattr(function_class, "_get_layers_data", get_layers_data)
    monkeypatch.setattr(function_class, "__init__", function_init)


# --------------------------------------------------------------------------------------------
# Lambda: invocations, recorded instead of run
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invocation:
    function_name: str
    payload: Any


# Every synchronous invocation the double answered, oldest first (the moto server runs in the
# test process, so the tests read this list directly).
INVOCATIONS: list[Invocation] = []

# What a function's run leaves in AWS that later requests of the same apply meet, by handler,
# run with the payload and the function's environment variables after the invocation is
# recorded (the harness registers them).
INVOCATION_EFFECTS: dict[str, Callable[[Any, Mapping[str, str]], None]] = {}


def _record_invocations(monkeypatch: pytest.MonkeyPatch) -> None:
    """Moto would start the function in Docker; record the invocation and answer as a function that
    returned {} would."""
    import json

    from moto.awslambda import models as lambda_models
    from moto.core.exceptions import JsonRESTError

    def invoke(
        self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> bytes:
        function = self.get_function(function_name, qualifier)
        try:
            payload = json.loads(body or "{}")
        except ValueError:
            raise JsonRESTError("InvalidRequestContentException", "Could not parse request body into json") from None
        INVOCATIONS.append(Invocation(function.function_name, payload))
        effect = INVOCATION_EFFECTS.get(function.handler)
        if effect is not None:
            effect(payload, dict(function.environment_vars or {}))
        result = b"{}"
        response_headers["Content-Length"] = str(len(result))
        return result

    monkeypatch.setattr(lambda_models.LambdaBackend, "invoke", invoke)


def _report_function_vpc(monkeypatch: pytest.MonkeyPatch) -> None:
    """VpcConfig.VpcId from the function's subnets, as AWS reports it."""
    from moto.awslambda import models as lambda_models
    from moto.ec2.models import ec2_backends

    function_class: Any = lambda_models.LambdaFunction
    original: property = function_class.__dict__["vpc_config"]

    def vpc_config(self: Any) -> dict[str, Any] | None:
        config: dict[str, Any] | None = original.fget(self) if original.fget else None
        if config and config.get("SubnetIds"):
            subnet = ec2_backends[self.account_id][self.region].get_subnet(config["SubnetIds"][0])
            config["VpcId"] = subnet.vpc_id
        return config

    monkeypatch.setattr(function_class, "vpc_config", property(vpc_config))


# --------------------------------------------------------------------------------------------
# EventBridge schedules, Secrets Manager rotation, CloudWatch dashboards
# --------------------------------------------------------------------------------------------

RATE_EXPRESSION = re.compile(r"^rate\((?P<value>[1-9][0-9]*) (?P<unit>minute|hour|day)(?P<plural>s?)\)$")


def _check_rate_expression(expression: str | None) -> None:
    from moto.events.exceptions import ValidationException

    if not expression or not expression.startswith("rate("):
        return  # cron(...) and event patterns: moto's own checks
    match = RATE_EXPRESSION.match(expression)
    if match is None or (match["value"] == "1") == bool(match["plural"]):
        raise ValidationException("Parameter ScheduleExpression is not valid.")


def _check_rotation_permission(account_id: str, region: str, function_arn: str) -> None:
    import json

    from moto.awslambda.utils import get_backend
    from moto.core.exceptions import JsonRESTError

    denied = JsonRESTError(
        "AccessDeniedException",
        "Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants "
        "access to the principal secretsmanager.amazonaws.com.",
    )
    try:
        # GetPolicy's wire format: {"Policy": "<the policy document as a string>", "RevisionId": ...}
        policy = json.loads(json.loads(get_backend(account_id, region).get_policy(function_arn, None))["Policy"])
    except Exception:
        raise denied from None
    for statement in policy.get("Statement", []):
        principal = statement.get("Principal") or {}
        service = principal.get("Service") if isinstance(principal, dict) else principal
        source_account = (statement.get("Condition") or {}).get("StringEquals", {}).get("AWS:SourceAccount")
        if (
            statement.get("Effect") == "Allow"
            and service == "secretsmanager.amazonaws.com"
            and statement.get("Action") in ("lambda:InvokeFunction", ["lambda:InvokeFunction"])
            and source_account in (None, account_id)
        ):
            return
    raise denied


DASHBOARD_WIDGET_TYPES = frozenset({"metric", "text", "log", "alarm", "explorer"})


def _dashboard_problems(body: str) -> list[str]:
    import json

    try:
        dashboard = json.loads(body)
    except ValueError:
        return ["The dashboard body is not valid JSON"]
    widgets = dashboard.get("widgets") if isinstance(dashboard, dict) else None
    if not isinstance(widgets, list) or len(widgets) > 500:
        return ["Should have a widgets array of at most 500 widgets"]
    problems: list[str] = []
    for index, widget in enumerate(widgets):
        at = f"/widgets/{index}"
        properties = widget.get("properties")
        if widget.get("type") not in DASHBOARD_WIDGET_TYPES or not isinstance(properties, dict):
            problems.append(f"{at}: should have a type of {sorted(DASHBOARD_WIDGET_TYPES)} and properties")
            continue
        for key, low, high in (("x", 0, 23), ("width", 1, 24), ("height", 1, 1000)):
            if key in widget and not (isinstance(widget[key], int) and low <= widget[key] <= high):
                problems.append(f"{at}/{key}: should be an integer from {low} to {high}")
        if widget["type"] == "metric":
            if not properties.get("region"):
                problems.append(f"{at}/properties/region: required for a metric widget")
            for line, metric in enumerate(properties.get("metrics") or [None]):
                fields = metric[:-1] if metric and isinstance(metric[-1], dict) else metric
                if not fields or len(fields) < 2 or len(fields) % 2 or not all(isinstance(f, str) for f in fields):
                    problems.append(f"{at}/properties/metrics/{line}: should be namespace, metric name, pairs")
        if widget["type"] == "alarm":
            alarms = properties.get("alarms")
            if not alarms or not all(str(arn).startswith("arn:aws:cloudwatch:") for arn in alarms):
                problems.append(f"{at}/properties/alarms: should list alarm ARNs")
    return problems


def _check_dashboard_body(body: str) -> None:
    from moto.cloudwatch.exceptions import DashboardInvalidInputError

    problems = _dashboard_problems(body)
    if problems:
        raise DashboardInvalidInputError("The field DashboardBody is invalid: " + "; ".join(problems))


# PutMetricAlarm's bounds on an alarm on metric math (MetricDataQuery, CloudWatch API Reference).
ALARM_MAX_QUERIES, ALARM_MAX_METRIC_STATS = 20, 10


def _check_alarm_metric_queries(queries: Sequence[Any] | None) -> None:
    from moto.cloudwatch.exceptions import ValidationError

    if not queries:
        return
    stats = sum(1 for query in queries if query.metric_stat)
    returned = sum(1 for query in queries if str(query.return_data).lower() == "true")
    if len(queries) > ALARM_MAX_QUERIES or stats > ALARM_MAX_METRIC_STATS or returned != 1:
        raise ValidationError(
            f"An alarm takes at most {ALARM_MAX_QUERIES} metric data queries, at most {ALARM_MAX_METRIC_STATS} of "
            f"them with a MetricStat, and exactly one with ReturnData true: got {len(queries)} queries, {stats} "
            f"MetricStat, {returned} returning data"
        )


def _strict_schedules_rotation_and_dashboards(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.cloudwatch.models import CloudWatchBackend
    from moto.events.models import EventsBackend
    from moto.secretsmanager.models import SecretsManagerBackend

    put_rule = EventsBackend.put_rule
    rotate_secret = SecretsManagerBackend.rotate_secret
    put_dashboard = CloudWatchBackend.put_dashboard
    put_metric_alarm = CloudWatchBackend.put_metric_alarm

    def strict_put_rule(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        _check_rate_expression(kwargs.get("scheduled_expression"))
        return put_rule(self, name, *args, **kwargs)

    def strict_rotate_secret(self: Any, secret_id: str, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("rotation_lambda_arn"):
            _check_rotation_permission(self.account_id, self.region_name, kwargs["rotation_lambda_arn"])
        return rotate_secret(self, secret_id, *args, **kwargs)

    def strict_put_dashboard(self: Any, name: str, body: str) -> Any:
        _check_dashboard_body(body)
        return put_dashboard(self, name, body)

    monkeypatch.setattr(EventsBackend, "put_rule", strict_put_rule)
    monkeypatch.setattr(SecretsManagerBackend, "rotate_secret", strict_rotate_secret)

    def strict_put_metric_alarm(self: Any, *args: Any, **kwargs: Any) -> Any:
        _check_alarm_metric_queries(kwargs.get("metric_data_queries"))
        return put_metric_alarm(self, *args, **kwargs)

    monkeypatch.setattr(CloudWatchBackend, "put_dashboard", strict_put_dashboard)
    monkeypatch.setattr(CloudWatchBackend, "put_metric_alarm", strict_put_metric_alarm)


# --------------------------------------------------------------------------------------------
# Lambda: function descriptions
# --------------------------------------------------------------------------------------------

LAMBDA_DESCRIPTION_MAX = 256


def _check_function_description(description: str | None) -> None:
    if description is not None and len(description) > LAMBDA_DESCRIPTION_MAX:
        raise _validation(
            description, "description", f"Member must have length less than or equal to {LAMBDA_DESCRIPTION_MAX}"
        )


def _strict_function_descriptions(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.awslambda import models as lambda_models

    backend = lambda_models.LambdaBackend
    create_function = backend.create_function
    update_configuration = backend.update_function_configuration

    def strict_create(self: Any, spec: dict[str, Any]) -> Any:
        _check_function_description(spec.get("Description"))
        return create_function(self, spec)

    def strict_update(self: Any, function_name: str, qualifier: str, body: dict[str, Any]) -> Any:
        _check_function_description(body.get("Description"))
        return update_configuration(self, function_name, qualifier, body)

    monkeypatch.setattr(backend, "create_function", strict_create)
    monkeypatch.setattr(backend, "update_function_configuration", strict_update)


# --------------------------------------------------------------------------------------------
# EC2: security group and rule descriptions, interface endpoints with private DNS
# --------------------------------------------------------------------------------------------

# The set AWS's error messages name (the rule shapes' documentation leaves '&' out of some;
# the console and the API accept it: terraform-provider-aws #7624).
EC2_DESCRIPTION = re.compile(r"^[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]{0,255}$")
EC2_DESCRIPTION_SET = "a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*"


def _ec2_error(code: str, message: str) -> Exception:
    from moto.ec2.exceptions import EC2ClientError

    return EC2ClientError(code, message)


def _check_group_description(description: str | None) -> None:
    if description and not EC2_DESCRIPTION.match(description):
        raise _ec2_error(
            "InvalidParameterValue",
            "Invalid security group description. Valid descriptions are strings less than 256 characters from the "
            f"following set:  {EC2_DESCRIPTION_SET}",
        )


def _check_rule_description(entries: Sequence[Mapping[str, Any]] | None) -> None:
    """Each IP range, referenced group or prefix list of a rule, or each rule of ModifySecurityGroupRules."""
    for entry in entries or []:
        description = entry.get("Description") if isinstance(entry, Mapping) else None
        if description and not EC2_DESCRIPTION.match(description):
            raise _ec2_error(
                "InvalidParameterValue",
                "Invalid rule description. Valid descriptions are strings less than 256 characters from the "
                f"following set:  {EC2_DESCRIPTION_SET}",
            )


def _truthy(value: object) -> bool:
    """A VPC attribute as moto stores it: a bool, or the string ModifyVpcAttribute sent."""
    return value is True or str(value).lower() == "true"


def _check_endpoint_private_dns(backend: Any, vpc_id: str, service_name: str, endpoint_type: str | None) -> None:
    if (endpoint_type or "").lower() != "interface":
        return
    vpc = backend.get_vpc(vpc_id)
    if not (_truthy(vpc.enable_dns_support) and _truthy(vpc.enable_dns_hostnames)):
        raise _ec2_error(
            "InvalidParameter",
            "Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC attributes set to true "
            f"for {vpc_id}",
        )
    for endpoint in backend.vpc_end_points.values():
        if (
            endpoint.vpc_id == vpc_id
            and endpoint.service_name == service_name
            and endpoint.private_dns_enabled
            and endpoint.state != "deleted"
        ):
            _, _, region, *service = service_name.split(".")
            raise _ec2_error(
                "InvalidParameter",
                "private-dns-enabled cannot be set because there is already a conflicting DNS domain for "
                f"{'.'.join(service)}.{region}.amazonaws.com in the VPC {vpc_id}",
            )


def _strict_ec2(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.ec2.models.security_groups import SecurityGroupBackend
    from moto.ec2.models.vpcs import VPCBackend

    create_group = SecurityGroupBackend.create_security_group
    authorize_ingress = SecurityGroupBackend.authorize_security_group_ingress
    authorize_egress = SecurityGroupBackend.authorize_security_group_egress
    modify_rules = SecurityGroupBackend.modify_security_group_rules
    create_endpoint = VPCBackend.create_vpc_endpoint

    def strict_create_group(self: Any, name: str, description: str, *args: Any, **kwargs: Any) -> Any:
        _check_group_description(description)
        return create_group(self, name, description, *args, **kwargs)

    def strict_authorize(original: Callable[..., Any]) -> Callable[..., Any]:
        def authorize(self: Any, *args: Any, **kwargs: Any) -> Any:
            for key in ("ip_ranges", "source_groups", "prefix_list_ids"):
                entries = kwargs.get(key)
                _check_rule_description(entries if isinstance(entries, list) else None)
            return original(self, *args, **kwargs)

        return authorize

    def strict_modify_rules(self: Any, group_id: str, rules: dict[str, dict[str, Any]]) -> Any:
        _check_rule_description(list(rules.values()))
        return modify_rules(self, group_id, rules)

    def strict_create_endpoint(
        self: Any, vpc_id: str, service_name: str, endpoint_type: str | None, *args: Any, **kwargs: Any
    ) -> Any:
        if kwargs.get("private_dns_enabled"):
            _check_endpoint_private_dns(self, vpc_id, service_name, endpoint_type)
        return create_endpoint(self, vpc_id, service_name, endpoint_type, *args, **kwargs)

    monkeypatch.setattr(SecurityGroupBackend, "create_security_group", strict_create_group)
    monkeypatch.setattr(SecurityGroupBackend, "authorize_security_group_ingress", strict_authorize(authorize_ingress))
    monkeypatch.setattr(SecurityGroupBackend, "authorize_security_group_egress", strict_authorize(authorize_egress))
    monkeypatch.setattr(SecurityGroupBackend, "modify_security_group_rules", strict_modify_rules)
    monkeypatch.setattr(VPCBackend, "create_vpc_endpoint", strict_create_endpoint)


def _describe_rule_descriptions(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.ec2.models.security_groups import SecurityGroupRule

    def description(rule: Any) -> str | None:
        found: str | None = rule.ip_range.get("Description") or rule.source_group.get("Description")
        return found

    monkeypatch.setattr(SecurityGroupRule, "description", property(description))


# --------------------------------------------------------------------------------------------
# DynamoDB: the batch and transaction limits, and throttled batch calls
# --------------------------------------------------------------------------------------------

DYNAMODB_MAX_GET_KEYS = 100
DYNAMODB_MAX_WRITE_REQUESTS = 25
DYNAMODB_MAX_TRANSACTION_ACTIONS = 100
DYNAMODB_MAX_ITEM_BYTES = 400 * 1024
DYNAMODB_MAX_PARTITION_KEY_BYTES = 2048
DUPLICATE_KEYS = "Provided list of item keys contains duplicates"


@dataclass
class Throttle:
    """DynamoDB throttling, on demand: each of the next `calls` BatchGetItem or BatchWriteItem
    calls leaves the last `leave` keys or requests of each table unprocessed, as DynamoDB does
    when a partition is over its throughput."""

    calls: int = 0
    leave: int = 1


# The tests set it (the moto server runs in the test process); `calls` counts down to 0.
DYNAMODB_THROTTLE = Throttle()


def _dynamodb_invalid(message: str) -> Exception:
    from moto.dynamodb.exceptions import MockValidationException

    return MockValidationException(message)


def _attribute_size(value: Mapping[str, Any]) -> int:
    """An attribute value's size as DynamoDB counts it (developer guide, 'Item sizes and formats')."""
    import base64

    ((kind, data),) = value.items()
    if kind == "S":
        return len(str(data).encode("utf-8", "surrogatepass"))
    if kind == "N":
        digits = str(data).lstrip("+-").replace(".", "").lstrip("0").rstrip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(data) if isinstance(data, bytes) else len(base64.b64decode(data))
    if kind in ("SS", "NS", "BS"):
        return sum(_attribute_size({kind[0]: member}) for member in data)
    if kind == "L":
        return 3 + sum(1 + _attribute_size(member) for member in data)
    if kind == "M":
        return 3 + sum(len(name.encode()) + 1 + _attribute_size(member) for name, member in data.items())
    return 1  # BOOL, NULL


def _key_of(table: Any, item: Mapping[str, Any]) -> tuple[str, ...]:
    """The item's primary key, comparable: two requests with equal keys are on one item."""
    import json

    names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    return tuple(json.dumps(item.get(name), sort_keys=True, default=str) for name in names)


def _check_key_sizes(table: Any, item: Mapping[str, Any]) -> None:
    value = item.get(table.hash_key_attr)
    if isinstance(value, Mapping) and _attribute_size(value) > DYNAMODB_MAX_PARTITION_KEY_BYTES:
        raise _dynamodb_invalid(
            "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit "
            f"of{DYNAMODB_MAX_PARTITION_KEY_BYTES} bytes"
        )


def _check_batch_get_item(table_of: Callable[[str], Any], request_items: Mapping[str, Any]) -> None:
    counts = {name: len(request.get("Keys") or []) for name, request in request_items.items()}
    for name, count in counts.items():
        if count > DYNAMODB_MAX_GET_KEYS:
            raise _dynamodb_invalid(
                f"1 validation error detected: Value at 'requestItems.{name}.member.keys' failed to satisfy "
                f"constraint: Member must have length less than or equal to {DYNAMODB_MAX_GET_KEYS}"
            )
    if sum(counts.values()) > DYNAMODB_MAX_GET_KEYS:
        raise _dynamodb_invalid("Too many items requested for the BatchGetItem call")
    for name, request in request_items.items():
        table = table_of(name)
        for key in request["Keys"]:
            _check_key_sizes(table, key)
        keys = [_key_of(table, key) for key in request["Keys"]]
        if len(set(keys)) < len(keys):
            raise _dynamodb_invalid(DUPLICATE_KEYS)


def _check_batch_write_item(table_of: Callable[[str], Any], request_items: Mapping[str, Any]) -> None:
    import json
    import zlib

    for name, requests in request_items.items():
        if len(requests) > DYNAMODB_MAX_WRITE_REQUESTS:
            # DynamoDB prints the map as Java does: each request as its class name and hash.
            listed = ", ".join(
                "com.amazonaws.dynamodb.v20120810.WriteRequest@"
                f"{zlib.crc32(json.dumps(request, sort_keys=True, default=str).encode()):08x}"
                for request in requests
            )
            raise _dynamodb_invalid(
                f"1 validation error detected: Value '{{{name}=[{listed}]}}' at 'requestItems' failed to satisfy "
                "constraint: Map value must satisfy constraint: [Member must have length less than or equal to "
                f"{DYNAMODB_MAX_WRITE_REQUESTS}, Member must have length greater than or equal to 1]"
            )
    for name, requests in request_items.items():
        table = table_of(name)
        seen: set[tuple[str, ...]] = set()
        for request in requests:
            put = request.get("PutRequest")
            item = put["Item"] if put else (request.get("DeleteRequest") or {}).get("Key") or {}
            _check_key_sizes(table, item)
            key = _key_of(table, item)
            if key in seen:
                raise _dynamodb_invalid(DUPLICATE_KEYS)
            seen.add(key)
            size = sum(len(attribute.encode()) + _attribute_size(value) for attribute, value in item.items())
            if put and size > DYNAMODB_MAX_ITEM_BYTES:
                raise _dynamodb_invalid("Item size has exceeded the maximum allowed size")


def _check_transact_write_items(table_of: Callable[[str], Any], actions: Sequence[Mapping[str, Any]]) -> None:
    if len(actions) > DYNAMODB_MAX_TRANSACTION_ACTIONS:
        raise _dynamodb_invalid(
            "1 validation error detected at 'transactItems' failed to satisfy constraint: Member must have length "
            f"less than or equal to {DYNAMODB_MAX_TRANSACTION_ACTIONS}."
        )
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for action in actions:
        for kind, operation in action.items():
            table = table_of(operation["TableName"])
            key = (operation["TableName"], _key_of(table, operation["Item"] if kind == "Put" else operation["Key"]))
            if key in seen:
                raise _dynamodb_invalid("Transaction request cannot include multiple operations on one item")
            seen.add(key)


def _throttle_batches(request_items: dict[str, Any], reads: bool) -> dict[str, Any]:
    """Take what a throttled call leaves unprocessed out of `request_items` (in place) and return
    it as DynamoDB does: a read's keys with the table's other request attributes (ConsistentRead,
    ProjectionExpression, ...), a write's requests as they were."""
    if DYNAMODB_THROTTLE.calls <= 0:
        return {}
    DYNAMODB_THROTTLE.calls -= 1
    leave = DYNAMODB_THROTTLE.leave
    left: dict[str, Any] = {}
    for name, request in list(request_items.items()):
        if reads:
            left[name] = {**request, "Keys": request["Keys"][-leave:]}
            request["Keys"] = request["Keys"][:-leave]
        else:
            left[name] = request[-leave:]
            request_items[name] = request[:-leave]
            if not request_items[name]:
                del request_items[name]
    return left


def _strict_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """Check BatchGetItem, BatchWriteItem and TransactWriteItems before moto runs them, and leave
    what a throttled batch call could not do unprocessed."""
    from moto.dynamodb.responses import DynamoHandler

    batch_get_item = DynamoHandler.batch_get_item
    batch_write_item = DynamoHandler.batch_write_item
    transact_write_items = DynamoHandler.transact_write_items

    def strict_batch_get_item(self: Any) -> Any:
        request_items = self.body["RequestItems"]
        _check_batch_get_item(self.dynamodb_backend.get_table, request_items)
        attributes = {
            name: {k: v for k, v in request.items() if k != "Keys"} for name, request in request_items.items()
        }
        left = _throttle_batches(request_items, reads=True)
        result = batch_get_item(self)
        unprocessed = cast(dict[str, Any], result.result)["UnprocessedKeys"]
        for name, part in unprocessed.items():  # moto's own, past 16 MB: with the request's attributes
            part.update(attributes[name])
        for name, part in left.items():
            unprocessed.setdefault(name, {**part, "Keys": []})["Keys"][:0] = part["Keys"]
        return result

    def strict_batch_write_item(self: Any) -> Any:
        request_items = self.body["RequestItems"]
        _check_batch_write_item(self.dynamodb_backend.get_table, request_items)
        left = _throttle_batches(request_items, reads=False)
        result = batch_write_item(self) if request_items else None
        if result is None:  # everything throttled: moto would refuse an empty request
            from moto.core.responses import ActionResult

            result = ActionResult({"UnprocessedItems": {}})
        cast(dict[str, Any], result.result)["UnprocessedItems"].update(left)
        return result

    def strict_transact_write_items(self: Any) -> Any:
        _check_transact_write_items(self.dynamodb_backend.get_table, self.body["TransactItems"])
        return transact_write_items(self)

    monkeypatch.setattr(DynamoHandler, "batch_get_item", strict_batch_get_item)
    monkeypatch.setattr(DynamoHandler, "batch_write_item", strict_batch_write_item)
    monkeypatch.setattr(DynamoHandler, "transact_write_items", strict_transact_write_items)
