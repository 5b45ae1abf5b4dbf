################################################################################
# The pattern's core: the broker, its admin credentials, the consumer function, its
# dead-letter queue and the event source mapping. bootstrap.tf holds the rest of the core
# (the users' credentials and the bootstrap function); every extra lives in a file named for
# it, behind one variable that removes all of its resources:
#
#   private_network.tf     publicly_accessible = false  (the broker in your VPC)
#   monitoring.tf          enable_monitoring            (queue metrics, alarms, dashboard)
#   credential_rotation.tf credential_rotation_days     (null: no rotation)
#   large_dead_letters.tf  enable_large_dead_letters    (dead letters over 256 KiB, in S3)
#   idempotency.tf         enable_idempotency           (skip what a retried batch had completed)
################################################################################

provider "aws" {
  # null: the region of the caller's AWS environment (AWS_REGION, the profile), as the AWS CLI.
  region = var.region

  default_tags {
    tags = var.tags
  }
}

# The region every resource lands in, whichever way it was chosen. `id` is the region's name in
# provider 5.100 and 6.x alike (`name` is deprecated in 6.x, `region` does not exist in 5.x:
# internal/service/meta/region_data_source.go of terraform-provider-aws).
data "aws_region" "current" {}

locals {
  name    = var.name_prefix
  region  = data.aws_region.current.id
  private = !var.publicly_accessible

  # The two Lambda packages, each zipped alone as <package>/<file>: the consumer and the
  # broker-administration functions (bootstrap.tf). Every file but compiled Python.
  lambda_packages = {
    consumer = "rabbitmq_consumer"
    admin    = "rabbitmq_admin"
  }
  lambda_package_files = {
    for key, package in local.lambda_packages : key => sort([
      for file in fileset("${path.module}/src/${package}", "**") : file
      if !can(regex("(^|/)__pycache__/|\\.py[co]$", file))
    ])
  }
  lambda_zip = {
    for key, zip in data.archive_file.lambda : key => {
      path         = zip.output_path
      base64sha256 = zip.output_base64sha256
    }
  }

  # AWS's public Powertools for AWS Lambda (Python) V3 layer for this runtime, architecture and
  # region, e.g. arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:27
  powertools_layer_arn = format(
    "arn:aws:lambda:%s:017000801446:layer:AWSLambdaPowertoolsPythonV3-%s-%s:%d",
    local.region, replace(var.lambda_runtime, ".", ""), var.lambda_architecture, var.powertools_layer_version,
  )

  # The largest message body the broker accepts with Amazon MQ's defaults: RabbitMQ's own 128 MiB
  # on 3.x; 512 KiB on 4.x, where Amazon MQ sets max_message_size per broker (Amazon MQ guide,
  # "Default resource limits"; a broker configuration can raise it to 128 MiB).
  max_message_size = startswith(var.engine_version, "3.") ? 134217728 : 524288

  # Amazon MQ's password rules, checked here too so that whatever random_password produces is
  # refused before the broker is created (at plan time when the password is already known)
  # rather than by the CreateBroker call in the middle of an apply.
  broker_password = random_password.broker.result
  broker_password_valid = nonsensitive(
    length(local.broker_password) >= 12 &&
    length(local.broker_password) <= 250 &&
    length(distinct(split("", local.broker_password))) >= 4 &&
    length(regexall("[,:=]", local.broker_password)) == 0
  )
}

################################################################################
# Generated on the deployer's machine: the broker's admin password and the Lambda packages
################################################################################

# Amazon MQ's rules: 12-250 characters, at least 4 distinct, none of , : =. Four character
# classes with one of each guarantee 4 distinct characters; the special characters are the
# URL-unreserved ones, so the password needs no escaping in an amqps:// URL either.
resource "random_password" "broker" {
  length           = 32
  min_lower        = 1
  min_upper        = 1
  min_numeric      = 1
  min_special      = 1
  override_special = "-_.~"
}

