################################################################################
# The rest of the core: the broker users' credentials, the broker-administration functions'
# shared machinery, and the deploy-time bootstrap that runs before the mapping exists
################################################################################

# Amazon MQ creates one RabbitMQ user, the admin, and nothing else; AWS documents nothing about
# a mapping whose queue does not exist. The bootstrap function applies, through the RabbitMQ
# management API at the broker's console endpoint and as the admin: the vhost, the work queue,
# its dead-letter exchange and queue, the policy that holds the delivery limit and
# dead-lettering, and the users, each with a generated password stored in its own secret.
# Terraform invokes it once the broker exists and again whenever its configuration or code
# changes; the mapping depends on it.

# The users' credentials: the consumer's (the mapping's BASIC_AUTH) and the publisher's
# (send.py); monitoring.tf adds the monitoring user's. The bootstrap writes their values: a
# password generated at the first run, kept afterwards; the rotation function
# (credential_rotation.tf) replaces them.
resource "aws_secretsmanager_secret" "consumer" {
  name_prefix             = "${local.name}-broker-consumer-"
  description             = "Credentials of RabbitMQ user ${var.consumer_username} or ${var.consumer_username}_clone (read on ${var.shard_count == 1 ? "queue ${var.queue_name}" : "the ${var.shard_count} shard queues of ${var.queue_name}"} only), for the Lambda event source mapping${var.shard_count == 1 ? "" : "s"} (BASIC_AUTH). Written by the bootstrap function${local.rotated_by}."
  recovery_window_in_days = var.secret_recovery_window_in_days

  #checkov:skip=CKV_AWS_149:Encrypted with the AWS-managed key aws/secretsmanager; a customer-managed key would also need kms:Decrypt for the poller and a key policy, beyond this reference.
  #checkov:skip=CKV2_AWS_57:Rotated by aws_secretsmanager_secret_rotation.users (credential_rotation.tf) unless credential_rotation_days is null.
}

resource "aws_secretsmanager_secret" "publisher" {
  name_prefix             = "${local.name}-broker-publisher-"
  description             = "Credentials of RabbitMQ user ${var.publisher_username} or ${var.publisher_username}_clone (write to ${var.shard_count == 1 ? "the default exchange" : "exchange ${var.queue_name}"} only), for scripts/send.py. Written by the bootstrap function${local.rotated_by}."
  recovery_window_in_days = var.secret_recovery_window_in_days

  #checkov:skip=CKV_AWS_149:Encrypted with the AWS-managed key aws/secretsmanager; a customer-managed key adds cost and a key policy that this reference does not need.
  #checkov:skip=CKV2_AWS_57:Rotated by aws_secretsmanager_secret_rotation.users (credential_rotation.tf) unless credential_rotation_days is null.
}

locals {
  # The secrets the bootstrap writes and the rotation function rotates, by role.
  user_secrets = merge(
    {
      consumer  = aws_secretsmanager_secret.consumer.arn
      publisher = aws_secretsmanager_secret.publisher.arn
    },
    local.monitoring_user_secret,
  )
  rotated_by = local.rotation_enabled ? ", rotated by the rotation function" : ""
}

################################################################################
# The bootstrap function and its invocation
################################################################################

locals {
  # Its whole configuration, set here and nowhere else: whoever may invoke the function cannot
  # point it at another URL or secret (the invocation carries a trigger only, below).
  # monitoring.tf adds the monitoring user's secret and name.
  bootstrap_environment = merge(
    {
      MANAGEMENT_URL                = local.management_url
      ADMIN_SECRET_ARN              = aws_secretsmanager_secret.broker.arn
      CONSUMER_SECRET_ARN           = aws_secretsmanager_secret.consumer.arn
      PUBLISHER_SECRET_ARN          = aws_secretsmanager_secret.publisher.arn
      CONSUMER_USERNAME             = var.consumer_username
      PUBLISHER_USERNAME            = var.publisher_username
      QUEUE_NAME                    = var.queue_name
      VIRTUAL_HOST                  = var.virtual_host
      DELIVERY_LIMIT                = tostring(var.delivery_limit)
      CONSUMER_CONFIGURE_PERMISSION = tostring(var.consumer_configure_permission)
      SHARD_COUNT                   = tostring(var.shard_count)
      ORDERING_KEY                  = var.ordering_key
    },
    local.monitoring_bootstrap_environment,
  )
}

resource "aws_lambda_invocation" "bootstrap" {
  function_name = aws_lambda_function.admin["bootstrap"].function_name

  # The function reads its configuration from its environment, never from its input: the input
  # only carries a hash of that environment and of the code, so that a change of either invokes
  # it again, after the function itself was updated (this resource refers to the function, which
  # Terraform therefore changes first). The admin password is in neither: the function reads it
  # from the admin secret.
  input = jsonencode({
    trigger = sha256(jsonencode({
      environment = local.admin_functions["bootstrap"].environment
      code        = local.lambda_zip["admin"].base64sha256
    }))
  })

  depends_on = [
    aws_secretsmanager_secret_version.broker,
    aws_iam_role_policy.admin,
    aws_vpc_security_group_egress_rule.admin_to_broker,
    aws_vpc_security_group_egress_rule.admin_to_endpoints,
    aws_vpc_security_group_egress_rule.admin_https_out,
    aws_vpc_security_group_ingress_rule.broker_from_admin,
    aws_vpc_security_group_ingress_rule.endpoints_from_admin,
    aws_vpc_endpoint.this,
  ]
}

# The bootstrap's secrets (its logs and network interfaces: data.aws_iam_policy_document.admin).
data "aws_iam_policy_document" "bootstrap" {
  # The admin credentials, to call the management API.
  statement {
    sid       = "ReadAdminCredentials"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.broker.arn]
  }

  # The users' credentials: read to keep a password, written the first time.
  statement {
    sid       = "WriteUserCredentials"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"]
    resources = values(local.user_secrets)
  }
}

