################################################################################
# Deploy-time broker bootstrap: the queue topology and the least-privilege broker users exist
# before the event source mapping is created
################################################################################

# Amazon MQ creates one RabbitMQ user, the admin, and nothing else; AWS documents nothing about
# a mapping whose queue does not exist. A small function (src/rabbitmq_admin, standard
# library only) applies, through the RabbitMQ management API at the broker's console endpoint
# and as the admin: the vhost, the work queue, its dead-letter exchange and queue, the policy
# that holds the delivery limit and dead-lettering, and two users with a generated password
# each, stored in their own secret. Terraform invokes it once the broker exists and again
# whenever its input or code changes; the mapping depends on it.

# The consumer's credentials (the mapping's BASIC_AUTH) and the publisher's (send.py). The
# bootstrap writes their values: a password generated at the first run, kept afterwards.
resource "aws_secretsmanager_secret" "consumer" {
  name_prefix             = "${local.name}-broker-consumer-"
  description             = "Credentials of RabbitMQ user ${var.consumer_username} (read on queue ${var.queue_name} only), for the Lambda event source mapping (BASIC_AUTH). Written by the bootstrap function."
  recovery_window_in_days = var.secret_recovery_window_in_days

  #checkov:skip=CKV_AWS_149:Encrypted with the AWS-managed key aws/secretsmanager; a customer-managed key would also need kms:Decrypt for the poller and a key policy, beyond this reference.
  #checkov:skip=CKV2_AWS_57:Rotating the secret alone would break BASIC_AUTH: the broker user's password must change first, through the management API. Automated rotation is future work; docs/security.md gives the manual procedure.
}

resource "aws_secretsmanager_secret" "publisher" {
  name_prefix             = "${local.name}-broker-publisher-"
  description             = "Credentials of RabbitMQ user ${var.publisher_username} (write to the default exchange only), for scripts/send.py. Written by the bootstrap function."
  recovery_window_in_days = var.secret_recovery_window_in_days

  #checkov:skip=CKV_AWS_149:Encrypted with the AWS-managed key aws/secretsmanager; a customer-managed key adds cost and a key policy that this reference does not need.
  #checkov:skip=CKV2_AWS_57:Rotating the secret alone would lock send.py out: the broker user's password must change first, through the management API. Automated rotation is future work; docs/security.md gives the manual procedure.
}

resource "aws_cloudwatch_log_group" "bootstrap" {
  name              = "/aws/lambda/${local.name}-bootstrap"
  retention_in_days = var.log_retention_in_days

  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts log data at rest with service keys; a customer-managed key adds cost and a key policy that this reference does not need.
  #checkov:skip=CKV_AWS_338:Retention is a variable (log_retention_in_days, default 30 days); a year is a compliance choice, not a default for a demo.
}

resource "aws_lambda_function" "bootstrap" {
  function_name = "${local.name}-bootstrap"
  description   = "Applies queue ${var.queue_name}'s topology and the consumer and publisher users to Amazon MQ broker ${local.name}-broker"
  role          = aws_iam_role.bootstrap.arn

  handler       = "rabbitmq_admin.bootstrap_handler.lambda_handler"
  runtime       = var.lambda_runtime
  architectures = [var.lambda_architecture]
  memory_size   = 128
  timeout       = 120

  filename         = local.lambda_zip["admin"].path
  source_code_hash = local.lambda_zip["admin"].base64sha256

  # A private broker's management API answers inside its VPC only.
  dynamic "vpc_config" {
    for_each = local.private ? [1] : []
    content {
      subnet_ids         = var.subnet_ids
      security_group_ids = [aws_security_group.bootstrap[0].id]
    }
  }
  # Lambda releases a VPC function's network interfaces slowly; detaching the group first lets
  # destroy delete it sooner (provider argument, aws_lambda_function documentation).
  replace_security_groups_on_destroy = local.private ? true : null

  #checkov:skip=CKV_AWS_50:X-Ray tracing of a function that runs once per deployment adds nothing.
  #checkov:skip=CKV_AWS_115:Terraform invokes it once per apply at most; reserved concurrency would fail on new accounts, whose unreserved concurrency may not drop below 10.
  #checkov:skip=CKV_AWS_116:Only Terraform invokes it, synchronously; a failure stops the apply, so an asynchronous-invocation DLQ would never receive anything.
  #checkov:skip=CKV_AWS_117:In private mode it runs in the broker's VPC (vpc_config above); a public broker's management API is reached over the internet with TLS.
  #checkov:skip=CKV_AWS_173:The function has no environment variables, so there is nothing to encrypt.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile and a signed artifact pipeline, beyond a reference deployed from a laptop.

  depends_on = [aws_cloudwatch_log_group.bootstrap]
}

