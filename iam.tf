################################################################################
# The function's execution role: one role, one inline policy, one statement per concern
################################################################################

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

data "aws_iam_policy_document" "execution" {
  #checkov:skip=CKV_AWS_111:Only two statements have Resource "*": PollerNetworkInterfaces (the EC2 network-interface actions the Lambda guide lists for Amazon MQ mappings; Describe* has no resource-level permissions and the interfaces do not exist in advance) and WriteTraces (X-Ray writes, no resource-level permissions). All others are scoped to one resource; tests/terraform/test_terraform.py enforces it.
  #checkov:skip=CKV_AWS_356:Same two statements as for CKV_AWS_111: the poller's EC2 network-interface actions and the X-Ray write actions. Every other statement names its resource.

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

  # Dead letters too large for SQS: the body goes to the bucket, under dead-letters/ only.
  statement {
    sid       = "OffloadLargeDeadLetters"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.dead_letters.arn}/dead-letters/*"]
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