# Each package zipped alone from src/<package>, without __pycache__, as <package>/...;
# Powertools comes from the public layer.
data "archive_file" "lambda" {
  for_each = local.lambda_packages

  type = "zip"
  # Entries from source blocks carry no timestamp or mode of the local files, so the same
  # package gives the same zip, and source hash, on every machine.
  output_path = "${path.module}/build/${each.value}.zip"

  dynamic "source" {
    for_each = local.lambda_package_files[each.key]
    content {
      content  = file("${path.module}/src/${each.value}/${source.value}")
      filename = "${each.value}/${source.value}"
    }
  }
}

################################################################################
# Broker
################################################################################

resource "aws_mq_broker" "this" {
  broker_name                = "${local.name}-broker"
  engine_type                = "RabbitMQ"
  engine_version             = var.engine_version
  host_instance_type         = var.instance_type
  deployment_mode            = var.deployment_mode
  auto_minor_version_upgrade = var.auto_minor_version_upgrade
  apply_immediately          = var.apply_immediately

  # Public by default because the documented flow publishes from the laptop with
  # scripts/send.py. The broker still accepts only TLS (AMQPS on 5671, HTTPS for the console)
  # and only the generated 32-character password. Private mode puts it into subnet_ids behind
  # the security group in private_network.tf (a public RabbitMQ broker cannot have one).
  #checkov:skip=CKV_AWS_69:Public on purpose and by default so send.py can publish from a laptop; TLS-only endpoints and a generated 32-character password; publicly_accessible = false gives private mode.
  publicly_accessible = var.publicly_accessible
  subnet_ids          = local.private ? var.subnet_ids : null
  security_groups     = local.private ? [aws_security_group.broker[0].id] : null

  user {
    username = var.broker_username
    password = local.broker_password
  }

  # Only general logs exist for RabbitMQ (audit is ActiveMQ only and refused by the API).
  logs {
    general = true
  }

  # Encrypted at rest with an AWS-owned key.
  #checkov:skip=CKV_AWS_209:Data at rest is encrypted with an AWS-owned key; a customer-managed key adds cost and a key policy that this reference does not need.
  encryption_options {
    use_aws_owned_key = true
  }

  maintenance_window_start_time {
    day_of_week = var.maintenance_window.day_of_week
    time_of_day = var.maintenance_window.time_of_day
    time_zone   = var.maintenance_window.time_zone
  }

  # Amazon MQ's CreateBroker (RabbitMQ) can take longer than the provider's 30-minute default,
  # and a timed-out create taints the broker (terraform-provider-aws PR #27035).
  timeouts {
    create = "60m"
    update = "60m"
    delete = "60m"
  }

  lifecycle {
    # RabbitMQ users are set at creation only: DescribeBroker never returns them
    # (aws/aws-sdk#32) and Amazon MQ has no API to change them. Ignoring the block makes that
    # explicit: a new broker_username or password changes nothing here. Change a password
    # through the RabbitMQ management API, then the secret (docs/security.md).
    ignore_changes = [user]

    precondition {
      condition     = local.broker_password_valid
      error_message = "The generated broker password breaks Amazon MQ's rules (12-250 characters, at least 4 distinct, none of , : =): check random_password.broker in main.tf."
    }

    precondition {
      condition     = alltrue([for subnet in data.aws_subnet.broker : subnet.vpc_id == var.vpc_id])
      error_message = "Every subnet in subnet_ids must belong to vpc_id: choose subnets of that VPC, or the VPC of those subnets."
    }

    precondition {
      condition     = length(distinct([for subnet in data.aws_subnet.broker : subnet.availability_zone])) == length(data.aws_subnet.broker)
      error_message = "subnet_ids must be in different availability zones (Amazon MQ cannot place the broker's endpoints in two subnets of one zone): choose one subnet per zone."
    }
  }
}

################################################################################
# The admin's credentials (people and the bootstrap; the mapping uses the consumer's, bootstrap.tf)
################################################################################