resource "aws_lambda_invocation" "bootstrap" {
  function_name = aws_lambda_function.bootstrap.function_name

  # Everything the bootstrap applies: a change of any of these runs it again. The admin
  # password is not here: the function reads it from the admin secret.
  input = jsonencode({
    management_url       = aws_mq_broker.this.instances[0].console_url
    admin_secret_arn     = aws_secretsmanager_secret.broker.arn
    consumer_secret_arn  = aws_secretsmanager_secret.consumer.arn
    publisher_secret_arn = aws_secretsmanager_secret.publisher.arn
    consumer_username    = var.consumer_username
    publisher_username   = var.publisher_username
    queue                = var.queue_name
    vhost                = var.virtual_host
    delivery_limit       = var.delivery_limit
  })

  # A new version of the bootstrap code runs again too.
  triggers = {
    code = local.lambda_zip["admin"].base64sha256
  }

  depends_on = [
    aws_secretsmanager_secret_version.broker,
    aws_iam_role_policy.bootstrap,
    aws_vpc_security_group_egress_rule.bootstrap_to_broker,
    aws_vpc_security_group_egress_rule.bootstrap_to_endpoints,
    aws_vpc_security_group_egress_rule.bootstrap_https_out,
    aws_vpc_security_group_ingress_rule.broker_from_bootstrap,
    aws_vpc_security_group_ingress_rule.endpoints_from_bootstrap,
    aws_vpc_endpoint.this,
  ]
}

################################################################################
# The bootstrap's role: the admin secret read, the two new secrets written
################################################################################

resource "aws_iam_role" "bootstrap" {
  name               = "${local.name}-bootstrap"
  description        = "Execution role of Lambda function ${local.name}-bootstrap"
  assume_role_policy = data.aws_iam_policy_document.assume_role.json
}

data "aws_iam_policy_document" "bootstrap" {
  #checkov:skip=CKV_AWS_111:Only VpcNetworkInterfaces has Resource "*" (private mode): the EC2 actions Lambda needs to attach a function to a VPC support no resource-level permissions for Describe*, and the interfaces do not exist in advance.
  #checkov:skip=CKV_AWS_356:The same VpcNetworkInterfaces statement as for CKV_AWS_111: a VPC function's EC2 actions.

  # The admin credentials, to call the management API.
  statement {
    sid       = "ReadAdminCredentials"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.broker.arn]
  }

  # The consumer's and publisher's credentials: read to keep a password, written the first time.
  statement {
    sid       = "WriteUserCredentials"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"]
    resources = [aws_secretsmanager_secret.consumer.arn, aws_secretsmanager_secret.publisher.arn]
  }

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.bootstrap.arn}:*"]
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

resource "aws_iam_role_policy" "bootstrap" {
  name   = "${local.name}-bootstrap"
  role   = aws_iam_role.bootstrap.id
  policy = data.aws_iam_policy_document.bootstrap.json
}

################################################################################
# Private mode: the bootstrap reaches the management API (443) and Secrets Manager, nothing else
################################################################################

resource "aws_security_group" "bootstrap" {
  count = local.private ? 1 : 0

  name_prefix = "${local.name}-bootstrap-"
  description = "Lambda function ${local.name}-bootstrap: HTTPS to the broker's management API and to Secrets Manager"
  vpc_id      = var.vpc_id

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_egress_rule" "bootstrap_to_broker" {
  count = local.private ? 1 : 0

  security_group_id            = aws_security_group.bootstrap[0].id
  description                  = "HTTPS to the broker's management API"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.broker[0].id
}

resource "aws_vpc_security_group_ingress_rule" "broker_from_bootstrap" {
  count = local.private ? 1 : 0

  security_group_id            = aws_security_group.broker[0].id
  description                  = "Management API (HTTPS) from the bootstrap function"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.bootstrap[0].id
}

resource "aws_vpc_security_group_egress_rule" "bootstrap_to_endpoints" {
  count = local.private && var.create_vpc_endpoints ? 1 : 0

  security_group_id            = aws_security_group.bootstrap[0].id
  description                  = "HTTPS to the Secrets Manager endpoint"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.endpoints[0].id
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_bootstrap" {
  count = local.private && var.create_vpc_endpoints ? 1 : 0

  security_group_id            = aws_security_group.endpoints[0].id
  description                  = "HTTPS from the bootstrap function"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.bootstrap[0].id
}

# Without the endpoints, Secrets Manager through the VPC's NAT gateway or its own endpoints.
resource "aws_vpc_security_group_egress_rule" "bootstrap_https_out" {
  count = local.private && !var.create_vpc_endpoints ? 1 : 0

  security_group_id = aws_security_group.bootstrap[0].id
  description       = "HTTPS to Secrets Manager through the VPC's NAT gateway or existing endpoints"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}
