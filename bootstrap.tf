################################################################################
# Deploy-time broker bootstrap: the queue topology and the least-privilege broker users exist
# before the event source mapping is created
################################################################################

# Amazon MQ creates one RabbitMQ user, the admin, and nothing else; AWS documents nothing about
# a mapping whose queue does not exist. The bootstrap function (admin_functions.tf) applies,
# through the RabbitMQ management API at the broker's console endpoint and as the admin: the
# vhost, the work queue, its dead-letter exchange and queue, the policy that holds the delivery
# limit and dead-lettering, and three users with a generated password each, stored in their
# own secret. Terraform invokes it once the broker exists and again whenever its configuration
# or code changes; the mapping depends on it.

# The users' credentials: the consumer's (the mapping's BASIC_AUTH), the publisher's (send.py)
# and the monitoring user's (the metrics function). The bootstrap writes their values: a
# password generated at the first run, kept afterwards; the rotation function (rotation.tf)
# replaces them.
resource "aws_secretsmanager_secret" "consumer" {
  name_prefix             = "${local.name}-broker-consumer-"
  description             = "Credentials of RabbitMQ user ${var.consumer_username} or ${var.consumer_username}_clone (read on queue ${var.queue_name} only), for the Lambda event source mapping (BASIC_AUTH). Written by the bootstrap function, rotated by the rotation function."
  recovery_window_in_days = var.secret_recovery_window_in_days

  #checkov:skip=CKV_AWS_149:Encrypted with the AWS-managed key aws/secretsmanager; a customer-managed key would also need kms:Decrypt for the poller and a key policy, beyond this reference.
  #checkov:skip=CKV2_AWS_57:Rotated by aws_secretsmanager_secret_rotation.users (rotation.tf) unless credential_rotation_days is null.
}

resource "aws_secretsmanager_secret" "publisher" {
  name_prefix             = "${local.name}-broker-publisher-"
  description             = "Credentials of RabbitMQ user ${var.publisher_username} or ${var.publisher_username}_clone (write to the default exchange only), for scripts/send.py. Written by the bootstrap function, rotated by the rotation function."
  recovery_window_in_days = var.secret_recovery_window_in_days

  #checkov:skip=CKV_AWS_149:Encrypted with the AWS-managed key aws/secretsmanager; a customer-managed key adds cost and a key policy that this reference does not need.
  #checkov:skip=CKV2_AWS_57:Rotated by aws_secretsmanager_secret_rotation.users (rotation.tf) unless credential_rotation_days is null.
}

resource "aws_secretsmanager_secret" "monitoring" {
  name_prefix             = "${local.name}-broker-monitoring-"
  description             = "Credentials of RabbitMQ user ${var.monitoring_username} or ${var.monitoring_username}_clone (tag monitoring, no queue permissions), for the queue-metrics function. Written by the bootstrap function, rotated by the rotation function."
  recovery_window_in_days = var.secret_recovery_window_in_days

  #checkov:skip=CKV_AWS_149:Encrypted with the AWS-managed key aws/secretsmanager; a customer-managed key adds cost and a key policy that this reference does not need.
  #checkov:skip=CKV2_AWS_57:Rotated by aws_secretsmanager_secret_rotation.users (rotation.tf) unless credential_rotation_days is null.
}

locals {
  # The secrets the bootstrap writes and the rotation function rotates.
  user_secrets = {
    consumer   = aws_secretsmanager_secret.consumer.arn
    publisher  = aws_secretsmanager_secret.publisher.arn
    monitoring = aws_secretsmanager_secret.monitoring.arn
  }
}

resource "aws_lambda_invocation" "bootstrap" {
  function_name = aws_lambda_function.admin["bootstrap"].function_name

  # The function reads its configuration from its environment (admin_functions.tf), never from
  # its input: the input only carries a hash of that environment and of the code, so that a
  # change of either invokes it again, after the function itself was updated (this resource
  # refers to the function, which Terraform therefore changes first). The admin password is in
  # neither: the function reads it from the admin secret.
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

# The bootstrap's secrets (admin_functions.tf adds its logs and network interfaces).
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