# The password is also in the Terraform state (random_password and aws_mq_broker keep it there;
# the broker's user block has no write-only form): keep the state private.
resource "aws_secretsmanager_secret" "broker" {
  name_prefix             = "${local.name}-broker-admin-"
  description             = "Admin credentials of Amazon MQ broker ${local.name}-broker, for people and the bootstrap function only."
  recovery_window_in_days = var.secret_recovery_window_in_days

  #checkov:skip=CKV_AWS_149:Encrypted with the AWS-managed key aws/secretsmanager; a customer-managed key would also need kms:Decrypt for the poller and a key policy, beyond this reference.
  #checkov:skip=CKV2_AWS_57:The value is the broker's own admin password, which Amazon MQ cannot change: rotating the secret alone would break BASIC_AUTH. A rotation that changes the broker first is future work; docs/security.md gives the manual procedure.
}

resource "aws_secretsmanager_secret_version" "broker" {
  secret_id = aws_secretsmanager_secret.broker.id
  secret_string = jsonencode({
    username = var.broker_username
    password = local.broker_password
  })

  lifecycle {
    # Written once, like the broker's user (see aws_mq_broker.this): after creation the secret,
    # not Terraform, holds the current password, so a password changed by hand (management API,
    # then this secret) is not reverted by the next apply.
    ignore_changes = [secret_string]
  }
}

################################################################################
# Dead letters: the messages the handler rejects, with their reasons
################################################################################

# Two dead-letter queues, for two kinds of failure:
# - this SQS queue receives the messages the handler itself rejects (undecodable, invalid, or
#   still failing on their last delivery), each with its reason; the handler sends them here
#   (DEAD_LETTER_QUEUE_URL) and the batch carries on; a body too large for SQS goes to the
#   bucket of large_dead_letters.tf when it exists;
# - <queue_name>.dlq on the broker, declared by the bootstrap (bootstrap.tf), receives what
#   the broker moves past the queue's delivery limit (delivery_limit): messages that crashed
#   or timed out the function on every delivery, which Lambda alone would retry forever.
resource "aws_sqs_queue" "dead_letter" {
  name                      = "${local.name}-dead-letters"
  message_retention_seconds = 1209600 # 14 days, the most SQS keeps a message
  sqs_managed_sse_enabled   = true
}

################################################################################
# The consumer function and its execution role
################################################################################

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${local.name}-consumer"
  retention_in_days = var.log_retention_in_days

  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts log data at rest with service keys; a customer-managed key adds cost and a key policy that this reference does not need.
  #checkov:skip=CKV_AWS_338:Retention is a variable (log_retention_in_days, default 30 days); a year is a compliance choice, not a default for a demo.
}

