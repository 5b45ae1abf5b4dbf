################################################################################
# The broker-administration functions: bootstrap, credential rotation, queue metrics
################################################################################

# One package (src/rabbitmq_admin, standard library only, no layer) behind three functions,
# each with its own role. They call the RabbitMQ management API at the broker's console
# endpoint over HTTPS, as the admin (bootstrap, rotation) or the monitoring user (metrics), and
# read their credentials from Secrets Manager. A private broker's management API answers only
# inside its VPC, so there they run in the broker's subnets, behind one security group that
# reaches the broker on 443 and Secrets Manager, nothing else.
locals {
  management_url = aws_mq_broker.this.instances[0].console_url

  # The queues the metrics function reads: the work queue and the broker's dead-letter queue
  # (named by rabbitmq_admin.topology).
  monitored_queues = [var.queue_name, "${var.queue_name}.dlq"]

  # Lambda descriptions hold at most 256 characters (CreateFunction, Description): no queue name
  # (up to 200) in them, only the name prefix (at most 32).
  admin_functions = merge(
    {
      bootstrap = {
        description = "Applies the queue topology and the consumer, publisher and monitoring users of Amazon MQ broker ${local.name}-broker (configured by its environment)"
        handler     = "rabbitmq_admin.bootstrap_handler.lambda_handler"
        timeout     = 300 # retries DNS and connection errors for up to 240 s while a new broker settles
        # Its whole configuration, set here and nowhere else: whoever may invoke the function
        # cannot point it at another URL or secret (the invocation carries a trigger only,
        # bootstrap.tf).
        environment = {
          MANAGEMENT_URL                = local.management_url
          ADMIN_SECRET_ARN              = aws_secretsmanager_secret.broker.arn
          CONSUMER_SECRET_ARN           = aws_secretsmanager_secret.consumer.arn
          PUBLISHER_SECRET_ARN          = aws_secretsmanager_secret.publisher.arn
          MONITORING_SECRET_ARN         = aws_secretsmanager_secret.monitoring.arn
          CONSUMER_USERNAME             = var.consumer_username
          PUBLISHER_USERNAME            = var.publisher_username
          MONITORING_USERNAME           = var.monitoring_username
          QUEUE_NAME                    = var.queue_name
          VIRTUAL_HOST                  = var.virtual_host
          DELIVERY_LIMIT                = tostring(var.delivery_limit)
          CONSUMER_CONFIGURE_PERMISSION = tostring(var.consumer_configure_permission)
        }
      }
      metrics = {
        description = "Publishes the depth, consumers and rates of the work queue and its dead-letter queue on Amazon MQ broker ${local.name}-broker as CloudWatch metrics, every minute"
        handler     = "rabbitmq_admin.metrics.lambda_handler"
        timeout     = 50 # a 10 s request timeout, retried after 1 + 2 + 4 s, per queue
        environment = {
          MANAGEMENT_URL        = local.management_url
          MONITORING_SECRET_ARN = aws_secretsmanager_secret.monitoring.arn
          VIRTUAL_HOST          = var.virtual_host
          QUEUES                = join(",", local.monitored_queues)
          METRICS_NAMESPACE     = var.metrics_namespace
        }
      }
    },
    local.rotation_enabled ? {
      rotation = {
        description = "Rotates the consumer, publisher and monitoring credentials of Amazon MQ broker ${local.name}-broker (alternating users)"
        handler     = "rabbitmq_admin.rotation.lambda_handler"
        timeout     = 60
        environment = {
          MANAGEMENT_URL   = local.management_url
          ADMIN_SECRET_ARN = aws_secretsmanager_secret.broker.arn
        }
      }
    } : {},
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
  #checkov:skip=CKV_AWS_116:Terraform and Secrets Manager invoke synchronously (a failure stops the apply or the rotation); a failed metrics run shows as the function's Errors and missing metrics, both alarmed (alarms.tf).
  #checkov:skip=CKV_AWS_117:In private mode they run in the broker's VPC (vpc_config above); a public broker's management API is reached over the internet with TLS.
  #checkov:skip=CKV_AWS_173:The environment holds a URL, names and secret ARNs, no secret values; Lambda encrypts it at rest with an AWS-managed key.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile and a signed artifact pipeline, beyond a reference deployed from a laptop.

  # Created after, and destroyed before, its log group and its role's policy: in private mode
  # Lambda still needs the policy's network-interface permissions while it removes the
  # function's interfaces on destroy.
  depends_on = [aws_cloudwatch_log_group.admin, aws_iam_role_policy.admin]
}

################################################################################
# One role each: its own log group, its secrets, and in private mode its network interfaces
################################################################################

resource "aws_iam_role" "admin" {
  for_each = local.admin_functions

  name               = "${local.name}-${each.key}"
  description        = "Execution role of Lambda function ${local.name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume_role.json
}

locals {
  # What each function needs of Secrets Manager (bootstrap.tf, metrics.tf, rotation.tf).
  admin_secret_policies = merge(
    {
      bootstrap = data.aws_iam_policy_document.bootstrap.json
      metrics   = data.aws_iam_policy_document.metrics.json
    },
    local.rotation_enabled ? { rotation = data.aws_iam_policy_document.rotation[0].json } : {},
  )
}

data "aws_iam_policy_document" "admin" {
  for_each = local.admin_functions

  #checkov:skip=CKV_AWS_111:Only VpcNetworkInterfaces has Resource "*" (private mode): the EC2 actions Lambda needs to attach a function to a VPC support no resource-level permissions for Describe*, and the interfaces do not exist in advance.
  #checkov:skip=CKV_AWS_356:The same VpcNetworkInterfaces statement as for CKV_AWS_111: a VPC function's EC2 actions.

  source_policy_documents = [local.admin_secret_policies[each.key]]

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

################################################################################
# Private mode: HTTPS to the broker's management API and to Secrets Manager, nothing else
################################################################################

resource "aws_security_group" "admin" {
  count = local.private ? 1 : 0

  name_prefix = "${local.name}-admin-"
  description = "Lambda functions ${local.name}-bootstrap, -metrics and -rotation: HTTPS to the management API of the broker and to Secrets Manager"
  vpc_id      = var.vpc_id

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_egress_rule" "admin_to_broker" {
  count = local.private ? 1 : 0

  security_group_id            = aws_security_group.admin[0].id
  description                  = "HTTPS to the management API of the broker"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.broker[0].id
}

resource "aws_vpc_security_group_ingress_rule" "broker_from_admin" {
  count = local.private ? 1 : 0

  security_group_id            = aws_security_group.broker[0].id
  description                  = "Management API (HTTPS) from the bootstrap, rotation and metrics functions"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.admin[0].id
}

# The admin functions call Secrets Manager only (the metrics function writes its metrics to its
# log): through this deployment's endpoint, or else through what the VPC has.
resource "aws_vpc_security_group_egress_rule" "admin_to_endpoints" {
  count = contains(local.vpc_endpoint_services, "secretsmanager") ? 1 : 0

  security_group_id            = aws_security_group.admin[0].id
  description                  = "HTTPS to the Secrets Manager endpoint"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.endpoints[0].id
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_admin" {
  count = contains(local.vpc_endpoint_services, "secretsmanager") ? 1 : 0

  security_group_id            = aws_security_group.endpoints[0].id
  description                  = "HTTPS from the bootstrap, rotation and metrics functions"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.admin[0].id
}

resource "aws_vpc_security_group_egress_rule" "admin_https_out" {
  count = local.private && !contains(local.vpc_endpoint_services, "secretsmanager") ? 1 : 0

  security_group_id = aws_security_group.admin[0].id
  description       = "HTTPS to Secrets Manager through a NAT gateway or endpoints of the VPC"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}
