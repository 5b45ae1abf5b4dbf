################################################################################
# Alarms, and an optional SNS topic that emails them
################################################################################

resource "aws_sns_topic" "alarms" {
  count = var.alarm_email == null ? 0 : 1

  name = "${local.name}-alarms"

  #checkov:skip=CKV_AWS_26:Alarm notifications carry no sensitive data, and CloudWatch cannot publish to a topic encrypted with the AWS-managed key alias/aws/sns; a customer-managed key would be needed only for that.
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count = var.alarm_email == null ? 0 : 1

  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

locals {
  alarm_actions = aws_sns_topic.alarms[*].arn

  # Amazon MQ publishes per-queue metrics of RabbitMQ brokers in AWS/AmazonMQ with these
  # dimensions (the broker's name, not its id).
  queue_metric_dimensions = {
    Broker      = aws_mq_broker.this.broker_name
    VirtualHost = var.virtual_host
    Queue       = var.queue_name
  }
}

# Any failed invocation: Lambda retries the whole batch, so errors mean redeliveries.
resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  alarm_name        = "${local.name}-consumer-errors"
  alarm_description = "Lambda function ${aws_lambda_function.this.function_name} failed an invocation; Lambda delivers the whole batch again. See log group ${aws_cloudwatch_log_group.this.name}."

  namespace   = "AWS/Lambda"
  metric_name = "Errors"
  dimensions = {
    FunctionName = aws_lambda_function.this.function_name
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

# Messages the handler rejected.
resource "aws_cloudwatch_metric_alarm" "dead_letter_queue_not_empty" {
  alarm_name        = "${local.name}-dead-letters-not-empty"
  alarm_description = "SQS queue ${aws_sqs_queue.dead_letter.name} holds messages the handler rejected, each with its reason."

  namespace   = "AWS/SQS"
  metric_name = "ApproximateNumberOfMessagesVisible"
  dimensions = {
    QueueName = aws_sqs_queue.dead_letter.name
  }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.alarm_actions
}

# Messages past the delivery limit, moved by the broker to <queue>.dlq (declared by the
# bootstrap, bootstrap.tf).
resource "aws_cloudwatch_metric_alarm" "broker_dead_letter_queue_not_empty" {
  alarm_name        = "${local.name}-broker-dlq-not-empty"
  alarm_description = "Queue ${var.queue_name}.dlq on broker ${aws_mq_broker.this.broker_name} holds messages that failed ${var.delivery_limit} deliveries (the function crashed or timed out on them)."

  namespace   = "AWS/AmazonMQ"
  metric_name = "MessageCount"
  dimensions = merge(local.queue_metric_dimensions, {
    Queue = "${var.queue_name}.dlq"
  })
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.alarm_actions
}

# The consumer falls behind.
resource "aws_cloudwatch_metric_alarm" "queue_backlog" {
  alarm_name        = "${local.name}-queue-backlog"
  alarm_description = "Queue ${var.queue_name} on broker ${aws_mq_broker.this.broker_name} has held more than ${var.backlog_alarm_threshold} ready messages for 15 minutes."

  namespace           = "AWS/AmazonMQ"
  metric_name         = "MessageReadyCount"
  dimensions          = local.queue_metric_dimensions
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.backlog_alarm_threshold
  treat_missing_data  = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.alarm_actions
}

# Messages wait while the function is not invoked at all: the mapping's poller has stopped
# (its state then tells why, e.g. EVENT_SOURCE_AUTHN_ERROR after a password change).
resource "aws_cloudwatch_metric_alarm" "poller_stopped" {
  count = var.create_poller_stopped_alarm && var.event_source_mapping_enabled ? 1 : 0

  alarm_name        = "${local.name}-poller-stopped"
  alarm_description = "Queue ${var.queue_name} has had ready messages for 15 minutes while Lambda function ${aws_lambda_function.this.function_name} was not invoked: check the event source mapping's state and StateTransitionReason."

  metric_query {
    id = "ready"
    metric {
      namespace   = "AWS/AmazonMQ"
      metric_name = "MessageReadyCount"
      dimensions  = local.queue_metric_dimensions
      stat        = "Minimum"
      period      = 300
    }
  }

  metric_query {
    id = "invocations"
    metric {
      namespace   = "AWS/Lambda"
      metric_name = "Invocations"
      dimensions = {
        FunctionName = aws_lambda_function.this.function_name
      }
      stat   = "Sum"
      period = 300
    }
  }

  metric_query {
    id          = "stalled"
    expression  = "IF(ready > 0 AND FILL(invocations, 0) == 0, 1, 0)"
    label       = "Ready messages but no invocations"
    return_data = true
  }

  evaluation_periods  = 3
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.alarm_actions
}