resource "aws_lambda_function" "this" {
  function_name = "${local.name}-consumer"
  # At most 256 characters (CreateFunction, Description): the name prefix (at most 32), no queue name.
  description = "Consumes the work queue of Amazon MQ broker ${local.name}-broker through its event source mapping"
  role        = aws_iam_role.this.arn

  handler       = "rabbitmq_consumer.handler.lambda_handler"
  runtime       = var.lambda_runtime
  architectures = [var.lambda_architecture]
  memory_size   = var.lambda_memory_size
  timeout       = var.lambda_timeout
  layers        = [local.powertools_layer_arn]

  filename         = local.lambda_zip["consumer"].path
  source_code_hash = local.lambda_zip["consumer"].base64sha256 # a code change redeploys

  tracing_config {
    mode = "Active"
  }

  # The extras add their settings (large_dead_letters.tf: DEAD_LETTER_BUCKET; idempotency.tf:
  # IDEMPOTENCY_*).
  environment {
    variables = merge(
      {
        POWERTOOLS_SERVICE_NAME      = var.service_name
        POWERTOOLS_LOG_LEVEL         = var.log_level
        POWERTOOLS_METRICS_NAMESPACE = var.metrics_namespace
        DEAD_LETTER_QUEUE_URL        = aws_sqs_queue.dead_letter.url
        DELIVERY_LIMIT               = tostring(var.delivery_limit)
        ORDERING_KEY                 = var.ordering_key
        PARALLELISM                  = tostring(var.parallelism)
      },
      local.large_dead_letters_environment,
      local.idempotency_environment,
    )
  }

  lifecycle {
    # The Powertools layer is published by account 017000801446 in the commercial regions only;
    # var.region is checked at plan time, this checks the region taken from the environment.
    precondition {
      condition     = !can(regex("^(cn|us-gov|us-iso[a-z]*|eu-isoe)-", local.region))
      error_message = "The AWS region ${local.region} is not a commercial region: the Powertools layers for China, GovCloud and isolated regions come from other accounts, which this configuration does not handle. Deploy to a commercial region such as eu-west-1 (set region, or AWS_REGION)."
    }
  }

  #checkov:skip=CKV_AWS_115:The event source mapping runs at most one invocation at a time for RabbitMQ; reserving concurrency would fail on new accounts, whose unreserved concurrency may not drop below 10.
  #checkov:skip=CKV_AWS_116:Only the event source mapping invokes this function, synchronously; a DLQ for asynchronous invocations would never receive anything. Rejected messages go to aws_sqs_queue.dead_letter, crashing ones to the broker's <queue>.dlq.
  #checkov:skip=CKV_AWS_117:The function calls only public AWS APIs (SQS, S3); the poller reaches a private broker through its own network interfaces, so the function needs no VPC.
  #checkov:skip=CKV_AWS_173:The environment holds no secrets (names, a log level, a queue URL); Lambda encrypts it at rest with an AWS-managed key.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile and a signed artifact pipeline, beyond a reference deployed from a laptop.

  # Created first, so that Lambda does not create the log group itself (without retention, and
  # left behind by destroy).
  depends_on = [aws_cloudwatch_log_group.this]
}

