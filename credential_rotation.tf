################################################################################
# Extra: credential rotation of the users' secrets, alternating users.
# Off with credential_rotation_days = null (no rotation function, schedule or alarm).
################################################################################

# Amazon MQ has no API to change a RabbitMQ user's password, and a mapping whose poller fails to
# authenticate can be disabled (EVENT_SOURCE_AUTHN_ERROR). So the rotation function
# (src/rabbitmq_admin/rotation.py) never changes the password the secret's AWSCURRENT version
# holds: each rotation gives the other user of the pair (<name> and <name>_clone) a new password
# and the same tags and permissions, then makes it current (Secrets Manager's alternating-users
# strategy, https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotating-secrets_strategies.html).
# The replaced user keeps working until the next rotation. The admin secret is not rotated:
# docs/security.md gives the manual procedure.

locals {
  rotation_enabled = var.credential_rotation_days != null

  # The rotation function, among the admin functions of bootstrap.tf.
  rotation_function = local.rotation_enabled ? {
    rotation = {
      description    = "Rotates the user credentials of Amazon MQ broker ${local.name}-broker (alternating users)"
      handler        = "rabbitmq_admin.rotation_handler.lambda_handler"
      timeout        = 60
      secrets_policy = data.aws_iam_policy_document.rotation[0].json
      environment = {
        MANAGEMENT_URL   = local.management_url
        ADMIN_SECRET_ARN = aws_secretsmanager_secret.broker.arn
      }
    }
  } : {}
}

# Secrets Manager checks, when rotation is configured, that the function lets it invoke it
# (Secrets Manager guide, "Troubleshoot rotation": "access denied" when configuring rotation).
# aws:SourceAccount as that guide recommends ("Permissions for rotation"): not aws:SourceArn,
# which would tie the function to one secret.
resource "aws_lambda_permission" "rotation" {
  count = local.rotation_enabled ? 1 : 0

  statement_id   = "SecretsManagerRotation"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.admin["rotation"].function_name
  principal      = "secretsmanager.amazonaws.com"
  source_account = data.aws_caller_identity.current[0].account_id
}

data "aws_caller_identity" "current" {
  count = local.rotation_enabled ? 1 : 0
}

resource "aws_secretsmanager_secret_rotation" "users" {
  for_each = local.rotation_enabled ? local.user_secrets : {}

  secret_id           = each.value
  rotation_lambda_arn = aws_lambda_function.admin["rotation"].arn

  # The first rotation after credential_rotation_days, not during this apply: Secrets Manager
  # then runs only the function's testSecret step, on a copy of the current value (RotateSecret
  # API reference, RotateImmediately).
  rotate_immediately = false

  rotation_rules {
    automatically_after_days = var.credential_rotation_days
  }

  # The secret holds the bootstrap's value before anything rotates it; Secrets Manager checks the
  # invoke permission when rotation is configured, and the function needs its role's policy for
  # the testSecret step it runs then.
  depends_on = [aws_lambda_invocation.bootstrap, aws_iam_role_policy.admin, aws_lambda_permission.rotation]
}

# The four rotation steps on the users' secrets (the AWS example policy for a rotation function,
# "Permissions for rotation"; no GetRandomPassword: the function generates passwords itself),
# and the admin's credentials, to set the other user's password through the management API.
data "aws_iam_policy_document" "rotation" {
  count = local.rotation_enabled ? 1 : 0

  statement {
    sid = "RotateUserCredentials"
    actions = [
      "secretsmanager:DescribeSecret",
      "secretsmanager:GetSecretValue",
      "secretsmanager:PutSecretValue",
      "secretsmanager:UpdateSecretVersionStage",
    ]
    resources = values(local.user_secrets)
  }

  statement {
    sid       = "ReadAdminCredentials"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.broker.arn]
  }
}

# A failed rotation leaves the previous credentials in place (nothing breaks), but the next
# attempt needs a person. With monitoring only (it notifies where the other alarms do).
resource "aws_cloudwatch_metric_alarm" "rotation_errors" {
  count = local.rotation_enabled && var.enable_monitoring ? 1 : 0

  alarm_name        = "${local.name}-rotation-errors"
  alarm_description = "Lambda function ${local.name}-rotation failed a rotation step; the secret's current credentials still work. See log group ${aws_cloudwatch_log_group.admin["rotation"].name} and docs/security.md."

  namespace   = "AWS/Lambda"
  metric_name = "Errors"
  dimensions = {
    FunctionName = aws_lambda_function.admin["rotation"].function_name
  }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.alarm_actions
}
