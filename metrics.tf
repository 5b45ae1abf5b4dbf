################################################################################
# Queue metrics on every engine: the metrics function, every minute
################################################################################

# Amazon MQ publishes per-queue metrics (AWS/AmazonMQ) for RabbitMQ 3.x brokers only: "Amazon MQ
# will not vend RabbitMQ queue metrics for RabbitMQ 4 brokers through CloudWatch" (Amazon MQ
# guide, "RabbitMQ 4", https://docs.aws.amazon.com/amazon-mq/latest/developer-guide/rabbitmq-4.html),
# which points to the management API instead, "at a frequency of one minute or longer".
# So the metrics function (admin_functions.tf) reads the work queue and its dead-letter queue
# from the management API as the monitoring user, and prints them as CloudWatch embedded metric
# format: CloudWatch Logs turns them into metrics in var.metrics_namespace with dimensions
# VirtualHost and Queue, on every engine version, without PutMetricData or a monitoring endpoint
# in the VPC. The alarms (alarms.tf) and the dashboard (dashboard.tf) read only these.

resource "aws_cloudwatch_event_rule" "metrics" {
  name                = "${local.name}-queue-metrics"
  description         = "Runs Lambda function ${local.name}-metrics every minute"
  schedule_expression = "rate(1 minute)" # a value of 1 takes the singular unit (EventBridge rate expressions)
}

resource "aws_cloudwatch_event_target" "metrics" {
  rule = aws_cloudwatch_event_rule.metrics.name
  arn  = aws_lambda_function.admin["metrics"].arn

  # The monitoring user exists once the bootstrap ran.
  depends_on = [aws_lambda_invocation.bootstrap, aws_lambda_permission.metrics_schedule]
}

resource "aws_lambda_permission" "metrics_schedule" {
  statement_id  = "EventBridgeSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.admin["metrics"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.metrics.arn
}

# The metrics function's secrets (admin_functions.tf adds its logs and network interfaces).
data "aws_iam_policy_document" "metrics" {
  statement {
    sid       = "ReadMonitoringCredentials"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.monitoring.arn]
  }
}