# Lambda may assume every role of this configuration (the consumer's and the admin functions').
data "aws_iam_policy_document" "assume_role" {
  statement {
    sid     = "LambdaAssumesRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${local.name}-consumer"
  description        = "Execution role of Lambda function ${local.name}-consumer and its Amazon MQ event source mapping"
  assume_role_policy = data.aws_iam_policy_document.assume_role.json
}

# One inline policy, one statement per concern; the extras add theirs (large_dead_letters.tf,
# idempotency.tf).
data "aws_iam_policy_document" "execution" {
  #checkov:skip=CKV_AWS_111:Only two statements have Resource "*": PollerNetworkInterfaces (the EC2 network-interface actions the Lambda guide lists for Amazon MQ mappings; Describe* has no resource-level permissions and the interfaces do not exist in advance) and WriteTraces (X-Ray writes, no resource-level permissions). All others are scoped to one resource; tests/terraform/iam.tftest.hcl enforces it.
  #checkov:skip=CKV_AWS_356:Same two statements as for CKV_AWS_111: the poller's EC2 network-interface actions and the X-Ray write actions. Every other statement names its resource.

  source_policy_documents = concat(local.large_dead_letters_policies, local.idempotency_policies)

  # The event source mapping's poller looks up the broker's endpoints, subnets and security
  # groups.
  statement {
    sid       = "DescribeBroker"
    actions   = ["mq:DescribeBroker"]
    resources = [aws_mq_broker.this.arn]
  }

  # The poller reads the consumer user's credentials (BASIC_AUTH), never the admin's.
  statement {
    sid       = "ReadConsumerCredentials"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.consumer.arn]
  }

  # "*": the EC2 actions the Lambda guide ("Process Amazon MQ messages with Lambda", execution
  # role permissions) lists for an Amazon MQ mapping, with which the poller creates and removes
  # its network interfaces in the broker's subnets; the SAM guide (MQ event source) says they are
  # needed for a broker in a VPC. Neither says whether a public broker's mapping uses them, so
  # they are granted in both modes. Describe* supports no resource-level permissions, and the
  # interfaces do not exist before the poller creates them.
  statement {
    sid = "PollerNetworkInterfaces"
    actions = [
      "ec2:CreateNetworkInterface",
      "ec2:DeleteNetworkInterface",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeSecurityGroups",
      "ec2:DescribeSubnets",
      "ec2:DescribeVpcs",
    ]
    resources = ["*"]
  }

  # The function's own log group only (it is created by this configuration).
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  # The handler sends the messages it rejects to the dead-letter queue (SendMessageBatch is
  # authorised by sqs:SendMessage).
  statement {
    sid       = "SendDeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letter.arn]
  }

  # "*": active tracing. The X-Ray write actions support no resource-level permissions, so
  # "*" is the only possible resource.
  statement {
    sid       = "WriteTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "${local.name}-consumer"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.execution.json
}

################################################################################
# Event source mapping
################################################################################

# Lambda cannot change a mapping's VIRTUAL_HOST in place, and the provider sends VIRTUAL_HOST
# again with every change of the source access configuration: a new virtual host or a new
# credentials secret therefore replaces the mapping (replace_triggered_by below). So does a new
# consumer user name: the secret keeps its ARN but names another user, and a new mapping's
# poller reads it afresh instead of whenever it would next look.
resource "terraform_data" "event_source_access" {
  input = {
    virtual_host = var.virtual_host
    secret_arn   = aws_secretsmanager_secret.consumer.arn
    username     = var.consumer_username
  }
}

locals {
  # The queues the mappings read, one mapping each: queue_name, or its shards behind the
  # consistent-hash exchange (shard_count, docs/sharding.md), named as rabbitmq_admin.topology
  # names them. Keyed by position, so that shard_count = 1 keeps the mapping it always had.
  consumed_queues = var.shard_count == 1 ? [var.queue_name] : [for index in range(var.shard_count) : "${var.queue_name}.shard-${index}"]
}

resource "aws_lambda_event_source_mapping" "this" {
  for_each = { for index, queue in local.consumed_queues : tostring(index) => queue }

  event_source_arn                   = aws_mq_broker.this.arn
  function_name                      = aws_lambda_function.this.arn
  queues                             = [each.value]
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.maximum_batching_window_in_seconds
  enabled                            = var.event_source_mapping_enabled

  # The consumer user: read on these queues, nothing else (created by the bootstrap).
  source_access_configuration {
    type = "BASIC_AUTH"
    uri  = aws_secretsmanager_secret.consumer.arn
  }

  source_access_configuration {
    type = "VIRTUAL_HOST"
    uri  = var.virtual_host
  }

  lifecycle {
    replace_triggered_by = [terraform_data.event_source_access]
  }

  # Lambda checks the role's permissions when the mapping is created, and the poller uses them
  # until the mapping is gone: on destroy the provider deletes the mapping and waits until
  # GetEventSourceMapping no longer finds it (retrying while it is in use), and only then may
  # the role's policy, the secret value and the VPC endpoints go. Depending on them here orders
  # exactly that, so the poller can still remove its network interfaces. In private mode the
  # security group rules (private_network.tf) are what let the poller reach the broker and the
  # endpoints: the mapping is created after them and removed before them.
  #
  # The bootstrap first: the queue, and the consumer user with its secret, exist before the
  # poller looks for them.
  depends_on = [
    aws_lambda_invocation.bootstrap,
    aws_iam_role_policy.this,
    aws_vpc_endpoint.this,
    aws_vpc_security_group_ingress_rule.broker_amqps_self,
    aws_vpc_security_group_egress_rule.broker_amqps_self,
    aws_vpc_security_group_egress_rule.broker_to_endpoints,
    aws_vpc_security_group_egress_rule.broker_https_out,
    aws_vpc_security_group_ingress_rule.endpoints_from_poller,
  ]
}

# The one mapping of a deployment from before shard_count is the first of the set: kept, not replaced.
moved {
  from = aws_lambda_event_source_mapping.this
  to   = aws_lambda_event_source_mapping.this["0"]
}