################################################################################
# The broker-administration functions: the bootstrap here, and those of the extras that are on
# (monitoring.tf: metrics; credential_rotation.tf: rotation)
################################################################################

# One package (src/rabbitmq_admin: the standard library and the boto3 every Lambda Python
# runtime includes, no layer) behind every admin function, each with its own log group and
# role. They call the RabbitMQ management API at the broker's console endpoint over HTTPS, as
# the admin (bootstrap, rotation) or the monitoring user (metrics), and read their credentials
# from Secrets Manager. A private broker's management API answers only inside its VPC, so
# there they run in the broker's subnets, behind the security group of private_network.tf.
locals {
  management_url = aws_mq_broker.this.instances[0].console_url

  # Each function: its handler (rabbitmq_admin.<name>_handler), timeout, environment and the
  # policy document of its secrets. Lambda descriptions hold at most 256 characters
  # (CreateFunction, Description): no queue name (up to 200) in them, only the name prefix (at
  # most 32).
  admin_functions = merge(
    {
      bootstrap = {
        description    = "Applies the queue topology and the users of Amazon MQ broker ${local.name}-broker (configured by its environment)"
        handler        = "rabbitmq_admin.bootstrap_handler.lambda_handler"
        timeout        = 300 # retries DNS and connection errors for up to 240 s while a new broker settles
        environment    = local.bootstrap_environment
        secrets_policy = data.aws_iam_policy_document.bootstrap.json
      }
    },
    local.metrics_function,
    local.rotation_function,
  )
}

resource "aws_cloudwatch_log_group" "admin" {
  for_each = local.admin_functions

  name              = "/aws/lambda/${local.name}-${each.key}"
  retention_in_days = var.log_retention_in_days

  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts log data at rest with service keys; a customer-managed key adds cost and a key policy that this reference does not need.
  #checkov:skip=CKV_AWS_338:Retention is a variable (log_retention_in_days, default 30 days); a year is a compliance choice, not a default for a demo.
}

resource "aws_lambda_function" "admin" {
  for_each = local.admin_functions

  function_name = "${local.name}-${each.key}"
  description   = each.value.description
  role          = aws_iam_role.admin[each.key].arn

  handler       = each.value.handler
  runtime       = var.lambda_runtime
  architectures = [var.lambda_architecture]
  memory_size   = 128
  timeout       = each.value.timeout

  filename         = local.lambda_zip["admin"].path
  source_code_hash = local.lambda_zip["admin"].base64sha256

  environment {
    variables = each.value.environment
  }

  dynamic "vpc_config" {
    for_each = local.private ? [1] : []
    content {
      subnet_ids         = var.subnet_ids
      security_group_ids = [aws_security_group.admin[0].id]
    }
  }
  # Lambda releases a VPC function's network interfaces slowly; detaching the group first lets
  # destroy delete it sooner (provider argument, aws_lambda_function documentation).
  replace_security_groups_on_destroy = local.private ? true : null

  #checkov:skip=CKV_AWS_50:X-Ray tracing of one management API call a minute (or per deployment, or per rotation) adds nothing.
  #checkov:skip=CKV_AWS_115:Each runs one invocation at a time at most (per apply, per minute, per rotation); reserved concurrency would fail on new accounts, whose unreserved concurrency may not drop below 10.
  #checkov:skip=CKV_AWS_116:Terraform and Secrets Manager invoke synchronously (a failure stops the apply or the rotation); a failed metrics run shows as the function's Errors and missing metrics, both alarmed (monitoring.tf).
  #checkov:skip=CKV_AWS_117:In private mode they run in the broker's VPC (vpc_config above); a public broker's management API is reached over the internet with TLS.
  #checkov:skip=CKV_AWS_173:The environment holds a URL, names and secret ARNs, no secret values; Lambda encrypts it at rest with an AWS-managed key.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile and a signed artifact pipeline, beyond a reference deployed from a laptop.

  # Created after, and destroyed before, its log group and its role's policy: in private mode
  # Lambda still needs the policy's network-interface permissions while it removes the
  # function's interfaces on destroy.
  depends_on = [aws_cloudwatch_log_group.admin, aws_iam_role_policy.admin]
}

# One role each: its own log group, its secrets, and in private mode its network interfaces.
resource "aws_iam_role" "admin" {
  for_each = local.admin_functions

  name               = "${local.name}-${each.key}"
  description        = "Execution role of Lambda function ${local.name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume_role.json
}

data "aws_iam_policy_document" "admin" {
  for_each = local.admin_functions

  #checkov:skip=CKV_AWS_111:Only VpcNetworkInterfaces has Resource "*" (private mode): the EC2 actions Lambda needs to attach a function to a VPC support no resource-level permissions for Describe*, and the interfaces do not exist in advance.
  #checkov:skip=CKV_AWS_356:The same VpcNetworkInterfaces statement as for CKV_AWS_111: a VPC function's EC2 actions.

  source_policy_documents = [each.value.secrets_policy]

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.admin[each.key].arn}:*"]
  }

  # "*": what AWS's managed policy AWSLambdaVPCAccessExecutionRole grants a function in a VPC;
  # Describe* supports no resource-level permissions and the interfaces do not exist yet.
  dynamic "statement" {
    for_each = local.private ? [1] : []
    content {
      sid = "VpcNetworkInterfaces"
      actions = [
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
      ]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "admin" {
  for_each = local.admin_functions

  name   = "${local.name}-${each.key}"
  role   = aws_iam_role.admin[each.key].id
  policy = data.aws_iam_policy_document.admin[each.key].json
}
