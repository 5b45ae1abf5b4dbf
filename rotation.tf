################################################################################
# Credential rotation: the consumer, publisher and monitoring secrets, alternating users
################################################################################

# Amazon MQ has no API to change a RabbitMQ user's password, and a mapping whose poller fails to
# authenticate can be disabled (EVENT_SOURCE_AUTHN_ERROR). So the rotation function
# (admin_functions.tf, src/rabbitmq_admin/rotation.py) never changes the password the secret's
# AWSCURRENT version holds: each rotation gives the other user of the pair (<name> and
# <name>_clone) a new password and the same tags and permissions, then makes it current
# (Secrets Manager's alternating-users strategy,
# https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotating-secrets_strategies.html).
# The replaced user keeps working until the next rotation. The admin secret is not rotated:
# docs/security.md gives the manual procedure.

locals {
  rotation_enabled = var.credential_rotation_days != null
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
  source_account = data.aws_caller_identity.current.account_id
}

data "aws_caller_identity" "current" {}

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
